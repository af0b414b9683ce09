"""What a run is asked to do and how it is steered: its options, the stop that ends it early with an exit
code, and the pause/cancel state the runner and its senders share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from outreach_tui.exit_codes import ExitCode

EXIT_OK, EXIT_FAILED, EXIT_USAGE = int(ExitCode.OK), int(ExitCode.SOME_FAILED), int(ExitCode.USAGE)
EXIT_AUTH, EXIT_UNREACHABLE, EXIT_INTERRUPTED = int(ExitCode.AUTH), int(ExitCode.UNREACHABLE), int(ExitCode.INTERRUPTED)
DRAIN_GRACE = 10.0  # seconds a cancelled run waits for requests in flight (a throttle wait is not waited)


@dataclass(frozen=True, slots=True)
class RunOptions:
    input_path: Path | None = None  # None: the profile's [source]; Path("-"): standard input (JSON Lines)
    dry_run: bool = False
    full_resync: bool = False
    follow: bool = False
    report_path: Path | None = None
    state_path: Path | None = None
    # leave the fields this destination wrote and no longer maps, and stop tracking them (the wizard's "Keep
    # them"); without it, [export] clear_on_unmap decides
    keep_unmapped: bool = False


class RunStopped(Exception):
    """Stops the run early with an exit code and a message for humans (bad input, auth, unreachable)."""

    def __init__(self, exit_code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class RunControl:
    """Pause, cancel and fatal stops. Safe to use from the event loop at any time."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()  # set: sending may go on
        self.gate.set()
        self.stopped = asyncio.Event()  # set: stop reading (ends --follow too)
        self.stop_requested_at: float | None = None
        self.fatal: RunStopped | None = None
        self.throttled_until = 0.0  # epoch seconds; a cancelled run does not wait for a throttle

    def pause(self) -> bool:
        """True when this paused the run (it was not paused)."""
        if not self.gate.is_set():
            return False
        self.gate.clear()
        return True

    def resume(self) -> bool:
        if self.gate.is_set():
            return False
        self.gate.set()
        return True

    def cancel(self) -> None:
        if self.stop_requested_at is None:
            self.stop_requested_at = time.monotonic()
            self.stopped.set()
            self.gate.set()  # a paused run must wake up to finish
        else:  # asked twice: stop waiting for requests in flight
            self.stop_requested_at = time.monotonic() - DRAIN_GRACE - 1

    def stop_with(self, stop: RunStopped) -> None:
        if self.fatal is None:
            self.fatal = stop
        self.stopped.set()
        self.gate.set()

    @property
    def cancelled(self) -> bool:
        return self.stop_requested_at is not None

    @property
    def stopping(self) -> bool:
        """Cancelled, or stopped by a fatal problem: send nothing more."""
        return self.stop_requested_at is not None or self.fatal is not None

    def give_up_draining(self) -> bool:
        """A stopping run stops waiting for requests in flight after the grace period, or at once when the
        client is waiting out a throttle."""
        since = self.stop_requested_at
        if since is None:
            return False
        return self.throttled_until > time.time() or time.monotonic() - since > DRAIN_GRACE

    async def drain(self, tasks: Collection[asyncio.Task[None]]) -> None:
        """Wait for ``tasks`` (workers, imports in flight) to end; once the run gives up draining, cancel the
        rest (what they carried is counted pending by their owner)."""
        while tasks:
            _, running = await asyncio.wait(tasks, timeout=0.2)
            if not running:
                return
            if self.give_up_draining():
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                return
