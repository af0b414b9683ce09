"""The import journal: every bulk import a run starts, kept in the state file until its outcome is recorded.

A chunk is written (its prospects and the values it carries) BEFORE its request is sent, without an import
id; the id is written as soon as Outreach answers. After a crash, a resumed run therefore knows:

- a chunk with an id was accepted by Outreach: it is polled, never sent again;
- a chunk without an id may or may not have reached Outreach: it is dropped from the journal and its
  prospects are diffed and sent again like any unsent change (a repeated ``overwriteNoCreate`` import writes
  the same values again and creates nothing: harmless).

Nothing here counts a prospect accepted: that happens in ``StateStore.record_accepted_many`` in the same
transaction that forgets the chunk.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bulk_imports (
    chunk_id INTEGER PRIMARY KEY AUTOINCREMENT,
    import_id INTEGER,               -- NULL until Outreach accepted the request
    items BLOB NOT NULL,             -- JSON [[prospect_id, {field: value}], ...]: what the import carries
    created_at TEXT NOT NULL
);
"""

Items = list[tuple[int, dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class JournalEntry:
    chunk_id: int
    import_id: int | None
    items: Items


class ImportJournal:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        db.executescript(_SCHEMA)

    def add(self, items: Items) -> int:
        """Record a chunk about to be sent; its journal id."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        cursor = self._db.execute("INSERT INTO bulk_imports (items, created_at) VALUES (?, ?)",
                                  (orjson.dumps(items), now))
        return int(cursor.lastrowid or 0)

    def accepted(self, chunk_id: int, import_id: int) -> None:
        """Outreach accepted the chunk as import ``import_id``: from now on it is polled, never resent."""
        self._db.execute("UPDATE bulk_imports SET import_id = ? WHERE chunk_id = ?", (import_id, chunk_id))

    def forget(self, chunk_id: int) -> None:
        self._db.execute("DELETE FROM bulk_imports WHERE chunk_id = ?", (chunk_id,))

    def forgetting(self, chunk_id: int) -> Callable[[sqlite3.Connection], None]:
        """``forget`` inside another transaction (``StateStore.record_accepted_many``'s)."""
        def forget(db: sqlite3.Connection) -> None:
            db.execute("DELETE FROM bulk_imports WHERE chunk_id = ?", (chunk_id,))

        return forget

    def entries(self) -> list[JournalEntry]:
        """Every chunk still open, oldest first."""
        rows = self._db.execute("SELECT chunk_id, import_id, items FROM bulk_imports ORDER BY chunk_id")
        return [JournalEntry(chunk_id, import_id, [(int(pid), values) for pid, values in orjson.loads(items)])
                for chunk_id, import_id, items in rows]

    def drop_unaccepted(self) -> int:
        """Forget the chunks no answer confirmed (their prospects are diffed and sent again); how many."""
        return self._db.execute("DELETE FROM bulk_imports WHERE import_id IS NULL").rowcount
