"""Sending: a pool of workers that PATCH prospects through one client and record each outcome (accepted
values in the state, failures with their diagnostic, requests that never got an answer as pending)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.control import EXIT_AUTH, EXIT_UNREACHABLE, EXIT_USAGE, RunControl, RunStopped
from outreach_tui.export.state import StateStore
from outreach_tui.export.tally import Tally
from outreach_tui.outreach.client import OutreachClient, OutreachUnreachable, PatchResult
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing
from outreach_tui.outreach.errors import diagnose, field_of

RATE_WINDOW = 5.0  # seconds over which requests_per_second is measured


@dataclass(slots=True)
class Work:
    prospect_id: int
    attributes: dict[str, Any]  # the values the profile wants: recorded in the state once accepted
    previous: dict[str, Any] | None  # what the state held before (None: nothing accepted yet)
    body: dict[str, Any] | None = None  # what the PATCH carries when it differs (merged lists); None: attributes
    rejected: Diagnostic | None = None  # a field refused before sending (typed custom field): the rest is sent
    written_lists: dict[str, list[Any]] | None = None  # merged lists: the values this destination owns once sent

    @property
    def sent(self) -> dict[str, Any]:
        return self.attributes if self.body is None else self.body


class Sender:
    """``put`` work, then ``close()`` once: the workers finish what is queued (or, when the run is stopping,
    it is counted pending) and end."""

    def __init__(self, client: OutreachClient, state: StateStore, tally: Tally, control: RunControl,
                 concurrency: int, on_failure: Callable[[Diagnostic], None],
                 field_origin: Callable[[str], str | None], sent_times: list[float]) -> None:
        self._client = client
        self._state = state
        self._tally = tally
        self._control = control
        self._on_failure = on_failure
        self._field_origin = field_origin
        self._sent_times = sent_times
        self._queue: asyncio.Queue[Work | None] = asyncio.Queue(maxsize=concurrency * 2)
        self._workers = [asyncio.create_task(self._work()) for _ in range(concurrency)]

    async def put(self, work: Work) -> None:
        await self._queue.put(work)

    def requests_per_second(self) -> float:
        now = time.monotonic()
        self._sent_times[:] = [t for t in self._sent_times if now - t <= RATE_WINDOW]
        return round(len(self._sent_times) / RATE_WINDOW, 1)

    async def close(self) -> None:
        """Let the workers finish what is queued (or count it pending when stopping), then end them."""
        workers = self._workers

        async def close_queue() -> None:
            for _ in workers:
                await self._queue.put(None)

        closer = asyncio.create_task(close_queue())
        try:
            await self._control.drain(workers)
        finally:
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer
        while not self._queue.empty():
            if self._queue.get_nowait() is not None:
                self._tally.pending += 1

    async def _work(self) -> None:
        control, tally = self._control, self._tally
        while True:
            work = await self._queue.get()
            if work is None:
                return
            try:
                await control.gate.wait()
                if control.stopping:
                    tally.pending += 1
                    continue
                await self._send(work)
            except sqlite3.Error as exc:  # disk full, file removed...: stop; what was recorded stays
                tally.pending += 1
                control.stop_with(RunStopped(EXIT_USAGE, f"cannot write the export state: {exc}"))
            except asyncio.CancelledError:
                tally.pending += 1  # Outreach may or may not have it: sent again next run
                raise

    async def _send(self, work: Work) -> None:
        if work.rejected is not None and work.rejected.field is not None:
            await self._send_without(work, work.rejected.field, work.rejected)
            return
        result = await self._patch(work.prospect_id, work.sent)
        if result is None:
            return
        if result.ok:
            self._accepted(work, work.attributes)
            self._tally.activated += 1
            return
        diagnostic = diagnose(work.prospect_id, result.status, result.errors, self._field_origin)
        rejected = rejected_field(result)
        if rejected is not None and rejected in work.sent:
            await self._send_without(work, rejected, diagnostic)
            return
        self.fail(diagnostic, work.attributes)

    async def _send_without(self, work: Work, rejected: str, diagnostic: Diagnostic) -> None:
        """One bad field never sinks the rest: the prospect's other fields are sent on their own and recorded
        when accepted; the prospect counts failed, for that field only (dead-lettered: the next run retries)."""
        rest = {name: value for name, value in work.sent.items() if name != rejected}
        if rest:
            result = await self._patch(work.prospect_id, rest)
            if result is None:
                return
            if result.ok:
                self._accepted(work, {name: value for name, value in work.attributes.items() if name != rejected})
                others = ", ".join(sorted(rest))
                diagnostic = replace(diagnostic, hint=f"{diagnostic.hint} The other fields ({others}) were sent "
                                                      "and accepted.".strip())
        self.fail(diagnostic, work.attributes)

    def _accepted(self, work: Work, accepted: dict[str, Any]) -> None:
        self._state.record_accepted(work.prospect_id, accepted, work.previous)
        if work.written_lists:
            written = {field: values for field, values in work.written_lists.items() if field in accepted}
            if written:
                self._state.record_written_lists(work.prospect_id, written)

    def fail(self, diagnostic: Diagnostic, attempted: dict[str, Any] | None) -> None:
        """A prospect that failed: counted, announced, dead-lettered with the values it wanted to write."""
        self._tally.add_failure(diagnostic)
        self._state.record_failed(diagnostic, attempted)
        self._on_failure(diagnostic)  # after the dead letter: the runner may take it back (a stale email match)

    async def _patch(self, prospect_id: int, attributes: dict[str, Any]) -> PatchResult | None:
        """One PATCH; None when the run must stop (counted pending)."""
        try:
            result = await self._client.patch_prospect(prospect_id, attributes)
        except (AuthUnreachable, OutreachUnreachable) as exc:  # the token endpoint or Outreach: unreachable
            self._stop(RunStopped(EXIT_UNREACHABLE, str(exc)))
            return None
        except (AuthRequired, ScopeMissing) as exc:
            self._stop(RunStopped(EXIT_AUTH, str(exc)))
            return None
        self._sent_times.append(time.monotonic())
        return result

    def _stop(self, stop: RunStopped) -> None:
        self._tally.pending += 1
        self._control.stop_with(stop)


def rejected_field(result: PatchResult) -> str | None:
    """The one attribute a 422 names (``source.pointer`` ``/data/attributes/custom4``), or None when it names
    none or several (then nothing is resent: which fields are fine is unknown)."""
    if result.status != 422:
        return None
    fields = {field_of(error.pointer) for error in result.errors}
    if len(fields) != 1:
        return None
    return fields.pop()
