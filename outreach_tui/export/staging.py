"""Staging: each prospect's values merged over the records that target it, in first-seen order.

One mechanism, one merge rule (``merge``). Up to ``spill_after`` prospects the merged values live in a dict;
past it every update is appended to a temporary SQLite table (cheap), and reading back folds each prospect's
updates with ``merge`` in input order, prospects in the order they were first seen: the same fold as the
dict's, so both give the same prospects in the same order. Memory then holds a batch of updates, not the input.
"""

from __future__ import annotations

import os
import pickle
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPILL_AFTER = 50_000  # prospects merged in memory before staging moves to disk
WRITE_BATCH = 1_000  # updates written to the spill file at a time


@dataclass(frozen=True, slots=True)
class Failure:
    """A value that cannot be sent: why. Stands in place of the value, so a later good value replaces it."""

    problem: str


# What one record says about a prospect: one slot per target the profile writes, in profile order (mapping
# rows, then segments). A slot holds a converted value (for a segment: its status), a Failure, or None when
# the record says nothing about that target.
Staged = tuple[Any, ...]


def merge(earlier: Staged, later: Staged) -> Staged:
    """The merge rule: per target, the later record wins unless it says nothing (None)."""
    return tuple([old if new is None else new for old, new in zip(earlier, later, strict=True)])


class Staging:
    """Add updates in input order, then read each prospect once, merged, in the order first seen."""

    def __init__(self, spill_dir: Path | None = None, spill_after: int = SPILL_AFTER) -> None:
        self._spill_dir = spill_dir
        self._spill_after = spill_after
        self._memory: dict[int, Staged] = {}
        self._db: sqlite3.Connection | None = None
        self._db_path: str | None = None
        self._batch: list[tuple[int, bytes]] = []

    def add(self, prospect_id: int, staged: Staged) -> None:
        if self._db is not None:
            # pickle: only this process writes and reads the file, and it keeps Failures and big integers exact
            self._batch.append((prospect_id, pickle.dumps(staged, pickle.HIGHEST_PROTOCOL)))
            if len(self._batch) >= WRITE_BATCH:
                self._write_batch()
            return
        earlier = self._memory.get(prospect_id)
        self._memory[prospect_id] = staged if earlier is None else merge(earlier, staged)
        if len(self._memory) > self._spill_after:
            self._spill()

    def __len__(self) -> int:
        """Distinct prospects so far."""
        if self._db is None:
            return len(self._memory)
        self._write_batch()
        self._db.execute("CREATE INDEX IF NOT EXISTS updates_by_prospect ON updates (id)")
        return int(self._db.execute("SELECT count(DISTINCT id) FROM updates").fetchone()[0])

    def items(self) -> Iterator[tuple[int, Staged]]:
        """Every prospect once, merged, in the order first seen."""
        if self._db is None:
            yield from self._memory.items()
            return
        updates = int(self._db.execute("SELECT count(*) FROM updates").fetchone()[0])
        if len(self) == updates:  # no prospect was updated twice: input order is first-seen order
            rows = self._db.execute("SELECT id, staged FROM updates ORDER BY rowid")
        else:
            self._db.executescript(
                "DROP TABLE IF EXISTS prospects;"
                "CREATE TABLE prospects (seq INTEGER PRIMARY KEY, id INTEGER NOT NULL);"  # first-seen order
                "INSERT INTO prospects (id) SELECT id FROM updates GROUP BY id ORDER BY min(rowid);"
            )
            rows = self._db.execute("SELECT p.id, u.staged FROM prospects AS p JOIN updates AS u ON u.id = p.id "
                                    "ORDER BY p.seq, u.rowid")  # the index on updates (id) gives this order
        current_id, merged = 0, None
        for prospect_id, blob in rows:
            staged = pickle.loads(blob)
            if prospect_id == current_id:
                merged = merge(merged, staged)  # type: ignore[arg-type]
                continue
            if merged is not None:
                yield current_id, merged
            current_id, merged = prospect_id, staged
        if merged is not None:
            yield current_id, merged

    def close(self) -> None:
        """Free the memory and remove the spill file."""
        self._memory = {}
        self._batch.clear()
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._db_path is not None:
            with suppress(FileNotFoundError):
                os.unlink(self._db_path)
            self._db_path = None

    def _spill(self) -> None:
        handle, self._db_path = tempfile.mkstemp(prefix="outreach-tui-plan-", suffix=".db", dir=self._spill_dir)
        os.close(handle)
        self._db = sqlite3.connect(self._db_path)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-32000;"
            "CREATE TABLE updates (id INTEGER NOT NULL, staged BLOB NOT NULL);"  # rowid: input order
        )
        memory, self._memory = self._memory, {}
        for prospect_id, staged in memory.items():
            self.add(prospect_id, staged)

    def _write_batch(self) -> None:
        if self._db is None or not self._batch:
            return
        self._db.executemany("INSERT INTO updates (id, staged) VALUES (?, ?)", self._batch)
        self._batch.clear()
