"""Matching records by email (``[identity] match = "email"``): the records the planner staged under their
email (no valid id in the identity namespace) get their prospect from ``GET /prospects?filter[emails]=...``
lookups, before the diff, so a matched prospect follows exactly the path of one identified by id.

- **Batches.** Each lookup asks for as many distinct emails as fit in one URL (``URL_BUDGET`` bytes of the
  filter value: servers answer 414 past some length) and at most one page (``EMAIL_PAGE_SIZE``): one
  request of the hourly budget per batch, through the run's one client (limiter, retries, error parser).
- **Cache.** Every answer is kept in the state (email, lowercase -> the prospect ids holding it), so a rerun
  costs no lookups. A cached match stays until its prospect answers a PATCH with 404: the runner then drops
  the entry (``StateStore.forget_email_matches``) and the next run looks the email up again (this run has
  already counted that prospect failed). An answer of no prospect, or of several, is asked again after
  ``RECHECK_AFTER`` (someone may have created or merged the prospect since).
  ``--full-resync`` ignores the cache. A dry run uses the cache and, when signed in, looks up the rest (it
  only reads); it never writes the cache.
- **Outcomes.** One prospect: the record is planned for it. None: excluded, ``no prospect with this email``.
  Several: excluded, ``ambiguous email``, naming the ids. A lookup that failed for good (or a run stopped
  before it): excluded, ``email lookup failed`` / ``email not looked up``; nothing is cached, the next run
  asks again.
- **Order rule.** Records are merged per prospect in input order, except that records matched by email come
  after every record identified by id (their prospect is known only after the lookups): for a prospect
  targeted both ways, a value from a record matched by email wins. Records matched by email keep their input
  order among themselves, and a prospect first targeted by email comes after those targeted by id.
- **Which email.** One per record (the planner reads it): the primary entry of the ``email_namespace``
  identities, else the first, or the value at ``email_path``; trimmed and lowercase.
- **Memory.** The staged records spill to disk like the prospects; the emails asked in this run stay in
  memory (one answer each), cached emails do not.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from itertools import islice
from urllib.parse import quote

from outreach_tui.export.control import EXIT_AUTH, EXIT_UNREACHABLE, RunControl, RunOptions, RunStopped
from outreach_tui.export.plan import Planner
from outreach_tui.export.staging import Staged
from outreach_tui.export.state import StateStore
from outreach_tui.export.tally import Tally
from outreach_tui.outreach.client import EMAIL_PAGE_SIZE, OutreachClient, OutreachRequestFailed, OutreachUnreachable
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing

NO_MATCH = "no prospect with this email"
AMBIGUOUS = "ambiguous email"
LOOKUP_FAILED = "email lookup failed"
NOT_LOOKED_UP = "email not looked up"

# The filter value's bytes once URL-encoded, to begin with: with the path and the other parameters the request
# target stays under 16 KiB (the sandbox's limit; Outreach's is not documented). A 414 answer halves it for
# the rest of the run and the batch is asked again in halves, so a stricter server costs one request more.
URL_BUDGET = 16_000
RECHECK_AFTER = 24 * 3600.0  # seconds an answer of no prospect (or several) is trusted
SCAN_CHUNK = 1_000  # staged records read at a time
SIGNED_OUT_DRY_RUN = "a dry run without a sign-in only uses the emails already cached; sign in to look them up"

Lookup = Callable[[list[str]], Awaitable[dict[str, list[int]]]]  # the client's prospects_with_emails


def encoded_size(email: str) -> int:
    """What an email adds to the filter value: its URL-encoded bytes and an encoded comma."""
    return len(quote(email, safe="")) + 3


def batches(emails: Iterable[str], budget: Callable[[], int] = lambda: URL_BUDGET) -> Iterator[list[str]]:
    """Distinct emails in lookup batches: each fits the URL budget (read as each batch starts) and one page
    of answers."""
    batch: list[str] = []
    size = 0
    for email in emails:
        cost = encoded_size(email)
        if batch and (len(batch) >= EMAIL_PAGE_SIZE or size + cost > budget()):
            yield batch
            batch, size = [], 0
        batch.append(email)
        size += cost
    if batch:
        yield batch


class EmailMatcher:
    """``await match(planner)`` once, after planning: every staged record ends planned or excluded."""

    def __init__(self, state: StateStore, tally: Tally, lookup: Lookup | None, *, write_cache: bool,
                 full_resync: bool = False, stopping: Callable[[], bool] = lambda: False,
                 on_stop: Callable[[RunStopped], None] = lambda stop: None,
                 not_looked_up: str = "the run stopped before this email was looked up") -> None:
        self._state = state
        self._tally = tally
        self._lookup = lookup
        self._write_cache = write_cache
        self._full_resync = full_resync
        self._stopping = stopping
        self._on_stop = on_stop
        self._not_looked_up = not_looked_up
        self._answers: dict[str, list[int]] = {}  # looked up in this run (a dry run keeps them only here)
        self._failed: dict[str, str] = {}  # email -> why its lookup failed
        self.url_budget = URL_BUDGET

    async def match(self, planner: Planner) -> None:
        if self._lookup is not None:
            await self._look_up(planner)
        self.apply(planner)

    # ----- looking up -----------------------------------------------------------------------------------

    async def _look_up(self, planner: Planner) -> None:
        for batch in batches(self._unknown_emails(planner), lambda: self.url_budget):
            if self._stopping() or self._lookup is None:
                return
            await self._ask(batch)

    def _unknown_emails(self, planner: Planner) -> Iterator[str]:
        """Each staged email once, in first-seen order, unless cached (or already asked in this run)."""
        queued: set[str] = set()
        records = planner.awaiting_emails()
        while chunk := list(islice(records, SCAN_CHUNK)):
            emails = [email for email in dict.fromkeys(email for _, email, _ in chunk)
                      if email not in queued and email not in self._answers]
            cached = self._cached(emails)
            for email in emails:
                if email not in cached:
                    queued.add(email)
                    yield email

    async def _ask(self, batch: list[str]) -> None:
        assert self._lookup is not None
        try:
            answers = await self._lookup(batch)
        except OutreachRequestFailed as exc:
            if exc.status == 414 and len(batch) > 1:  # the URL is too long for this server: halve, ask again
                self.url_budget = min(self.url_budget, sum(map(encoded_size, batch)) // 2)
                half = len(batch) // 2
                for part in (batch[:half], batch[half:]):
                    if not self._stopping():
                        await self._ask(part)
                return
            self._failed.update(dict.fromkeys(batch, str(exc)))
            return
        except (AuthUnreachable, OutreachUnreachable) as exc:
            self._on_stop(RunStopped(EXIT_UNREACHABLE, str(exc)))
            return
        except AuthRequired as exc:
            if not self._write_cache:  # a dry run goes on without a sign-in: the cache alone
                self._lookup, self._not_looked_up = None, SIGNED_OUT_DRY_RUN
                return
            self._on_stop(RunStopped(EXIT_AUTH, str(exc)))
            return
        except ScopeMissing as exc:
            self._on_stop(RunStopped(EXIT_AUTH, str(exc)))
            return
        answered = {email: answers.get(email, []) for email in batch}
        self._answers.update(answered)
        if self._write_cache:
            self._state.record_email_matches(answered.items(), time.time())

    def _cached(self, emails: list[str]) -> dict[str, list[int]]:
        """The cache's answers still trusted: a single match, or a newer answer than ``RECHECK_AFTER``."""
        if self._full_resync or not emails:
            return {}
        oldest = time.time() - RECHECK_AFTER
        return {email: ids for email, (ids, at) in self._state.email_matches(emails).items()
                if len(ids) == 1 or at >= oldest}

    # ----- resolving the records ------------------------------------------------------------------------

    def apply(self, planner: Planner) -> None:
        """Plan each staged record for its prospect, in input order, or exclude it with the reason."""
        records = planner.awaiting_emails()
        while chunk := list(islice(records, SCAN_CHUNK)):
            emails = {email for _, email, _ in chunk}
            cached = self._cached([email for email in emails if email not in self._answers])
            for line, email, slots in chunk:
                ids = self._answers.get(email)
                self._resolve(planner, line, email, slots, cached.get(email) if ids is None else ids)

    def _resolve(self, planner: Planner, line: int, email: str, slots: Staged, ids: list[int] | None) -> None:
        tally = self._tally
        if ids is not None and len(ids) == 1:
            planner.add_matched(ids[0], slots)
            tally.awaiting_lookup -= 1
            tally.planned += 1
            tally.matched_by_email += 1
        elif ids is not None and not ids:
            tally.add_exclusion(line, NO_MATCH, email, awaited=True)
        elif ids is not None:
            named = ", ".join(map(str, ids[:-1])) + f" and {ids[-1]}"
            tally.add_exclusion(line, AMBIGUOUS, f"{email} is held by prospects {named}", awaited=True)
        elif email in self._failed:
            tally.add_exclusion(line, LOOKUP_FAILED, f"{email}: {self._failed[email]}", awaited=True)
        else:
            tally.add_exclusion(line, NOT_LOOKED_UP, f"{email}: {self._not_looked_up}", awaited=True)


async def match_emails(planner: Planner, state: StateStore, client: OutreachClient | None, control: RunControl,
                       options: RunOptions) -> None:
    """The runner's step: match the planner's staged records through ``client`` (None: not signed in, which
    only a dry run goes on without: it then uses the cache alone)."""
    why = "the run stopped before this email was looked up"
    if client is None and options.dry_run and not control.stopping:
        why = SIGNED_OUT_DRY_RUN
    matcher = EmailMatcher(state, planner.tally, client.prospects_with_emails if client is not None else None,
                           write_cache=not options.dry_run, full_resync=options.full_resync,
                           stopping=lambda: control.stopping, on_stop=control.stop_with, not_looked_up=why)
    await matcher.match(planner)
