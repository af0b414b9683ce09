"""Messages of the wizard. Steps post requests and ``DraftChanged`` up to the screen (they never call it);
workers post their results; ``@on`` handlers own the state they describe."""

from __future__ import annotations

from typing import Any, Literal

from textual.message import Message

from outreach_tui.export import events
from outreach_tui.tui.backend import ConnectionStatus, SignedInUser
from outreach_tui.xdm.discover import Discovery

# ----- from the steps -----------------------------------------------------------------------------------


class DraftChanged(Message):
    """A step wrote a user's edit into the draft: the screen re-checks it and shows the problems."""


class SignInRequested(Message):
    pass


class SignInCancelled(Message):
    pass


class SandboxRequested(Message):
    pass


class DiscoverRequested(Message):
    pass


class CheckTypesRequested(Message):
    pass


class PreviewRequested(Message):
    pass


class SaveRequested(Message):
    def __init__(self, choose_file: bool) -> None:
        super().__init__()
        self.choose_file = choose_file


class TestAlertRequested(Message):
    pass


ExportAction = Literal["start", "pause", "resume", "cancel"]


class ExportRequested(Message):
    def __init__(self, action: ExportAction) -> None:
        super().__init__()
        self.action: ExportAction = action


# ----- from the workers ---------------------------------------------------------------------------------


class ExportEvent(Message):
    """One runner event. Progress events replace each other while queued (the runner can emit thousands)."""

    def __init__(self, event: events.Event) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return (isinstance(message, ExportEvent) and isinstance(self.event, events.Progress)
                and isinstance(message.event, events.Progress))


class ExportEnded(Message):
    """The export worker returned (finished, cancelled or failed); ``finished`` is None unless it finished."""

    def __init__(self, finished: events.Finished | None, error: str | None = None) -> None:
        super().__init__()
        self.finished = finished
        self.error = error


class SignedIn(Message):
    def __init__(self, who: SignedInUser) -> None:
        super().__init__()
        self.who = who


class StatusRead(Message):
    """What ``outreach-tui status --offline`` knows about the profile (sign-in, last run, dead letters)."""

    def __init__(self, status: ConnectionStatus) -> None:
        super().__init__()
        self.status = status


class SignInUrl(Message):
    """The authorize URL of a sign-in in progress (None: no sign-in is waiting any more)."""

    def __init__(self, url: str | None) -> None:
        super().__init__()
        self.url = url


class SourceDiscovered(Message):
    def __init__(self, discovery: Discovery) -> None:
        super().__init__()
        self.discovery = discovery


class TypesChecked(Message):
    """Outreach's custom field types (``GET /types``): field name -> its rule (type, label)."""

    def __init__(self, types: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.types = types


class PreviewReady(Message):
    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__()
        self.report = report
