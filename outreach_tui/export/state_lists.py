"""State methods for list attributes (export/lists.py): the values this destination added to each list
field, so that only those are ever removed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from outreach_tui.export.state_schema import LOOKUP_CHUNK, StateTables, canonical


class ListValueTables(StateTables):
    def written_list_values(self, prospect_ids: Iterable[int]) -> dict[int, dict[str, list[Any]]]:
        """prospect id -> {list field: the values this destination added and Outreach accepted}."""
        if self._db is None:
            return {}
        ids = list(prospect_ids)
        found: dict[int, dict[str, list[Any]]] = {}
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start:start + LOOKUP_CHUNK]
            query = (f"SELECT prospect_id, field, written FROM list_values "
                     f"WHERE prospect_id IN ({','.join('?' * len(chunk))})")
            try:
                rows = self._db.execute(query, chunk).fetchall()
            except sqlite3.OperationalError:  # a read-only view of a file written before the table existed
                return {}
            for prospect_id, field, written in rows:
                found.setdefault(prospect_id, {})[field] = orjson.loads(written)
        return found

    def record_written_lists(self, prospect_id: int, written: dict[str, list[Any]]) -> None:
        """Outreach accepted lists holding ``written``: the values this destination now owns per field."""
        self._writable().executemany(
            "INSERT OR REPLACE INTO list_values (prospect_id, field, written) VALUES (?, ?, ?)",
            [(prospect_id, field, canonical(values)) for field, values in written.items()])
