"""Step 2: the destination's name, description and alerts (with a test alert)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Label, Switch

from outreach_tui.profile import Alerts
from outreach_tui.tui.messages import TestAlertRequested
from outreach_tui.tui.widgets.base import FieldError, Step, field

SWITCH_LABELS = {"on-failure": "Alert on failures", "on-throttle": "Alert when throttled",
                 "on-complete": "Alert when complete"}
DEFAULTS = Alerts()


class DestinationStep(Step):
    title = "Destination"
    sections = ("destination", "alerts")
    bindings_to_draft: ClassVar[dict[str, tuple[str, str]]] = {
        "destination-name": ("destination", "name"), "destination-description": ("destination", "description"),
        "on-failure": ("alerts", "on_failure"), "on-throttle": ("alerts", "on_throttle"),
        "on-complete": ("alerts", "on_complete"), "webhook": ("alerts", "webhook")}
    DEFAULT_CSS = """
    DestinationStep .switch-row { height: auto; }
    DestinationStep .switch-row Switch { border: none; height: 1; padding: 0; }
    DestinationStep .switch-row Label { padding: 0 1; }
    DestinationStep .note { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield field("Name (required)", Input(compact=True, id="destination-name", placeholder="Outreach EMEA"),
                    "destination-name")
        yield field("Description", Input(compact=True, id="destination-description"), "destination-description")
        yield Label("Alerts: notifications here, and the webhook when set", classes="note")
        for widget_id, label in SWITCH_LABELS.items():
            with Horizontal(classes="switch-row"):
                yield Switch(id=widget_id)
                yield Label(label)
        yield field("Alert webhook URL (optional, Slack-compatible)", Input(compact=True, id="webhook"), "webhook")
        with Horizontal(classes="buttons"):
            yield Button("Send a test alert", id="test-alert", compact=True)
        yield FieldError(classes="step-problems")

    def default(self, table: str, key: str) -> Any:
        return getattr(DEFAULTS, key, "") if table == "alerts" else ""

    @on(Button.Pressed, "#test-alert")
    def _test_alert(self) -> None:
        self.post_message(TestAlertRequested())
