"""Messages the wizard's workers post; ``@on`` handlers own the state they describe."""

from __future__ import annotations

from typing import Any

from textual.message import Message

from outreach_tui.export import events


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
    def __init__(self, user: str, scopes: list[str], missing_scopes: list[str]) -> None:
        super().__init__()
        self.user = user
        self.scopes = scopes
        self.missing_scopes = missing_scopes


class SourceDiscovered(Message):
    def __init__(self, discovery: Any) -> None:
        super().__init__()
        self.discovery = discovery


class TypesChecked(Message):
    """Custom fields configured in Outreach: number -> label (None when it has no label)."""

    def __init__(self, configured: dict[int, str | None]) -> None:
        super().__init__()
        self.configured = configured


class PreviewReady(Message):
    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__()
        self.report = report
