"""The export runner: read -> plan -> diff -> send -> record, as one async pipeline both faces drive.

The faces give it a profile, ``RunOptions``, an ``emit`` callback and (optionally) a ``Connector`` that
builds the Outreach client; it reports everything it does as events (``export/events.py``) and returns the
``Finished`` event (also emitted). ``pause()``, ``resume()`` and ``cancel()`` are safe to call from the event
loop at any time. A cancelled run drains the requests in flight, records what Outreach accepted, counts the
rest ``pending``, writes the report and ends with 130.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.alerts import AlertSender
from outreach_tui.export.cleanup import CleanupTally, PendingCleanup, clean_up
from outreach_tui.export.control import EXIT_AUTH, EXIT_USAGE, RunControl, RunOptions, RunStopped
from outreach_tui.export.events import (
    Event,
    Excluded,
    Finished,
    Paused,
    Progress,
    ProspectFailed,
    Resumed,
    Retrying,
    RunStarted,
    Throttled,
)
from outreach_tui.export.finish import finish_run
from outreach_tui.export.inputs import STDIN, Records, follow_path, input_path, open_records
from outreach_tui.export.plan import PlannedProspect, Planner
from outreach_tui.export.report import ExclusionEntry
from outreach_tui.export.state import Change, StateError, StateStore, state_path_for
from outreach_tui.export.state_schema import timestamp
from outreach_tui.export.tally import EXCLUDED_EVENT_CAP, Tally
from outreach_tui.outreach.credentials import AuthRequired
from outreach_tui.profile import Profile
from outreach_tui.xdm.records import InputError, Record

if TYPE_CHECKING:
    from outreach_tui.export.bulk import BulkSender, BulkTiming
    from outreach_tui.export.connect import Connection, Connector
    from outreach_tui.export.outbox import Outbox
    from outreach_tui.export.preflight import Checked
    from outreach_tui.export.send import Sender

__all__ = ["EXIT_USAGE", "ExportRunner", "RunOptions", "RunStopped"]

PROGRESS_INTERVAL = 0.1  # seconds between Progress events (at most ~10/s)
PLAN_CHUNK = 1_000  # records planned between two yields to the event loop
DIFF_CHUNK = 100  # prospects diffed against the state at a time


class ExportRunner:
    def __init__(self, profile: Profile, options: RunOptions, emit: Callable[[Event], None] | None = None, *,
                 connect: Connector | None = None) -> None:
        self.profile = profile
        self.options = options
        self._connect = connect
        self._emit = emit or (lambda event: None)
        self.tally = Tally(segment_ids=(segment.id for segment in profile.segments))
        self._control = RunControl()
        self._connection: Connection | None = None
        self._state: StateStore | None = None
        self._alerts = AlertSender(profile)
        self._excluded_events = 0
        self._phase = "planning"
        self._total: int | None = None
        self._sender: Sender | BulkSender | None = None  # the latest delivery's (--follow: once per window)
        self.bulk_timing: BulkTiming | None = None  # the bulk strategy's polling (tests shorten it)
        self._sent_times: list[float] = []  # when requests got an answer: the rate shown in Progress
        self.cleanup = CleanupTally(PendingCleanup((), profile.export.clear_on_unmap), options.dry_run)
        self._cleaned_up = False
        self._checked: Checked | None = None  # what the preflight found (None: not run, e.g. a dry run)
        self._dead_absent: set[int] | None = None  # dead letters not (yet) in the input; None once carried over

    # ----- control (from the faces) ----------------------------------------------------------------

    def pause(self) -> None:
        """Send nothing more until ``resume()``; requests in flight finish."""
        if self._control.pause():
            self._emit(Paused())

    def resume(self) -> None:
        if self._control.resume():
            self._emit(Resumed())

    def cancel(self) -> None:
        """Stop: drain requests in flight, save state, count the rest ``pending``, report, exit 130."""
        self._control.cancel()

    @property
    def cancelled(self) -> bool:
        return self._control.cancelled

    @property
    def paused(self) -> bool:
        return not self._control.gate.is_set()

    # ----- the pipeline ------------------------------------------------------------------------------

    async def run(self) -> Finished:
        started_at = timestamp()
        options = self.options
        self._emit(RunStarted(destination=self.profile.destination.name,
                              input=str(input_path(self.profile, options)), dry_run=options.dry_run,
                              full_resync=options.full_resync, follow=options.follow))
        ticker = asyncio.create_task(self._tick_progress())
        try:
            self._state = self._open_state()
            self._dead_absent = self._state.dead_letters  # discarded as the input names them; the rest carried over
            if not options.dry_run:
                self._state.start_run(started_at, options.dry_run, options.full_resync)
            path = input_path(self.profile, options)
            if not options.dry_run and (options.follow or path == STDIN or path.exists()):  # a missing file: exit 2
                from outreach_tui.export.preflight import run_preflight  # sign-in, scopes, custom field types

                self._checked = await run_preflight(self.profile, self._open_connection(), self._control, self.tally)
            if options.follow:
                from outreach_tui.export.follow import follow_records

                path = follow_path(self.profile, options)
                self._phase = "following"
                async for batch in follow_records(path, self.profile.export.follow_window, self._control.stopped):
                    # each window is planned (merged per prospect) and delivered as one batch; after a stop the
                    # last batch is still planned so its records are counted (its prospects pending)
                    await self._export(iter(batch), stoppable=False)
            else:
                self._phase = "planning"
                await self._export(open_records(self.profile, options))
        except RunStopped as stop:
            self._control.stop_with(stop)
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self._close_connection()
        return await self._finish(started_at)

    async def _export(self, records: Records, stoppable: bool = True) -> None:
        with Planner(self.profile, self.tally) as planner:
            await self._plan(records, planner, stoppable)
            if planner.awaiting:
                await self._match_emails(planner)
            if not self.options.follow:
                self._total = planner.targeted
                self._phase = "sending"
            await self._clean_up_unmapped()
            await self._deliver(planner)  # after a stop: counts every prospect pending

    async def _plan(self, records: Records, planner: Planner, stoppable: bool) -> None:
        try:
            if isinstance(records, Iterator):
                while self._plan_chunk(planner, islice(records, PLAN_CHUNK)) == PLAN_CHUNK:
                    await asyncio.sleep(0)
                    if stoppable and self.cancelled:
                        break
            else:
                async for chunk in records:
                    self._plan_chunk(planner, chunk)
                    if stoppable and self.cancelled:
                        break
        except InputError as exc:
            raise RunStopped(EXIT_USAGE, str(exc)) from None
        except OSError as exc:
            raise RunStopped(EXIT_USAGE, f"{input_path(self.profile, self.options)}: cannot read the input "
                                         f"({exc})") from None
        tally = self.tally
        if tally.read and tally.malformed == tally.read and not (self.options.follow or self.cancelled):
            raise RunStopped(EXIT_USAGE, f"{input_path(self.profile, self.options)}: every record is malformed "
                                         f"({tally.read:,}): is it the right file, in the right format?")

    def _plan_chunk(self, planner: Planner, records: Iterable[Record]) -> int:
        """Plan the records (each is read, planned and freed in turn), announce new exclusions; how many."""
        tally = self.tally
        listed = len(tally.exclusions), len(tally.malformed_lines)
        read_before = tally.read
        for record in records:
            planner.add(record)
        self._announce(chain(tally.exclusions[listed[0]:], tally.malformed_lines[listed[1]:]))
        return tally.read - read_before

    def _announce(self, entries: Iterable[ExclusionEntry]) -> None:
        for entry in entries:
            if self._excluded_events < EXCLUDED_EVENT_CAP:
                self._excluded_events += 1
                self._emit(Excluded(line=entry.line, reason=entry.reason, detail=entry.detail))

    # ----- matching by email (export/email_match.py) -------------------------------------------------

    async def _match_emails(self, planner: Planner) -> None:
        """Records staged under their email get their prospect before the diff (``export/email_match.py``);
        a dry run looks up too (it only reads) when signed in."""
        from outreach_tui.export.email_match import match_emails

        assert self._state is not None
        connection = None if self._control.stopping else self._open_connection(needed=not self.options.dry_run)
        listed = len(self.tally.exclusions)
        await match_emails(planner, self._state, connection.client if connection else None, self._control,
                           self.options)
        self._announce(self.tally.exclusions[listed:])

    def _diffed(self, planner: Planner) -> Iterator[tuple[list[PlannedProspect], list[Change] | None]]:
        """Planned prospects and their diffs, a chunk at a time (one Change per prospect). None in place of
        the diffs when nothing was ever accepted: then every planned value is a change."""
        assert self._state is not None
        prospects = planner.prospects()
        nothing_accepted = self._state.nothing_accepted()
        while chunk := list(islice(prospects, DIFF_CHUNK)):
            if nothing_accepted:
                yield chunk, None
            else:
                planned = ((prospect.prospect_id, prospect.attributes) for prospect in chunk)
                yield chunk, list(self._state.diff(planned, full_resync=self.options.full_resync))

    async def _deliver(self, planner: Planner) -> None:
        from outreach_tui.export.outbox import carry_over
        from outreach_tui.export.send import Work

        sender = await self._open_sender()
        outbox = self._outbox(sender)
        tally, control = self.tally, self._control
        try:
            chunks = self._diffed(planner)
            for chunk, changes in chunks:
                for index, prospect in enumerate(chunk):
                    if control.stopping:
                        rest = chain(chunk[index:], (later for more, _ in chunks for later in more))
                        for pending in rest:
                            tally.targeted += 1
                            tally.pending += 1
                            tally.segments.add(pending.segments)
                        if outbox is not None:
                            outbox.drop()
                        return
                    tally.targeted += 1
                    tally.segments.add(prospect.segments)
                    if self._dead_absent:
                        self._dead_absent.discard(prospect.prospect_id)
                    change = changes[index] if changes is not None else None
                    attributes = prospect.attributes if change is None else change.attributes
                    if prospect.failures:  # failed locally: nothing may be sent
                        self._fail_locally(prospect.failures[0])
                    elif not attributes:
                        tally.unchanged += 1
                    elif outbox is None:  # a dry run
                        tally.add_planned_update(prospect.prospect_id, attributes)
                    else:
                        outbox.add(Work(prospect.prospect_id, attributes, None if change is None else change.previous))
                if outbox is not None:
                    await outbox.flush()
                await asyncio.sleep(0)
            absent, self._dead_absent = self._dead_absent, None  # once per run (--follow: its first window)
            if absent and self._state is not None:
                await carry_over(self._state, absent, self.options.full_resync, tally, control, outbox)
        finally:
            if sender is not None:
                await sender.close()

    def _outbox(self, sender: Sender | BulkSender | None) -> Outbox | None:
        if sender is None or self._connection is None or self._state is None:
            return None
        from outreach_tui.export.outbox import Outbox

        return Outbox(self.profile, sender, self._connection.client, self._state, self._checked, self.tally,
                      self._control)

    def _fail_locally(self, diagnostic: Diagnostic) -> None:
        """One diagnostic per prospect in the counts and lists; nothing was sent."""
        self.tally.add_failure(diagnostic)
        self._emit(ProspectFailed(diagnostic=diagnostic))
        if self._state is not None and not self.options.dry_run:
            self._state.record_failed(diagnostic)

    # ----- state and connection ----------------------------------------------------------------------

    def _open_state(self) -> StateStore:
        path = state_path_for(self.profile, self.options.state_path)
        try:
            return StateStore.open(path, read_only=self.options.dry_run)
        except StateError as exc:
            raise RunStopped(EXIT_USAGE, str(exc)) from None

    async def _open_sender(self) -> Sender | BulkSender | None:
        """Workers sending through the run's one connection; None in a dry run or once the run is stopping
        (the delivery loop then counts every prospect pending)."""
        if self.options.dry_run or self._control.stopping or self._open_connection() is None:
            return None
        from outreach_tui.export.bulk import open_sender
        from outreach_tui.export.send import Sender

        assert self._state is not None and self._connection is not None
        connection, state = self._connection, self._state

        def patch_sender() -> Sender:
            return Sender(connection.client, state, self.tally, self._control, self.profile.export.concurrency,
                          self._on_failure, self.profile.field_origin, self._sent_times)

        # [export] strategy: PATCH, or imports (export/bulk.py), which settle a killed run's imports first
        self._sender = await open_sender(self.profile, connection, state, self.tally, self._control, patch_sender,
                                         self._emit, self._sent_times, self.bulk_timing)
        return self._sender

    def _open_connection(self, needed: bool = True) -> Connection | None:
        """The run's one connection, built on first use. Without a sign-in: None, and the run stops (exit 3)
        when ``needed`` (a dry run's email lookups are not)."""
        if self._connection is None:
            from outreach_tui.export.connect import ClientHooks, connector

            hooks = ClientHooks(on_throttle=self._on_throttle, on_resume=self._on_resume, on_retry=self._on_retry)
            try:
                self._connection = (self._connect or connector(self.profile))(hooks)
            except AuthRequired as exc:
                if needed:
                    self._control.stop_with(RunStopped(EXIT_AUTH, str(exc)))
                return None
        return self._connection

    # ----- fields the profile no longer maps (export/cleanup.py) ---------------------------------------

    async def _clean_up_unmapped(self) -> None:
        """Once per run, after planning and before the export's requests."""
        if not self._cleaned_up and self._state is not None:
            self._cleaned_up = True
            await clean_up(self.profile, self._state, self.cleanup, self._control, self._emit, self._open_connection,
                           keep=self.options.keep_unmapped)

    async def _close_connection(self) -> None:
        if self._connection is not None:
            self._count_requests()
            await self._connection.client.aclose()
            self._connection = None

    def _count_requests(self) -> None:
        if self._connection is not None:
            client = self._connection.client
            self.tally.sent, self.tally.reads, self.tally.retried, self.tally.rate_limited = (
                client.requests_sent - client.reads_sent, client.reads_sent, client.retries, client.rate_limited)
            self.tally.lookups = client.lookups

    def _on_failure(self, diagnostic: Diagnostic) -> None:
        self._emit(ProspectFailed(diagnostic=diagnostic))
        # A 404 for a prospect reached through a cached email it no longer holds: the next run looks the email
        # up again and sends the values where it is now, so retrying this id (carry-over) would be wrong.
        state, stale = self._state, diagnostic.status == 404 and self.profile.identity.match == "email"
        if state is not None and stale and state.forget_email_matches(diagnostic.prospect_id):
            state.forget_dead_letter(diagnostic.prospect_id)

    def _on_throttle(self, until: float, reason: str) -> None:
        self._control.throttled_until = until
        self._emit(Throttled(until=until, reason=reason))
        self._alerts.throttled(until, reason)

    def _on_resume(self) -> None:
        self._control.throttled_until = 0.0
        self._emit(Resumed())

    def _on_retry(self, prospect_id: int, attempt: int, delay: float, reason: str) -> None:
        self._emit(Retrying(prospect_id=prospect_id, attempt=attempt, delay=delay, reason=reason))

    # ----- progress and the end ------------------------------------------------------------------------

    def counts(self) -> Tally:
        self._count_requests()
        return self.tally.snapshot()

    def _progress(self) -> Progress:
        limiter = self._connection.limiter if self._connection is not None else None
        return Progress(
            counts=self.counts(), total=self._total, phase=self._phase,
            requests_per_second=self._sender.requests_per_second() if self._sender is not None else 0.0,
            budget_limit=(limiter.limit if limiter is not None else None) or self.profile.export.budget_per_hour,
            budget_remaining=limiter.remaining if limiter is not None else None,
            budget_reset_at=limiter.reset_at if limiter is not None else None,
            segments=self.tally.segments.totals(),
        )

    async def _tick_progress(self) -> None:
        last: tuple[Any, ...] | None = None
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL)
            progress = self._progress()
            key = (progress.counts, progress.phase, progress.total)
            if key != last:
                last = key
                self._emit(progress)

    async def _finish(self, started_at: str) -> Finished:
        """The report, the state's run record and the alerts (export/finish.py)."""
        counts = self.counts()
        self._emit(self._progress())
        return await finish_run(self.profile, self.options, started_at, counts, tally=self.tally,
                                control=self._control, cleanup=self.cleanup, state=self._state, alerts=self._alerts,
                                emit=self._emit)
