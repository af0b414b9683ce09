"""The state file's tables, and what every group of state methods shares: the base class holding the
connection, the canonical JSON encoding, the timestamp format and the error type."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

LOOKUP_CHUNK = 500  # prospect ids per SELECT ... IN (...)

SCHEMA = """
CREATE TABLE IF NOT EXISTS accepted (
    prospect_id INTEGER PRIMARY KEY,
    fields BLOB NOT NULL,            -- JSON object: field -> value last accepted by Outreach
    run_id INTEGER,
    accepted_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    dry_run INTEGER NOT NULL,
    full_resync INTEGER NOT NULL,
    exit_code INTEGER,
    report BLOB                      -- the JSON report, without secrets
);
CREATE TABLE IF NOT EXISTS dead_letters (
    prospect_id INTEGER PRIMARY KEY,
    run_id INTEGER,
    status INTEGER,
    error_id TEXT NOT NULL,
    detail TEXT NOT NULL,
    field TEXT,
    failed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS field_writers (
    field TEXT PRIMARY KEY,          -- a prospect attribute this destination writes
    kind TEXT NOT NULL,              -- "segment" or "row": what in the profile wrote it
    name TEXT NOT NULL               -- the segment id, or the mapping row's source path
);
CREATE TABLE IF NOT EXISTS email_matches (  -- matching by email (export/email_match.py)
    email TEXT PRIMARY KEY,          -- lowercase
    prospect_id INTEGER,             -- the one prospect holding it; NULL: none, or several
    candidates TEXT NOT NULL,        -- every prospect id holding it, comma-separated ('' for none)
    looked_up_at REAL NOT NULL       -- epoch seconds
);
CREATE INDEX IF NOT EXISTS email_matches_by_prospect ON email_matches (prospect_id);
"""


def timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def create_tables(connection: sqlite3.Connection) -> None:
    """The schema, plus what files made by older versions lack."""
    connection.executescript(SCHEMA)
    _add_fidelity_tables(connection)


def _add_fidelity_tables(connection: sqlite3.Connection) -> None:
    """Dead letters keep the values they tried to write (files made before that gain the column), and
    ``list_values`` holds, per prospect and list field, the values this destination added itself."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(dead_letters)")}
    if "attempted" not in columns:
        connection.execute("ALTER TABLE dead_letters ADD COLUMN attempted BLOB")  # a JSON object, or NULL
    connection.execute("CREATE TABLE IF NOT EXISTS list_values (prospect_id INTEGER NOT NULL, field TEXT NOT NULL, "
                       "written BLOB NOT NULL, PRIMARY KEY (prospect_id, field))")  # JSON list


class StateError(Exception):
    """The state file cannot be opened or written. The message names the file and what to do."""


class StateTables:
    """What the groups of state methods (``state_*.py``) share: the open connection (None: a read-only view
    of a missing file), the dead-letter ids, and the current run."""

    path: Path
    _db: sqlite3.Connection | None
    _dead: set[int]
    run_id: int | None

    def _select_in(self, query: str, keys: Iterable[Any]) -> Iterator[Any]:
        """The rows of ``query`` (its ``IN ({marks})`` filled) for ``keys``, ``LOOKUP_CHUNK`` keys per SELECT, so
        a million prospects cost a few thousand SELECTs. Only on an open store."""
        assert self._db is not None
        wanted = list(keys)
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start:start + LOOKUP_CHUNK]
            yield from self._db.execute(query.format(marks=",".join("?" * len(chunk))), chunk).fetchall()

    def _writable(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError(f"{self.path}: the export state is not open for writing")
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write: what runs inside is committed together, or rolled back on any exception."""
        db = self._writable()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
