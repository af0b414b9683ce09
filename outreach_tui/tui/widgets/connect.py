"""Step 1: where Outreach is and who is signed in."""

from __future__ import annotations

from pydantic import ValidationError
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button, Input, Static

from outreach_tui.profile import OutreachSettings, Profile
from outreach_tui.tui.widgets.base import Step, field

URL_FIELDS = {"api_base": "api-base", "authorize_url": "authorize-url", "token_url": "token-url",
              "client_id": "client-id"}


class ConnectStep(Step):
    title = "Connect"

    def compose(self) -> ComposeResult:
        yield Static("Sign in with Outreach (your browser opens Outreach's login page), or start the built-in "
                     "sandbox to rehearse safely.", classes="intro")
        with Horizontal(classes="buttons"):
            yield Button("Sign in with Outreach", id="sign-in", variant="primary", compact=True)
            yield Button("Start the sandbox", id="start-sandbox", compact=True)
            yield Button("Cancel sign-in", id="cancel-sign-in", compact=True, disabled=True)
        yield Static("Not signed in.", id="signed-in")
        yield Static("", id="sign-in-url")
        yield field("API base URL", Input(compact=True, id="api-base"), "api-base")
        yield field("Authorize URL", Input(compact=True, id="authorize-url"), "authorize-url")
        yield field("Token URL", Input(compact=True, id="token-url"), "token-url")
        yield field("OAuth client ID", Input(compact=True, id="client-id", placeholder="from your Outreach app"),
                    "client-id")

    def load(self, profile: Profile) -> None:
        for attribute, name in URL_FIELDS.items():
            self.set_value(name, str(getattr(profile.outreach, attribute)))

    def apply(self, profile: Profile) -> list[str]:
        self.clear_errors()
        values = {attribute: self.value(name) for attribute, name in URL_FIELDS.items()}
        try:
            settings = OutreachSettings(**values, redirect_uri=profile.outreach.redirect_uri,
                                        scopes=profile.outreach.scopes)
        except ValidationError as error:
            return self.show_validation(error, URL_FIELDS)
        profile.outreach = settings
        return []

    def show_signed_in(self, user: str, scopes: list[str], missing: list[str]) -> None:
        text = Text.assemble(("Signed in as ", ""), (user, "bold"), f" · scopes: {' '.join(scopes) or '(none)'}")
        if missing:
            text.append(f"\nMissing scopes: {' '.join(missing)} — sign in again and grant them.", style="bold red")
        self.query_one("#signed-in", Static).update(text)
        self.show_url(None)

    def show_url(self, url: str | None) -> None:
        message = Text(f"Waiting for the browser sign-in. If no browser opened, visit:\n{url}") if url else Text("")
        self.query_one("#sign-in-url", Static).update(message)
        self.query_one("#cancel-sign-in", Button).disabled = url is None
