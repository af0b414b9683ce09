"""Step 7: the live export panel. It paints an ExportView; a timer repaints at most four times a second (and
at once when the run ends), so a flood of runner events never slows the UI or the export.

What matters most comes first, so that it shows without scrolling at 80x24: the state (or the end of the
run with its report), progress and counts, throughput and budget, then failures grouped by cause.

The strategy (bulk imports or PATCH, and why) with the imports in flight, and the cleanup (fields cleared
after an unmapped segment or row, dead letters carried over) take a line each under the counts, only when
there is something to say, so the end state still fits 80x24."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, DataTable, ProgressBar, Static

from outreach_tui.export import events
from outreach_tui.tui.export_view import Cause, ExportView, clock_text
from outreach_tui.tui.messages import ExportRequested
from outreach_tui.tui.modals import CauseModal

# Four repaints a second read as live, and leave the CPU to the export running in the same process.
REPAINT_INTERVAL = 0.25
CAUSES_SHOWN = 5  # the rest: "and N more causes", all of them in the report


class ExportPanel(VerticalScroll):
    title: ClassVar[str] = "Export"
    DEFAULT_CSS = """
    ExportPanel { padding: 0 1; }
    ExportPanel .buttons { height: auto; }
    ExportPanel .buttons Button { margin-right: 2; }
    ExportPanel #export-state { margin-top: 1; height: auto; }
    ExportPanel #export-state.-throttled { background: $warning; color: $background; }
    ExportPanel #export-state.-failed { color: $text-error; }
    ExportPanel #export-progress-row { height: 1; }
    ExportPanel #export-progress { width: auto; }
    ExportPanel #export-counts { height: auto; }
    ExportPanel #export-strategy { height: auto; }
    ExportPanel #export-cleanup { height: auto; color: $text-warning; }
    ExportPanel #export-rate-row { height: 1; }
    ExportPanel #export-sparkline { width: 30; height: 1; margin-right: 1; }
    ExportPanel #export-rate { width: 1fr; }
    ExportPanel #export-budget { height: auto; }
    ExportPanel #export-segments { height: auto; color: $text-muted; }
    ExportPanel #export-causes-title { margin-top: 1; text-style: bold; height: auto; }
    ExportPanel #export-causes { height: auto; overflow-x: hidden; }
    ExportPanel #export-causes-more { height: auto; color: $text-muted; }
    """

    def __init__(self, clock: Callable[[], float] = time.time, show_path: Callable[[str], str] = str,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.view = ExportView()
        self.clock = clock
        self.show_path = show_path
        self._dirty = True
        self._shown: dict[str, str] = {}
        self._causes_shown: list[Cause] = []
        self._causes_painted: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        with Horizontal(classes="buttons"):
            yield Button("Start export (F5)", id="export-start", variant="primary", compact=True)
            yield Button("Pause (F6)", id="export-pause", compact=True, disabled=True)
            yield Button("Resume (F6)", id="export-resume", compact=True, disabled=True)
            yield Button("Cancel", id="export-cancel", variant="error", compact=True, disabled=True)
        yield Static("", id="export-state")
        with Horizontal(id="export-progress-row"):
            yield ProgressBar(total=None, show_eta=False, id="export-progress")
        yield Static("", id="export-counts")
        yield Static("", id="export-strategy")
        yield Static("", id="export-cleanup")
        with Horizontal(id="export-rate-row"):
            yield Static("", id="export-sparkline")
            yield Static("", id="export-rate")
        yield Static("", id="export-budget")
        yield Static("", id="export-segments")
        yield Static("", id="export-causes-title")
        yield DataTable(id="export-causes", cursor_type="row", zebra_stripes=True, show_header=False)
        yield Static("", id="export-causes-more")

    def on_mount(self) -> None:
        table = self.query_one("#export-causes", DataTable)
        table.add_column("prospects", key="count", width=6)
        table.add_column("cause", key="cause")
        self.set_interval(REPAINT_INTERVAL, self.repaint)
        self.repaint()

    def focus_first(self) -> None:
        self.query_one("#export-start", Button).focus()

    # ----- buttons -----------------------------------------------------------------------------------------

    @on(Button.Pressed, "#export-start")
    def _start(self) -> None:
        self.post_message(ExportRequested("start"))

    @on(Button.Pressed, "#export-pause")
    def _pause(self) -> None:
        self.post_message(ExportRequested("pause"))

    @on(Button.Pressed, "#export-resume")
    def _resume(self) -> None:
        self.post_message(ExportRequested("resume"))

    @on(Button.Pressed, "#export-cancel")
    def _cancel(self) -> None:
        self.post_message(ExportRequested("cancel"))

    @on(DataTable.RowSelected, "#export-causes")
    def _open_cause(self, event: DataTable.RowSelected) -> None:
        index = int(str(event.row_key.value))
        if index < len(self._causes_shown):
            self.app.push_screen(CauseModal(self._causes_shown[index], self.show_path(self.view.report_path or "")))

    # ----- state: the screen feeds events in ---------------------------------------------------------------

    def reset(self) -> None:
        self.view = ExportView.started(self.clock())
        self._dirty = True

    def show_view(self, view: ExportView) -> None:
        self.view = view
        self._dirty = True
        self.repaint()

    def apply(self, event: events.Event) -> None:
        self.view.apply(event, self.clock())
        self._dirty = True
        if not self.view.active:
            self.repaint()  # the end of a run shows at once, not at the next periodic repaint

    def end(self, finished: events.Finished | None, error: str | None) -> None:
        if finished is not None:
            self.view.finish(finished, self.clock())
        else:
            self.view.end(error, self.clock())
        self._dirty = True
        self.repaint()

    def set_paused(self, paused: bool) -> None:
        if self.view.active:
            self.view.paused = paused
            self._dirty = True

    # ----- painting ----------------------------------------------------------------------------------------

    def on_show(self) -> None:
        self._dirty = True
        self.repaint()

    def _set(self, selector: str, content: Text) -> None:
        """Update a Static only when its text changed (an update costs a refresh, maybe a layout)."""
        key = content.markup
        if self._shown.get(selector) != key:
            self._shown[selector] = key
            self.query_one(selector, Static).update(content)

    def repaint(self) -> None:
        if not self.display:  # another step is shown: paint when it comes back (on_show)
            return
        view = self.view
        if not self._dirty:
            if view.throttled() or view.active:
                self._paint_state()  # the countdown and the rate move with the clock
                self._paint_rate()
            return
        self._dirty = False
        active = view.active
        self.query_one("#export-start", Button).disabled = active
        self.query_one("#export-pause", Button).disabled = not active or view.paused
        self.query_one("#export-resume", Button).disabled = not active or not view.paused
        self.query_one("#export-cancel", Button).disabled = not active
        self._paint_state()
        self.query_one("#export-progress", ProgressBar).update(total=view.total, progress=view.done)
        counts = view.counts
        self._set("#export-counts", Text.assemble(
            ("activated ", "bold"), (f"{counts.activated:,}", "green"), ("  unchanged ", "bold"),
            f"{counts.unchanged:,}", ("  excluded ", "bold"), f"{counts.excluded:,}",
            ("  failed ", "bold"), (f"{counts.failed:,}", "red" if counts.failed else ""),
            ("  pending ", "bold"), f"{view.pending:,}"))
        self._paint_rate()
        self._paint_strategy()
        self._paint_segments()
        self._paint_causes()

    def _paint_state(self) -> None:
        view = self.view
        now = self.clock()
        widget = self.query_one("#export-state", Static)
        widget.set_class(view.throttled() and not view.paused, "-throttled")
        widget.set_class(view.state == "failed", "-failed")
        if view.paused and view.active:
            text = Text("PAUSED — nothing is sent until you resume (F6)", style="bold")
        elif view.throttled() and view.throttled_until is not None:
            text = Text(f" THROTTLED — {view.throttle_reason}; sending again in "
                        f"{clock_text(view.throttled_until - now)} ", style="bold")
        elif view.state in ("finished", "cancelled", "failed"):
            text = Text(view.state.capitalize() + ": ", style="bold")
            text.append(view.message.strip().split("; report: ")[0])
            if view.report_path:
                text.append("\nReport: ", style="bold")
                text.append(self.show_path(view.report_path))
        else:
            labels = {"idle": "Ready. Start the export (F5) when the profile is complete.",
                      "running": f"Running ({view.phase or 'starting'})"}
            text = Text(labels.get(view.state, view.state), style="bold")
        self._set("#export-state", text)

    def _paint_rate(self) -> None:
        view = self.view
        now = self.clock()
        points = view.sparkline(now)  # one a second; two seconds a bar, the last minute in 30 columns
        self._set("#export-sparkline", Text(bars([sum(points[i:i + 2]) for i in range(0, len(points), 2)]),
                                            style="green"))
        rate = view.rate(now)
        if view.started_at is None:
            parts = ["throughput: not started"]
        elif view.ended_at is not None:
            took = max(0.0, view.ended_at - view.started_at)
            parts = [f"{view.counts.sent:,} requests in {took:,.1f} s"
                     + (f" ({rate:,.1f}/s)" if rate is not None else "")]
        else:
            parts = [f"{rate:,.1f} requests/s (last minute)" if rate is not None else "measuring the rate…"]
        eta = view.eta(now)
        if eta is not None:
            parts.append(f"ETA {clock_text(eta[0])}" + (" (budget-bound)" if eta[1] else ""))
        self._set("#export-rate", Text(" · ".join(parts)))
        budget = []
        used = view.budget_used
        if used is not None and view.budget_limit:
            budget.append(f"budget {used:,} of {view.budget_limit:,} used this hour")
        elif view.budget_limit:
            budget.append(f"budget {view.budget_limit:,}/hour")
        if view.budget_reset_at is not None:
            budget.append(f"resets in {clock_text(view.budget_reset_at - now)}")
        counts = view.counts
        budget.append(f"sent {counts.sent:,} · retried {counts.retried:,} · 429s {counts.rate_limited:,}"
                      + (f" · throttled {view.throttle_count}x" if view.throttle_count else ""))
        self._set("#export-budget", Text(" · ".join(budget)))

    def _paint_strategy(self) -> None:
        view = self.view
        text = Text()
        if view.strategy:
            text.append("strategy ", "bold")
            text.append(view.strategy)
            if view.strategy_reason:
                text.append(f" ({view.strategy_reason})", "dim")
        imports = view.imports_text()
        if imports:
            text.append(("\n" if text else "") + imports)
        cleanup = Text("\n".join(view.cleanup + view.notes))
        for selector, content in (("#export-strategy", text), ("#export-cleanup", cleanup)):
            self._set(selector, content)
            self.query_one(selector).display = bool(content)  # an empty line would push the end state down

    def _paint_segments(self) -> None:
        parts = [f"{segment_id} R{c.get('realized', 0):,} E{c.get('existing', 0):,} X{c.get('exited', 0):,}"
                 for segment_id, c in sorted(self.view.segments.items())]
        self._set("#export-segments", Text("segments: " + " · ".join(parts) if parts else ""))

    def _paint_causes(self) -> None:
        view = self.view
        causes = sorted(view.causes.values(), key=lambda cause: -cause.count)[:CAUSES_SHOWN]
        shown = [(c.title, c.count) for c in causes]
        if shown != self._causes_painted:
            self._causes_painted = shown
            self._causes_shown = causes
            table = self.query_one("#export-causes", DataTable)
            table.clear()
            for index, cause in enumerate(causes):
                examples = ", ".join(str(p) for p in cause.examples[:3]) + (" …" if cause.count > 3 else "")
                label = Text(f"{cause.title} — e.g. {examples}", no_wrap=True, overflow="ellipsis")
                table.add_row(Text(f"{cause.count:,}", style="bold red"), label, key=str(index))
        title = (f"Failures: {view.failures:,} prospects, {len(view.causes)} cause(s); enter on a cause for "
                 "its hint and prospects" if causes else "")
        self._set("#export-causes-title", Text(title))
        hidden = len(view.causes) - len(causes)
        where = f" (all in the report: {self.show_path(view.report_path)})" if view.report_path else \
            " (all in the report when the run ends)"
        self._set("#export-causes-more", Text(f"and {hidden} more cause(s){where}" if hidden > 0 else ""))


BARS = " ▁▂▃▄▅▆▇█"


def bars(points: list[float]) -> str:
    """A sparkline that starts at zero (an idle second is blank), scaled to the busiest second shown."""
    top = max(points, default=0.0)
    if top <= 0:
        return "▁" * len(points)
    return "".join(BARS[max(1 if value > 0 else 0, round(value / top * (len(BARS) - 1)))] for value in points)
