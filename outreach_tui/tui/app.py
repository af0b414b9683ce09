"""The Textual app: ``make_app(settings)`` is shared by the ``outreach-tui`` command, the tests and the
screenshot script."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from outreach_tui.profile import Destination, Profile, ProfileError, Source, load_profile
from outreach_tui.tui import backend
from outreach_tui.tui.commands import WizardCommands
from outreach_tui.tui.locations import data_dir, remember_profile
from outreach_tui.tui.messages import ExportEnded, ExportEvent
from outreach_tui.tui.screens.modals import ConfirmModal, ErrorModal, HelpScreen
from outreach_tui.tui.screens.wizard import WizardScreen
from outreach_tui.tui.widgets.export_panel import ExportPanel


@dataclass
class WizardSettings:
    profile_path: Path | None = None
    profile: Profile | None = None  # a profile already loaded (wins over profile_path)
    clock: Callable[[], float] = time.time
    sandbox: Any = None  # a running sandbox the wizard may use (the demo starts one)
    path_aliases: dict[str, str] = field(default_factory=dict)  # prefix -> shown as (snapshots, privacy)


def new_profile() -> Profile:
    return Profile(destination=Destination(name="Outreach"), source=Source(path="profiles.jsonl"))


class OutreachApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "outreach-tui"
    COMMANDS = App.COMMANDS | {WizardCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f1", "help", "Help", id="app.help"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(self, settings: WizardSettings) -> None:
        super().__init__()
        self.settings = settings
        self.runner: Any = None
        self._sandbox_stack = contextlib.ExitStack()
        self.sandbox = settings.sandbox
        self.load_error: str | None = None

    # ----- start-up ------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.push_screen(WizardScreen(self._initial_profile()))
        if self.load_error:
            self.show_error("Could not open the profile", self.load_error)

    def _initial_profile(self) -> Profile:
        if self.settings.profile is not None:
            return self.settings.profile
        path = self.settings.profile_path
        if path is None:
            return new_profile()
        try:
            profile = load_profile(path)
        except ProfileError as error:
            self.load_error = str(error)
            return new_profile()
        remember_profile(path)
        return profile

    @property
    def wizard(self) -> WizardScreen:
        return next(s for s in self.screen_stack if isinstance(s, WizardScreen))

    def show_path(self, path: str) -> str:
        """Paths as the user should read them: the data dir and home folder shortened."""
        aliases = {**self.settings.path_aliases, str(data_dir()): "$DATA", str(Path.home()): "~"}
        for prefix, alias in aliases.items():
            if path.startswith(prefix):
                return alias + path[len(prefix):]
        return path

    # ----- errors: one handler for every worker ------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "export":
            with contextlib.suppress(Exception):
                self.wizard.query_one(ExportPanel).post_message(ExportEnded(None, friendly(error)))
        if event.worker.group == "sign-in":
            with contextlib.suppress(Exception):
                from outreach_tui.tui.widgets.connect import ConnectStep

                self.wizard.query_one(ConnectStep).show_url(None)
        self.show_error(f"{event.worker.name} failed", friendly(error))

    def show_error(self, title: str, message: str) -> None:
        self.push_screen(ErrorModal(title, message))

    # ----- sandbox -------------------------------------------------------------------------------------

    def ensure_sandbox(self) -> Any:
        if self.sandbox is None:
            try:
                self.sandbox = self._sandbox_stack.enter_context(backend.sandbox())
            except Exception as error:  # shown, never a crash
                self.show_error("Could not start the sandbox", friendly(error))
                return None
        return self.sandbox

    # ----- export: an App-level worker, so it survives step navigation --------------------------------

    def start_export(self, profile: Profile, panel: ExportPanel) -> None:
        panel.reset()

        def emit(event: Any) -> None:
            panel.post_message(ExportEvent(event))

        report = data_dir() / "reports" / f"{slug(profile.destination.name)}.json"
        report.parent.mkdir(parents=True, exist_ok=True)
        self.runner = backend.make_runner(profile, emit, report_path=report)
        self.run_worker(self._export(self.runner, panel), group="export", exclusive=True, exit_on_error=False,
                        name="Export")

    async def _export(self, runner: Any, panel: ExportPanel) -> None:
        finished = await runner.run()
        panel.post_message(ExportEnded(finished))

    def export_running(self) -> bool:
        return any(w.group == "export" and w.is_running for w in self.workers)

    def pause_export(self, paused: bool) -> None:
        if self.runner is None or self.wizard.query_one(ExportPanel).view.state != "running":
            return
        self.run_worker(backend.call(self.runner.pause if paused else self.runner.resume), group="control",
                        exit_on_error=False, name="Pause" if paused else "Resume")
        self.wizard.query_one(ExportPanel).set_paused(paused)

    def cancel_export(self) -> None:
        if self.runner is not None and self.export_running():
            self.run_worker(backend.call(self.runner.cancel), group="control", exit_on_error=False,
                            name="Cancel")

    # ----- actions -------------------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        reasons = []
        with contextlib.suppress(StopIteration):
            if self.wizard.is_dirty():
                reasons.append("The profile has unsaved changes.")
        if self.export_running():
            reasons.append("An export is running (it will stop; the next run resumes).")
        if not reasons:
            self.exit(0)
            return

        def answered(quit_anyway: bool | None) -> None:
            if not quit_anyway:
                return
            if self.export_running():  # stop cleanly: in-flight requests end, state and report are saved
                self.cancel_export()
                self.run_worker(self._exit_after_export(), group="quit", exit_on_error=False)
            else:
                self.exit(0)

        self.push_screen(ConfirmModal(" ".join(reasons) + " Quit anyway?", yes="Quit", no="Stay"), answered)

    async def _exit_after_export(self) -> None:
        for worker in [w for w in self.workers if w.group == "export"]:
            await worker.wait()
        self.exit(0)

    async def on_unmount(self) -> None:
        self._sandbox_stack.close()


def friendly(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    if isinstance(error, ProfileError | OSError) or type(error).__module__.startswith("outreach_tui"):
        return str(error)
    return f"{type(error).__name__}: {error}"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "export"


def make_app(settings: WizardSettings | None = None) -> OutreachApp:
    return OutreachApp(settings or WizardSettings())
