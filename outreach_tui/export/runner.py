"""The export runner: read -> plan -> diff -> send -> record, as one async pipeline both faces drive.

The faces give it a profile, ``RunOptions`` and an ``emit`` callback; it reports everything it does as
events (``export/events.py``) and returns the ``Finished`` event (also emitted). ``pause()``, ``resume()``
and ``cancel()`` are safe to call from the event loop at any time. A cancelled run drains the requests in
flight, records what Outreach accepted, counts the rest ``pending``, writes the report and ends with 130.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from itertools import chain, islice
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.exit_codes import ExitCode
from outreach_tui.export.alerts import AlertSender
from outreach_tui.export.events import (
    Counts,
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
from outreach_tui.export.plan import PlannedProspect, Planner, SegmentCounts, patch_body
from outreach_tui.export.report import (
    ExclusionEntry,
    ReportError,
    build_report,
    segment_rows,
    summary_line,
    write_report,
)
from outreach_tui.export.state import Change, StateError, StateStore, state_path_for
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing, TokenSource
from outreach_tui.profile import Profile
from outreach_tui.xdm.records import InputError, Record, detect_format, read_records

if TYPE_CHECKING:
    from outreach_tui.outreach.client import OutreachClient
    from outreach_tui.outreach.retry import RetryPolicy

EXIT_OK, EXIT_FAILED, EXIT_USAGE = int(ExitCode.OK), int(ExitCode.SOME_FAILED), int(ExitCode.USAGE)
EXIT_AUTH, EXIT_UNREACHABLE, EXIT_INTERRUPTED = int(ExitCode.AUTH), int(ExitCode.UNREACHABLE), int(ExitCode.INTERRUPTED)
PROGRESS_INTERVAL = 0.1  # seconds between Progress events (at most ~10/s)
EXCLUDED_EVENT_CAP = 1000  # Excluded events per run; the report has the totals
PLANNED_SAMPLE = 5  # PATCH bodies shown in a dry run's report
DRAIN_GRACE = 10.0  # seconds a cancelled run waits for requests in flight (a throttle wait is not waited)
PLAN_CHUNK = 1024  # records planned between two yields to the event loop
# Prospects diffed against the state at a time. Few: a chunk's objects (prospect, Change) stay below the
# garbage collector's threshold of 700 live new objects, so chunks do not set off collections (500 did, ~3x).
DIFF_CHUNK = 128
RATE_WINDOW = 5.0  # seconds over which requests_per_second is measured
STDIN = Path("-")


@dataclass(frozen=True, slots=True)
class RunOptions:
    input_path: Path | None = None  # None: the profile's [source]; Path("-"): standard input (JSON Lines)
    dry_run: bool = False
    full_resync: bool = False
    follow: bool = False
    report_path: Path | None = None
    state_path: Path | None = None


class RunStopped(Exception):
    """Stops the run early with an exit code and a message for humans (bad input, auth, unreachable)."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(slots=True)
class _Tally:
    """Mutable twin of ``Counts``."""

    read: int = 0
    planned: int = 0
    excluded: int = 0
    malformed: int = 0
    targeted: int = 0
    activated: int = 0
    unchanged: int = 0
    failed: int = 0
    pending: int = 0
    dry_run_planned: int = 0


@dataclass(slots=True)
class _Work:
    prospect_id: int
    attributes: dict[str, Any]
    previous: dict[str, Any] | None


_prospect_id = attrgetter("prospect_id")
_attributes = attrgetter("attributes")


