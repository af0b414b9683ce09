"""Step 4: the XDM → Outreach mapping table (the identity row, then attribute rows)."""

from __future__ import annotations

from pydantic import ValidationError
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.suggester import SuggestFromList
from textual.widgets import Button, DataTable, Input, Static

from outreach_tui.outreach import catalog
from outreach_tui.profile import IDENTITY_TARGET, Identity, MappingRow, Profile, target_problem
from outreach_tui.tui.widgets.base import Step, field

IDENTITY_KEY = "identity"


def describe_target(target: str) -> str:
    attribute = catalog.get(target)
    if attribute is None:
        return ""
    max_length = f", max {attribute.max_length:,}" if attribute.max_length else ""
    return f"{attribute.kind}{max_length if not attribute.kind.endswith(')') else ''}"


def row_problems(rows: list[MappingRow]) -> list[str | None]:
    """Per-row check: the catalog check, then "two rows write the same target"."""
    seen: dict[str, int] = {}
    problems: list[str | None] = []
    for index, row in enumerate(rows, start=1):
        problem = target_problem(row.target, row.source)
        if problem is None and row.target in seen:
            problem = f"'{row.target}' is already written by row {seen[row.target]}; remove one of them"
        seen.setdefault(row.target, index)
        problems.append(problem)
    return problems


