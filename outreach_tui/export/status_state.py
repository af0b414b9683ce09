"""What the export state says for ``outreach-tui status``: the last run, the dead letters waiting and the fields
pending cleanup. Read only: nothing here writes the state or takes its writer's lock, so ``status`` works while
an export of the same destination is running.

The store's public methods give the runs and the dead-letter ids; the few facts they do not expose (the last
run's report, the dead letters' errors, the fields each prospect holds) come from small read-only queries here,
each of which degrades to "unknown" when the file's tables differ (a newer or older version wrote it).
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from outreach_tui.export.cleanup import find_pending
from outreach_tui.export.state import StateError, StateStore
from outreach_tui.profile import Profile

DEAD_LETTERS_SHOWN = 5  # the first few listed; the count says how many there are


@dataclass(frozen=True)
class LastRun:
    id: int
    started_at: str
    finished_at: str | None  # None: still running, or stopped before it could record its end
    dry_run: bool
    full_resync: bool
    exit_code: int | None
    report: dict[str, Any] | None  # the run's JSON report (counts, failures_total, ...), when recorded

    @property
    def report_path(self) -> str | None:
        """Where the run wrote its report file, when the state recorded it (older runs did not)."""
        value = (self.report or {}).get("report_path")
        return value if isinstance(value, str) and value else None

    def to_json(self) -> dict[str, Any]:
        report = self.report or {}
        return {"id": self.id, "started_at": self.started_at, "finished_at": self.finished_at,
                "dry_run": self.dry_run, "full_resync": self.full_resync, "exit_code": self.exit_code,
                "records": report.get("records"), "prospects": report.get("prospects"),
                "requests": report.get("requests"), "failures_total": report.get("failures_total"),
                "message": report.get("message"), "report_path": self.report_path}


@dataclass(frozen=True)
class DeadLetter:
    prospect_id: int
    status: int | None  # HTTP status of the last failure (None: no answer)
    error_id: str
    detail: str
    field: str | None
    failed_at: str

    def to_json(self) -> dict[str, Any]:
        return {"prospect_id": self.prospect_id, "status": self.status, "error_id": self.error_id,
                "detail": self.detail, "field": self.field, "failed_at": self.failed_at}


@dataclass(frozen=True)
class DeadLetters:
    count: int
    first: list[DeadLetter] = field(default_factory=list)  # at most DEAD_LETTERS_SHOWN, oldest failure first

    @property
    def more(self) -> int:
        return max(self.count - len(self.first), 0)

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "first": [letter.to_json() for letter in self.first], "more": self.more}


@dataclass(frozen=True)
class PendingCleanup:
    """Fields this destination wrote (a non-null value Outreach accepted, per the state) that the profile no
    longer maps: a segment removed or given another mapping ID, an attribute row removed. ``tracked`` is False
    when the state cannot tell (its tables are not the ones this version reads)."""

    tracked: bool
    prospects_per_field: dict[str, int] = field(default_factory=dict)
    clear_on_unmap: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"tracked": self.tracked, "fields": dict(self.prospects_per_field) if self.tracked else None,
                "clear_on_unmap": self.clear_on_unmap}


@dataclass(frozen=True)
class StateFacts:
    path: Path
    exists: bool
    last_run: LastRun | None
    dead_letters: DeadLetters
    cleanup: PendingCleanup
    problem: str | None = None  # the state could not be read: why (the other facts are then empty)

    def to_json(self) -> dict[str, Any]:
        return {"state": {"path": str(self.path), "exists": self.exists, "problem": self.problem},
                "last_run": self.last_run.to_json() if self.last_run else None,
                "dead_letters": self.dead_letters.to_json(), "pending_cleanup": self.cleanup.to_json()}


def read_state(profile: Profile, path: Path) -> StateFacts:
    clear = profile.export.clear_on_unmap
    empty = StateFacts(path, path.exists(), None, DeadLetters(0), PendingCleanup(True, {}, clear))
    if not path.exists():
        return empty  # no export ran yet (a dry run never creates state): nothing to clean up either
    try:
        store = StateStore.open(path, read_only=True)
    except StateError as exc:
        return StateFacts(path, True, None, DeadLetters(0), PendingCleanup(False, {}, clear), problem=str(exc))
    try:
        runs = store.runs()
        dead_ids = store.dead_letters
        pending = find_pending(profile, store)
    except sqlite3.Error as exc:
        store.close()
        return StateFacts(path, True, None, DeadLetters(0), PendingCleanup(False, {}, clear),
                          problem=f"{path}: cannot read the export state ({exc})")
    store.close()
    try:
        with contextlib.closing(_connect_read_only(path)) as db:
            last = _last_run(db, runs[0]) if runs else None
            letters = DeadLetters(len(dead_ids), _first_dead_letters(db))
    except sqlite3.Error as exc:
        return StateFacts(path, True, None, DeadLetters(len(dead_ids)), PendingCleanup(False, {}, clear),
                          problem=f"{path}: cannot read the export state ({exc})")
    cleanup = PendingCleanup(True, {item.field: item.prospects for item in pending.fields}, clear)
    return StateFacts(path, True, last, letters, cleanup)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection of our own, for the facts StateStore does not expose."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    db.execute("PRAGMA busy_timeout=2000")  # an export committing right now: wait a moment
    return db


def _last_run(db: sqlite3.Connection, row: dict[str, Any]) -> LastRun:
    report: dict[str, Any] | None = None
    try:
        found = db.execute("SELECT report FROM runs WHERE id = ?", (row["id"],)).fetchone()
        if found and found[0]:
            parsed = orjson.loads(found[0])
            report = parsed if isinstance(parsed, dict) else None
    except (sqlite3.Error, orjson.JSONDecodeError):
        report = None  # the counts are then unknown; the run's times and exit code still show
    return LastRun(id=int(row["id"]), started_at=str(row["started_at"]), finished_at=row.get("finished_at"),
                   dry_run=bool(row.get("dry_run")), full_resync=bool(row.get("full_resync")),
                   exit_code=row.get("exit_code"), report=report)


def _first_dead_letters(db: sqlite3.Connection) -> list[DeadLetter]:
    try:
        rows = db.execute("SELECT prospect_id, status, error_id, detail, field, failed_at FROM dead_letters "
                          "ORDER BY failed_at, prospect_id LIMIT ?", (DEAD_LETTERS_SHOWN,)).fetchall()
    except sqlite3.Error:
        return []  # the count (from the store) still shows
    return [DeadLetter(int(pid), status, str(error_id), str(detail), field_name, str(failed_at))
            for pid, status, error_id, detail, field_name, failed_at in rows]


