"""The state store: per destination profile, what Outreach last accepted, the runs, and dead letters.

One SQLite file per destination (WAL journal). Every accepted prospect is committed in its own small
transaction, so a process killed at any moment loses nothing Outreach accepted, except the at most
``concurrency`` answers that were in flight: those prospects are simply sent again next run (a PATCH is
safe to repeat).

Values are stored per prospect as one JSON object ``{field: value}`` (the last accepted value of each
field); comparing canonical JSON bytes keeps ``1`` and ``true`` and ``"1"`` distinct.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.state_file import read_only_uri, refuse_if_not_ours
from outreach_tui.filelock import try_lock, unlock
from outreach_tui.locations import data_dir
from outreach_tui.profile import Profile

_LOOKUP_CHUNK = 500  # prospect ids per SELECT ... IN (...)

_SCHEMA = """
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


def default_state_path(profile: Profile) -> Path:
    """``<data dir>/state/<destination>-<hash>.sqlite3``: one file per destination (name + API base)."""
    key = f"{profile.outreach.api_base}\n{profile.destination.name}".encode()
    slug = re.sub(r"[^a-z0-9]+", "-", profile.destination.name.lower()).strip("-")[:40] or "destination"
    return data_dir() / "state" / f"{slug}-{hashlib.sha256(key).hexdigest()[:10]}.sqlite3"


