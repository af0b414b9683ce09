"""Step 2: the destination's name, description and alerts."""

from __future__ import annotations

from pydantic import ValidationError
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Switch

from outreach_tui.profile import Alerts, Destination, Profile
from outreach_tui.tui.widgets.base import Step, field

SWITCHES = ("on_failure", "on_throttle", "on_complete")
SWITCH_LABELS = {"on_failure": "Alert on failures", "on_throttle": "Alert when throttled",
                 "on_complete": "Alert when complete"}


class DestinationStep(Step):
    title = "Destination"

    def compose(self) -> ComposeResult:
        yield field("Name (required)", Input(compact=True, id="destination-name", placeholder="Outreach EMEA"),
                    "destination-name")
        yield field("Description", Input(compact=True, id="destination-description"), "destination-description")
        for name in SWITCHES:
            with Horizontal(classes="switch-row"):
                yield Switch(id=name.replace("_", "-"))
                yield Label(SWITCH_LABELS[name])
        yield field("Alert webhook URL (optional, Slack-compatible)", Input(compact=True, id="webhook"), "webhook")

    def load(self, profile: Profile) -> None:
        self.set_value("destination-name", profile.destination.name)
        self.set_value("destination-description", profile.destination.description)
        for name in SWITCHES:
            self.query_one(f"#{name.replace('_', '-')}", Switch).value = getattr(profile.alerts, name)
        self.set_value("webhook", profile.alerts.webhook or "")

    def apply(self, profile: Profile) -> list[str]:
        self.clear_errors()
        problems: list[str] = []
        try:
            destination = Destination(name=self.value("destination-name"),
                                      description=self.value("destination-description"))
        except ValidationError as error:
            problems += self.show_validation(error, {"name": "destination-name",
                                                     "description": "destination-description"})
        switches = {name: self.query_one(f"#{name.replace('_', '-')}", Switch).value for name in SWITCHES}
        try:
            alerts = Alerts(**switches, webhook=self.value("webhook") or None)
        except ValidationError as error:
            problems += self.show_validation(error, {"webhook": "webhook"})
        if problems:
            return problems
        profile.destination = destination
        profile.alerts = alerts
        return []
