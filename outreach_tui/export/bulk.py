"""The bulk strategy: changes sent as Outreach imports (``imports/actions/bulkUpsert``), a few thousand
prospects per request instead of one.

``BulkSender`` has the ``Sender``'s interface (``put``, ``close``, ``requests_per_second``). It packs one record
per changed prospect (only its changed fields) into chunks of at most ``max_bytes`` of encoded body and
``max_records`` records, starts one import per chunk (at most ``in_flight`` at once, every request through
the run's one client and limiter) and polls each with a growing interval. Then (``bulk_settle.py``):

- an import with failures is bisected until the failing records are isolated; each of those is sent once
  by PATCH (through a ``Sender``) so the report carries Outreach's own diagnostic; its good records are
  recorded accepted, never failed, never lost;
- a finished import's prospects are recorded accepted only after a read-back sample matches what was sent
  (trust, then verify); a mismatch stops bulk for the rest of the run: everything unsettled goes by PATCH.

Crash safety comes from the import journal (``bulk_journal.py``): see there. ``resume()`` settles the imports
a killed run left in flight (polled, not resent) before the runner diffs, so their prospects are not sent
twice. ``"auto"`` buffers changes up to ``threshold`` before choosing: fewer go by PATCH.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.bulk_journal import ImportJournal
from outreach_tui.export.bulk_settle import Settler
from outreach_tui.export.control import EXIT_AUTH, EXIT_UNREACHABLE, EXIT_USAGE, RunControl, RunStopped
from outreach_tui.export.events import Event, StrategyChosen
from outreach_tui.export.send import RATE_WINDOW, Sender, Work
from outreach_tui.export.state import StateStore
from outreach_tui.export.tally import Tally
from outreach_tui.outreach.client import IDS_PER_QUERY, OutreachClient, OutreachUnreachable
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing
from outreach_tui.outreach.imports import MAX_IMPORT_BYTES, body_size, encode_record, imports_needed
from outreach_tui.outreach.scopes import scope_covers
from outreach_tui.profile_checks import IMPORT_SCOPES

if TYPE_CHECKING:
    from outreach_tui.export.connect import Connection
    from outreach_tui.profile import Profile

POLL_INTERVAL = 2.0  # seconds before an import's first poll; never more often than this per import
POLL_MAX = 30.0  # the interval grows to this for a slow import
SAMPLE_PER_IMPORT = 10  # prospects of each finished import read back (batched: up to 100 per GET)


@dataclass(frozen=True, slots=True)
class BulkSettings:
    strategy: str  # "bulk", "auto", or "patch" (only settling a killed run's imports)
    threshold: int = 1000  # "auto": bulk from this many changed prospects
    max_records: int = 10_000
    max_bytes: int = MAX_IMPORT_BYTES
    in_flight: int = 4  # imports started and not yet settled, at most
    poll_interval: float = POLL_INTERVAL
    poll_max: float = POLL_MAX
    sample_per_import: int = SAMPLE_PER_IMPORT


@dataclass(slots=True)
class _Chunk:
    works: list[Work] = field(default_factory=list)
    records: list[bytes] = field(default_factory=list)
    size: int = 0  # bytes of the records together


class BulkSender:
    def __init__(self, client: OutreachClient, state: StateStore, tally: Tally, control: RunControl,
                 settings: BulkSettings, make_patch_sender: Callable[[], Sender], emit: Callable[[Event], None],
                 scopes: list[str], sent_times: list[float]) -> None:
        self._tally = tally
        self._control = control
        self._settings = settings
        self._emit = emit
        self._make_patch_sender = make_patch_sender
        self._patch: Sender | None = None
        self._scopes_ok = all(scope_covers(scopes, scope) for scope in IMPORT_SCOPES)
        self._mode = {"bulk": "bulk", "auto": "undecided"}.get(settings.strategy, "patch")
        self._buffer: list[Work] = []  # "auto": changes seen before deciding
        self._chunk = _Chunk()
        self._slots = asyncio.Semaphore(settings.in_flight)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sent_times = sent_times
        self.settler = Settler(client, state, ImportJournal(state.connection()), tally, control, settings,
                               self._to_patch, self._fall_back, emit, sent_times)
        if self._mode == "bulk":
            self._choose("bulk", "[export] strategy = \"bulk\"")

    # ----- the Sender interface --------------------------------------------------------------------

    async def resume(self) -> None:
        """Settle the imports a killed run left in flight (polled, never resent), before the diff."""
        await self._guarded(self.settler.resume())

    async def put(self, work: Work) -> None:
        # A field refused before sending (a typed custom field) is sent by PATCH, which resends the rest
        # without it; an import could only fail the whole record.
        if self._mode == "patch" or self.settler.fallen_back or work.rejected is not None:
            await self._to_patch([work])
        elif self._mode == "undecided":
            self._buffer.append(work)
            if len(self._buffer) >= self._settings.threshold:
                await self._decide(enough=True)
        else:
            await self._add(work)

    def fail(self, diagnostic: Diagnostic, attempted: dict[str, Any] | None) -> None:
        """A prospect that failed before it could be packed (its current lists could not be read)."""
        self._patch_sender().fail(diagnostic, attempted)

    def requests_per_second(self) -> float:
        return self._patch_sender().requests_per_second() if self._patch is not None else _rate(self._sent_times)

    async def close(self) -> None:
        if self._mode == "undecided":
            await self._decide(enough=False)
        if self._chunk.works:
            await self._submit()
        await self._control.drain(self._tasks)
        await self._guarded(self.settler.verify_all())
        self.settler.count_unsettled_pending()
        if self._patch is not None:
            await self._patch.close()

    # ----- choosing, packing, starting -------------------------------------------------------------

    def _choose(self, strategy: str, reason: str) -> None:
        self._tally.strategy = strategy
        self._emit(StrategyChosen(strategy=strategy, reason=reason))

    async def _decide(self, enough: bool) -> None:
        threshold = self._settings.threshold
        if enough and self._scopes_ok:
            self._mode = "bulk"
            self._choose("bulk", f"strategy \"auto\": at least {threshold:,} changed prospects")
        else:
            self._mode = "patch"
            why = (f"fewer than {threshold:,} changed prospects" if not enough
                   else "the token lacks the imports.read and imports.write scopes")
            self._choose("patch", f"strategy \"auto\": {why}")
        buffered, self._buffer = self._buffer, []
        for work in buffered:
            await self.put(work)

    async def _add(self, work: Work) -> None:
        record = encode_record(work.prospect_id, work.sent)  # merged lists included (export/lists.py)
        chunk, settings = self._chunk, self._settings
        if body_size(len(record), 1) > settings.max_bytes:  # one prospect over the limit: PATCH has none
            await self._to_patch([work])
            return
        if chunk.works and (len(chunk.works) >= settings.max_records
                            or body_size(chunk.size + len(record), len(chunk.works) + 1) > settings.max_bytes):
            await self._submit()
            chunk = self._chunk
        chunk.works.append(work)
        chunk.records.append(record)
        chunk.size += len(record)

    async def _submit(self) -> None:
        chunk, self._chunk = self._chunk, _Chunk()
        if self._control.stopping:
            self._tally.pending += len(chunk.works)
            return
        await self._slots.acquire()  # at most in_flight imports unsettled: the packing waits here
        if self.settler.fallen_back:
            self._slots.release()
            await self._to_patch(chunk.works)
            return
        task = asyncio.create_task(self._guarded(self.settler.run_chunk(chunk.works, chunk.records), release=True))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, settling: Coroutine[Any, Any, None], release: bool = False) -> None:
        """Run one settling coroutine; a fatal problem stops the run (its unsettled prospects end pending)."""
        try:
            await settling
        except (AuthUnreachable, OutreachUnreachable) as exc:
            self._control.stop_with(RunStopped(EXIT_UNREACHABLE, str(exc)))
        except (AuthRequired, ScopeMissing) as exc:
            self._control.stop_with(RunStopped(EXIT_AUTH, str(exc)))
        except sqlite3.Error as exc:
            self._control.stop_with(RunStopped(EXIT_USAGE, f"cannot write the export state: {exc}"))
        finally:
            if release:
                self._slots.release()

    # ----- the PATCH path (isolated records, fallback, "auto" below the threshold) ------------------

    def _patch_sender(self) -> Sender:
        if self._patch is None:
            self._patch = self._make_patch_sender()
        return self._patch

    async def _to_patch(self, works: list[Work]) -> None:
        sender = self._patch_sender()
        for work in works:
            await sender.put(work)

    def _fall_back(self, reason: str) -> None:
        self._tally.strategy = "bulk, then patch"
        note = f"bulk stopped, the rest sent by PATCH: {reason}"
        self._tally.notes.append(note)
        self._emit(StrategyChosen(strategy="patch", reason=note))


def _rate(sent_times: list[float]) -> float:
    now = time.monotonic()
    sent_times[:] = [t for t in sent_times if now - t <= RATE_WINDOW]
    return round(len(sent_times) / RATE_WINDOW, 1)


def strategy_estimates(planned: int, planned_bytes: int, profile: Profile) -> dict[str, dict[str, float]]:
    """For a dry run's planned changes: the requests each strategy would use and the hours of the hourly
    budget that means (the bulk figure counts one poll per import and the batched read-backs)."""
    budget = profile.export.budget_per_hour
    imports = imports_needed(planned, planned_bytes, profile.export.bulk_max_records)
    bulk = 2 * imports + -(-imports * SAMPLE_PER_IMPORT // IDS_PER_QUERY)
    return {"patch": {"requests": planned, "budget_hours": round(planned / budget, 3)},
            "bulk": {"imports": imports, "requests": bulk, "budget_hours": round(bulk / budget, 3)}}


@dataclass(frozen=True, slots=True)
class BulkTiming:
    """Polling and sampling (tests shorten the poll interval; Outreach wants no more than one per ~2-5 s)."""

    poll_interval: float = POLL_INTERVAL
    poll_max: float = POLL_MAX
    sample_per_import: int = SAMPLE_PER_IMPORT


async def open_sender(profile: Profile, connection: Connection, state: StateStore, tally: Tally,
                      control: RunControl, make_patch_sender: Callable[[], Sender], emit: Callable[[Event], None],
                      sent_times: list[float], timing: BulkTiming | None = None) -> Sender | BulkSender:
    """The run's sender for ``[export] strategy``. A run whose predecessor was killed with imports in flight
    settles them first (whatever the strategy), so the diff that follows does not send them again."""
    export = profile.export
    if export.strategy == "patch" and not ImportJournal(state.connection()).entries():
        return make_patch_sender()
    timing = timing or BulkTiming()
    settings = BulkSettings(strategy="patch" if export.strategy == "patch" else export.strategy,
                            threshold=export.bulk_threshold, max_records=export.bulk_max_records,
                            in_flight=export.concurrency, poll_interval=timing.poll_interval,
                            poll_max=timing.poll_max, sample_per_import=timing.sample_per_import)
    tokens = connection.tokens
    granted = getattr(tokens, "scopes", None)
    scopes = list(granted) if isinstance(granted, list) and granted else list(profile.outreach.scopes)
    sender = BulkSender(connection.client, state, tally, control, settings, make_patch_sender, emit, scopes,
                        sent_times)
    await sender.resume()
    return sender
