"""The state store: per destination profile, what Outreach last accepted, the runs, and dead letters.

One SQLite file per destination (WAL journal). Every accepted prospect is committed in its own small
transaction, so a process killed at any moment loses nothing Outreach accepted, except the at most
``concurrency`` answers that were in flight: those prospects are simply sent again next run (a PATCH is
safe to repeat).

Values are stored per prospect as one JSON object ``{field: value}`` (the last accepted value of each
field); comparing canonical JSON bytes keeps ``1`` and ``true`` and ``"1"`` distinct.

``StateStore`` is the one entry: the tables and what they share are in ``state_schema.py``, the writer lock in
``state_lock.py``, and the tables of single features are mixed in from ``state_cleanup.py`` (fields the
profile no longer maps), ``state_email.py`` (the email-match cache) and ``state_lists.py`` (list values).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.state_cleanup import FieldCleanupTables
from outreach_tui.export.state_email import EmailMatchTables
from outreach_tui.export.state_file import read_only_uri, refuse_if_not_ours
from outreach_tui.export.state_lists import ListValueTables
from outreach_tui.export.state_lock import lock_for_writing, release
from outreach_tui.export.state_schema import LOOKUP_CHUNK, StateError, canonical, create_tables, timestamp
from outreach_tui.locations import data_dir
from outreach_tui.profile import Profile

__all__ = ["Change", "StateError", "StateStore", "default_state_path", "state_path_for"]


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


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs twice as much, once per prospect
class Change:
    """What to send for one prospect after the diff: ``attributes`` is empty when nothing changed."""

    prospect_id: int
    attributes: dict[str, Any]
    previous: dict[str, Any] | None = None  # the stored values (None: never accepted)
    retry_of_dead_letter: bool = False


class StateStore(FieldCleanupTables, EmailMatchTables, ListValueTables):
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
            lock = lock_for_writing(path)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"{path}: cannot open the export state ({exc}); check the path and permissions, "
                             "or pass --state FILE") from None
        try:
            connection = sqlite3.connect(path, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # with WAL: durable across a process kill
            connection.execute("PRAGMA busy_timeout=5000")
            create_tables(connection)
            return cls(path, connection, lock)
        except (sqlite3.Error, OSError) as exc:
            release(lock)
            raise StateError(f"{path}: cannot open the export state ({exc}); check the path and permissions, "
                             "or pass --state FILE") from None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._lock is not None:
            release(self._lock)
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
        query = "SELECT prospect_id, fields FROM accepted WHERE prospect_id IN ({marks})"
        return {prospect_id: orjson.loads(fields) for prospect_id, fields in self._select_in(query, prospect_ids)}

    def diff(self, planned: Iterable[tuple[int, dict[str, Any]]],
             full_resync: bool = False) -> Iterator[Change]:
        """For each (prospect id, planned attributes): the fields that differ from the last accepted values.

        Dead-lettered prospects get their full planned values (they failed last time); ``full_resync``
        ignores the state. Works in chunks so a million prospects cost a few thousand SELECTs. (The runner
        does not diff at all when ``nothing_accepted()``: every planned value is then a change.)"""
        batch: list[tuple[int, dict[str, Any]]] = []
        for item in planned:
            batch.append(item)
            if len(batch) >= LOOKUP_CHUNK:
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
                       if name not in last or canonical(last[name]) != canonical(value)}
            yield Change(prospect_id, changed, last)

    # ----- writing ---------------------------------------------------------------------------------

    def record_accepted(self, prospect_id: int, sent: dict[str, Any],
                        previous: dict[str, Any] | None) -> None:
        """Outreach accepted ``sent``: merge into the stored values and clear any dead letter, atomically.

        ``previous`` is the stored values from the diff (None: none were stored)."""
        fields = canonical({**(previous or {}), **sent})
        now = timestamp()
        if prospect_id in self._dead:
            with self._transaction() as db:
                self._upsert(db, prospect_id, fields, now)
                db.execute("DELETE FROM dead_letters WHERE prospect_id = ?", (prospect_id,))
            self._dead.discard(prospect_id)
        else:
            self._upsert(self._writable(), prospect_id, fields, now)  # one statement: its own transaction

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
        now = timestamp()
        with self._transaction() as db:
            stored = self.last_accepted(prospect_id for prospect_id, _ in sent)
            db.executemany(
                "INSERT INTO accepted (prospect_id, fields, run_id, accepted_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(prospect_id) DO UPDATE SET fields = excluded.fields, run_id = excluded.run_id, "
                "accepted_at = excluded.accepted_at",
                [(pid, canonical({**stored.get(pid, {}), **values}), self.run_id, now) for pid, values in sent])
            dead = [(pid,) for pid, _ in sent if pid in self._dead]
            db.executemany("DELETE FROM dead_letters WHERE prospect_id = ?", dead)
            if also is not None:
                also(db)
        self._dead.difference_update(pid for (pid,) in dead)

    def record_failed(self, diagnostic: Diagnostic, attempted: dict[str, Any] | None = None) -> None:
        """Put the prospect on the dead-letter list: the next run sends its full planned values. ``attempted``
        (the values this run wanted to write) is kept, so the next run retries them even when its input
        does not carry the prospect (``dead_letter_values``)."""
        self._writable().execute(
            "INSERT OR REPLACE INTO dead_letters (prospect_id, run_id, status, error_id, detail, field, "
            "failed_at, attempted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (diagnostic.prospect_id, self.run_id, diagnostic.status, diagnostic.error_id, diagnostic.detail,
             diagnostic.field, timestamp(), canonical(attempted) if attempted else None),
        )
        self._dead.add(diagnostic.prospect_id)

    def forget_dead_letter(self, prospect_id: int) -> None:
        """Nothing is left to retry for this prospect (its values belong to another one now)."""
        self._writable().execute("DELETE FROM dead_letters WHERE prospect_id = ?", (prospect_id,))
        self._dead.discard(prospect_id)

    # ----- dead letters carried over (a run whose input lacks them) ------------------------------------

    def dead_letter_values(self, prospect_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The values stored with the dead letters among ``prospect_ids`` (those stored without any, after a
        local failure or by an older version, are absent: there is nothing to retry)."""
        if self._db is None:
            return {}
        query = ("SELECT prospect_id, attempted FROM dead_letters WHERE attempted IS NOT NULL "
                 "AND prospect_id IN ({marks})")
        try:
            return {prospect_id: orjson.loads(stored) for prospect_id, stored in self._select_in(query, prospect_ids)}
        except sqlite3.OperationalError:  # a read-only view of a file written before the column existed
            return {}

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

