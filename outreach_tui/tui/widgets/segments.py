"""Step 5: segments, their mapping IDs (→ customN) and the check against Outreach's /types.

Segments come from the profile and from discovery. "Export" adds the highlighted segment to the profile with
a free mapping ID; its name and ID are then edited in place, checked by the profile model as the user types.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Static

from outreach_tui.outreach import catalog
from outreach_tui.tui.backend import Problem
from outreach_tui.tui.draft import display
from outreach_tui.tui.messages import CheckTypesRequested, DraftChanged
from outreach_tui.tui.widgets.base import FieldError, Step, StepWarnings, field
from outreach_tui.tui.widgets.mapping import shorten

COLUMNS = (("segment", "id", 16), ("records R/E/X", "counts", 15), ("name", "name", 16), ("ID", "mapping_id", 3),
           ("Outreach", "types", 12))


def types_label(mapping_id: object, configured: dict[int, str | None] | None) -> tuple[Text, str]:
    """The short cell and the full sentence (for the detail line)."""
    if configured is None or not isinstance(mapping_id, int):
        return Text("not checked", style="dim"), "not checked in Outreach yet (Check in Outreach)"
    if mapping_id in configured:
        label = configured[mapping_id]
        return (Text("✓ configured", style="green"),
                f"custom{mapping_id} is configured in Outreach" + (f", label '{label}'" if label else ""))
    return (Text("not listed", style="dim"),
            f"custom{mapping_id} is not configured in Outreach: ask an admin to add it")


def segment_index(problem: Problem) -> int | None:
    if not problem.key.startswith("segments["):
        return None
    number = problem.key[len("segments["):].split("]", 1)[0]
    return int(number) - 1 if number.isdigit() else None


class SegmentsStep(Step):
    title = "Segments"
    sections = ("segments",)
    DEFAULT_CSS = """
    SegmentsStep #segments-table { height: auto; max-height: 8; margin-top: 1; }
    SegmentsStep #segment-detail { height: auto; color: $text-muted; }
    SegmentsStep #segment-detail.-problem { color: $text-error; }
    SegmentsStep .editor { height: auto; margin-top: 1; }
    SegmentsStep .editor .field { width: 1fr; margin-right: 1; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.discovered: dict[str, dict[str, int]] = {}
        self.configured: dict[int, str | None] | None = None
        self.problems_by_row: dict[int, list[str]] = {}
        self.outreach_by_row: dict[int, list[str]] = {}  # what Outreach's field types refuse (detail line)

    def compose(self) -> ComposeResult:
        yield Static("Each exported segment writes its status to the prospect's custom field customN "
                     "(N = mapping ID).", classes="intro")
        yield DataTable(id="segments-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="segment-detail")
        with Horizontal(classes="editor"):
            yield field("Name (for humans)", Input(compact=True, id="segment-name"), "segment-name")
            yield field("Mapping ID 1..150", Input(compact=True, id="segment-mapping-id", type="integer"),
                        "segment-mapping-id")
        with Horizontal(classes="buttons"):
            yield Button("Export", id="segment-map", variant="primary", compact=True)
            yield Button("Don't export", id="segment-unmap", compact=True)
            yield Button("Check in Outreach", id="check-types", compact=True)
        yield FieldError(classes="step-problems")
        yield StepWarnings()

    def on_mount(self) -> None:
        table = self.query_one("#segments-table", DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)

    @property
    def segments(self) -> list[dict[str, Any]]:
        return self.draft.rows("segments")

    def load(self) -> None:
        self.render_table()

    def set_discovered(self, segments: dict[str, dict[str, int]]) -> None:
        self.discovered = segments
        self.render_table()

    def set_configured(self, configured: dict[int, str | None]) -> None:
        self.configured = configured
        self.render_table()

    # ----- rows: the profile's segments (key "m<index>"), then discovered ones not exported ("d<id>") ----

    def _keys(self) -> list[str]:
        exported = {display(segment.get("id")) for segment in self.segments}
        return [f"m{index}" for index in range(len(self.segments))] + [
            f"d{segment_id}" for segment_id in sorted(self.discovered) if segment_id not in exported]

    def _cells(self, key: str) -> list[Text]:
        segment_id, segment = self._segment(key)
        counts = self.discovered.get(segment_id)
        count_text = (Text(" ".join(f"{letter}{counts.get(status, 0):,}" for letter, status
                                    in (("R", "realized"), ("E", "existing"), ("X", "exited"))), no_wrap=True)
                      if counts else Text("not in sample", style="dim"))
        if segment is None:
            return [shorten(segment_id, 16), count_text, Text(""), Text("—"), Text("not exported", style="dim")]
        index = int(key[1:])
        mapping_id = segment.get("mapping_id")
        types = (Text("✗ fix", style="bold red") if self.problems_by_row.get(index) or self.outreach_by_row.get(index)
                 else types_label(mapping_id, self.configured)[0])
        return [shorten(segment_id, 16), count_text, shorten(display(segment.get("name")), 16),
                shorten(display(mapping_id), 3), types]

    def _segment(self, key: str) -> tuple[str, dict[str, Any] | None]:
        if key.startswith("m"):
            segment = self.segments[int(key[1:])]
            return display(segment.get("id")) or "?", segment
        return key[1:], None

    def render_table(self, cursor_key: str | None = None) -> None:
        table = self.query_one("#segments-table", DataTable)
        keys = self._keys()
        cursor = keys.index(cursor_key) if cursor_key in keys else table.cursor_row
        table.clear()
        for key in keys:
            table.add_row(*self._cells(key), key=key)
        if keys:
            table.move_cursor(row=min(max(cursor, 0), len(keys) - 1))
        self._show_selected()

    def _refresh_row(self, key: str) -> None:
        table = self.query_one("#segments-table", DataTable)
        for (_, column, _), cell in zip(COLUMNS, self._cells(key), strict=True):
            table.update_cell(key, column, cell)

    def selected_key(self) -> str | None:
        table = self.query_one("#segments-table", DataTable)
        keys = self._keys()
        return keys[table.cursor_row] if 0 <= table.cursor_row < len(keys) else None

    def selected_index(self) -> int | None:
        key = self.selected_key()
        return int(key[1:]) if key is not None and key.startswith("m") else None

    @on(DataTable.RowHighlighted, "#segments-table")
    def _highlighted(self) -> None:
        self._show_selected()

    @on(DataTable.RowSelected, "#segments-table")
    def _row_selected(self) -> None:
        if self.selected_index() is None:
            self.map_selected()
        else:
            self.query_one("#segment-name", Input).focus()

    def _show_selected(self) -> None:
        index = self.selected_index()
        segment = self.segments[index] if index is not None else {}
        with self.prevent(Input.Changed):
            self.query_one("#segment-name", Input).value = display(segment.get("name"))
            self.query_one("#segment-mapping-id", Input).value = display(segment.get("mapping_id"))
        for name in ("segment-name", "segment-mapping-id"):
            self.query_one(f"#{name}", Input).disabled = index is None
        self._paint_detail()

    def _paint_detail(self) -> None:
        key = self.selected_key()
        detail = self.query_one("#segment-detail", Static)
        errors = [self.query_one("#segment-name-error", FieldError),
                  self.query_one("#segment-mapping-id-error", FieldError)]
        for error in errors:
            error.show([])
        if key is None:
            detail.update(Text("No segments yet: Discover the input file (Source step) to list them."))
            detail.remove_class("-problem")
            return
        segment_id, segment = self._segment(key)
        counts = self.discovered.get(segment_id)
        sample = (", ".join(f"{status} {count:,}" for status, count in sorted(counts.items())) if counts
                  else "not in the sample")
        if segment is None:
            detail.update(Text(f"{segment_id} ({sample}): not exported; Export (or enter) adds it."))
            detail.remove_class("-problem")
            return
        mapping_id = segment.get("mapping_id")
        text = Text(f"{segment_id} ({sample}) → custom{display(mapping_id)}: "
                    f"{types_label(mapping_id, self.configured)[1]}")
        problems = self.problems_by_row.get(int(key[1:]), [])
        name_problems, id_problems, elsewhere = [], [], []  # elsewhere: no field here (labels, a duplicate id)
        for problem in problems:
            field_name, _, message = problem.partition(": ")
            if field_name == "name":
                name_problems.append(message)
            elif field_name == "mapping_id" or not message:
                id_problems.append(message or problem)
            else:
                elsewhere.append(problem)
        elsewhere += self.outreach_by_row.get(int(key[1:]), [])
        for problem in elsewhere:
            text.append(f"\n✗ {problem}")
        detail.update(text)
        detail.set_class(bool(elsewhere), "-problem")
        errors[0].show(name_problems)
        errors[1].show(id_problems)

    # ----- editing ---------------------------------------------------------------------------------------

    @on(Input.Changed, "#segment-name, #segment-mapping-id")
    def _edit(self, event: Input.Changed) -> None:
        index = self.selected_index()
        if index is None:
            return
        if event.control.id == "segment-name":
            self.segments[index]["name"] = event.value
        else:
            text = event.value.strip()
            self.segments[index]["mapping_id"] = int(text) if text.lstrip("+-").isdigit() else text
        self.draft.changed()
        self._refresh_row(f"m{index}")
        self.post_message(DraftChanged())

    @on(Button.Pressed, "#segment-map")
    def map_selected(self) -> None:
        key = self.selected_key()
        if key is None or key.startswith("m"):
            self.notify("Highlight a segment that is not exported yet.", markup=False)
            return
        used = {segment.get("mapping_id") for segment in self.segments}
        used.update(catalog.custom_number(display(row.get("target"))) for row in self.draft.rows("mapping"))
        free = next((n for n in range(1, 151) if n not in used), 1)
        self.segments.append({"id": key[1:], "name": "", "mapping_id": free})
        self.draft.changed()
        self.render_table(cursor_key=f"m{len(self.segments) - 1}")
        self.query_one("#segment-name", Input).focus()
        self.post_message(DraftChanged())

    @on(Button.Pressed, "#segment-unmap")
    def unmap_selected(self) -> None:
        index = self.selected_index()
        if index is None:
            return
        segment_id = display(self.segments[index].get("id"))
        del self.segments[index]
        self.problems_by_row, self.outreach_by_row = {}, {}  # their indices moved: the screen sends the new ones
        self.draft.changed()
        self.render_table(cursor_key=f"d{segment_id}")
        self.post_message(DraftChanged())

    @on(Button.Pressed, "#check-types")
    def _check_types(self) -> None:
        self.post_message(CheckTypesRequested())

    # ----- problems ----------------------------------------------------------------------------------------

    def show_problems(self, problems: list[Problem]) -> None:
        by_row: dict[int, list[str]] = {}
        outreach: dict[int, list[str]] = {}
        others: list[Problem] = []
        for problem in problems:
            index = segment_index(problem)
            if index is not None and 0 <= index < len(self.segments) and problem.outreach:
                outreach.setdefault(index, []).append(problem.message)
            elif index is not None and 0 <= index < len(self.segments):
                field_name = problem.key.split("]", 1)[1].lstrip(".")
                by_row.setdefault(index, []).append(f"{field_name}: {problem.message}" if field_name
                                                    else problem.message)
            elif self.owns(problem):
                others.append(problem)
        changed = set(by_row) | set(self.problems_by_row) | set(outreach) | set(self.outreach_by_row)
        self.problems_by_row, self.outreach_by_row = by_row, outreach
        for index in changed:
            if index < len(self.segments):
                self._refresh_row(f"m{index}")
        self._paint_detail()
        self.show_other_problems(others)
