"""State methods for fields the profile no longer maps (used by export/cleanup.py): which part of the profile
wrote each field, and the stored values holding fields to clear."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from outreach_tui.export.state_schema import StateTables, canonical


class FieldCleanupTables(StateTables):
    def field_writers(self) -> dict[str, tuple[str, str]]:
        """field -> (kind, name) of what in the profile wrote it, as of the last run that wrote."""
        if self._db is None:
            return {}
        try:
            return {field: (kind, name) for field, kind, name in
                    self._db.execute("SELECT field, kind, name FROM field_writers")}
        except sqlite3.Error:  # a read-only view of a file created by an older version
            return {}

    def record_field_writers(self, writers: dict[str, tuple[str, str]]) -> None:
        self._writable().executemany("INSERT OR REPLACE INTO field_writers (field, kind, name) VALUES (?, ?, ?)",
                                     [(field, kind, name) for field, (kind, name) in writers.items()])

    def accepted_fields_except(self, mapped: Iterable[str]) -> dict[str, int]:
        """Fields held in the state that are not in ``mapped``: field -> prospects holding it (one scan in
        SQLite, nothing loaded per prospect)."""
        if self._db is None:
            return {}
        keep = sorted(set(mapped))
        marks = ",".join("?" * len(keep))
        query = ("SELECT j.key, COUNT(*) FROM accepted, json_each(CAST(accepted.fields AS TEXT)) AS j "
                 + (f"WHERE j.key NOT IN ({marks}) " if keep else "") + "GROUP BY j.key ORDER BY j.key")
        return {field: int(count) for field, count in self._db.execute(query, keep)}

    def accepted_holding(self, fields: Iterable[str], after: int, limit: int) -> list[tuple[int, dict[str, Any]]]:
        """Up to ``limit`` prospects with id > ``after`` holding any of ``fields``: (id, stored values), by id."""
        if self._db is None:
            return []
        wanted = sorted(set(fields))
        marks = ",".join("?" * len(wanted))
        query = ("SELECT prospect_id, fields FROM accepted WHERE prospect_id > ? AND EXISTS (SELECT 1 FROM "
                 f"json_each(CAST(accepted.fields AS TEXT)) WHERE key IN ({marks})) ORDER BY prospect_id LIMIT ?")
        return [(prospect_id, orjson.loads(stored))
                for prospect_id, stored in self._db.execute(query, (after, *wanted, limit))]

    def forget_fields_many(self, forget: Iterable[tuple[int, Iterable[str]]]) -> None:
        """``forget_fields`` for many prospects, in one transaction."""
        with self._transaction():
            for prospect_id, fields in forget:
                self.forget_fields(prospect_id, fields)

    def forget_fields(self, prospect_id: int, fields: Iterable[str]) -> None:
        """The state no longer holds ``fields`` for this prospect (cleared, or no longer ours to clear)."""
        db = self._writable()
        row = db.execute("SELECT fields FROM accepted WHERE prospect_id = ?", (prospect_id,)).fetchone()
        if row is None:
            return
        stored = orjson.loads(row[0])
        for name in fields:
            stored.pop(name, None)
        if stored:
            db.execute("UPDATE accepted SET fields = ? WHERE prospect_id = ?", (canonical(stored), prospect_id))
        else:
            db.execute("DELETE FROM accepted WHERE prospect_id = ?", (prospect_id,))
