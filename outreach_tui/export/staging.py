"""Staging: each prospect's values merged over the records that target it, in first-seen order.

One mechanism, one merge rule (``merge``). Up to ``spill_after`` prospects the merged values live in a dict;
past it every update is appended to a temporary log file, a batch at a time (one pickle per batch: cheap),
and only the prospect ids stay in memory. Reading back, when no prospect was updated twice, the log's order
is already first-seen order and it is read as written. Otherwise the log is loaded into a temporary SQLite
table and each prospect's updates are folded with ``merge`` in input order, prospects in the order they were
first seen: the same fold as the dict's, so every path gives the same prospects in the same order. Memory
holds a batch of updates and a set of ids (about 64 bytes a prospect), not the input.
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
from typing import IO, Any

SPILL_AFTER = 50_000  # prospects merged in memory before staging moves to disk
WRITE_BATCH = 1_000  # updates written to the log (or to SQLite) at a time


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
        # pickle: only this process writes and reads the log, and it keeps Failures and big integers exact
        self._log: IO[bytes] | None = None  # batches of (prospect id, staged) in input order
        self._logged_ids: set[int] = set()
        self._logged = 0  # updates in the log
        self._batch: list[tuple[int, Staged]] = []
        self._db_path: str | None = None

    def add(self, prospect_id: int, staged: Staged) -> None:
        if self._log is not None:
            self._batch.append((prospect_id, staged))
            self._logged_ids.add(prospect_id)
            if len(self._batch) >= WRITE_BATCH:
                self._write_batch()
            return
        earlier = self._memory.get(prospect_id)
        self._memory[prospect_id] = staged if earlier is None else merge(earlier, staged)
        if len(self._memory) > self._spill_after:
            self._spill()

    def __len__(self) -> int:
        """Distinct prospects so far."""
        return len(self._memory) if self._log is None else len(self._logged_ids)

    def items(self) -> Iterator[tuple[int, Staged]]:
        """Every prospect once, merged, in the order first seen."""
        if self._log is None:
            yield from self._memory.items()
            return
        self._write_batch()
        if len(self._logged_ids) == self._logged:  # no prospect was updated twice: log order is first-seen order
            for batch in self._read_log():
                yield from batch
        else:
            yield from self._folded()

    def close(self) -> None:
        """Free the memory and remove the spill files."""
        self._memory = {}
        self._batch.clear()
        self._logged_ids = set()
        if self._log is not None:
            self._log.close()  # a temporary file: closing removes it
            self._log = None
        if self._db_path is not None:
            with suppress(FileNotFoundError):
                os.unlink(self._db_path)
            self._db_path = None

    def _spill(self) -> None:
        self._log = tempfile.TemporaryFile(prefix="outreach-tui-plan-", dir=self._spill_dir)  # noqa: SIM115 (close())
        memory, self._memory = self._memory, {}
        for prospect_id, staged in memory.items():
            self.add(prospect_id, staged)

    def _write_batch(self) -> None:
        if self._log is None or not self._batch:
            return
        pickle.dump(self._batch, self._log, pickle.HIGHEST_PROTOCOL)
        self._logged += len(self._batch)
        self._batch = []

    def _read_log(self) -> Iterator[list[tuple[int, Staged]]]:
        """The log's batches in the order written."""
        log = self._log
        assert log is not None
        log.seek(0)
        try:
            while True:
                try:
                    yield pickle.load(log)
                except EOFError:
                    return
        finally:
            log.seek(0, os.SEEK_END)  # where the next batch would be written

    def _folded(self) -> Iterator[tuple[int, Staged]]:
        """Some prospect was updated twice: group the log's updates by prospect in SQLite, fold each group."""
        handle, self._db_path = tempfile.mkstemp(prefix="outreach-tui-plan-", suffix=".db", dir=self._spill_dir)
        os.close(handle)
        db = sqlite3.connect(self._db_path)
        try:
            db.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-32000;"
                "CREATE TABLE updates (id INTEGER NOT NULL, staged BLOB NOT NULL);"  # rowid: input order
            )
            for batch in self._read_log():
                db.executemany("INSERT INTO updates (id, staged) VALUES (?, ?)",
                               [(prospect_id, pickle.dumps(staged, pickle.HIGHEST_PROTOCOL))
                                for prospect_id, staged in batch])
            db.executescript(
                "CREATE INDEX updates_by_prospect ON updates (id);"
                "CREATE TABLE prospects (seq INTEGER PRIMARY KEY, id INTEGER NOT NULL);"  # first-seen order
                "INSERT INTO prospects (id) SELECT id FROM updates GROUP BY id ORDER BY min(rowid);"
            )
            rows = db.execute("SELECT p.id, u.staged FROM prospects AS p JOIN updates AS u ON u.id = p.id "
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
        finally:
            db.close()
            with suppress(FileNotFoundError):
                os.unlink(self._db_path)
            self._db_path = None
