"""Step 3: the input file, its format and what discovery found in it."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Select, Static

from outreach_tui.tui.messages import DiscoverRequested
from outreach_tui.tui.widgets.base import FieldError, Step, field
from outreach_tui.xdm.discover import Discovery

FORMATS: list[tuple[str, str]] = [("detect from the file", "auto"), ("JSON Lines", "jsonl"),
                                  ("JSON array", "json"), ("CSV", "csv"), ("Parquet", "parquet")]
MAX_FIELDS_LISTED = 12


class SourceStep(Step):
    title = "Source"
    sections = ("source",)
    bindings_to_draft: ClassVar[dict[str, tuple[str, str]]] = {
        "source-path": ("source", "path"), "source-format": ("source", "format")}
    DEFAULT_CSS = """
    SourceStep .buttons Select { width: 26; margin-right: 2; }
    SourceStep #discovery-summary { margin-top: 1; height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield field("Input file (XDM profiles; relative to the profile file)",
                    Input(compact=True, id="source-path", placeholder="profiles.jsonl"), "source-path")
        with Horizontal(classes="buttons"):
            # The draft's value from the start: a Select reports its first value late, after load().
            fmt = self.draft.text("source", "format")
            yield Select(FORMATS, value=fmt if fmt in dict(FORMATS).values() else "auto", allow_blank=False,
                         id="source-format", compact=True)
            yield Button("Discover", id="discover", variant="primary", compact=True)
        yield FieldError(id="source-format-error")
        yield FieldError(classes="step-problems")
        yield Static("Press Discover to sample the file.", id="discovery-summary")

    def default(self, table: str, key: str) -> Any:
        return "auto" if key == "format" else ""

    def value_for_draft(self, widget_id: str, value: Any) -> Any:
        return None if widget_id == "source-format" and value == "auto" else value

    @on(Button.Pressed, "#discover")
    def _discover(self) -> None:
        self.query_one("#discovery-summary", Static).update("Sampling the file…")
        self.post_message(DiscoverRequested())

    def show_discovery(self, discovery: Discovery) -> None:
        self.query_one("#discovery-summary", Static).update(summary(discovery))


def summary(discovery: Discovery) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
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
    fields = sorted(path for path in discovery.paths if not path.startswith(("identityMap", "segmentMembership")))
    more = len(fields) - MAX_FIELDS_LISTED
    listed = ", ".join(fields[:MAX_FIELDS_LISTED]) + (f" and {more} more (all in the Mapping step's "
                                                      "suggestions)" if more > 0 else "")
    table.add_row("Fields", Text(f"{len(fields)}: {listed}"))
    return table
