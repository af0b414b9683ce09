"""What every wizard step shares: load from the draft profile, apply back to it, show field errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import ValidationError
from rich.text import Text
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from outreach_tui.profile import Profile

if TYPE_CHECKING:
    from outreach_tui.tui.screens.wizard import WizardScreen


class FieldError(Static):
    """The message shown under a field; empty (and hidden) when the field is fine."""

    DEFAULT_CSS = """
    FieldError { color: $error; height: auto; display: none; }
    FieldError.-shown { display: block; }
    """

    def show(self, message: str | None) -> None:
        self.update(Text(message or ""))
        self.set_class(bool(message), "-shown")


def field(label: str, widget: Widget, name: str) -> Vertical:
    """A labelled field with its error line; the error widget's id is ``<name>-error``."""
    return Vertical(Label(label, classes="field-label"), widget, FieldError(id=f"{name}-error"),
                    classes="field")


class Step(VerticalScroll):
    """One step of the wizard. Widgets render the draft and edit it; the draft is the source of truth."""

    title: ClassVar[str] = ""
    DEFAULT_CSS = """
    Step { padding: 0 1; }
    """

    @property
    def wizard(self) -> WizardScreen:
        from outreach_tui.tui.screens.wizard import WizardScreen

        screen = self.screen
        assert isinstance(screen, WizardScreen)
        return screen

    def focus_first(self) -> None:
        """Focus the step's first enabled field or button (not the scroll container itself)."""
        for widget in self.query("Input, Button, Select, Switch, DataTable"):
            if widget.focusable and not widget.disabled:
                widget.focus()
                return

    def load(self, profile: Profile) -> None:
        """Fill the widgets from the draft."""

    def apply(self, profile: Profile) -> list[str]:
        """Write the widgets into the draft; return problems (already shown next to their fields)."""
        return []

    def show_error(self, name: str, message: str | None) -> None:
        self.query_one(f"#{name}-error", FieldError).show(message)

    def clear_errors(self) -> None:
        for error in self.query(FieldError):
            error.show(None)

    def value(self, name: str) -> str:
        return self.query_one(f"#{name}", Input).value.strip()

    def set_value(self, name: str, value: str) -> None:
        self.query_one(f"#{name}", Input).value = value

    def show_validation(self, error: ValidationError, fields: dict[str, str]) -> list[str]:
        """Show pydantic errors under the fields named by ``fields`` (model field -> widget name)."""
        problems: list[str] = []
        for item in error.errors():
            key = str(item["loc"][-1]) if item["loc"] else ""
            message = _message(item)
            widget = fields.get(key)
            if widget:
                self.show_error(widget, message)
            problems.append(f"{key}: {message}" if key else message)
        return problems


def _message(item: Any) -> str:
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "string_too_short":
        return "required"
    return message
