"""Step 7: the live export panel. It renders an ExportView model that the event handlers update; a timer
repaints at most ten times a second, so a flood of runner events never slows the UI or the export."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, ProgressBar, Static

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export import events
from outreach_tui.tui.messages import ExportEnded, ExportEvent
from outreach_tui.tui.widgets.base import Step

MAX_DIAGNOSTIC_ROWS = 2000
# Four repaints a second read as live, and leave the CPU to the export running in the same process.
REPAINT_INTERVAL = 0.25


@dataclass
class ExportView:
    """What the panel shows; only the ``@on`` handlers change it."""

    state: str = "idle"  # idle | running | finished | cancelled | failed
    paused: bool = False
    counts: events.Counts = field(default_factory=events.Counts)
    total: int | None = None
    phase: str = ""
    rate: float = 0.0
    budget_limit: int | None = None
    budget_remaining: int | None = None
    budget_reset_at: float | None = None
    throttled_until: float | None = None
    throttle_reason: str = ""
    throttle_count: int = 0
    segments: dict[str, dict[str, int]] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    message: str = ""
    report_path: str | None = None


def countdown(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class ExportPanel(Step):
    title = "Export"

    def __init__(self, clock: Callable[[], float] = time.time, show_path: Callable[[str], str] = str,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = ExportView()
        self.clock = clock
        self.show_path = show_path
        self._dirty = True
        self._shown_diagnostics = 0
        self._shown: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(classes="buttons"):
            yield Button("Start export", id="export-start", variant="primary", compact=True)
            yield Button("Pause", id="export-pause", compact=True, disabled=True)
            yield Button("Resume", id="export-resume", compact=True, disabled=True)
            yield Button("Cancel", id="export-cancel", variant="error", compact=True, disabled=True)
        yield Static("", id="export-state")
        yield ProgressBar(total=None, show_eta=False, id="export-progress")
        yield Static("", id="export-counts")
        yield Static("", id="export-budget")
        yield DataTable(id="export-segments", cursor_type="none", zebra_stripes=True)
        yield Static("Diagnostics (enter on a row for details)", classes="section")
        yield DataTable(id="export-diagnostics", cursor_type="row", zebra_stripes=True)
        yield Static("", id="export-report")

    def on_mount(self) -> None:
        segments = self.query_one("#export-segments", DataTable)
        for label in ("segment", "realized", "existing", "exited"):
            segments.add_column(label, key=label)
        diagnostics = self.query_one("#export-diagnostics", DataTable)
        for label in ("prospect", "status", "field", "detail", "hint"):
            diagnostics.add_column(label, key=label)
        self.set_interval(REPAINT_INTERVAL, self.repaint)
        self.repaint()

    # ----- state: handlers own it -------------------------------------------------------------------

    def reset(self) -> None:
        self.view = ExportView(state="running")
        self._shown_diagnostics = 0
        self.query_one("#export-diagnostics", DataTable).clear()
        self._dirty = True

    @on(ExportEvent)
    def on_export_event(self, message: ExportEvent) -> None:
        event, view = message.event, self.view
        if isinstance(event, events.Progress):
            view.counts, view.total, view.phase = event.counts, event.total, event.phase
            view.rate = event.requests_per_second
            view.budget_limit, view.budget_remaining = event.budget_limit, event.budget_remaining
            view.budget_reset_at = event.budget_reset_at
            view.segments = event.segments or view.segments
        elif isinstance(event, events.Throttled):
            view.throttled_until, view.throttle_reason = event.until, event.reason
            view.throttle_count += 1
        elif isinstance(event, events.Resumed):  # the end of a throttle wait, or of a pause
            view.throttled_until = None
        elif isinstance(event, events.Paused):
            view.paused = True
        elif isinstance(event, events.ProspectFailed):
            view.diagnostics.append(event.diagnostic)
        elif isinstance(event, events.Finished):
            self._finish(event)
        self._dirty = True
        if view.state != "running":
            self.repaint()  # the end of a run shows at once, not at the next periodic repaint

    @on(ExportEnded)
    def on_export_ended(self, message: ExportEnded) -> None:
        if message.finished is not None:
            self._finish(message.finished)
        elif self.view.state != "finished":
            self.view.state = "failed" if message.error else "cancelled"
            self.view.message = message.error or "Export cancelled."
        self._dirty = True
        self.repaint()

    def _finish(self, finished: events.Finished) -> None:
        view = self.view
        view.counts, view.state, view.message = finished.counts, "finished", finished.message
        view.report_path = finished.report_path
        view.throttled_until, view.paused = None, False
        segments = finished.report.get("segments") if isinstance(finished.report, dict) else None
        if segments:
            view.segments = {s["id"]: {k: s.get(k, 0) for k in ("realized", "existing", "exited")}
                             for s in segments if isinstance(s, dict) and "id" in s}

    def set_paused(self, paused: bool) -> None:
        if self.view.state == "running":
            self.view.paused = paused
            self._dirty = True

    @property
    def throttled(self) -> bool:
        return self.view.state == "running" and self.view.throttled_until is not None

    # ----- rendering ---------------------------------------------------------------------------------

    def on_show(self) -> None:
        self._dirty = True
        self.repaint()

    def _set(self, selector: str, content: Text) -> None:
        """Update a Static only when its text changed (an update costs a refresh, maybe a layout)."""
        key = content.markup if isinstance(content, Text) else str(content)
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            self.query_one(selector, Static).update(content)

    def repaint(self) -> None:
        if not self.display:  # another step is shown: paint when it comes back (on_show)
            return
        if not self._dirty:
            if self.throttled:
                self._paint_state()  # the countdown moves
            return
        self._dirty = False
        view = self.view
        active = view.state == "running"
        self.query_one("#export-start", Button).disabled = active
        self.query_one("#export-pause", Button).disabled = not active or view.paused
        self.query_one("#export-resume", Button).disabled = not active or not view.paused
        self.query_one("#export-cancel", Button).disabled = not active
        self._paint_state()
        counts = view.counts
        done = counts.activated + counts.unchanged + counts.failed
        self.query_one("#export-progress", ProgressBar).update(total=view.total, progress=done)
        self._set("#export-counts", Text.assemble(
            ("activated ", "bold"), (f"{counts.activated:,}", "green"), ("  unchanged ", "bold"),
            f"{counts.unchanged:,}", ("  excluded ", "bold"), f"{counts.excluded:,}",
            ("  failed ", "bold"), (f"{counts.failed:,}", "red" if counts.failed else ""),
            ("  pending ", "bold"), f"{counts.pending if view.state != 'running' else _pending(view):,}"))
        self._paint_budget()
        self._paint_segments()
        self._paint_diagnostics()
        report = ""
        if view.state in ("finished", "cancelled", "failed"):
            report = view.message + (f"\nReport written to {self.show_path(view.report_path)}"
                                     if view.report_path else "")
        self._set("#export-report", Text(report))

    def _paint_state(self) -> None:
        view = self.view
        widget = self.query_one("#export-state", Static)
        widget.set_class(self.throttled and not view.paused, "-throttled")
        if view.paused and view.state == "running":
            text = Text("PAUSED — nothing is sent until you resume (F6)", style="bold")
        elif self.throttled and view.throttled_until is not None:
            text = Text(f" THROTTLED — {view.throttle_reason}; sending again in "
                        f"{countdown(view.throttled_until - self.clock())} ", style="bold")
        else:
            labels = {"idle": "Ready. Start the export when the profile is complete.",
                      "running": f"Running ({view.phase or 'starting'})",
                      "finished": "Finished", "cancelled": "Cancelled", "failed": "Failed"}
            text = Text(labels.get(view.state, view.state), style="bold")
        self._set("#export-state", text)

    def _paint_budget(self) -> None:
        view = self.view
        parts = [f"{view.rate:,.1f} requests/s"]
        if view.budget_remaining is not None:
            limit = f"/{view.budget_limit:,}" if view.budget_limit else ""
            parts.append(f"budget left {view.budget_remaining:,}{limit}")
        if view.budget_reset_at is not None:
            parts.append(f"resets in {countdown(view.budget_reset_at - self.clock())}")
        parts.append(f"sent {view.counts.sent:,}, retried {view.counts.retried:,}, "
                     f"429s {view.counts.rate_limited:,}, throttled {view.throttle_count}x")
        self._set("#export-budget", Text(" · ".join(parts)))

    def _paint_segments(self) -> None:
        table = self.query_one("#export-segments", DataTable)
        rows = sorted(self.view.segments.items())
        if [key.value for key in table.rows] != [segment_id for segment_id, _ in rows]:
            table.clear()
            for segment_id, _ in rows:
                table.add_row(Text(segment_id), Text(""), Text(""), Text(""), key=segment_id)
        for segment_id, counts in rows:
            for column in ("realized", "existing", "exited"):
                value = f"{counts.get(column, 0):,}"
                if str(table.get_cell(segment_id, column)) != value:
                    table.update_cell(segment_id, column, Text(value))

    def _paint_diagnostics(self) -> None:
        table = self.query_one("#export-diagnostics", DataTable)
        new = self.view.diagnostics[self._shown_diagnostics:MAX_DIAGNOSTIC_ROWS]
        for offset, diagnostic in enumerate(new, start=self._shown_diagnostics):
            table.add_row(Text(str(diagnostic.prospect_id)), Text(str(diagnostic.status or "local")),
                          Text(diagnostic.field or ""), Text(diagnostic.detail), Text(diagnostic.hint),
                          key=str(offset))
        self._shown_diagnostics += len(new)

    @on(DataTable.RowSelected, "#export-diagnostics")
    def _open_diagnostic(self, event: DataTable.RowSelected) -> None:
        from outreach_tui.tui.screens.modals import DiagnosticModal

        index = int(str(event.row_key.value))
        self.app.push_screen(DiagnosticModal(self.view.diagnostics[index]))


def _pending(view: ExportView) -> int:
    counts = view.counts
    if view.total is None:
        return counts.pending
    return max(0, view.total - counts.activated - counts.unchanged - counts.failed)
