"""State methods for the email-match cache (export/email_match.py): which prospects hold an email, as
Outreach last answered."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from outreach_tui.export.state_schema import StateTables


class EmailMatchTables(StateTables):
    def email_matches(self, emails: Iterable[str]) -> dict[str, tuple[list[int], float]]:
        """Cached answers for ``emails`` (lowercase): the prospect ids holding each, and when it was asked."""
        if self._db is None:
            return {}
        found: dict[str, tuple[list[int], float]] = {}
        try:
            for email, candidates, at in self._select_in(
                    "SELECT email, candidates, looked_up_at FROM email_matches WHERE email IN ({marks})", emails):
                found[email] = ([int(i) for i in candidates.split(",") if i], float(at))
        except sqlite3.Error:
            return {}  # a read-only view of a file created by an older version: nothing cached
        return found

    def record_email_matches(self, answers: Iterable[tuple[str, list[int]]], looked_up_at: float) -> None:
        """Cache what a lookup answered (one transaction for the batch)."""
        rows = [(email, ids[0] if len(ids) == 1 else None, ",".join(map(str, ids)), looked_up_at)
                for email, ids in answers]
        with self._transaction() as db:
            db.executemany("INSERT OR REPLACE INTO email_matches (email, prospect_id, candidates, looked_up_at) "
                           "VALUES (?, ?, ?, ?)", rows)

    def forget_email_matches(self, prospect_id: int) -> int:
        """Drop the emails cached as this prospect's (it answered 404): the next run looks them up again."""
        cursor = self._writable().execute("DELETE FROM email_matches WHERE prospect_id = ?", (prospect_id,))
        return cursor.rowcount
