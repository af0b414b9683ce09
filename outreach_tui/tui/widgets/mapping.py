"""Step 4: the XDM → Outreach mapping table (the identity row, then attribute rows).

The editor below the table edits the highlighted row as the user types; the profile model checks it and its
problems show on the row (✗) and in full on the detail line."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.suggester import SuggestFromList
from textual.widgets import Button, DataTable, Input, Static

from outreach_tui.outreach import catalog
from outreach_tui.profile import IDENTITY_TARGET, Identity
from outreach_tui.tui.backend import Problem
from outreach_tui.tui.draft import display
from outreach_tui.tui.messages import DraftChanged
from outreach_tui.tui.widgets.base import FieldError, Step, StepWarnings, field

IDENTITY_KEY = "identity"
COLUMNS = (("#", "index", 3), ("XDM source", "source", 27), ("Outreach target", "target", 18),
           ("type", "kind", 11), ("", "check", 2))


def describe_target(target: str) -> str:
    attribute = catalog.get(target)
    if attribute is None:
        return ""
    max_length = f", max {attribute.max_length:,}" if attribute.max_length else ""
    return f"{attribute.kind}{max_length if not attribute.kind.endswith(')') else ''}"


def shorten(text: str, width: int) -> Text:
    """A table cell: cut with an ellipsis (the detail line shows the whole value)."""
    return Text(text if len(text) <= width else text[: width - 1] + "…", no_wrap=True)


def row_index(problem: Problem) -> int | None:
    """0-based mapping row of ``mapping[N]...`` (N is 1-based), else None."""
    if not problem.key.startswith("mapping["):
        return None
    number = problem.key[len("mapping["):].split("]", 1)[0]
    return int(number) - 1 if number.isdigit() else None


class MappingStep(Step):
    title = "Mapping"
    sections = ("identity", "mapping")
    bindings_to_draft: ClassVar[dict[str, tuple[str, str]]] = {"identity-namespace": ("identity", "namespace")}
    DEFAULT_CSS = """
    MappingStep #mapping-table { height: auto; max-height: 10; margin-top: 1; }
    MappingStep .editor { height: auto; margin-top: 1; }
    MappingStep .editor Input { width: 1fr; margin-right: 1; background: $boost; }
    MappingStep #mapping-detail { height: auto; color: $text-muted; }
    MappingStep #mapping-detail.-problem { color: $text-error; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_problems: dict[int, list[str]] = {}
        self.row_warnings: dict[int, list[str]] = {}

    def compose(self) -> ComposeResult:
        yield field("Identity namespace (identityMap → OutreachId)",
                    Input(compact=True, id="identity-namespace", placeholder="Oid"), "identity-namespace")
        table: DataTable[Text] = DataTable(id="mapping-table", cursor_type="row", zebra_stripes=True)
        yield table
        yield Static("", id="mapping-detail")
        with Horizontal(classes="editor"):
            yield Input(compact=True, id="mapping-source", placeholder="XDM source, e.g. person.name.firstName")
            yield Input(compact=True, id="mapping-target", placeholder="Outreach attribute",
                        suggester=SuggestFromList(catalog.writable_names(), case_sensitive=False))
        with Horizontal(classes="buttons"):
            yield Button("Add row", id="mapping-add", variant="primary", compact=True)
            yield Button("Delete row", id="mapping-delete", variant="error", compact=True)
        yield FieldError(classes="step-problems")
        yield StepWarnings()

    def on_mount(self) -> None:
        table = self.query_one("#mapping-table", DataTable)
        for label, key, width in COLUMNS:
            table.add_column(label, key=key, width=width)

    def default(self, table: str, key: str) -> Any:
        return Identity().namespace

    def set_sources(self, paths: list[str]) -> None:
        self.query_one("#mapping-source", Input).suggester = SuggestFromList(paths, case_sensitive=False)

    def set_namespaces(self, namespaces: list[str]) -> None:
        self.query_one("#identity-namespace", Input).suggester = SuggestFromList(namespaces, case_sensitive=True)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.draft.rows("mapping")

    # ----- the table ---------------------------------------------------------------------------------------

    def load(self) -> None:
        super().load()
        self.render_table()

    def render_table(self, cursor_row: int | None = None) -> None:
        table = self.query_one("#mapping-table", DataTable)
        cursor = table.cursor_row if cursor_row is None else cursor_row
        table.clear()
        namespace = self.draft.text("identity", "namespace") or Identity().namespace
        table.add_row(Text("id"), shorten(f"identityMap.{namespace}", 27), Text(IDENTITY_TARGET), Text("identity"),
                      Text("✓", style="green"), key=IDENTITY_KEY)
        for index in range(len(self.rows)):
            table.add_row(*self._cells(index), key=str(index))
        table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))
        self._show_selected()

    def _cells(self, index: int) -> list[Text]:
        row = self.rows[index]
        source, target = display(row.get("source")), display(row.get("target"))
        check = (Text("✗", style="bold red") if self.row_problems.get(index) else
                 Text("!", style="yellow") if self.row_warnings.get(index) else Text("✓", style="green"))
        return [Text(str(index + 1)), shorten(source, 27), shorten(target, 18), shorten(describe_target(target), 11),
                check]

    def _refresh_row(self, index: int) -> None:
        table = self.query_one("#mapping-table", DataTable)
        for (_, column, _), cell in zip(COLUMNS, self._cells(index), strict=True):
            table.update_cell(str(index), column, cell)

    def selected(self) -> int | None:
        """The highlighted attribute row (None: the identity row)."""
        row = self.query_one("#mapping-table", DataTable).cursor_row - 1
        return row if 0 <= row < len(self.rows) else None

    @on(DataTable.RowHighlighted, "#mapping-table")
    def _highlighted(self) -> None:
        self._show_selected()

    def _show_selected(self) -> None:
        """Load the highlighted row into the editor (not an edit) and show it in full on the detail line."""
        index = self.selected()
        row = self.rows[index] if index is not None else {}
        with self.prevent(Input.Changed):
            self.query_one("#mapping-source", Input).value = display(row.get("source"))
            self.query_one("#mapping-target", Input).value = display(row.get("target"))
        for name in ("mapping-source", "mapping-target"):
            self.query_one(f"#{name}", Input).disabled = index is None
        self._paint_detail()

    def _paint_detail(self) -> None:
        index = self.selected()
        detail = self.query_one("#mapping-detail", Static)
        if index is None:
            namespace = self.draft.text("identity", "namespace") or Identity().namespace
            detail.update(Text(f"identity row: identityMap.{namespace} → {IDENTITY_TARGET} (edit the namespace "
                               "above)"))
            detail.remove_class("-problem")
            return
        row = self.rows[index]
        source, target = display(row.get("source")), display(row.get("target"))
        kind = describe_target(target)
        problems = self.row_problems.get(index, [])
        text = Text(f"row {index + 1}: {source or '?'} → {target or '?'}" + (f" ({kind})" if kind else ""))
        for problem in problems:
            text.append(f"\n✗ {problem}")
        for warning in self.row_warnings.get(index, []):
            text.append(f"\n! {warning}", style="dim")
        detail.update(text)
        detail.set_class(bool(problems), "-problem")

    # ----- editing ---------------------------------------------------------------------------------------

    @on(Input.Changed, "#mapping-source, #mapping-target")
    def _edit_row(self, event: Input.Changed) -> None:
        index = self.selected()
        if index is None:
            return
        key = "source" if event.control.id == "mapping-source" else "target"
        self.rows[index][key] = event.value
        self.draft.changed()
        self._refresh_row(index)
        self._paint_detail()
        self.post_message(DraftChanged())

    @on(Input.Changed, "#identity-namespace")
    def _namespace_changed(self, event: Input.Changed) -> None:
        table = self.query_one("#mapping-table", DataTable)
        namespace = event.value.strip() or Identity().namespace
        table.update_cell(IDENTITY_KEY, "source", shorten(f"identityMap.{namespace}", 27))
        self._paint_detail()

    @on(DataTable.RowSelected, "#mapping-table")
    def _row_selected(self) -> None:
        name = "identity-namespace" if self.selected() is None else "mapping-source"
        self.query_one(f"#{name}", Input).focus()

    @on(Button.Pressed, "#mapping-add")
    def add_row(self) -> None:
        self.rows.append({"source": "", "target": ""})
        self.draft.changed()
        self.render_table(cursor_row=len(self.rows))
        self.query_one("#mapping-source", Input).focus()
        self.post_message(DraftChanged())

    @on(Button.Pressed, "#mapping-delete")
    def delete_row(self) -> None:
        index = self.selected()
        if index is None:
            self.notify("Highlight an attribute row to delete (the identity row stays).", markup=False)
            return
        del self.rows[index]
        self.row_problems, self.row_warnings = {}, {}  # their indices moved: the screen sends the new ones
        self.draft.changed()
        self.render_table(cursor_row=index)
        self.post_message(DraftChanged())

    # ----- problems ----------------------------------------------------------------------------------------

    def _by_row(self, problems: list[Problem]) -> tuple[dict[int, list[str]], list[Problem]]:
        """This step's problems (or warnings) at their rows ("target: ..."), and the rest of this step's."""
        by_row: dict[int, list[str]] = {}
        others: list[Problem] = []
        for problem in problems:
            index = row_index(problem)
            if index is not None and 0 <= index < len(self.rows):
                by_row.setdefault(index, []).append(problem.key.split("]", 1)[1].lstrip(".") + ": " + problem.message
                                                    if "]." in problem.key else problem.message)
            elif self.owns(problem):
                others.append(problem)
        return by_row, others

    def show_warnings(self, warnings: list[Problem]) -> None:
        by_row, others = self._by_row(warnings)
        changed = set(by_row) ^ set(self.row_warnings)
        self.row_warnings = by_row
        for index in changed:
            if index < len(self.rows):
                self._refresh_row(index)
        self._paint_detail()
        self.query_one(StepWarnings).show([str(warning) for warning in others])

    def show_problems(self, problems: list[Problem]) -> None:
        by_row, others = self._by_row(problems)
        others = [problem for problem in others if problem.key != "identity.namespace"]
        changed = set(by_row) ^ set(self.row_problems)
        self.row_problems = by_row
        for index in changed:
            if index < len(self.rows):
                self._refresh_row(index)
        self._paint_detail()
        self.query_one("#identity-namespace-error", FieldError).show(
            [p.message for p in problems if p.key == "identity.namespace"])
        self.show_other_problems(others)
