"""Step 1: where Outreach is and who is signed in."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Static

from outreach_tui.profile import OutreachSettings
from outreach_tui.tui.backend import SignedInUser
from outreach_tui.tui.messages import SandboxRequested, SignInCancelled, SignInRequested
from outreach_tui.tui.widgets.base import FieldError, Step, field

DEFAULTS = OutreachSettings()


class ConnectStep(Step):
    title = "Connect"
    sections = ("outreach",)
    bindings_to_draft: ClassVar[dict[str, tuple[str, str]]] = {
        "api-base": ("outreach", "api_base"), "authorize-url": ("outreach", "authorize_url"),
        "token-url": ("outreach", "token_url"), "client-id": ("outreach", "client_id")}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "open_url", "Open in browser", id="connect.open-url"),
        Binding("c", "copy_url", "Copy URL", id="connect.copy-url"),
    ]
    DEFAULT_CSS = """
    ConnectStep #signed-in { margin-top: 1; height: auto; }
    /* No border or indent around the URL: a terminal selection of its lines copies the URL and nothing else. */
    ConnectStep #sign-in-waiting { height: auto; margin-top: 1; display: none; background: $accent 10%; }
    ConnectStep #sign-in-waiting.-shown { display: block; }
    ConnectStep #sign-in-url { height: auto; color: $text-accent; }
    ConnectStep #sign-in-waiting Horizontal { height: auto; }
    ConnectStep #sign-in-waiting Button { margin-right: 2; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.url: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("Sign in with Outreach (your browser opens Outreach's login page), or start the built-in "
                     "sandbox to rehearse safely.", classes="intro")
        with Horizontal(classes="buttons"):
            yield Button("Sign in with Outreach", id="sign-in", variant="primary", compact=True)
            yield Button("Start the sandbox", id="start-sandbox", compact=True)
        yield Static("Not signed in.", id="signed-in")
        with Vertical(id="sign-in-waiting"):
            yield Static("Waiting for the browser sign-in. If no browser opened, open this URL:")
            yield Static("", id="sign-in-url")
            with Horizontal():
                yield Button("Open in browser (o)", id="open-url", compact=True)
                yield Button("Copy URL (c)", id="copy-url", compact=True)
                yield Button("Cancel sign-in", id="cancel-sign-in", compact=True)
        yield FieldError(classes="step-problems")
        yield field("API base URL", Input(compact=True, id="api-base"), "api-base")
        yield field("Authorize URL", Input(compact=True, id="authorize-url"), "authorize-url")
        yield field("Token URL", Input(compact=True, id="token-url"), "token-url")
        yield field("OAuth client ID", Input(compact=True, id="client-id", placeholder="from your Outreach app"),
                    "client-id")

    def default(self, table: str, key: str) -> Any:
        return getattr(DEFAULTS, key, "")

    # ----- buttons: requests for the screen, which runs the work ------------------------------------------

    @on(Button.Pressed, "#sign-in")
    def _sign_in(self) -> None:
        self.post_message(SignInRequested())

    @on(Button.Pressed, "#start-sandbox")
    def _start_sandbox(self) -> None:
        self.post_message(SandboxRequested())

    @on(Button.Pressed, "#cancel-sign-in")
    def _cancel_sign_in(self) -> None:
        self.post_message(SignInCancelled())

    @on(Button.Pressed, "#open-url")
    def action_open_url(self) -> None:
        if self.url:
            self.app.open_url(self.url)

    @on(Button.Pressed, "#copy-url")
    def action_copy_url(self) -> None:
        if self.url:
            self.app.copy_to_clipboard(self.url)
            self.notify("The sign-in URL is on the clipboard.", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_url", "copy_url"):
            return self.url is not None
        return True

    # ----- shown by the screen ---------------------------------------------------------------------------

    def show_signed_in(self, who: SignedInUser) -> None:
        text = Text.assemble(("Signed in to Outreach", "bold"), f" as {who.user}" if who.user else "")
        text.append("\nscopes: " + (" ".join(who.scopes) if who.scopes is not None
                                     else "not reported for this token (OUTREACH_ACCESS_TOKEN)"))
        if who.missing_scopes:
            text.append(f"\nMissing scopes: {' '.join(who.missing_scopes)} — sign in again and grant them.",
                        style="bold red")
        self.query_one("#signed-in", Static).update(text)
        self.show_url(None)

    def show_url(self, url: str | None) -> None:
        """The sign-in URL in full (never hard-wrapped or cut), with one key to open it and one to copy it."""
        self.url = url
        self.query_one("#sign-in-url", Static).update(Text(url or "", overflow="fold"))
        self.query_one("#sign-in-waiting").set_class(url is not None, "-shown")
        if url is not None:
            self.query_one("#open-url", Button).focus()
        self.refresh_bindings()

    def show_sandbox(self, settings: dict[str, str]) -> None:
        section = self.draft.section("outreach")
        section.update(settings)
        self.draft.changed()
        self.load()
