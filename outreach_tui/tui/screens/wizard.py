"""The wizard: one screen owning the draft profile and a ContentSwitcher of steps."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Footer, Static

from outreach_tui.profile import MappingRow, Profile, ProfileError, save_profile
from outreach_tui.tui import backend
from outreach_tui.tui.locations import remember_profile
from outreach_tui.tui.messages import PreviewReady, SignedIn, SourceDiscovered, TypesChecked
from outreach_tui.tui.screens.modals import SaveAsModal
from outreach_tui.tui.widgets.base import Step
from outreach_tui.tui.widgets.connect import ConnectStep
from outreach_tui.tui.widgets.destination import DestinationStep
from outreach_tui.tui.widgets.export_panel import ExportPanel
from outreach_tui.tui.widgets.mapping import MappingStep
from outreach_tui.tui.widgets.review import ReviewStep
from outreach_tui.tui.widgets.segments import SegmentsStep
from outreach_tui.tui.widgets.source import SourceStep
from outreach_tui.xdm.records import Format

if TYPE_CHECKING:
    from outreach_tui.tui.app import OutreachApp

STEPS = ("connect", "destination", "source", "mapping", "segments", "review", "export")


class WizardScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "back", "Back", id="wizard.back"),
        Binding("f3", "next", "Next", id="wizard.next"),
        Binding("ctrl+s", "save", "Save", id="wizard.save"),
        Binding("f5", "start_export", "Export", id="wizard.export", show=False),
        Binding("f6", "toggle_pause", "Pause/resume", id="wizard.pause", show=False),
    ]

    def __init__(self, draft: Profile) -> None:
        super().__init__()
        self.draft = draft
        self.saved_toml = draft.to_toml() if draft.path else ""
        self.discovery: Any = None
        self.token_key: Any = None  # where the signed-in tokens are stored (follows the draft)

    @property
    def wizard_app(self) -> OutreachApp:
        from outreach_tui.tui.app import OutreachApp

        assert isinstance(self.app, OutreachApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield Static("", id="step-bar")
        with ContentSwitcher(initial="connect", id="steps"):
            yield ConnectStep(id="connect")
            yield DestinationStep(id="destination")
            yield SourceStep(id="source")
            yield MappingStep(id="mapping")
            yield SegmentsStep(id="segments")
            yield ReviewStep(id="review")
            yield ExportPanel(clock=self.wizard_app.settings.clock, show_path=self.wizard_app.show_path,
                              id="export")
        with Horizontal(id="nav"):
            yield Button("◀ Back", id="back", compact=True)
            yield Static("", id="nav-status")
            yield Button("Next ▶", id="next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        for step in self.steps():
            step.load(self.draft)
        self.show_step("connect")
        if self.draft.source_path().is_file():  # fill the pick lists of an existing profile right away
            path, fmt = self.draft.source_path(), self.draft.source.format
            self.run_worker(lambda: self._discover(path, fmt, quiet=True), thread=True, group="discover",
                            exit_on_error=False)
        if self.draft.outreach.client_id:
            self.token_key = backend.token_key(self.draft)
            self.run_worker(self._who_is_signed_in(self.draft.model_copy(deep=True)), group="whoami",
                            exit_on_error=False)

    async def _who_is_signed_in(self, profile: Profile) -> None:
        """Show who is signed in already; not being signed in is normal here, not an error."""
        try:
            info = await backend.whoami(profile)
        except Exception:
            return
        from outreach_tui.outreach.scopes import missing_scopes

        scopes = list(info.get("scopes") or [])
        self.post_message(SignedIn(str(info.get("user") or "an unknown user"), scopes,
                                   missing_scopes(profile.outreach.scopes, scopes) if scopes else []))

    # ----- steps ---------------------------------------------------------------------------------------

    def steps(self) -> list[Step]:
        return [self.query_one(f"#{name}", Step) for name in STEPS]

    def step(self, name: str) -> Step:
        return self.query_one(f"#{name}", Step)

    @property
    def current(self) -> str:
        return self.query_one("#steps", ContentSwitcher).current or "connect"

    def show_step(self, name: str) -> None:
        index = STEPS.index(name)
        back, next_ = self.query_one("#back", Button), self.query_one("#next", Button)
        focused = self.focused
        # One focus change at most (each one rebuilds the footer): stay on the nav buttons when they have
        # focus, else move into the new step.
        if focused is back and index == 0:
            next_.focus()
        elif focused is next_ and index == len(STEPS) - 1:
            back.focus()
        elif focused is not None and focused not in (back, next_):
            self.step(name).focus_first()
        self.query_one("#steps", ContentSwitcher).current = name
        self.paint_step_bar()
        back.disabled = index == 0
        next_.disabled = index == len(STEPS) - 1
        if name == "review":
            self.refresh_review()
        self.set_status("")

    def paint_step_bar(self) -> None:
        index = STEPS.index(self.current)
        bar = Text()
        separator = " › " if self.size.width >= 90 else "›"
        for number, step_name in enumerate(STEPS):
            if number:
                bar.append(separator, style="dim")
            style = "bold reverse" if number == index else ("" if number < index else "dim")
            bar.append(f"{number + 1} {self.step(step_name).title}", style=style)
        self.query_one("#step-bar", Static).update(bar)

    def on_resize(self) -> None:
        self.paint_step_bar()

    def go(self, name: str) -> bool:
        """Move to ``name``; moving forward checks every step on the way and stops at the first problem."""
        here, there = STEPS.index(self.current), STEPS.index(name)
        for step_name in STEPS[here:there]:
            problems = self.step(step_name).apply(self.draft)
            if problems:
                self.show_step(step_name)
                self.set_status(f"{len(problems)} problem(s) on this step: {problems[0]}", error=True)
                return False
        self.show_step(name)
        return True

    def set_status(self, message: str, error: bool = False) -> None:
        self.query_one("#nav-status", Static).update(Text(message, style="bold red" if error else ""))

    def changed(self) -> None:
        """A table edit: the draft is applied on Next; here only the Review view may need a refresh."""
        if self.current == "review":
            self.refresh_review()

    def mapping_rows(self) -> list[MappingRow]:
        return self.query_one(MappingStep).rows

    def collect(self) -> tuple[Profile, list[str]]:
        """The draft with every step's widgets applied (without moving), and the problems found."""
        problems: list[str] = []
        for step in self.steps():
            problems += step.apply(self.draft)
        problems += self.draft.problems()
        return self.draft, problems

    def follow_tokens(self) -> None:
        """Keep the sign-in attached to the draft whose name or file changed since."""
        if self.token_key is not None:
            self.token_key = backend.carry_tokens(self.token_key, self.draft)

    def is_dirty(self) -> bool:
        copy = self.draft.model_copy(deep=True)
        for step in self.steps():
            try:
                step.apply(copy)
            except Exception:  # a half-typed field: treat as a change
                return True
        return copy.to_toml() != self.saved_toml

    def refresh_review(self) -> None:
        path = self.draft.path
        self.query_one(ReviewStep).show_profile(self.draft, self.wizard_app.show_path(str(path)) if path else None)

    # ----- actions -------------------------------------------------------------------------------------

    @on(Button.Pressed, "#next")
    def action_next(self) -> None:
        index = STEPS.index(self.current)
        if index < len(STEPS) - 1:
            self.go(STEPS[index + 1])

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        index = STEPS.index(self.current)
        if index > 0:
            self.show_step(STEPS[index - 1])

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        if self.draft.path is None:
            self.action_save_as()
            return
        self.save_to(self.draft.path)

    @on(Button.Pressed, "#save-as")
    def action_save_as(self) -> None:
        suggestion = str(self.draft.path) if self.draft.path else "outreach-profile.toml"

        def chosen(path: str | None) -> None:
            if path:
                self.save_to(Path(path).expanduser())

        self.app.push_screen(SaveAsModal(suggestion), chosen)

    def save_to(self, path: Path) -> bool:
        profile, problems = self.collect()
        if problems:
            self.set_status(f"Not saved: {problems[0]}", error=True)
            self.notify("\n".join(problems[:5]), title="Not saved: fix these first", severity="error",
                        markup=False)
            return False
        try:
            saved = save_profile(profile, path)
        except (OSError, ProfileError) as error:
            self.wizard_app.show_error("Could not save the profile", str(error))
            return False
        self.saved_toml = profile.to_toml()
        self.follow_tokens()
        remember_profile(saved)
        self.refresh_review()
        self.notify(f"Saved {self.wizard_app.show_path(str(saved))}", markup=False)
        return True

    # sign-in -------------------------------------------------------------------------------------------

    @on(Button.Pressed, "#sign-in")
    def action_sign_in(self) -> None:
        connect = self.query_one(ConnectStep)
        if connect.apply(self.draft):
            self.show_step("connect")
            return
        profile = self.draft.model_copy(deep=True)
        self.token_key = backend.token_key(profile)
        self.wizard_app.run_worker(self._sign_in(profile), group="sign-in",
                                   exclusive=True, exit_on_error=False, name="Sign-in")

    async def _sign_in(self, profile: Profile) -> None:
        def on_url(url: str) -> None:
            self.query_one(ConnectStep).show_url(url)

        result = await backend.sign_in(profile, open_browser=self.app.open_url, on_url=on_url)
        self.post_message(SignedIn(str(result.user or "an unknown user"), list(result.scopes),
                                   list(result.missing_scopes)))

    @on(SignedIn)
    def _signed_in(self, message: SignedIn) -> None:
        self.query_one(ConnectStep).show_signed_in(message.user, message.scopes, message.missing_scopes)

    @on(Button.Pressed, "#cancel-sign-in")
    def action_cancel_sign_in(self) -> None:
        self.wizard_app.workers.cancel_group(self.wizard_app, "sign-in")
        self.query_one(ConnectStep).show_url(None)

    @on(Button.Pressed, "#start-sandbox")
    def action_start_sandbox(self) -> None:
        running = self.wizard_app.ensure_sandbox()
        if running is None:
            return
        backend.use_sandbox(self.draft, running)
        self.query_one(ConnectStep).load(self.draft)
        self.notify("The sandbox is running; sign in as demo@example.com / demo.", markup=False)

    # discovery -----------------------------------------------------------------------------------------

    @on(Button.Pressed, "#discover")
    def action_discover(self) -> None:
        source = self.query_one(SourceStep)
        if source.apply(self.draft):
            return
        path, fmt = self.draft.source_path(), self.draft.source.format
        self.query_one("#discovery-summary", Static).update("Sampling the file…")
        self.wizard_app.run_worker(lambda: self._discover(path, fmt), thread=True, group="discover",
                                   exclusive=True, exit_on_error=False, name="Discovery")

    def _discover(self, path: Path, fmt: Format | None, quiet: bool = False) -> None:
        try:
            discovery = backend.discover_source(path, fmt)
        except Exception:
            if quiet:  # at start-up: the user will see the problem when pressing Discover
                return
            raise
        self.post_message(SourceDiscovered(discovery))

    @on(SourceDiscovered)
    def _discovered(self, message: SourceDiscovered) -> None:
        self.show_discovery(message.discovery)

    def show_discovery(self, discovery: Any) -> None:
        self.discovery = discovery
        self.query_one(SourceStep).show_discovery(discovery)
        mapping = self.query_one(MappingStep)
        mapping.set_sources(sorted(p for p in discovery.paths if not p.startswith(("identityMap",
                                                                                     "segmentMembership"))))
        mapping.set_namespaces(sorted(discovery.namespaces))
        self.query_one(SegmentsStep).set_discovered(dict(discovery.segments))

    # /types -------------------------------------------------------------------------------------------

    @on(Button.Pressed, "#check-types")
    def action_check_types(self) -> None:
        self.query_one(ConnectStep).apply(self.draft)
        self.query_one(DestinationStep).apply(self.draft)
        self.follow_tokens()
        self.wizard_app.run_worker(self._check_types(self.draft.model_copy(deep=True)), group="types",
                                   exclusive=True, exit_on_error=False, name="Custom field check")

    async def _check_types(self, profile: Profile) -> None:
        self.post_message(TypesChecked(await backend.custom_field_types(profile)))

    @on(TypesChecked)
    def _types_checked(self, message: TypesChecked) -> None:
        self.query_one(SegmentsStep).set_configured(message.configured)

    # dry-run preview ------------------------------------------------------------------------------------

    @on(Button.Pressed, "#preview")
    def action_preview(self) -> None:
        profile, problems = self.collect()
        if problems:
            self.set_status(f"Fix first: {problems[0]}", error=True)
            return
        self.wizard_app.run_worker(self._preview(profile.model_copy(deep=True)), group="preview",
                                   exclusive=True, exit_on_error=False, name="Dry-run preview")

    async def _preview(self, profile: Profile) -> None:
        runner = backend.make_runner(profile, lambda event: None, dry_run=True)
        finished = await runner.run()
        self.post_message(PreviewReady(finished.report))

    @on(PreviewReady)
    def _preview_ready(self, message: PreviewReady) -> None:
        self.query_one(ReviewStep).show_preview(message.report)

    # export --------------------------------------------------------------------------------------------

    @on(Button.Pressed, "#export-start")
    def action_start_export(self) -> None:
        profile, problems = self.collect()
        if problems:
            self.set_status(f"Fix first: {problems[0]}", error=True)
            return
        self.follow_tokens()
        self.show_step("export")
        self.wizard_app.start_export(profile.model_copy(deep=True), self.query_one(ExportPanel))

    @on(Button.Pressed, "#export-pause")
    def action_pause(self) -> None:
        self.wizard_app.pause_export(True)

    @on(Button.Pressed, "#export-resume")
    def action_resume(self) -> None:
        self.wizard_app.pause_export(False)

    def action_toggle_pause(self) -> None:
        self.wizard_app.pause_export(not self.query_one(ExportPanel).view.paused)

    @on(Button.Pressed, "#export-cancel")
    def action_cancel_export(self) -> None:
        self.wizard_app.cancel_export()

