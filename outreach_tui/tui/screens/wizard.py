"""The wizard screen: the steps' requests run here as workers (sign-in, sandbox, discovery, /types, dry run,
test alert, the export), and their results go back to the steps. Workers never touch widgets: they post
messages, and one ``Worker.StateChanged`` handler turns any failure into an error modal.

The export runs on this screen, which stays at the bottom of the stack for the app's whole life, so the
export survives moving between steps and opening modals."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from outreach_tui.export import events
from outreach_tui.export.runner import ExportRunner
from outreach_tui.profile import Alerts, Profile, ProfileError
from outreach_tui.sandbox import Sandbox
from outreach_tui.tui import backend
from outreach_tui.tui.cleanup_prompt import CLEAR, KEEP, CleanupModal
from outreach_tui.tui.draft import Draft
from outreach_tui.tui.locations import data_dir
from outreach_tui.tui.messages import (
    CheckTypesRequested,
    DiscoverRequested,
    ExportEnded,
    ExportEvent,
    ExportRequested,
    PreviewReady,
    PreviewRequested,
    SandboxRequested,
    SignedIn,
    SignInCancelled,
    SignInRequested,
    SignInUrl,
    SourceDiscovered,
    StatusRead,
    TestAlertRequested,
    TypesChecked,
)
from outreach_tui.tui.modals import ErrorModal
from outreach_tui.tui.screens.steps_screen import StepsScreen
from outreach_tui.tui.settings import WizardSettings
from outreach_tui.tui.steps import STEPS
from outreach_tui.tui.widgets.connect import ConnectStep
from outreach_tui.tui.widgets.export_panel import ExportPanel
from outreach_tui.tui.widgets.mapping import MappingStep
from outreach_tui.tui.widgets.review import ReviewStep
from outreach_tui.tui.widgets.segments import SegmentsStep
from outreach_tui.tui.widgets.source import SourceStep
from outreach_tui.xdm.discover import Discovery
from outreach_tui.xdm.records import Format

__all__ = ["STEPS", "WizardScreen"]

THROTTLE_NOTE_INTERVAL = 60.0


class WizardScreen(StepsScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "export('start')", "Export", id="wizard.export", show=False),
        Binding("f6", "toggle_pause", "Pause/resume", id="wizard.pause", show=False),
    ]

    def __init__(self, draft: Draft, settings: WizardSettings) -> None:
        super().__init__(draft, settings)
        self.sandbox: Sandbox | None = settings.sandbox
        self._sandboxes = contextlib.ExitStack()  # sandboxes this screen started (stopped on unmount)
        self.discovery: Discovery | None = None
        self.token_key: backend.StoreKey | None = None  # where the signed-in tokens are (follows the draft)
        self.runner: ExportRunner | None = None
        self.run_alerts = Alerts()
        self._last_throttle_note: float | None = None

    def on_mount(self) -> None:
        super().on_mount()
        profile = self.draft.check().profile
        source = backend.source_file(self.draft.data, self.draft.path)
        if source is not None:  # fill the pick lists right away (a violation elsewhere does not stop that)
            self.run_worker(lambda: self._discover(*source, quiet=True), thread=True, group="discover",
                            exit_on_error=False)
        if profile is not None and profile.outreach.client_id:
            self.token_key = backend.token_key(profile)
            self.run_worker(self._who_is_signed_in(profile), group="whoami", exit_on_error=False)

    async def on_unmount(self) -> None:
        self._sandboxes.close()

    def valid_profile(self, what: str) -> Profile | None:
        """A copy of the draft as a profile for a worker, or None after saying what to fix first."""
        checked = self.draft.check()
        if checked.profile is None:
            first = checked.problems[0] if checked.problems else "the profile is incomplete"
            self.set_status(f"{what}: fix {len(checked.problems)} problem(s) first; {first}", error=True)
            return None
        return checked.profile.model_copy(deep=True)

    # ----- errors: one handler for every worker ------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_state(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        if event.worker.group == "export":
            self.query_one(ExportPanel).end(None, friendly(error))
            self._alert("failure", f"The export failed: {friendly(error)}")
        if event.worker.group == "sign-in":
            self.query_one(ConnectStep).show_url(None)
        self.app.push_screen(ErrorModal(f"{event.worker.name or 'The task'} failed", friendly(error)))

    # ----- sign-in -----------------------------------------------------------------------------------------

    async def _who_is_signed_in(self, profile: Profile) -> None:
        """Show who is signed in already; not being signed in is normal here, not an error."""
        try:
            who = await backend.whoami(profile)
        except Exception:
            return
        self.post_message(SignedIn(who))

    @on(SignInRequested)
    def action_sign_in(self) -> None:
        profile = self.valid_profile("Sign-in")
        if profile is None:
            return
        self.token_key = backend.token_key(profile)
        self.run_worker(self._sign_in(profile), group="sign-in", exclusive=True, exit_on_error=False,
                        name="Sign-in")

    async def _sign_in(self, profile: Profile) -> None:
        def on_url(url: str) -> None:
            self.post_message(SignInUrl(url))

        who = await backend.sign_in(profile, open_browser=self.app.open_url, on_url=on_url)
        self.post_message(SignedIn(who))

    @on(SignInUrl)
    def _sign_in_url(self, message: SignInUrl) -> None:
        self.query_one(ConnectStep).show_url(message.url)

    @on(SignedIn)
    def _signed_in(self, message: SignedIn) -> None:
        self.query_one(ConnectStep).show_signed_in(message.who)
        self.refresh_status()

    def refresh_status(self) -> None:
        """What ``status --offline`` says (token store and export state; a thread: it reads SQLite)."""
        profile = self.draft.check().profile
        if profile is None:
            return
        self.follow_tokens()
        profile = profile.model_copy(deep=True)
        self.run_worker(lambda: self.post_message(StatusRead(backend.connection_status(profile))), thread=True,
                        group="status", exclusive=True, exit_on_error=False, name="Status")

    @on(StatusRead)
    def _status_read(self, message: StatusRead) -> None:
        status = message.status
        details = [self.settings.show_paths_in(line) for line in status.details]
        self.query_one(ConnectStep).show_status(dataclasses.replace(status, details=details))

    @on(SignInCancelled)
    def _cancel_sign_in(self) -> None:
        self.workers.cancel_group(self, "sign-in")
        self.query_one(ConnectStep).show_url(None)

    def saved_profile(self) -> None:
        self.follow_tokens()

    def follow_tokens(self) -> None:
        """Keep the sign-in attached to the draft whose name or file changed since."""
        profile = self.draft.check().profile
        if self.token_key is not None and profile is not None:
            self.token_key = backend.carry_tokens(self.token_key, profile)

    # ----- the sandbox -------------------------------------------------------------------------------------

    @on(SandboxRequested)
    def action_start_sandbox(self) -> None:
        if self.sandbox is None:
            try:
                self.sandbox = self._sandboxes.enter_context(backend.sandbox())
            except Exception as error:  # shown, never a crash
                self.app.push_screen(ErrorModal("Could not start the sandbox", friendly(error)))
                return
        self.query_one(ConnectStep).show_sandbox(backend.sandbox_settings(self.sandbox))
        self.show_problems()
        self.notify("The sandbox is running; sign in as demo@example.com / demo.", markup=False)

    # ----- discovery ---------------------------------------------------------------------------------------

    @on(DiscoverRequested)
    def action_discover(self) -> None:
        profile = self.draft.check().profile
        source = [p for p in self.draft.problems if p.key.startswith("source")]
        if profile is None or source:
            self.set_status(f"Discover: {source[0] if source else 'fix the profile first'}", error=True)
            return
        path, fmt = profile.source_path(), profile.source.format
        self.run_worker(lambda: self._discover(path, fmt), thread=True, group="discover", exclusive=True,
                        exit_on_error=False, name="Discovery")

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

    def show_discovery(self, discovery: Discovery) -> None:
        self.discovery = discovery
        self.query_one(SourceStep).show_discovery(discovery)
        mapping = self.query_one(MappingStep)
        mapping.set_sources(sorted(p for p in discovery.paths if not p.startswith(("identityMap",
                                                                                     "segmentMembership"))))
        mapping.set_namespaces(sorted(discovery.namespaces))
        self.query_one(SegmentsStep).set_discovered(dict(discovery.segments))

    # ----- /types, dry run, test alert ---------------------------------------------------------------------

    @on(CheckTypesRequested)
    def action_check_types(self) -> None:
        profile = self.valid_profile("Check in Outreach")
        if profile is not None:
            self.follow_tokens()
            self.run_worker(self._check_types(profile), group="types", exclusive=True, exit_on_error=False,
                            name="Custom field check")

    async def _check_types(self, profile: Profile) -> None:
        self.post_message(TypesChecked(await backend.custom_field_types(profile)))

    @on(TypesChecked)
    def _types_checked(self, message: TypesChecked) -> None:
        self.custom_types = message.types  # the engine's rule now applies to the draft (show_problems)
        self.query_one(SegmentsStep).set_configured(backend.configured_fields(message.types))
        self.show_problems()

    @on(PreviewRequested)
    def action_preview(self) -> None:
        profile = self.valid_profile("Dry run")
        if profile is not None:
            self.run_worker(self._preview(profile), group="preview", exclusive=True, exit_on_error=False,
                            name="Dry-run preview")

    async def _preview(self, profile: Profile) -> None:
        self.post_message(PreviewReady(await backend.dry_run(profile)))

    @on(PreviewReady)
    def _preview_ready(self, message: PreviewReady) -> None:
        self.query_one(ReviewStep).show_preview(message.report)

    @on(TestAlertRequested)
    def action_test_alert(self) -> None:
        profile = self.valid_profile("Test alert")
        if profile is None:
            return
        self.notify("Test alert: alerts show here like this one.", title="outreach-tui", markup=False)
        if profile.alerts.webhook:
            self.run_worker(self._test_alert(profile), group="alert", exclusive=True, exit_on_error=False,
                            name="Test alert")

    async def _test_alert(self, profile: Profile) -> None:
        if await backend.send_test_alert(profile):
            self.notify("The webhook accepted the test alert.", markup=False)
        else:
            self.notify("The webhook did not accept the test alert; check its URL.", severity="error",
                        markup=False)

    # ----- export ------------------------------------------------------------------------------------------

    def export_running(self) -> bool:
        return any(w.group == "export" and w.is_running for w in self.workers)

    @on(ExportRequested)
    def _export_requested(self, message: ExportRequested) -> None:
        self.action_export(message.action)

    def action_export(self, action: str) -> None:
        panel = self.query_one(ExportPanel)
        if action == "start":
            self._start_export(panel)
        elif action in ("pause", "resume"):
            self.pause_export(action == "pause")
        elif action == "cancel" and self.runner is not None and self.export_running():
            self.runner.cancel()

    def action_toggle_pause(self) -> None:
        self.pause_export(not self.query_one(ExportPanel).view.paused)

    def pause_export(self, paused: bool) -> None:
        panel = self.query_one(ExportPanel)
        if self.runner is None or not panel.view.active:
            return
        if paused:
            self.runner.pause()
        else:
            self.runner.resume()
        panel.set_paused(paused)

    def _start_export(self, panel: ExportPanel) -> None:
        if self.export_running():
            return
        problems = self.problems()
        profile = self.valid_profile("Export")
        if profile is None or problems:
            if profile is not None:
                self.set_status(f"Export: fix first: {problems[0]}", error=True)
            return
        try:
            pending = backend.pending_cleanup(profile)  # the state only: nothing is sent
        except backend.StateError as error:
            self.app.push_screen(ErrorModal("Could not read the export state", friendly(error)))
            return
        if not (pending and pending.enabled):
            self._run_export(panel, profile)
            return

        def answered(answer: str | None) -> None:
            if answer in (CLEAR, KEEP) and not self.export_running():
                self._run_export(panel, profile, keep_unmapped=answer == KEEP)

        self.app.push_screen(CleanupModal(pending), answered)

    def _run_export(self, panel: ExportPanel, profile: Profile, keep_unmapped: bool = False) -> None:
        self.follow_tokens()
        if self.current != "export":
            self.show_step("export")
        panel.reset()
        self.run_alerts, self._last_throttle_note = profile.alerts, None
        report = data_dir() / "reports" / f"{slug(profile.destination.name)}.json"
        report.parent.mkdir(parents=True, exist_ok=True)

        def emit(event: events.Event) -> None:
            self.post_message(ExportEvent(event))

        self.runner = backend.make_runner(profile, emit, report_path=report, keep_unmapped=keep_unmapped)
        self.run_worker(self._export(self.runner), group="export", exclusive=True, exit_on_error=False,
                        name="Export")

    async def _export(self, runner: ExportRunner) -> None:
        finished = await runner.run()
        self.post_message(ExportEnded(finished))

    @on(ExportEvent)
    def _export_event(self, message: ExportEvent) -> None:
        self.query_one(ExportPanel).apply(message.event)
        if isinstance(message.event, events.Throttled):
            now = self.settings.clock()
            if self._last_throttle_note is None or now - self._last_throttle_note >= THROTTLE_NOTE_INTERVAL:
                self._last_throttle_note = now  # a long run throttles often: one note a minute at most
                self._alert("throttle", f"Throttled: {message.event.reason}")

    @on(ExportEnded)
    def _export_ended(self, message: ExportEnded) -> None:
        self.query_one(ExportPanel).end(message.finished, message.error)
        self.refresh_status()  # the last run, dead letters and cleanup changed
        finished = message.finished
        if finished is None:
            return
        summary = finished.message.strip().splitlines()[-1] if finished.message.strip() else "done"
        if finished.counts.failed or finished.exit_code not in (0, 130):
            self._alert("failure", f"Export finished with failures: {summary}")
        else:
            self._alert("complete", f"Export complete: {summary}")

    def _alert(self, kind: str, text: str) -> None:
        """The ``[alerts]`` switches drive notifications here as they drive the webhook."""
        wanted = {"failure": self.run_alerts.on_failure, "throttle": self.run_alerts.on_throttle,
                  "complete": self.run_alerts.on_complete}[kind]
        if wanted:
            self.notify(text, title="Export", severity="error" if kind == "failure" else
                        "warning" if kind == "throttle" else "information", markup=False, timeout=8)


def friendly(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    if isinstance(error, ProfileError | OSError) or type(error).__module__.startswith("outreach_tui"):
        return str(error)
    return f"{type(error).__name__}: {error}"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "export"
