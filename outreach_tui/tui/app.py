"""The Textual app: ``make_app(settings)`` is shared by the ``outreach-tui`` command, the tests and the
screenshot script. The app opens the profile (however broken: its problems show at their fields), shows the
wizard screen, and asks before quitting with unsaved changes or a running export."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from outreach_tui.tui import backend
from outreach_tui.tui.draft import Draft, new_profile_data
from outreach_tui.tui.locations import remember_profile
from outreach_tui.tui.modals import ConfirmModal, ErrorModal, HelpScreen
from outreach_tui.tui.screens.wizard import WizardScreen
from outreach_tui.tui.settings import WizardSettings

__all__ = ["OutreachApp", "WizardSettings", "make_app"]


class OutreachApp(App[int]):
    TITLE = "outreach-tui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="app.help"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(self, settings: WizardSettings) -> None:
        super().__init__()
        self.settings = settings
        self.load_error: str | None = None

    def on_mount(self) -> None:
        self.push_screen(WizardScreen(self._initial_draft(), self.settings))
        if self.load_error:
            self.push_screen(ErrorModal("Could not read the profile", self.load_error
                                        + "\n\nThe wizard starts with a new profile instead."))

    def _initial_draft(self) -> Draft:
        """The profile's data as the file holds it, problems and all; a new profile when there is none."""
        if self.settings.profile is not None:
            profile = self.settings.profile
            return Draft(profile.model_dump(mode="json", exclude_none=True), profile.path)
        path = self.settings.profile_path
        if path is None:
            return Draft(new_profile_data(), None)
        data, error = backend.read_profile_data(path)
        if error is not None:
            self.load_error = error
            return Draft(new_profile_data(), None)
        remember_profile(path)
        return Draft(data, path.resolve())

    @property
    def wizard(self) -> WizardScreen:
        return next(s for s in self.screen_stack if isinstance(s, WizardScreen))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        wizard = self.wizard
        reasons = []
        if wizard.is_dirty():
            reasons.append("The profile has unsaved changes.")
        if wizard.export_running():
            reasons.append("An export is running (it will stop; the next run resumes).")
        if not reasons:
            self.exit(0)
            return

        def answered(quit_anyway: bool | None) -> None:
            if not quit_anyway:
                return
            if wizard.export_running():  # stop cleanly: in-flight requests end, state and report are saved
                wizard.action_export("cancel")
                self.run_worker(self._exit_after_export(wizard), group="quit", exit_on_error=False)
            else:
                self.exit(0)

        self.push_screen(ConfirmModal(" ".join(reasons) + " Quit anyway?", yes="Quit", no="Stay"), answered)

    async def _exit_after_export(self, wizard: WizardScreen) -> None:
        for worker in [w for w in wizard.workers if w.group == "export"]:
            await worker.wait()
        self.exit(0)


def make_app(settings: WizardSettings | None = None) -> OutreachApp:
    return OutreachApp(settings or WizardSettings())