def _plan_chunk(planner: Planner, records: Iterator[Record]) -> bool:
    """Add up to PLAN_CHUNK records; False when the records ran out. ``map`` in a zero-length deque is a
    loop in C: records are read and freed one at a time, with no Python loop around ``add``."""
    read_before = planner.counts.read
    deque(map(planner.add, islice(records, PLAN_CHUNK)), maxlen=0)
    return planner.counts.read - read_before == PLAN_CHUNK


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ExportRunner:
    def __init__(
        self,
        profile: Profile,
        options: RunOptions,
        tokens: TokenSource | None = None,
        emit: Callable[[Event], None] | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.profile = profile
        self.options = options
        self._tokens = tokens
        self._retry = retry  # None: the client's default policy
        self._emit_callback = emit or (lambda event: None)
        self._tally = _Tally()
        self._base_requests = (0, 0, 0)  # requests of earlier clients (follow mode re-uses one client)
        self._segments = SegmentCounts(segment.id for segment in profile.segments)
        self._failures: list[Diagnostic] = []
        self._exclusions: list[ExclusionEntry] = []
        self._malformed: list[ExclusionEntry] = []
        self._exclusions_total = 0
        self._excluded_events = 0
        self._planned_updates: list[dict[str, Any]] = []
        self._client: OutreachClient | None = None
        self._state: StateStore | None = None
        self._alerts = AlertSender(profile)
        self._stop_requested_at: float | None = None
        self._fatal: RunStopped | None = None
        self._gate = asyncio.Event()
        self._gate.set()
        self._stopped = asyncio.Event()
        self._phase = "planning"
        self._total: int | None = None
        self._sent_times: list[float] = []
        self._throttled_until = 0.0

    # ----- control (from the faces) ----------------------------------------------------------------

    def pause(self) -> None:
        """Send nothing more until ``resume()``; requests in flight finish."""
        if self._gate.is_set():
            self._gate.clear()
            self._emit(Paused())

    def resume(self) -> None:
        if not self._gate.is_set():
            self._gate.set()
            self._emit(Resumed())

    def cancel(self) -> None:
        """Stop: drain requests in flight, save state, count the rest ``pending``, report, exit 130."""
        if self._stop_requested_at is None:
            self._stop_requested_at = time.monotonic()
            self._stopped.set()
            self._gate.set()  # a paused run must wake up to finish
        else:  # asked twice: stop waiting for requests in flight
            self._stop_requested_at = time.monotonic() - DRAIN_GRACE - 1

    @property
    def cancelled(self) -> bool:
        return self._stop_requested_at is not None

    @property
    def paused(self) -> bool:
        return not self._gate.is_set()

    # ----- the run -----------------------------------------------------------------------------------

    async def run(self) -> Finished:
        started_at = _now_iso()
        options = self.options
        self._emit(RunStarted(destination=self.profile.destination.name, input=str(self._input_label()),
                              dry_run=options.dry_run, full_resync=options.full_resync,
                              follow=options.follow))
        ticker = asyncio.create_task(self._tick_progress())
        message = ""
        try:
            self._state = self._open_state()
            if not options.dry_run:
                self._state.start_run(started_at, options.dry_run, options.full_resync)
            if options.follow:
                from outreach_tui.export.follow import follow_records

                window = self.profile.export.follow_window
                await self._run_follow(follow_records(self._follow_source(), window, self._stopped))
            else:
                await self._run_once(self._open_records())
        except RunStopped as stop:
            self._fatal = self._fatal or stop
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            await self._close_client()
        if self._fatal is not None:
            message = str(self._fatal)
        elif self.cancelled:
            message = "interrupted: state saved; prospects not sent are pending, the next run sends them"
        return await self._finish(started_at, message)

    async def _run_once(self, records: Iterator[Record] | AsyncIterator[list[Record]]) -> None:
        planner = Planner(self.profile)
        try:
            await self._plan(records, planner)
            self._total = planner.targeted
            await self._deliver(planner)  # after a stop: counts every prospect pending
        finally:
            planner.close()

    async def _run_follow(self, windows: AsyncIterator[list[Record]]) -> None:
        """Each window's records are planned (merged per prospect) and delivered as one batch; after a
        stop the last batch is still planned so its records are counted (its prospects ``pending``)."""
        self._phase = "following"
        async for batch in windows:
            planner = Planner(self.profile)
            try:
                await self._plan(iter(batch), planner, keep_phase=True, stoppable=False)
                await self._deliver(planner, keep_phase=True)
            finally:
                planner.close()

    # ----- reading and planning ----------------------------------------------------------------------

    def _input_label(self) -> Path:
        if self.options.input_path is not None:
            return self.options.input_path
        return self.profile.source_path()

    def _open_records(self) -> Iterator[Record] | AsyncIterator[list[Record]]:
        path = self._input_label()
        if path == STDIN:
            from outreach_tui.export.follow import stdin_records

            return stdin_records()
        try:
            fmt = self.profile.source.format
            if self.options.input_path is not None or fmt is None:
                fmt = detect_format(path) if path.suffix.lower() in (".jsonl", ".ndjson", ".json", ".csv") \
                    else (fmt or detect_format(path))
            return read_records(path, fmt)
        except InputError as exc:
            raise RunStopped(EXIT_USAGE, str(exc)) from None

    def _follow_source(self) -> Path:
        path = self._input_label()
        if path != STDIN:
            fmt = self.profile.source.format or "jsonl"
            if path.suffix.lower() in (".csv",) or (fmt != "jsonl" and self.options.input_path is None):
                raise RunStopped(EXIT_USAGE, f"{path}: --follow reads JSON Lines only (one object per line); "
                                             "use a .jsonl file or --input -")
            if not path.exists():
                raise RunStopped(EXIT_USAGE, f"{path}: file not found; --follow waits for new lines in an "
                                             "existing file (create it first, or use --input -)")
        return path

    async def _plan(self, records: Iterator[Record] | AsyncIterator[list[Record]], planner: Planner,
                    keep_phase: bool = False, stoppable: bool = True) -> None:
        if not keep_phase:
            self._phase = "planning"
        before = (self._tally.read, self._tally.planned, self._tally.excluded, self._tally.malformed)
        seen_exclusions = 0
        seen_malformed = 0

        def sync_counts() -> None:
            nonlocal seen_exclusions, seen_malformed
            counts = planner.counts
            tally = self._tally
            tally.read, tally.planned = before[0] + counts.read, before[1] + counts.planned
            tally.excluded, tally.malformed = before[2] + counts.excluded, before[3] + counts.malformed
            seen_exclusions = self._take_exclusions(planner.exclusions, seen_exclusions, self._exclusions)
            seen_malformed = self._take_exclusions(planner.malformed, seen_malformed, self._malformed)

        try:
            if isinstance(records, Iterator):
                while _plan_chunk(planner, records):
                    sync_counts()
                    await asyncio.sleep(0)
                    if stoppable and self.cancelled:
                        break
            else:
                async for chunk in records:
                    for record in chunk:
                        planner.add(record)
                    sync_counts()
                    if stoppable and self.cancelled:
                        break
        except InputError as exc:
            raise RunStopped(EXIT_USAGE, str(exc)) from None
        except OSError as exc:
            raise RunStopped(EXIT_USAGE, f"{self._input_label()}: cannot read the input ({exc})") from None
        finally:
            sync_counts()
            self._exclusions_total += planner.exclusions_total

    def _take_exclusions(self, source: list[Any], seen: int, into: list[ExclusionEntry]) -> int:
        for exclusion in source[seen:]:
            entry = ExclusionEntry(exclusion.line, exclusion.reason, exclusion.detail)
            if len(into) < 1000:
                into.append(entry)
            if self._excluded_events < EXCLUDED_EVENT_CAP:
                self._excluded_events += 1
                self._emit(Excluded(line=entry.line, reason=entry.reason, detail=entry.detail))
        return len(source)

    def _count_rest_pending(self, prospects: Iterable[PlannedProspect]) -> None:
        for prospect in prospects:
            self._tally.targeted += 1
            self._tally.pending += 1
            self._segments.add(prospect.segments)

    # ----- diff and delivery ------------------------------------------------------------------------

    def _open_state(self) -> StateStore:
        path = state_path_for(self.profile, self.options.state_path)
        try:
            return StateStore.open(path, read_only=self.options.dry_run)
        except StateError as exc:
            raise RunStopped(EXIT_USAGE, str(exc)) from None

    def _change_chunks(self, planner: Planner) -> Iterator[tuple[list[PlannedProspect], list[Change] | None]]:
        """Planned prospects and their diffs, a chunk at a time (in step: one Change per prospect). None in
        place of the diffs when nothing was ever accepted: then every planned value is a change."""
        assert self._state is not None
        prospects = planner.prospects()
        if self._state.nothing_accepted():
            while chunk := list(islice(prospects, DIFF_CHUNK)):
                yield chunk, None
            return
        while chunk := list(islice(prospects, DIFF_CHUNK)):
            # zip of two maps: the (id, attributes) pairs are not allocated one by one
            planned = zip(map(_prospect_id, chunk), map(_attributes, chunk), strict=True)
            yield chunk, list(self._state.diff(planned, full_resync=self.options.full_resync))

    async def _deliver(self, planner: Planner, keep_phase: bool = False) -> None:
        if not keep_phase:
            self._phase = "sending"
        queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=self.profile.export.concurrency * 2)
        workers: list[asyncio.Task[None]] = []
        if not (self.options.dry_run or self.cancelled or self._fatal):
            try:
                client = await self._ensure_client()
            except RunStopped as stop:
                self._stop_with(stop)  # the loop below counts every prospect pending
            else:
                workers = [asyncio.create_task(self._worker(queue, client))
                           for index in range(self.profile.export.concurrency)]
        try:
            chunks = self._change_chunks(planner)
            tally, count_segments = self._tally, self._segments.add
            for chunk, changes in chunks:
                for index, prospect in enumerate(chunk):
                    if self._stop_requested_at is not None or self._fatal:  # self.cancelled, inlined
                        self._count_rest_pending(chain(chunk[index:], (p for later, _ in chunks for p in later)))
                        return
                    tally.targeted += 1
                    count_segments(prospect.segments)
                    change = changes[index] if changes is not None else None
                    attributes = prospect.attributes if change is None else change.attributes
                    if prospect.failures:  # failed locally: nothing may be sent
                        self._fail_locally(prospect)
                    elif not attributes:
                        tally.unchanged += 1
                    elif self.options.dry_run:
                        tally.dry_run_planned += 1
                        if len(self._planned_updates) < PLANNED_SAMPLE:
                            self._planned_updates.append(patch_body(prospect.prospect_id, attributes))
                    else:
                        previous = None if change is None else change.previous
                        await queue.put(_Work(prospect.prospect_id, attributes, previous))
                await asyncio.sleep(0)
        finally:
            await self._drain(queue, workers)

    def _fail_locally(self, prospect: PlannedProspect) -> None:
        self._tally.failed += 1
        for diagnostic in prospect.failures[:1]:  # one diagnostic per prospect in the counts and lists
            self._add_failure(diagnostic)
        if self._state is not None and not self.options.dry_run:
            self._state.record_failed(prospect.failures[0])

    def _add_failure(self, diagnostic: Diagnostic) -> None:
        if len(self._failures) < 1000:
            self._failures.append(diagnostic)
        self._emit(ProspectFailed(diagnostic=diagnostic))

    async def _drain(self, queue: asyncio.Queue[_Work | None], workers: list[asyncio.Task[None]]) -> None:
        """Let the workers finish what is queued (or count it pending when stopping), then end them."""

        async def close_queue() -> None:
            for _ in workers:
                await queue.put(None)

        closer = asyncio.create_task(close_queue())
        try:
            while workers:
                _, running = await asyncio.wait(workers, timeout=0.2)
                if not running:
                    break
                since = self._stop_requested_at
                throttled = self._throttled_until > time.time()
                if since is not None and (throttled or time.monotonic() - since > DRAIN_GRACE):
                    for task in running:
                        task.cancel()
                    await asyncio.gather(*running, return_exceptions=True)
                    break
        finally:
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer
        while not queue.empty():
            if queue.get_nowait() is not None:
                self._tally.pending += 1

    async def _worker(self, queue: asyncio.Queue[_Work | None], client: OutreachClient) -> None:
        while True:
            work = await queue.get()
            if work is None:
                return
            try:
                await self._gate.wait()
                if self.cancelled or self._fatal:
                    self._tally.pending += 1
                    continue
                await self._send_one(client, work)
            except sqlite3.Error as exc:  # disk full, file removed...: stop; what was recorded stays
                self._tally.pending += 1
                self._stop_with(RunStopped(EXIT_USAGE, f"cannot write the export state: {exc}"))
            except asyncio.CancelledError:
                self._tally.pending += 1  # Outreach may or may not have it: sent again next run
                raise

    async def _send_one(self, client: OutreachClient, work: _Work) -> None:
        from outreach_tui.outreach.client import OutreachUnreachable
        from outreach_tui.outreach.errors import diagnose

        try:
            result = await client.patch_prospect(work.prospect_id, work.attributes)
        except AuthUnreachable as exc:  # the token endpoint cannot be reached: Outreach is unreachable
            self._tally.pending += 1
            self._stop_with(RunStopped(EXIT_UNREACHABLE, str(exc)))
            return
        except (AuthRequired, ScopeMissing) as exc:
            self._tally.pending += 1
            self._stop_with(RunStopped(EXIT_AUTH, str(exc)))
            return
        except OutreachUnreachable as exc:
            self._tally.pending += 1
            self._stop_with(RunStopped(EXIT_UNREACHABLE, str(exc)))
            return
        self._sent_times.append(time.monotonic())
        if result.ok:
            assert self._state is not None
            self._state.record_accepted(work.prospect_id, work.attributes, work.previous)
            self._tally.activated += 1
            return
        diagnostic = diagnose(work.prospect_id, result.status, result.errors, self.profile.field_origin)
        self._tally.failed += 1
        self._add_failure(diagnostic)
        if self._state is not None:
            self._state.record_failed(diagnostic)

    def _stop_with(self, stop: RunStopped) -> None:
        if self._fatal is None:
            self._fatal = stop
        self._stopped.set()  # ends --follow too
        self._gate.set()

    # ----- the client -------------------------------------------------------------------------------

    async def _ensure_client(self) -> OutreachClient:
        """One client for every worker: one limiter, one retry policy, one token source, one pool."""
        if self._client is not None:
            return self._client
        from outreach_tui.outreach.client import OutreachClient
        from outreach_tui.outreach.ratelimit import RateLimiter
        from outreach_tui.outreach.retry import RetryPolicy

        tokens = self._tokens or self._default_tokens()
        limiter = RateLimiter(self.profile.export.budget_per_hour)
        limiter.on_throttle = self._on_throttle
        limiter.on_resume = self._on_resume
        self._client = OutreachClient(self.profile.outreach.api_base, tokens, limiter=limiter,
                                      retry=self._retry or RetryPolicy(),
                                      concurrency=self.profile.export.concurrency, on_retry=self._on_retry,
                                      login_hint=self.profile.token_place().login_hint)
        return self._client

    def _default_tokens(self) -> TokenSource:
        from outreach_tui.outreach.token_source import token_source_for

        try:
            return token_source_for(self.profile.outreach, self.profile.token_place())
        except AuthRequired as exc:
            raise RunStopped(EXIT_AUTH, str(exc)) from None

    async def _close_client(self) -> None:
        if self._client is not None:
            self._base_requests = self._request_counts()
            await self._client.aclose()
            self._client = None

    def _request_counts(self) -> tuple[int, int, int]:
        client = self._client
        if client is None:
            return self._base_requests
        return (client.requests_sent, client.retries, client.rate_limited)

    def _on_throttle(self, until: float, reason: str) -> None:
        self._throttled_until = until
        self._emit(Throttled(until=until, reason=reason))
        self._alerts.throttled(until, reason)

    def _on_resume(self) -> None:
        self._throttled_until = 0.0
        self._emit(Resumed())

    def _on_retry(self, prospect_id: int, attempt: int, delay: float, reason: str) -> None:
        self._emit(Retrying(prospect_id=prospect_id, attempt=attempt, delay=delay, reason=reason))

    # ----- events, progress and the end ----------------------------------------------------------------

    def _emit(self, event: Event) -> None:
        self._emit_callback(event)

    def counts(self) -> Counts:
        sent, retried, rate_limited = self._request_counts()
        return Counts(**asdict(self._tally), sent=sent, retried=retried, rate_limited=rate_limited)

    def _progress(self) -> Progress:
        now = time.monotonic()
        self._sent_times = [t for t in self._sent_times if now - t <= RATE_WINDOW]
        limiter = self._client.limiter if self._client is not None else None
        return Progress(
            counts=self.counts(), total=self._total, phase=self._phase,
            requests_per_second=round(len(self._sent_times) / RATE_WINDOW, 1),
            budget_limit=getattr(limiter, "limit", None) or self.profile.export.budget_per_hour,
            budget_remaining=getattr(limiter, "remaining", None),
            budget_reset_at=getattr(limiter, "reset_at", None),
            segments=self._segments.totals(),
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

    async def _finish(self, started_at: str, message: str) -> Finished:
        counts = self.counts()
        exit_code = self._exit_code(counts)
        self._emit(self._progress())
        report = build_report(
            destination=self.profile.destination.name, started_at=started_at, finished_at=_now_iso(),
            dry_run=self.options.dry_run, counts=counts,
            segments=segment_rows(((s.id, s.mapping_id) for s in self.profile.segments), self._segments.totals()),
            exclusions=self._exclusions, exclusions_total=self._exclusions_total,
            failures=self._failures, failures_total=counts.failed, exit_code=exit_code,
            planned_updates=self._planned_updates if self.options.dry_run else None,
            extra={"malformed_lines": [asdict(entry) for entry in self._malformed],
                   "input": str(self._input_label()), "full_resync": self.options.full_resync,
                   "follow": self.options.follow,
                   "state_path": str(self._state.path) if self._state else None,
                   "message": message or None},
        )
        report_path = self.options.report_path
        if report_path is not None:
            try:
                write_report(report_path, report)
            except ReportError as exc:
                message = f"{message}; {exc}" if message else str(exc)
                report_path = None
                exit_code = max(exit_code, EXIT_USAGE) if exit_code != EXIT_INTERRUPTED else exit_code
        if self._state is not None:
            with contextlib.suppress(StateError):
                if not self.options.dry_run:
                    self._state.finish_run(_now_iso(), exit_code, report)
            self._state.close()
        summary = summary_line(counts, self.options.dry_run, report_path)
        finished = Finished(counts=counts, exit_code=exit_code,
                            report_path=str(report_path) if report_path else None, report=report,
                            message=f"{message}\n{summary}" if message else summary)
        self._alerts.finished(finished)
        await self._alerts.aclose()
        self._emit(finished)
        return finished

    def _exit_code(self, counts: Counts) -> int:
        if self._fatal is not None:
            return self._fatal.exit_code
        if self.cancelled:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if counts.failed else EXIT_OK
