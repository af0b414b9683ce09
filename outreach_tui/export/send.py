"""Sending: a pool of workers that PATCH prospects through one client and record each outcome (accepted
values in the state, failures with their diagnostic, requests that never got an answer as pending)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.control import EXIT_AUTH, EXIT_UNREACHABLE, EXIT_USAGE, RunControl, RunStopped
from outreach_tui.export.state import StateStore
from outreach_tui.export.tally import Tally
from outreach_tui.outreach.client import OutreachClient, OutreachUnreachable
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing
from outreach_tui.outreach.errors import diagnose

RATE_WINDOW = 5.0  # seconds over which requests_per_second is measured


@dataclass(slots=True)
class Work:
    prospect_id: int
    attributes: dict[str, Any]
    previous: dict[str, Any] | None  # what the state held before (None: nothing accepted yet)


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
            while workers:
                _, running = await asyncio.wait(workers, timeout=0.2)
                if not running:
                    break
                if self._control.give_up_draining():
                    for task in running:
                        task.cancel()
                    await asyncio.gather(*running, return_exceptions=True)
                    break
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
        try:
            result = await self._client.patch_prospect(work.prospect_id, work.attributes)
        except (AuthUnreachable, OutreachUnreachable) as exc:  # the token endpoint or Outreach: unreachable
            self._stop(RunStopped(EXIT_UNREACHABLE, str(exc)))
            return
        except (AuthRequired, ScopeMissing) as exc:
            self._stop(RunStopped(EXIT_AUTH, str(exc)))
            return
        self._sent_times.append(time.monotonic())
        if result.ok:
            self._state.record_accepted(work.prospect_id, work.attributes, work.previous)
            self._tally.activated += 1
            return
        diagnostic = diagnose(work.prospect_id, result.status, result.errors, self._field_origin)
        self._tally.add_failure(diagnostic)
        self._on_failure(diagnostic)
        self._state.record_failed(diagnostic)

    def _stop(self, stop: RunStopped) -> None:
        self._tally.pending += 1
        self._control.stop_with(stop)
