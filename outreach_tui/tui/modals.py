"""Modal screens: errors, confirmations, a diagnostic's details, save-as and help."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from outreach_tui.tui.export_view import Cause


class Dialog(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss_false", "Close", id="dialog.close")]
    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > Vertical { width: 76; max-width: 95%; height: auto; max-height: 90%; border: thick $primary;
                        background: $surface; padding: 0 1; }
    Dialog .dialog-title { text-style: bold; margin-bottom: 1; }
    Dialog .buttons { height: auto; margin-top: 1; }
    Dialog .buttons Button { margin-right: 2; }
    Dialog VerticalScroll { height: auto; max-height: 14; }
    """

    def action_dismiss_false(self) -> None:
        self.dismiss(False)


class ErrorModal(Dialog):
    """The one place worker errors end up: a message a user can act on, never a traceback."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-dialog"):
            yield Label(Text(self.title_text), classes="dialog-title")
            with VerticalScroll():
                yield Static(Text(self.message), id="error-message")
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()  # enter closes it, as a user expects

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(True)


class TextModal(Dialog):
    """A longer text on demand (e.g. the full ``status`` of the Connect step), scrollable, closed with enter."""

    def __init__(self, title: str, text: str) -> None:
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        with Vertical(id="text-dialog"):
            yield Label(Text(self.title_text), classes="dialog-title")
            with VerticalScroll():
                yield Static(Text(self.text), id="text-body")
            with Horizontal(classes="buttons"):
                yield Button("Close", id="ok", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(True)


class ConfirmModal(Dialog):
    def __init__(self, question: str, yes: str = "Yes", no: str = "No") -> None:
        super().__init__()
        self.question, self.yes, self.no = question, yes, no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(Text(self.question), classes="dialog-title")
            with Horizontal(classes="buttons"):
                yield Button(self.yes, id="yes", variant="error", compact=True)
                yield Button(self.no, id="no", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class CauseModal(Dialog):
    """One cause of failures: the first failure in full, its hint, and the first prospects it hit."""

    def __init__(self, cause: Cause, report: str) -> None:
        super().__init__()
        self.cause = cause
        self.report = report

    def compose(self) -> ComposeResult:
        d, cause = self.cause.first, self.cause
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        more = cause.count - len(cause.examples)
        prospects = ", ".join(str(p) for p in cause.examples) + (f" and {more:,} more" if more > 0 else "")
        for label, value in (("Prospects", f"{cause.count:,}: {prospects}"),
                             ("HTTP status", str(d.status or "not sent")), ("Error", d.error_id),
                             ("Field", d.field or "—"), ("From", d.origin or "—"), ("Detail", d.detail),
                             ("Hint", d.hint or "—"), ("Full list", self.report or "in the report when the run ends")):
            table.add_row(label, Text(value))
        with Vertical(id="diagnostic-dialog"):
            yield Label(f"{cause.count:,} prospect(s) failed for one cause", classes="dialog-title")
            with VerticalScroll():
                yield Static(table)
            with Horizontal(classes="buttons"):
                yield Button("Close", id="ok", variant="primary", compact=True)

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(True)


class SaveAsModal(ModalScreen[str | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="save-as.cancel")]
    DEFAULT_CSS = Dialog.DEFAULT_CSS.replace("Dialog", "SaveAsModal")

    def __init__(self, suggestion: str) -> None:
        super().__init__()
        self.suggestion = suggestion

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Save the profile as", classes="dialog-title")
            yield Input(self.suggestion, id="save-as-path", placeholder="profile.toml")
            yield Static("", id="save-as-error")
            with Horizontal(classes="buttons"):
                yield Button("Save", id="save-as-ok", variant="primary", compact=True)
                yield Button("Cancel", id="save-as-cancel", compact=True)

    @on(Input.Submitted)
    @on(Button.Pressed, "#save-as-ok")
    def _save(self) -> None:
        path = self.query_one("#save-as-path", Input).value.strip()
        if not path.endswith(".toml"):
            self.query_one("#save-as-error", Static).update(Text("the file name must end in .toml",
                                                                 style="bold red"))
            return
        self.dismiss(path)

    @on(Button.Pressed, "#save-as-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = """\
outreach-tui builds a TOML profile step by step, then exports it.
Problems show next to their fields as you type; Next stays until the step has none.

Keys
  F2 / F3         previous / next step
  F5 / F6         start the export / pause or resume it
  ctrl+s          save the profile (Save as… on the Review step)
  ctrl+p          command palette (steps, save, export, pause, …)
  tab / shift+tab move between fields; enter on a table row edits it
  o / c / d       open / copy the sign-in URL; status details (Connect step)
  ctrl+q          quit (asks first when there are unsaved changes)
  F1              this help

Steps
  Connect       sign in with Outreach, or start the built-in sandbox
  Destination   name, description, alerts and a test alert
  Source        the XDM profile file; Discover samples it
  Mapping       identity namespace; Add row, then type the XDM path and the
                Outreach attribute (the highlighted row is edited)
  Segments      Export a segment, give it a mapping ID N (status → customN)
  Review        every problem left, the TOML; save; dry-run payloads
  Export        progress, throughput, budget, throttling, failures by cause

Headless: outreach-tui --run PROFILE.toml runs the same export without a screen."""


class HelpScreen(Dialog):
    BINDINGS: ClassVar[list[BindingType]] = [*Dialog.BINDINGS, Binding("f1", "dismiss_false", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label("Help", classes="dialog-title")
            with VerticalScroll():
                yield Static(HELP)
            with Horizontal(classes="buttons"):
                yield Button("Close", id="ok", variant="primary", compact=True)

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss(True)
