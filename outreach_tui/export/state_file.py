"""Is a file an export state? Checked before the state store writes anything, so a file that is not ours
(another program's SQLite database, a corrupt file, not SQLite at all) is refused untouched: no tables
added, no journal mode switched."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from outreach_tui.profile_base import capped

_SQLITE_HEADER = b"SQLite format 3\x00"
_OUR_TABLES = frozenset({"accepted", "runs"})  # present in every state file this program created


def read_only_uri(path: Path) -> str:
    return path.resolve().as_uri() + "?mode=ro"


def refuse_if_not_ours(path: Path, error: type[Exception]) -> None:
    """``error`` when ``path`` holds something else than an export state (another program's SQLite
    database, or not SQLite at all); a missing or empty file is a fresh state. Reads only."""
    try:
        with path.open("rb") as handle:
            header = handle.read(len(_SQLITE_HEADER))
    except OSError:  # missing (a fresh state), or unreadable: opening it says what is wrong
        return
    if not header:
        return
    fresh = "To start a fresh state, pass --state NEW_FILE, or move this file away"
    if header != _SQLITE_HEADER:
        raise error(f"{path}: not an export state (not an SQLite database); it was left untouched. {fresh}.")
    try:
        with contextlib.closing(sqlite3.connect(read_only_uri(path), uri=True)) as db:
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
            # every page read once (about 0.4 s for a million prospects): damage found now, not mid-run
            damage = [] if tables and not tables >= _OUR_TABLES else [
                row[0] for row in db.execute("PRAGMA quick_check(1)") if row[0] != "ok"]
        if damage:
            raise sqlite3.DatabaseError(damage[0])
    except sqlite3.Error as exc:
        raise error(f"{path}: the export state is damaged ({exc}); it was left untouched. {fresh} "
                    "(a fresh state sends every value once more).") from None
    if tables and not tables >= _OUR_TABLES:
        names = ", ".join(capped(sorted(tables), 5))
        raise error(f"{path}: an SQLite database of another program (tables: {names}), not an export "
                    f"state; it was left untouched. {fresh}.")