class MappingStep(Step):
    title = "Mapping"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rows: list[MappingRow] = []
        self.editing: int | None = None  # index into rows, or None for a new row

    def compose(self) -> ComposeResult:
        yield field("Identity namespace (identityMap → OutreachId)",
                    Input(compact=True, id="identity-namespace", placeholder="Oid"), "identity-namespace")
        table: DataTable[Text] = DataTable(id="mapping-table", cursor_type="row", zebra_stripes=True)
        yield table
        with Horizontal(classes="editor"):
            yield Input(compact=True, id="mapping-source", placeholder="XDM source, e.g. person.name.firstName")
            yield Input(compact=True, id="mapping-target", placeholder="Outreach attribute",
                        suggester=SuggestFromList(catalog.writable_names(), case_sensitive=False))
        yield Static("", id="target-kind")
        yield Static("", classes="error-line", id="mapping-error")
        with Horizontal(classes="buttons"):
            yield Button("Add row", id="mapping-add", variant="primary", compact=True)
            yield Button("Update row", id="mapping-update", compact=True)
            yield Button("Delete row", id="mapping-delete", variant="error", compact=True)
            yield Button("New", id="mapping-new", compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#mapping-table", DataTable)
        table.add_column("#", key="index")
        table.add_column("XDM source", key="source")
        table.add_column("Outreach target", key="target")
        table.add_column("type", key="kind")
        table.add_column("check", key="check")

    def set_sources(self, paths: list[str]) -> None:
        self.query_one("#mapping-source", Input).suggester = SuggestFromList(paths, case_sensitive=False)

    def set_namespaces(self, namespaces: list[str]) -> None:
        self.query_one("#identity-namespace", Input).suggester = SuggestFromList(namespaces, case_sensitive=True)

    def load(self, profile: Profile) -> None:
        self.set_value("identity-namespace", profile.identity.namespace)
        self.rows = [row.model_copy() for row in profile.mapping]
        self.render_table()

    def render_table(self) -> None:
        table = self.query_one("#mapping-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        namespace = self.value("identity-namespace") or "?"
        table.add_row(Text("id"), Text(f"identityMap.{namespace}"), Text(IDENTITY_TARGET),
                      Text("identity"), Text("✓ identity row", style="green"), key=IDENTITY_KEY)
        for index, (row, problem) in enumerate(zip(self.rows, row_problems(self.rows), strict=True), start=1):
            check = Text(f"✗ {problem}", style="bold red") if problem else Text("✓", style="green")
            table.add_row(Text(str(index)), Text(row.source), Text(row.target), Text(describe_target(row.target)),
                          check, key=str(index - 1))
        if table.row_count:
            table.move_cursor(row=min(max(cursor, 0), table.row_count - 1))

    @on(Input.Changed, "#identity-namespace")
    def _namespace_changed(self) -> None:
        self.render_table()

    @on(Input.Changed, "#mapping-target")
    def _target_changed(self, event: Input.Changed) -> None:
        target = event.value.strip()
        kind = describe_target(target)
        self.query_one("#target-kind", Static).update(Text(f"{target}: {kind}" if kind else ""))

    @on(DataTable.RowSelected, "#mapping-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        key = event.row_key.value
        if key is None or key == IDENTITY_KEY:
            self.query_one("#identity-namespace", Input).focus()
            return
        self.editing = int(key)
        row = self.rows[self.editing]
        self.set_value("mapping-source", row.source)
        self.set_value("mapping-target", row.target)
        self.query_one("#mapping-source", Input).focus()

    def _editor_row(self) -> MappingRow | None:
        try:
            row = MappingRow(source=self.value("mapping-source"), target=self.value("mapping-target"))
        except ValidationError as error:
            first = error.errors()[0]
            name = "source" if first["loc"] and first["loc"][-1] == "source" else "target"
            message = str(first["msg"]).removeprefix("Value error, ")
            if first["type"] == "string_too_short":
                message = "required"
            self._editor_error(f"{name}: {message}")
            return None
        self._editor_error(None)
        return row

    def _editor_error(self, message: str | None) -> None:
        widget = self.query_one("#mapping-error", Static)
        widget.update(Text(message or "", style="bold red"))

    @on(Button.Pressed, "#mapping-add")
    def add_row(self) -> None:
        row = self._editor_row()
        if row is None:
            return
        self.rows.append(row)
        self.editing = None
        self._after_edit(len(self.rows) - 1)

    @on(Button.Pressed, "#mapping-update")
    def update_row(self) -> None:
        if self.editing is None:
            self._editor_error("select a row to update (enter on a row), or use Add row")
            return
        row = self._editor_row()
        if row is None:
            return
        self.rows[self.editing] = row
        self._after_edit(self.editing)

    @on(Button.Pressed, "#mapping-delete")
    def delete_row(self) -> None:
        table = self.query_one("#mapping-table", DataTable)
        index = self.editing if self.editing is not None else table.cursor_row - 1
        if not 0 <= index < len(self.rows):
            self._editor_error("select an attribute row to delete (the identity row stays)")
            return
        del self.rows[index]
        self.editing = None
        self._after_edit(None)

    @on(Button.Pressed, "#mapping-new")
    def new_row(self) -> None:
        self.editing = None
        self.set_value("mapping-source", "")
        self.set_value("mapping-target", "")
        self._editor_error(None)
        self.query_one("#mapping-source", Input).focus()

    def _after_edit(self, index: int | None) -> None:
        self.render_table()
        problems = row_problems(self.rows)
        if index is not None and problems[index]:
            self._editor_error(f"row {index + 1}: {problems[index]}")
        else:
            self.set_value("mapping-source", "")
            self.set_value("mapping-target", "")
            self.editing = None
        if index is not None:
            self.query_one("#mapping-table", DataTable).move_cursor(row=index + 1)
        self.wizard.changed()

    def apply(self, profile: Profile) -> list[str]:
        self.clear_errors()
        problems: list[str] = []
        try:
            profile.identity = Identity(namespace=self.value("identity-namespace"))
        except ValidationError as error:
            problems += self.show_validation(error, {"namespace": "identity-namespace"})
        row_issues = [f"row {index}: {problem}" for index, problem in enumerate(row_problems(self.rows), start=1)
                      if problem]
        if row_issues:
            self._editor_error(f"{len(row_issues)} row(s) need fixing: " + "; ".join(row_issues))
            problems += row_issues
        if not problems:
            profile.mapping = [row.model_copy() for row in self.rows]
        return problems