def state_path_for(profile: Profile, override: Path | None = None) -> Path:
    """``--state`` wins, then ``[export] state_path`` (relative to the profile file), then the default."""
    if override is not None:
        return override
    if profile.export.state_path:
        configured = Path(os.path.expanduser(profile.export.state_path))
        if not configured.is_absolute() and profile.path is not None:
            configured = profile.path.parent / configured
        return configured
    return default_state_path(profile)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _canonical(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


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


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs twice as much, once per prospect
class Change:
    """What to send for one prospect after the diff: ``attributes`` is empty when nothing changed."""

    prospect_id: int
    attributes: dict[str, Any]
    previous: dict[str, Any] | None = None  # the stored values (None: never accepted)
    retry_of_dead_letter: bool = False


def _lock_for_writing(path: Path) -> int:
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
        os.write(descriptor, f"process {os.getpid()}, started {_now()}".encode())
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


def _unlock(descriptor: int) -> None:
    unlock(descriptor)
    os.close(descriptor)


class StateStore:
    """Open with ``StateStore.open(path)`` (read-write) or ``StateStore.open(path, read_only=True)``.

    A read-only store over a missing file is empty (a dry run never creates state)."""

    def __init__(self, path: Path, connection: sqlite3.Connection | None, lock: int | None = None) -> None:
        self.path = path
        self._db = connection
        self._lock = lock  # the open lock file of a read-write store
        self._dead: set[int] = self._load_dead_letters()
        self.run_id: int | None = None

    @classmethod
    def open(cls, path: Path, read_only: bool = False) -> StateStore:
        refuse_if_not_ours(path, StateError)  # before anything is written: a file that is not ours stays untouched
        try:
            if read_only:
                if not path.exists():
                    return cls(path, None)
                connection = sqlite3.connect(read_only_uri(path), uri=True, isolation_level=None)
                return cls(path, connection)
            path.parent.mkdir(parents=True, exist_ok=True)
            lock = _lock_for_writing(path)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"{path}: cannot open the export state ({exc}); check the path and permissions, "
                             "or pass --state FILE") from None
        try:
            connection = sqlite3.connect(path, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across a process kill
            connection.execute("PRAGMA busy_timeout=5000")
            connection.executescript(_SCHEMA)
            _add_fidelity_tables(connection)
            return cls(path, connection, lock)
        except (sqlite3.Error, OSError) as exc:
            _unlock(lock)
            raise StateError(f"{path}: cannot open the export state ({exc}); check the path and permissions, "
                             "or pass --state FILE") from None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            _unlock(self._lock)
            self._lock = None

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ----- reading ---------------------------------------------------------------------------------

    def _load_dead_letters(self) -> set[int]:
        if self._db is None:
            return set()
        try:
            return {row[0] for row in self._db.execute("SELECT prospect_id FROM dead_letters")}
        except sqlite3.Error:
            return set()  # a read-only view of a file created by an older version

    @property
    def dead_letters(self) -> set[int]:
        return set(self._dead)

    def last_accepted(self, prospect_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The last accepted values of each known prospect among ``prospect_ids``."""
        if self._db is None:
            return {}
        ids = list(prospect_ids)
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start:start + _LOOKUP_CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT prospect_id, fields FROM accepted WHERE prospect_id IN ({marks})"
            for prospect_id, fields in self._db.execute(query, chunk):
                found[prospect_id] = orjson.loads(fields)
        return found

    def diff(self, planned: Iterable[tuple[int, dict[str, Any]]],
             full_resync: bool = False) -> Iterator[Change]:
        """For each (prospect id, planned attributes): the fields that differ from the last accepted values.

        Dead-lettered prospects get their full planned values (they failed last time); ``full_resync``
        ignores the state. Works in chunks so a million prospects cost a few thousand SELECTs. (The runner
        does not diff at all when ``nothing_accepted()``: every planned value is then a change.)"""
        batch: list[tuple[int, dict[str, Any]]] = []
        for item in planned:
            batch.append(item)
            if len(batch) >= _LOOKUP_CHUNK:
                yield from self._diff_batch(batch, full_resync)
                batch = []
        if batch:
            yield from self._diff_batch(batch, full_resync)

    def nothing_accepted(self) -> bool:
        """No prospect was ever accepted (a first run, or a dry run before it): every planned value is new."""
        return self._db is None or self._db.execute("SELECT 1 FROM accepted LIMIT 1").fetchone() is None

    def _diff_batch(self, batch: list[tuple[int, dict[str, Any]]], full_resync: bool) -> Iterator[Change]:
        known = self.last_accepted(prospect_id for prospect_id, _ in batch)
        for prospect_id, attributes in batch:
            dead = prospect_id in self._dead
            last = known.get(prospect_id)
            if last is None or dead or full_resync:
                yield Change(prospect_id, dict(attributes), last, dead)
                continue
            changed = {name: value for name, value in attributes.items()
                       if name not in last or _canonical(last[name]) != _canonical(value)}
            yield Change(prospect_id, changed, last)

    # ----- writing ---------------------------------------------------------------------------------

    def _writable(self) -> sqlite3.Connection:
        if self._db is None:
            raise StateError(f"{self.path}: the export state is not open for writing")
        return self._db

    def record_accepted(self, prospect_id: int, sent: dict[str, Any],
                        previous: dict[str, Any] | None) -> None:
        """Outreach accepted ``sent``: merge into the stored values and clear any dead letter, atomically.

        ``previous`` is the stored values from the diff (None: none were stored)."""
        db = self._writable()
        fields = _canonical({**(previous or {}), **sent})
        now = _now()
        if prospect_id in self._dead:
            db.execute("BEGIN IMMEDIATE")
            try:
                self._upsert(db, prospect_id, fields, now)
                db.execute("DELETE FROM dead_letters WHERE prospect_id = ?", (prospect_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._dead.discard(prospect_id)
        else:
            self._upsert(db, prospect_id, fields, now)  # one statement: its own transaction

    def _upsert(self, db: sqlite3.Connection, prospect_id: int, fields: bytes, now: str) -> None:
        db.execute(
            "INSERT INTO accepted (prospect_id, fields, run_id, accepted_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(prospect_id) DO UPDATE SET fields = excluded.fields, run_id = excluded.run_id, "
            "accepted_at = excluded.accepted_at",
            (prospect_id, fields, self.run_id, now),
        )

    # ----- bulk imports (export/bulk_journal.py keeps its journal table in this file) -------------------

    def connection(self) -> sqlite3.Connection:
        """The writable connection, for the import journal's own table (one file, one transaction)."""
        return self._writable()

    def record_accepted_many(self, sent: list[tuple[int, dict[str, Any]]],
                             also: Callable[[sqlite3.Connection], None] | None = None) -> None:
        """Outreach applied a finished import: merge each prospect's sent values into its stored ones and clear
        its dead letter, with ``also`` (the journal forgetting the import) in the same transaction."""
        db = self._writable()
        now = _now()
        db.execute("BEGIN IMMEDIATE")
        try:
            stored = self.last_accepted(prospect_id for prospect_id, _ in sent)
            db.executemany(
                "INSERT INTO accepted (prospect_id, fields, run_id, accepted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(prospect_id) DO UPDATE SET fields = excluded.fields, run_id = excluded.run_id, "
                "accepted_at = excluded.accepted_at",
                [(pid, _canonical({**stored.get(pid, {}), **values}), self.run_id, now) for pid, values in sent])
            dead = [(pid,) for pid, _ in sent if pid in self._dead]
            db.executemany("DELETE FROM dead_letters WHERE prospect_id = ?", dead)
            if also is not None:
                also(db)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._dead.difference_update(pid for (pid,) in dead)

    def record_failed(self, diagnostic: Diagnostic, attempted: dict[str, Any] | None = None) -> None:
        """Put the prospect on the dead-letter list: the next run sends its full planned values. ``attempted``
        (the values this run wanted to write) is kept, so the next run retries them even when its input
        does not carry the prospect (``dead_letter_values``)."""
        self._writable().execute(
            "INSERT OR REPLACE INTO dead_letters (prospect_id, run_id, status, error_id, detail, field, "
            "failed_at, attempted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (diagnostic.prospect_id, self.run_id, diagnostic.status, diagnostic.error_id, diagnostic.detail,
             diagnostic.field, _now(), _canonical(attempted) if attempted else None),
        )
        self._dead.add(diagnostic.prospect_id)

    # ----- list values this destination added (export/lists.py) --------------------------------------

    def written_list_values(self, prospect_ids: Iterable[int]) -> dict[int, dict[str, list[Any]]]:
        """prospect id -> {list field: the values this destination added and Outreach accepted}."""
        if self._db is None:
            return {}
        ids = list(prospect_ids)
        found: dict[int, dict[str, list[Any]]] = {}
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start:start + _LOOKUP_CHUNK]
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
            [(prospect_id, field, _canonical(values)) for field, values in written.items()])

    # ----- dead letters carried over (a run whose input lacks them) ------------------------------------

    def dead_letter_values(self, prospect_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The values stored with the dead letters among ``prospect_ids`` (those stored without any, after a
        local failure or by an older version, are absent: there is nothing to retry)."""
        if self._db is None:
            return {}
        ids = list(prospect_ids)
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(ids), _LOOKUP_CHUNK):
            chunk = ids[start:start + _LOOKUP_CHUNK]
            query = (f"SELECT prospect_id, attempted FROM dead_letters WHERE attempted IS NOT NULL "
                     f"AND prospect_id IN ({','.join('?' * len(chunk))})")
            try:
                rows = self._db.execute(query, chunk).fetchall()
            except sqlite3.OperationalError:  # a read-only view of a file written before the column existed
                return {}
            for prospect_id, attempted in rows:
                found[prospect_id] = orjson.loads(attempted)
        return found

    def start_run(self, started_at: str, dry_run: bool, full_resync: bool) -> int:
        cursor = self._writable().execute(
            "INSERT INTO runs (started_at, dry_run, full_resync) VALUES (?, ?, ?)",
            (started_at, int(dry_run), int(full_resync)),
        )
        self.run_id = int(cursor.lastrowid or 0)
        return self.run_id

    def finish_run(self, finished_at: str, exit_code: int, report: dict[str, Any]) -> None:
        if self.run_id is None:
            return
        self._writable().execute(
            "UPDATE runs SET finished_at = ?, exit_code = ?, report = ? WHERE id = ?",
            (finished_at, exit_code, orjson.dumps(report), self.run_id),
        )

    def runs(self) -> list[dict[str, Any]]:
        """Past runs, newest first (for the TUI's history and for tests)."""
        if self._db is None:
            return []
        rows = self._db.execute(
            "SELECT id, started_at, finished_at, dry_run, full_resync, exit_code FROM runs ORDER BY id DESC")
        keys = ("id", "started_at", "finished_at", "dry_run", "full_resync", "exit_code")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def accepted_count(self) -> int:
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT COUNT(*) FROM accepted").fetchone()[0])

    # ----- fields the profile no longer maps (used by export/cleanup.py) ---------------------------------

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
            db.execute("UPDATE accepted SET fields = ? WHERE prospect_id = ?", (_canonical(stored), prospect_id))
        else:
            db.execute("DELETE FROM accepted WHERE prospect_id = ?", (prospect_id,))
    # ----- email matches (the cache of export/email_match.py) ---------------------------------------------

    def email_matches(self, emails: Iterable[str]) -> dict[str, tuple[list[int], float]]:
        """Cached answers for ``emails`` (lowercase): the prospect ids holding each, and when it was asked."""
        if self._db is None:
            return {}
        wanted = list(emails)
        found: dict[str, tuple[list[int], float]] = {}
        try:
            for start in range(0, len(wanted), _LOOKUP_CHUNK):
                chunk = wanted[start:start + _LOOKUP_CHUNK]
                query = ("SELECT email, candidates, looked_up_at FROM email_matches "
                         f"WHERE email IN ({','.join('?' * len(chunk))})")
                for email, candidates, at in self._db.execute(query, chunk):
                    found[email] = ([int(i) for i in candidates.split(",") if i], float(at))
        except sqlite3.Error:
            return {}  # a read-only view of a file created by an older version: nothing cached
        return found

    def record_email_matches(self, answers: Iterable[tuple[str, list[int]]], looked_up_at: float) -> None:
        """Cache what a lookup answered (one transaction for the batch)."""
        rows = [(email, ids[0] if len(ids) == 1 else None, ",".join(map(str, ids)), looked_up_at)
                for email, ids in answers]
        db = self._writable()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT OR REPLACE INTO email_matches (email, prospect_id, candidates, looked_up_at) "
                           "VALUES (?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def forget_email_matches(self, prospect_id: int) -> int:
        """Drop the emails cached as this prospect's (it answered 404): the next run looks them up again."""
        cursor = self._writable().execute("DELETE FROM email_matches WHERE prospect_id = ?", (prospect_id,))
        return cursor.rowcount
