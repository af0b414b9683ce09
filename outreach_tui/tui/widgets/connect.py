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
from outreach_tui.tui.backend import ConnectionStatus, Problem, SignedInUser, redirect_uri_advice_for
from outreach_tui.tui.messages import SandboxRequested, SignInCancelled, SignInRequested
from outreach_tui.tui.modals import TextModal
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
        Binding("d", "status_details", "Status details", id="connect.status-details"),
    ]
    DEFAULT_CSS = """
    ConnectStep #redirect-advice { height: auto; color: $text-muted; }
    ConnectStep #signed-in { margin-top: 1; height: auto; }
    ConnectStep #connect-status { height: auto; display: none; }
    ConnectStep #connect-status.-shown { display: block; }
    ConnectStep #connect-status-text { width: 1fr; height: auto; color: $text-muted; }
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
        self.connection_status: ConnectionStatus | None = None

    def compose(self) -> ComposeResult:
        yield Static("Sign in with Outreach (your browser opens Outreach's login page), or start the built-in "
                     "sandbox to rehearse safely.", classes="intro")
        with Horizontal(classes="buttons"):
            yield Button("Sign in with Outreach", id="sign-in", variant="primary", compact=True)
            yield Button("Start the sandbox", id="start-sandbox", compact=True)
        yield Static("", id="redirect-advice")
        yield Static("Not signed in.", id="signed-in")
        with Horizontal(id="connect-status"):
            yield Static("", id="connect-status-text")
            yield Button("Details (d)", id="status-details", compact=True)
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

    @on(Button.Pressed, "#status-details")
    def action_status_details(self) -> None:
        if self.connection_status is not None:
            self.app.push_screen(TextModal("outreach-tui status (offline)", "\n".join(self.connection_status.details)))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_url", "copy_url"):
            return self.url is not None
        if action == "status_details":
            return self.connection_status is not None
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

    def show_status(self, status: ConnectionStatus | None) -> None:
        """What ``outreach-tui status --offline`` knows, in two lines at most; the whole of it on ``d``."""
        self.connection_status = status
        self.query_one("#connect-status").set_class(status is not None, "-shown")
        self.query_one("#connect-status-text", Static).update(status_summary(status) if status is not None else "")
        self.refresh_bindings()

    def show_problems(self, problems: list[Problem]) -> None:
        super().show_problems(problems)
        advice = redirect_uri_advice_for(self.draft.data)
        self.query_one("#redirect-advice", Static).update(Text(advice or ""))

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


def in_words(seconds: float) -> str:
    """``in 45 min``, ``in 1 h 12 min``, ``3 d 4 h ago``."""
    span = int(abs(seconds)) // 60
    text = f"{span} min" if span < 60 else f"{span // 60} h {span % 60} min" if span < 48 * 60 else \
        f"{span // 1440} d {span // 60 % 24} h"
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def status_summary(status: ConnectionStatus) -> Text:
    """The status in a few short parts; problems (scopes missing, dead letters, cleanup) stand out."""
    parts: list[Text] = []
    if status.expires_in is not None:
        expired = "expired " if status.expires_in <= 0 else "expires "
        parts.append(Text(f"token {expired}{in_words(status.expires_in)}"
                          + (" (renewed on use)" if status.refreshable else "")))
    if status.missing_scopes:
        parts.append(Text(f"missing scopes {' '.join(status.missing_scopes)}", style="bold red"))
    if status.state_problem:
        parts.append(Text(f"state unreadable: {status.state_problem}", style="bold red"))
    else:
        parts.append(Text(f"last {status.last_run}" if status.last_run else "no run yet"))
        parts.append(Text(f"{status.dead_letters:,} dead letter{'' if status.dead_letters == 1 else 's'} waiting",
                          style="bold yellow")
                     if status.dead_letters else Text("no dead letters"))
        if status.cleanup_fields:
            fields = ", ".join(f"{name} ({count:,})" for name, count in status.cleanup_fields.items())
            parts.append(Text(f"cleanup pending: {fields}", style="bold yellow"))
    return Text(" · ").join(parts)
