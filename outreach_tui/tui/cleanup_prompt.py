"""The question before an export that would clear values: fields the profile no longer writes (a segment or a
mapping row removed) still hold this destination's values on some prospects, and the run clears them
(``[export] clear_on_unmap``). The user chooses: clear them, keep them (they stay in Outreach and this
destination stops tracking them, so no later export asks again), or not start."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from outreach_tui.tui.backend import PendingCleanup

CLEAR, KEEP, CANCEL = "clear", "keep", "cancel"


def cleanup_question(pending: PendingCleanup) -> str:
    """"Clear custom4 on 37 prospects (segment seg-emea left the profile)? This destination wrote those values."""
    items = ", and ".join(f"{item.field} on {item.prospects:,} prospect{'s' * (item.prospects != 1)} ({item.reason})"
                          for item in pending.fields)
    return (f"Clear {items}? This destination wrote those values. Kept, they stay in Outreach and are no longer "
            "tracked.")


class CleanupModal(ModalScreen[str]):
    """Answers CLEAR, KEEP or CANCEL (escape cancels: nothing starts)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", id="cleanup.cancel")]
    DEFAULT_CSS = """
    CleanupModal { align: center middle; }
    CleanupModal > Vertical { width: 76; max-width: 95%; height: auto; border: thick $warning;
                              background: $surface; padding: 0 1; }
    CleanupModal .buttons { height: auto; margin-top: 1; }
    CleanupModal .buttons Button { margin-right: 2; }
    """

    def __init__(self, pending: PendingCleanup) -> None:
        super().__init__()
        self.pending = pending

    def compose(self) -> ComposeResult:
        with Vertical(id="cleanup-dialog"):
            yield Static(Text(cleanup_question(self.pending)), id="cleanup-question")
            with Horizontal(classes="buttons"):
                yield Button("Clear", id="cleanup-clear", variant="warning", compact=True)
                yield Button("Keep them", id="cleanup-keep", variant="primary", compact=True)
                yield Button("Cancel", id="cleanup-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cleanup-cancel", Button).focus()

    @on(Button.Pressed)
    def _answer(self, event: Button.Pressed) -> None:
        self.dismiss({"cleanup-clear": CLEAR, "cleanup-keep": KEEP}.get(event.button.id or "", CANCEL))

    def action_cancel(self) -> None:
        self.dismiss(CANCEL)
