"""Step 5: segments, their mapping IDs (→ customN) and the check against Outreach's /types."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.validation import Number
from textual.widgets import Button, DataTable, Input, Static

from outreach_tui.outreach import catalog
from outreach_tui.profile import Profile, Segment
from outreach_tui.tui.widgets.base import Step, field


def types_label(mapping_id: int, configured: dict[int, str | None] | None) -> Text:
    if configured is None:
        return Text("not checked", style="dim")
    if mapping_id in configured:
        label = configured[mapping_id]
        return Text(f"custom{mapping_id}: configured" + (f", label '{label}'" if label else ""), style="green")
    return Text(f"custom{mapping_id}: not configured in Outreach", style="bold yellow")


class SegmentsStep(Step):
    title = "Segments"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.segments: list[Segment] = []
        self.discovered: dict[str, dict[str, int]] = {}
        self.configured: dict[int, str | None] | None = None
        self.selected: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("Each mapped segment writes its status to the prospect's custom field customN.",
                     classes="intro")
        yield DataTable(id="segments-table", cursor_type="row", zebra_stripes=True)
        yield Static("Select a segment (enter) to map it.", id="segment-selected")
        with Horizontal(classes="editor"):
            yield field("Name (for humans)", Input(compact=True, id="segment-name"), "segment-name")
            yield field("Mapping ID 1..150", Input(compact=True, id="segment-mapping-id", type="integer",
                                                  validators=[Number(minimum=1, maximum=150)],
                                                  validate_on=["blur", "submitted"]),
                        "segment-mapping-id")
        with Horizontal(classes="buttons"):
            yield Button("Map segment", id="segment-map", variant="primary", compact=True)
            yield Button("Unmap", id="segment-unmap", compact=True)
            yield Button("Check in Outreach", id="check-types", compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#segments-table", DataTable)
        for label, key in (("segment", "id"), ("records R/E/X", "counts"), ("name", "name"), ("ID", "mapping_id"),
                           ("Outreach", "types")):
            table.add_column(label, key=key)

    def load(self, profile: Profile) -> None:
        self.segments = [segment.model_copy() for segment in profile.segments]
        self.render_table()

    def set_discovered(self, segments: dict[str, dict[str, int]]) -> None:
        self.discovered = segments
        self.render_table()

    def set_configured(self, configured: dict[int, str | None]) -> None:
        self.configured = configured
        self.render_table()

    def _ids(self) -> list[str]:
        ids = [segment.id for segment in self.segments]
        return ids + sorted(key for key in self.discovered if key not in ids)

    def _mapped(self, segment_id: str) -> Segment | None:
        return next((segment for segment in self.segments if segment.id == segment_id), None)

    def render_table(self) -> None:
        table = self.query_one("#segments-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for segment_id in self._ids():
            counts = self.discovered.get(segment_id)
            count_text = Text(" ".join(f"{letter}{counts.get(status, 0):,}" for letter, status
                                       in (("R", "realized"), ("E", "existing"), ("X", "exited")))
                              if counts else "not in sample", style="" if counts else "dim")
            segment = self._mapped(segment_id)
            if segment is None:
                table.add_row(Text(segment_id), count_text, Text(""), Text("—"), Text("not exported", style="dim"),
                              key=segment_id)
            else:
                table.add_row(Text(segment_id), count_text, Text(segment.name), Text(str(segment.mapping_id)),
                              types_label(segment.mapping_id, self.configured), key=segment_id)
        if table.row_count:
            table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))

    @on(DataTable.RowSelected, "#segments-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.select(str(event.row_key.value))

    def select(self, segment_id: str) -> None:
        self.selected = segment_id
        segment = self._mapped(segment_id)
        self.query_one("#segment-selected", Static).update(Text(f"Segment {segment_id}", style="bold"))
        self.set_value("segment-name", segment.name if segment else "")
        self.set_value("segment-mapping-id", str(segment.mapping_id) if segment else "")
        self.clear_errors()
        self.query_one("#segment-name", Input).focus()

    @on(Button.Pressed, "#segment-map")
    def map_selected(self) -> None:
        self.clear_errors()
        if self.selected is None:
            self.show_error("segment-mapping-id", "select a segment in the table first (enter on a row)")
            return
        mapping_input = self.query_one("#segment-mapping-id", Input)
        result = mapping_input.validate(mapping_input.value)
        text = mapping_input.value.strip()
        if not text:
            self.show_error("segment-mapping-id", "required: a whole number 1..150 (custom1 … custom150)")
            return
        if result is not None and not result.is_valid:
            self.show_error("segment-mapping-id", "must be a whole number 1..150 (custom1 … custom150)")
            return
        mapping_id = int(text)
        problem = self.collision(self.selected, mapping_id)
        if problem:
            self.show_error("segment-mapping-id", problem)
            return
        segment = Segment(id=self.selected, name=self.value("segment-name"), mapping_id=mapping_id)
        existing = self._mapped(self.selected)
        if existing is None:
            self.segments.append(segment)
        else:
            self.segments[self.segments.index(existing)] = segment
        self.render_table()
        self.wizard.changed()

    def collision(self, segment_id: str, mapping_id: int) -> str | None:
        for other in self.segments:
            if other.id != segment_id and other.mapping_id == mapping_id:
                return f"mapping ID {mapping_id} is already used by {other.label}; pick a free one"
        target = f"custom{mapping_id}"
        for index, row in enumerate(self.wizard.mapping_rows(), start=1):
            if row.target == target:
                return (f"mapping ID {mapping_id} collides with mapping row {index} ({row.source} → {target}); "
                        "pick a free one")
        return None

    @on(Button.Pressed, "#segment-unmap")
    def unmap_selected(self) -> None:
        existing = self._mapped(self.selected or "")
        if existing is not None:
            self.segments.remove(existing)
            self.set_value("segment-mapping-id", "")
            self.render_table()
            self.wizard.changed()

    def apply(self, profile: Profile) -> list[str]:
        self.clear_errors()
        problems = []
        for segment in self.segments:
            problem = self.collision(segment.id, segment.mapping_id)
            if problem:
                problems.append(f"{segment.id}: {problem}")
        if problems:
            self.show_error("segment-mapping-id", "; ".join(problems))
            return problems
        profile.segments = [segment.model_copy() for segment in self.segments]
        return []


def custom_fields_in_use(profile: Profile) -> set[int]:
    numbers = {segment.mapping_id for segment in profile.segments}
    numbers.update(n for row in profile.mapping if (n := catalog.custom_number(row.target)) is not None)
    return numbers
