"""Settling bulk imports: start, poll, bisect failures, verify, record (the ``BulkSender``'s workhorse).

Every prospect handed to ``run_chunk`` ends in exactly one place: accepted (after its import finished without
failures and a read-back sample matched), handed to the PATCH sender (an isolated failing record, a refused
import, a fallback), or still unsettled when the run stops (then ``count_unsettled_pending`` counts it).

Bisection: Outreach reports failures as counts only. A chunk with ``f`` failures is split in two; the first
half is sent as its own import. Its failure count ``fa`` tells the second half's (``f - fa``) without sending
it: a half with no failures was already applied by the larger import. A half whose records all fail, or a
single record, is sent by PATCH, once per record, for Outreach's own diagnostic. With ``k`` failing records
among ``n``, that is about ``k * log2(n)`` imports (and their polls).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from outreach_tui.export.bulk_journal import ImportJournal
from outreach_tui.export.control import RunControl
from outreach_tui.export.events import Event, ImportsProgress
from outreach_tui.export.send import Work
from outreach_tui.export.state import StateStore
from outreach_tui.export.tally import Tally
from outreach_tui.outreach.client import IDS_PER_QUERY, OutreachClient, OutreachRequestFailed
from outreach_tui.outreach.credentials import ScopeMissing
from outreach_tui.outreach.imports import ImportRequestFailed, ImportStatus, bulk_upsert, get_import

if TYPE_CHECKING:
    from outreach_tui.export.bulk import BulkSettings


class _Stopped(Exception):
    """The run is stopping: leave this import to the journal (the next run polls it)."""


@dataclass(slots=True)
class _Finished:
    """Prospects of a finished import, waiting for the read-back that lets them count as accepted."""

    works: list[Work]
    sample: list[Work]
    chunk_id: int | None  # the journal row forgotten when they are recorded
    counted: bool  # counted in this run's tally (False: a killed run's import, settled by resume)


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _matches(sent: dict[str, Any], got: dict[str, Any]) -> bool:
    for name, value in sent.items():
        have = got.get(name)
        if isinstance(value, list) and isinstance(have, list):  # a list target may keep other values too
            if any(_canonical(item) not in {_canonical(h) for h in have} for item in value):
                return False
        elif _canonical(value) != _canonical(have):
            return False
    return True


class Settler:
    def __init__(self, client: OutreachClient, state: StateStore, journal: ImportJournal, tally: Tally,
                 control: RunControl, settings: BulkSettings, to_patch: Callable[[list[Work]], Awaitable[None]],
                 fall_back: Callable[[str], None], emit: Callable[[Event], None], sent_times: list[float]) -> None:
        self._client = client
        self._state = state
        self._journal = journal
        self._tally = tally
        self._control = control
        self._settings = settings
        self._to_patch = to_patch
        self._on_fall_back = fall_back
        self._emit = emit
        self._sent_times = sent_times
        self.fallen_back = False
        self._unsettled: dict[int, Work] = {}  # this run's prospects not yet accepted nor handed to PATCH
        self._finished: list[_Finished] = []
        self._verify_lock = asyncio.Lock()
        self._in_flight: dict[int, int] = {}  # import id -> records
        self._settled = self._records_settled = 0

    # ----- entry points ------------------------------------------------------------------------------

    async def run_chunk(self, works: list[Work], records: list[bytes]) -> None:
        """One chunk: journal it, start its import, poll, then bisect or verify."""
        for work in works:
            self._unsettled[work.prospect_id] = work
        chunk_id = self._journal.add([(work.prospect_id, work.attributes) for work in works])
        try:
            status = await self._start(records, chunk_id)
            status = await self._wait(status, len(works))
        except ImportRequestFailed:
            self._journal.forget(chunk_id)
            await self._patch_each(works)
            return
        except ScopeMissing as exc:
            if self._settings.strategy != "auto":  # "bulk" was asked for: the sign-in must grant it
                raise
            self._journal.forget(chunk_id)  # "auto" without the import scopes simply uses PATCH
            self.fall_back(str(exc))
            await self._patch_each(works)
            return
        except _Stopped:
            return  # journalled with its id (polled next run) or, not sent, dropped by the next run
        if status.clean:
            await self._accept_later(works, chunk_id, counted=True)
            return
        try:
            await self._isolate(works, records, _failures_of(status))
        except _Stopped:
            return  # the journal keeps the failed import: the next run bisects it again
        self._journal.forget(chunk_id)

    async def resume(self) -> None:
        """Imports a killed run left: polled (never resent) and recorded once verified. One that failed, or
        one never confirmed, is forgotten: its prospects are not accepted, so the diff sends them again."""
        self._journal.drop_unaccepted()
        entries = self._journal.entries()
        slots = asyncio.Semaphore(self._settings.in_flight)

        async def settle(chunk_id: int, import_id: int, works: list[Work]) -> None:
            async with slots:
                try:
                    status = await self._wait(ImportStatus(import_id, "pending", None, None, None), len(works))
                except (ImportRequestFailed, ScopeMissing):  # e.g. gone, or now signed in without imports.read
                    status = ImportStatus(import_id, "unknown", None, None, "cannot be read")
                if status.clean:
                    await self._accept_later(works, chunk_id, counted=False)
                else:
                    self._journal.forget(chunk_id)

        await asyncio.gather(*(settle(entry.chunk_id, entry.import_id,
                                      [Work(pid, values, None) for pid, values in entry.items])
                               for entry in entries if entry.import_id is not None))
        await self.verify_all()

    async def verify_all(self) -> None:
        """Read back the samples of every finished import waiting, then record them (or fall back)."""
        async with self._verify_lock:
            waiting, self._finished = self._finished, []
            if not waiting or self._control.stopping:
                self._finished[:0] = waiting
                return
            sample = [work for entry in waiting for work in entry.sample]
            fields = sorted({name for work in sample for name in work.attributes})
            problem = None
            try:
                got = await self._client.get_prospects([work.prospect_id for work in sample], fields)
                self._sent_times.append(time.monotonic())
            except OutreachRequestFailed as exc:
                problem = f"the read-back of imported prospects failed ({exc})"
            else:
                wrong = [work.prospect_id for work in sample
                         if not _matches(work.attributes, got.get(work.prospect_id, {}))]
                if wrong:
                    problem = (f"Outreach reported {len(wrong)} of {len(sample)} imported prospects read back as "
                               f"done without holding the values sent (first: prospect {wrong[0]})")
            if problem is not None:
                self.fall_back(problem)
            for entry in waiting:
                await self._record(entry, trusted=problem is None)

    def count_unsettled_pending(self) -> None:
        """At the end: prospects neither accepted nor handed to PATCH are pending (the next run sends them,
        or polls their import)."""
        self._tally.pending += len(self._unsettled)
        self._unsettled.clear()

    def fall_back(self, reason: str) -> None:
        if not self.fallen_back:
            self.fallen_back = True
            self._on_fall_back(reason)

    # ----- imports -----------------------------------------------------------------------------------

    async def _start(self, records: list[bytes], chunk_id: int | None) -> ImportStatus:
        await self._control.gate.wait()
        if self._control.stopping:
            if chunk_id is not None:
                self._journal.forget(chunk_id)
            raise _Stopped
        status = await bulk_upsert(self._client, records)
        self._sent_times.append(time.monotonic())
        if chunk_id is not None:
            self._journal.accepted(chunk_id, status.id)
        self._tally.imports += 1
        self._tally.import_records += len(records)
        self._in_flight[status.id] = len(records)
        self._progress()
        return status

    async def _wait(self, status: ImportStatus, records: int) -> ImportStatus:
        """Poll until the import is finished: the first poll after ``poll_interval``, then less often."""
        settings = self._settings
        delay = settings.poll_interval
        self._in_flight.setdefault(status.id, records)
        try:
            while not status.finished:
                deadline = time.monotonic() + delay
                while (left := deadline - time.monotonic()) > 0:  # a cancel is noticed within 0.2 s
                    if self._control.stopping:
                        raise _Stopped
                    await asyncio.sleep(min(left, 0.2))
                await self._control.gate.wait()
                if self._control.stopping:
                    raise _Stopped
                status = await get_import(self._client, status.id)
                self._sent_times.append(time.monotonic())
                self._tally.polls += 1
                delay = min(delay * 1.5, settings.poll_max)
                self._progress()
        finally:
            self._in_flight.pop(status.id, None)
        self._settled += 1
        self._records_settled += records
        self._progress()
        return status

    async def _try(self, works: list[Work], records: list[bytes]) -> int | None:
        """Send ``works`` as their own import and settle it; its failure count (None: unknown)."""
        try:
            status = await self._wait(await self._start(records, None), len(works))
        except ImportRequestFailed:
            await self._patch_each(works)
            return None
        if status.clean:
            await self._accept_later(works, None, counted=True)
            return 0
        failures = _failures_of(status)
        await self._isolate(works, records, failures)
        return failures

    async def _isolate(self, works: list[Work], records: list[bytes], failures: int | None) -> None:
        """``works`` were applied except ``failures`` of them (None: unknown which or how many)."""
        if len(works) == 1 or (failures is not None and failures >= len(works)):
            await self._patch_each(works)
            return
        half = len(works) // 2
        first = await self._try(works[:half], records[:half])
        rest, rest_records = works[half:], records[half:]
        if failures is None or first is None or first > failures:
            await self._try(rest, rest_records)
        elif first == failures:  # every failure was in the first half: the rest was applied
            await self._accept_later(rest, None, counted=True)
        else:
            await self._isolate(rest, rest_records, failures - first)

    # ----- outcomes ----------------------------------------------------------------------------------

    async def _accept_later(self, works: list[Work], chunk_id: int | None, counted: bool) -> None:
        if self.fallen_back:  # bulk is no longer trusted: whatever it reported goes by PATCH
            if chunk_id is not None:
                self._journal.forget(chunk_id)
            if counted:
                await self._patch_each(works)
            return
        step = max(1, len(works) // max(self._settings.sample_per_import, 1))
        sample = works[::step][: self._settings.sample_per_import]
        self._finished.append(_Finished(works, sample, chunk_id, counted))
        if sum(len(entry.sample) for entry in self._finished) >= IDS_PER_QUERY:
            await self.verify_all()

    async def _record(self, entry: _Finished, trusted: bool) -> None:
        if not trusted:
            if entry.chunk_id is not None:
                self._journal.forget(entry.chunk_id)
            if entry.counted:
                await self._patch_each(entry.works)
            return
        also = self._journal.forgetting(entry.chunk_id) if entry.chunk_id is not None else None
        self._state.record_accepted_many([(work.prospect_id, work.attributes) for work in entry.works], also)
        for work in entry.works:  # merged lists: the values this destination now owns (export/lists.py)
            if work.written_lists:
                self._state.record_written_lists(work.prospect_id, work.written_lists)
        if entry.counted:
            for work in entry.works:
                self._unsettled.pop(work.prospect_id, None)
            self._tally.activated += len(entry.works)

    async def _patch_each(self, works: list[Work]) -> None:
        for work in works:
            self._unsettled.pop(work.prospect_id, None)
        await self._to_patch(works)

    def _progress(self) -> None:
        self._emit(ImportsProgress(in_flight=len(self._in_flight), records_in_flight=sum(self._in_flight.values()),
                                   finished=self._settled, records_finished=self._records_settled,
                                   polls=self._tally.polls))


def _failures_of(status: ImportStatus) -> int | None:
    """How many records failed, when Outreach says so plainly (None: the import failed as a whole)."""
    return status.failures if status.state == "finished" and not status.error_reason else None
