"""State methods for list attributes (export/lists.py): the values this destination added to each list
field, so that only those are ever removed."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import orjson

from outreach_tui.export.state_schema import StateTables, canonical


class ListValueTables(StateTables):
    def written_list_values(self, prospect_ids: Iterable[int]) -> dict[int, dict[str, list[Any]]]:
        """prospect id -> {list field: the values this destination added and Outreach accepted}."""
        if self._db is None:
            return {}
        found: dict[int, dict[str, list[Any]]] = {}
        try:
            for prospect_id, field, written in self._select_in(
                    "SELECT prospect_id, field, written FROM list_values WHERE prospect_id IN ({marks})", prospect_ids):
                found.setdefault(prospect_id, {})[field] = orjson.loads(written)
        except sqlite3.OperationalError:  # a read-only view of a file written before the table existed
            return {}
        return found

    def record_written_lists(self, prospect_id: int, written: dict[str, list[Any]]) -> None:
        """Outreach accepted lists holding ``written``: the values this destination now owns per field."""
        self._writable().executemany(
            "INSERT OR REPLACE INTO list_values (prospect_id, field, written) VALUES (?, ?, ?)",
            [(prospect_id, field, canonical(values)) for field, values in written.items()])
