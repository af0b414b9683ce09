"""What every wizard step shares: fields bound to draft keys, problems shown next to the fields they concern.

A step writes a user's edit straight into the draft and posts ``DraftChanged``; the screen checks the draft
with the profile model and hands every step the problems back (``show_problems``). Steps never validate.
"""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch
from textual.widgets.select import InvalidSelectValueError

from outreach_tui.tui.backend import Problem
from outreach_tui.tui.draft import Draft
from outreach_tui.tui.messages import DraftChanged


class FieldError(Static):
    """The problem shown under a field; empty (and hidden) when the field is fine."""

    DEFAULT_CSS = """
    FieldError { color: $text-error; height: auto; display: none; }
    FieldError.-shown { display: block; }
    """

    def show(self, messages: list[str]) -> None:
        self.update(Text("\n".join(f"✗ {message}" for message in messages)))
        self.set_class(bool(messages), "-shown")


class StepWarnings(Static):
    """Warnings of a step (allowed, worth a word): muted, and they never block Next or the export."""

    DEFAULT_CSS = """
    StepWarnings { color: $text-muted; height: auto; display: none; }
    StepWarnings.-shown { display: block; }
    """

    def show(self, messages: list[str]) -> None:
        self.update(Text("\n".join(f"! {message}" for message in messages)))
        self.set_class(bool(messages), "-shown")


class Field(Vertical):
    DEFAULT_CSS = """
    Field { height: auto; }
    Field > Label { color: $text-muted; }
    Field Input.-textual-compact { background: $boost; }
    Field Input.-textual-compact.-invalid { background: $error 25%; }
    """


def field(label: str, widget: Widget, name: str) -> Field:
    """A labelled field with its error line; the error widget's id is ``<name>-error``."""
    return Field(Label(label), widget, FieldError(id=f"{name}-error"), classes="field")


def section_of(key: str) -> str:
    return key.split(".", 1)[0].split("[", 1)[0]


class Step(VerticalScroll):
    """One step of the wizard; the draft is the source of truth, widgets show it and edit it."""

    title: ClassVar[str] = ""
    sections: ClassVar[tuple[str, ...]] = ()  # the profile tables this step edits
    # Input/Switch/Select id -> (table, key) written on every user edit; problems at "table.key" show under it.
    bindings_to_draft: ClassVar[dict[str, tuple[str, str]]] = {}
    DEFAULT_CSS = """
    Step { padding: 0 1; }
    Step .intro { color: $text-muted; }
    Step .buttons { height: auto; margin: 1 0 0 0; }
    Step .buttons Button { margin-right: 2; }
    Step .section { margin-top: 1; text-style: bold; }
    Step .step-problems { margin-top: 1; }
    """

    def __init__(self, draft: Draft, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.draft = draft

    def focus_first(self) -> None:
        """Focus the step's first enabled field or button (not the scroll container itself)."""
        for widget in self.query("Input, Button, Select, Switch, DataTable"):
            if widget.focusable and not widget.disabled:
                widget.focus()
                return

    # ----- the draft -> widgets --------------------------------------------------------------------------

    def load(self) -> None:
        """Fill the widgets from the draft. No Changed messages: loading is not an edit."""
        for widget_id, (table, key) in self.bindings_to_draft.items():
            widget = self.query_one(f"#{widget_id}")
            with self.prevent(Input.Changed, Switch.Changed, Select.Changed):
                if isinstance(widget, Input):
                    widget.value = self.draft.text(table, key, self.default(table, key))
                elif isinstance(widget, Switch):
                    widget.value = self.draft.section(table).get(key, self.default(table, key)) is True
                elif isinstance(widget, Select):  # a value it does not offer stays in the draft (and its problem)
                    with contextlib.suppress(InvalidSelectValueError):
                        widget.value = self.draft.text(table, key) or self.default(table, key)

    def default(self, table: str, key: str) -> Any:
        """What a widget shows when the draft has no value (the model's default)."""
        return ""

    # ----- widgets -> the draft --------------------------------------------------------------------------

    @on(Input.Changed)
    @on(Switch.Changed)
    @on(Select.Changed)
    def _bound_widget_changed(self, event: Input.Changed | Switch.Changed | Select.Changed) -> None:
        widget_id = event.control.id or ""
        if widget_id not in self.bindings_to_draft:
            return
        if event.value != event.control.value:  # a stale message (e.g. from before the draft was loaded)
            return
        if isinstance(event.control, Select) and not event.control.has_focus_within:
            return  # a Select reports its first value on its own: only a user's pick is an edit
        table, key = self.bindings_to_draft[widget_id]
        value = self.value_for_draft(widget_id, event.value)
        if self.draft.section(table).get(key) == value:
            return
        self.draft.set(table, key, value)
        self.post_message(DraftChanged())

    def value_for_draft(self, widget_id: str, value: Any) -> Any:
        """Convert what a widget holds into the draft's value (e.g. an integer field)."""
        return value

    # ----- problems ----------------------------------------------------------------------------------------

    def owns(self, problem: Problem) -> bool:
        return section_of(problem.key) in self.sections

    def show_problems(self, problems: list[Problem]) -> None:
        """Each problem under its field; this step's other problems in the step's problem list."""
        mine = [problem for problem in problems if self.owns(problem)]
        shown: set[Problem] = set()
        for widget_id, (table, key) in self.bindings_to_draft.items():
            errors = self.query(f"#{widget_id}-error")
            if not errors:
                continue
            at_field = [p for p in mine if p.key == f"{table}.{key}"]
            errors.first(FieldError).show([p.message for p in at_field])
            shown.update(at_field)
        self.show_other_problems([p for p in mine if p not in shown])

    def show_warnings(self, warnings: list[Problem]) -> None:
        """This step's warnings, muted, in its warning list (a step with rows may show them at the row)."""
        for widget in self.query(StepWarnings):
            widget.show([str(warning) for warning in warnings if self.owns(warning)])

    def show_other_problems(self, problems: list[Problem]) -> None:
        for widget in self.query(".step-problems"):
            assert isinstance(widget, FieldError)
            widget.show([str(problem) for problem in problems])
