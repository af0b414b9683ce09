"""Step 6: every problem left, the TOML the wizard built (highlighted), save / save as, and the dry-run
payloads on demand. One scroll area: the step itself scrolls; nothing inside it does."""

from __future__ import annotations

import json
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static

from outreach_tui.profile import ExportSettings
from outreach_tui.tui.backend import Problem, asks_import_scopes
from outreach_tui.tui.budget import (
    budget_time,
    changed_prospects,
    estimate,
    plural,
    strategy_used,
)
from outreach_tui.tui.draft import Draft
from outreach_tui.tui.messages import PreviewRequested, SaveRequested
from outreach_tui.tui.widgets.base import Step, section_of

# Which step fixes a problem in a table (the rest are fixed by editing the TOML by hand).
STEP_OF_SECTION = {"outreach": "Connect", "destination": "Destination", "alerts": "Destination",
                   "source": "Source", "identity": "Mapping", "mapping": "Mapping", "segments": "Segments"}
PAYLOADS_SHOWN = 10
THEME = "ansi_dark"  # the terminal's own colours: readable on any theme


class ReviewStep(Step):
    title = "Review"
    DEFAULT_CSS = """
    ReviewStep #review-problems { height: auto; }
    ReviewStep #review-toml { height: auto; margin-top: 1; }
    ReviewStep #preview-summary { height: auto; margin-top: 1; }
    ReviewStep #preview-payloads { height: auto; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="review-problems")
        yield Static("", id="review-path")
        with Horizontal(classes="buttons"):
            yield Button("Save", id="save", variant="primary", compact=True)
            yield Button("Save as…", id="save-as", compact=True)
            yield Button("Dry-run preview", id="preview", compact=True)
        yield Static("", id="review-toml")
        yield Static("", id="preview-summary")
        yield Static("", id="preview-payloads")

    def owns(self, problem: Problem) -> bool:
        return section_of(problem.key) not in STEP_OF_SECTION

    def show_problems(self, problems: list[Problem]) -> None:
        self.problems = problems
        self._paint_problems()

    def show_warnings(self, warnings: list[Problem]) -> None:
        self.warnings = warnings
        self._paint_problems()

    def _paint_problems(self) -> None:
        problems = self.problems
        if not problems:
            text = Text("✓ The profile is valid.", style="green")
        else:
            text = Text(f"✗ {len(problems)} problem(s) to fix before saving or exporting:", style="bold red")
            for problem in problems:
                step = STEP_OF_SECTION.get(section_of(problem.key), "the TOML file")
                text.append(f"\n  {problem}", style="red")
                text.append(f"  ({step})", style="dim")
        for warning in self.warnings:  # allowed: muted, and they do not block
            text.append(f"\n  ! {warning}", style="dim")
        self.query_one("#review-problems", Static).update(text)

    def show_profile(self, draft: Draft, shown_path: str | None) -> None:
        self.query_one("#review-toml", Static).update(
            Syntax(draft.to_toml(), "toml", theme=THEME, word_wrap=True, background_color="default"))
        self.query_one("#review-path", Static).update(Text(
            f"File: {shown_path}" if shown_path else "File: not saved yet (Save as… to choose)"))

    @on(Button.Pressed, "#save")
    def _save(self) -> None:
        self.post_message(SaveRequested(choose_file=False))

    @on(Button.Pressed, "#save-as")
    def _save_as(self) -> None:
        self.post_message(SaveRequested(choose_file=True))

    @on(Button.Pressed, "#preview")
    def _preview(self) -> None:
        self.query_one("#preview-summary", Static).update(Text("Planning the dry run…"))
        self.post_message(PreviewRequested())

    def show_preview(self, report: dict[str, Any]) -> None:
        records = report.get("records", {})
        prospects = report.get("prospects", {})
        updates = report.get("planned_updates_sample") or []
        shown = updates[:PAYLOADS_SHOWN]
        summary = Text(f"Dry run: {records.get('read', 0):,} records read, {records.get('excluded', 0):,} "
                       f"excluded, {records.get('malformed', 0):,} malformed; {prospects.get('targeted', 0):,} "
                       "prospects targeted.")
        summary.append_text(self._budget_text(report))
        more = changed_prospects(report) - len(shown)  # the unchanged ones have no payload
        summary.append(f"\nThe first {len(shown)} payloads" + (f" (and {more:,} more, not shown):" if more > 0
                                                               else ":") if shown else "\nNothing to send.")
        self.query_one("#preview-summary", Static).update(summary)
        payloads = "\n".join(json.dumps(update, ensure_ascii=False, indent=1) for update in shown)
        self.query_one("#preview-payloads", Static).update(
            Syntax(payloads, "json", theme=THEME, word_wrap=True, background_color="default"))
        # after the layout has room for the new text, or the scroll stops short
        self.call_after_refresh(self.scroll_to_widget, self.query_one("#preview-summary"), top=True)

    def _budget_text(self, report: dict[str, Any]) -> Text:
        """The requests each strategy would use for the planned changes, and the hours of budget that means."""
        profile = self.draft.check().profile
        settings = profile.export if profile is not None else ExportSettings()
        changed = changed_prospects(report)
        cost = estimate(report)
        imports = profile is not None and asks_import_scopes(profile)
        used = strategy_used(settings.strategy, changed, settings.bulk_threshold, imports)
        why = (f"bulk from {settings.bulk_threshold:,} changed" if imports
               else "[outreach] scopes lack the import scopes")
        chosen = settings.strategy + (f" (→ {used}: {why})" if settings.strategy == "auto" else "")
        unchanged = (report.get("prospects") or {}).get("unchanged", 0)
        text = Text(f"\nPlanned: {changed:,} prospects to update, {unchanged:,} unchanged. [export] strategy = ")
        text.append(chosen, style="bold")
        text.append(f"; budget {settings.budget_per_hour:,} requests/hour:")
        if cost is None:
            return text
        rows = (("patch", f"{cost.patch.requests:,} requests (one per prospect)", cost.patch.hours),
                ("bulk", f"{cost.bulk.requests:,} requests ({plural(cost.imports, 'import')} + polls)",
                 cost.bulk.hours))
        for name, requests, hours in rows:
            text.append(f"\n  {'▸' if name == used else ' '} {name:<6}", style="bold" if name == used else "")
            text.append(f"{requests}: {budget_time(hours)} of budget")
        return text
