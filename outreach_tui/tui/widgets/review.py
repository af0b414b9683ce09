"""Step 6: the TOML the wizard built, save / save as, and a dry-run preview of a few payloads."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Static, TextArea

from outreach_tui.profile import Profile
from outreach_tui.tui.widgets.base import Step


class ReviewStep(Step):
    title = "Review"

    def compose(self) -> ComposeResult:
        yield Static("", id="review-problems")
        yield Static("", id="review-path")
        with Horizontal(classes="buttons"):
            yield Button("Save", id="save", variant="primary", compact=True)
            yield Button("Save as…", id="save-as", compact=True)
            yield Button("Dry-run preview", id="preview", compact=True)
        yield TextArea("", id="review-toml", read_only=True, show_line_numbers=False)
        yield Static("", id="preview-summary")
        yield TextArea("", id="preview-payloads", read_only=True, show_line_numbers=False)

    def load(self, profile: Profile) -> None:
        self.show_profile(profile, None)

    def show_profile(self, profile: Profile, shown_path: str | None) -> None:
        self.query_one("#review-toml", TextArea).load_text(profile.to_toml())
        problems = profile.problems()
        text = (Text("\n".join(f"✗ {p}" for p in problems), style="bold red") if problems
                else Text("✓ The profile is valid.", style="green"))
        self.query_one("#review-problems", Static).update(text)
        self.query_one("#review-path", Static).update(Text(f"File: {shown_path}" if shown_path
                                                           else "File: not saved yet (Save as… to choose)"))

    def show_preview(self, report: dict[str, Any]) -> None:
        records = report.get("records", {})
        prospects = report.get("prospects", {})
        updates = report.get("planned_updates") or []
        self.query_one("#preview-summary", Static).update(Text(
            f"Dry run: {records.get('read', 0):,} records read, {records.get('excluded', 0):,} excluded, "
            f"{records.get('malformed', 0):,} malformed; {prospects.get('targeted', 0):,} prospects targeted. "
            f"First {len(updates)} payloads:"))
        self.query_one("#preview-payloads", TextArea).load_text(
            "\n".join(json.dumps(update, ensure_ascii=False, indent=1) for update in updates[:10]))
