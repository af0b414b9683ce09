"""Step 3: the input file, its format and what discovery found in it."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Select, Static

from outreach_tui.profile import Profile, Source
from outreach_tui.tui.widgets.base import Step, field

FORMATS: list[tuple[str, str]] = [("detect from the file", "auto"), ("JSON Lines", "jsonl"),
                                  ("JSON array", "json"), ("CSV", "csv"), ("Parquet", "parquet")]


class SourceStep(Step):
    title = "Source"

    def compose(self) -> ComposeResult:
        yield field("Input file (XDM profiles; relative to the profile file)",
                    Input(compact=True, id="source-path", placeholder="profiles.jsonl"), "source-path")
        with Horizontal(classes="buttons"):
            yield Select(FORMATS, value="auto", allow_blank=False, id="source-format", compact=True)
            yield Button("Discover", id="discover", variant="primary", compact=True)
        yield Static("Press Discover to sample the file.", id="discovery-summary")

    def load(self, profile: Profile) -> None:
        self.set_value("source-path", profile.source.path)
        self.query_one("#source-format", Select).value = profile.source.format or "auto"

    def source_model(self) -> Source:
        fmt = self.query_one("#source-format", Select).value
        return Source(path=self.value("source-path"), format=None if fmt == "auto" else fmt)  # type: ignore[arg-type]

    def apply(self, profile: Profile) -> list[str]:
        self.clear_errors()
        try:
            profile.source = self.source_model()
        except ValidationError as error:
            return self.show_validation(error, {"path": "source-path"})
        if not profile.source_path().is_file():
            message = f"file not found: {profile.source_path()}"
            self.show_error("source-path", message)
            return [message]
        return []

    def show_discovery(self, discovery: Any) -> None:
        self.query_one("#discovery-summary", Static).update(summary(discovery))


def summary(discovery: Any) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Format", Text(str(discovery.format)))
    table.add_row("Records sampled", f"{discovery.records_sampled:,} ({discovery.malformed:,} malformed)")
    namespaces = ", ".join(f"{name} ({count:,})" for name, count in sorted(discovery.namespaces.items()))
    table.add_row("Identity namespaces", Text(namespaces or "none found"))
    for segment_id, statuses in sorted(discovery.segments.items()):
        counts = " · ".join(f"{status} {count:,}" for status, count in sorted(statuses.items()))
        table.add_row("Segment", Text(f"{segment_id}: {counts}"))
    if not discovery.segments:
        table.add_row("Segments", "none found")
    fields = [path for path in discovery.paths if not path.startswith(("identityMap", "segmentMembership"))]
    table.add_row("Fields", Text(f"{len(fields)}: " + ", ".join(sorted(fields)[:12])
                                 + (" …" if len(fields) > 12 else "")))
    return table
