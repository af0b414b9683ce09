"""The writer lock of a state file: one export of a destination at a time."""

from __future__ import annotations

import os
from pathlib import Path

from outreach_tui.export.state_schema import StateError, timestamp
from outreach_tui.filelock import try_lock, unlock


def lock_for_writing(path: Path) -> int:
    """One writer per state file: two exports of one destination at once would diff against the same state
    and send the same updates twice. A lock on ``<state>.lock``, held while the store is open (dropped by
    the system when the process ends, however it ends: a killed run leaves no stale lock)."""
    descriptor = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if not try_lock(descriptor):
            raise StateError(
                f"{path}: another export of this destination is running ({_lock_holder(descriptor)}); wait for "
                "it to finish, or stop it. Two exports at once would send the same updates twice.")
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"process {os.getpid()}, started {timestamp()}".encode())
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _lock_holder(descriptor: int) -> str:
    """What the running export wrote in the lock file, for the message."""
    try:
        return os.read(descriptor, 200).decode(errors="replace").strip() or "another process"
    except OSError:  # the holder's lock covers the bytes (Windows)
        return "another process"


def release(descriptor: int) -> None:
    unlock(descriptor)
    os.close(descriptor)
