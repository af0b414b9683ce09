"""Non-blocking exclusive locks on an open file, for the token store and the export state.

POSIX ``flock``: the system drops the lock when the process ends, however it ends, so a killed process never
leaves a stale lock. Windows (``msvcrt``, untested; the product targets POSIX) locks the file's first byte.
"""

from __future__ import annotations

import sys

if sys.platform == "win32":  # pragma: no cover - keep Windows importable
    import msvcrt

    def try_lock(descriptor: int) -> bool:
        """Take the lock if it is free; False if another open file holds it."""
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False

    def unlock(descriptor: int) -> None:
        msvcrt.locking(descriptor, msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def try_lock(descriptor: int) -> bool:
        """Take the lock if it is free; False if another open file holds it."""
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    def unlock(descriptor: int) -> None:
        fcntl.flock(descriptor, fcntl.LOCK_UN)
