"""Cleaning up after the profile: fields this destination wrote that the profile no longer maps.

When a segment leaves the profile, its mapping ID changes, or an attribute row is removed, the prospects
still hold the value this destination wrote. The state knows which prospects and which values (its
``accepted`` table), so a run clears those fields (sends ``null``) for exactly those prospects, and only
where Outreach still holds the value we wrote: the current values are read first, 100 prospects per
``GET /prospects?filter[id]=...``; a value someone changed since is left alone (counted ``skipped``).
Either way the state then forgets the field for that prospect. A clear that fails stays in the state and
is tried again by the next run. ``[export] clear_on_unmap = false`` leaves every such field (``left``), and
the next run finds them again. ``RunOptions.keep_unmapped`` (the wizard's "Keep them") leaves them too, and
the state forgets them: they stay in Outreach, no longer this destination's to clear, and no later run asks.

For a face (the wizard's confirmation, ``status``): ``pending_cleanup(profile, state_path)`` reads the state
read-only, sends nothing, and returns a ``PendingCleanup``: one ``FieldToClear`` (field, prospects, reason)
per field, and ``lines()`` wording them as the headless run does ("clearing custom4 on 37 prospects: segment
seg-emea left the profile"). To decline, run with ``keep_unmapped``: the fields are left, and the report says
how many.

A list attribute written in merge mode holds other values too, so its value in Outreach rarely equals ours:
it is skipped, never emptied (a field this destination did not wholly write is never touched).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.control import EXIT_AUTH, EXIT_UNREACHABLE, RunControl, RunStopped
from outreach_tui.export.events import CleanupAnnounced, Event
from outreach_tui.export.report import failure_json
from outreach_tui.export.state import StateStore, state_path_for
from outreach_tui.export.tally import LIST_CAP
from outreach_tui.outreach.client import OutreachClient, OutreachRequestFailed, OutreachUnreachable
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing
from outreach_tui.outreach.errors import diagnose
from outreach_tui.profile import IDENTITY_TARGET, Profile

if TYPE_CHECKING:
    from outreach_tui.export.connect import Connection

CHECK_BATCH = 100  # prospects whose current values one GET reads (the client's ids per query)


@dataclass(frozen=True, slots=True)
class FieldToClear:
    field: str
    prospects: int  # prospects the state says hold our value
    reason: str  # why the profile no longer writes it, e.g. "segment seg-emea left the profile"


@dataclass(frozen=True, slots=True)
class PendingCleanup:
    fields: tuple[FieldToClear, ...]
    enabled: bool  # the run clears them: [export] clear_on_unmap, unless the run keeps them
    released: bool = False  # kept at the user's word (RunOptions.keep_unmapped): the state forgets them

    def __bool__(self) -> bool:
        return bool(self.fields)

    @property
    def values(self) -> int:
        """(prospect, field) pairs to clear."""
        return sum(item.prospects for item in self.fields)

    def lines(self, dry_run: bool = False) -> list[str]:
        verb = "leaving" if not self.enabled else "would clear" if dry_run else "clearing"
        why = ("" if self.enabled else " (kept; no longer tracked)" if self.released
               else " ([export] clear_on_unmap = false)")
        return [f"{verb} {item.field} on {item.prospects:,} prospect{'s' * (item.prospects != 1)}{why}: "
                f"{item.reason}" for item in self.fields]


def mapped_fields(profile: Profile) -> dict[str, tuple[str, str]]:
    """field -> (kind, name) of what in the profile writes it: ("row", source path) or ("segment", id)."""
    writers = {row.target: ("row", row.source) for row in profile.mapping if row.target != IDENTITY_TARGET}
    writers.update((segment.target, ("segment", segment.id)) for segment in profile.segments)
    return writers


def find_pending(profile: Profile, state: StateStore, keep: bool = False) -> PendingCleanup:
    writers = state.field_writers()
    stale = state.accepted_fields_except(mapped_fields(profile))
    return PendingCleanup(tuple(FieldToClear(name, count, _reason(profile, name, writers.get(name)))
                                for name, count in stale.items()), profile.export.clear_on_unmap and not keep, keep)


def pending_cleanup(profile: Profile, state_path: Path | None = None) -> PendingCleanup:
    """What the next run of ``profile`` would clear (or leave), from the state alone: nothing is sent."""
    with StateStore.open(state_path_for(profile, state_path), read_only=True) as state:
        return find_pending(profile, state)


def _reason(profile: Profile, name: str, writer: tuple[str, str] | None) -> str:
    if writer is None:
        return "no longer written by the profile"
    kind, key = writer
    if kind == "segment":
        moved = next((s for s in profile.segments if s.id == key), None)
        return f"segment {key} moved to {moved.target}" if moved else f"segment {key} left the profile"
    now = [row.target for row in profile.mapping if row.source == key]
    return (f"mapping row {key} → {name} now writes {', '.join(now)}" if now
            else f"mapping row {key} → {name} was removed")


def _same(current: Any, ours: Any) -> bool:
    dump = orjson.OPT_SORT_KEYS
    return current is not None and orjson.dumps(current, option=dump) == orjson.dumps(ours, option=dump)


@dataclass
class CleanupTally:
    """Counts of (prospect, field) pairs, except ``prospects`` (prospects with at least one field cleared)."""

    pending: PendingCleanup
    dry_run: bool = False
    fields: int = 0
    prospects: int = 0
    skipped: int = 0  # Outreach no longer holds our value (changed by someone, or the prospect is gone)
    failed: int = 0  # the clear failed: kept in the state, tried again next run
    left: int = 0  # clear_on_unmap = false, or kept at the user's word
    listed: list[dict[str, Any]] = field(default_factory=list)  # a dry run's prospects, capped
    listed_total: int = 0
    failures: list[Diagnostic] = field(default_factory=list)

    def add_failure(self, fields: int, diagnostic: Diagnostic) -> None:
        self.failed += fields
        if len(self.failures) < LIST_CAP:
            self.failures.append(diagnostic)

    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "fields": self.fields, "prospects": self.prospects, "skipped": self.skipped, "failed": self.failed,
            "left": self.left,
            "pending": [{"field": item.field, "prospects": item.prospects, "reason": item.reason}
                        for item in self.pending.fields],
        }
        if self.dry_run:
            data["would_clear"] = {"fields": self.pending.values if self.pending.enabled else 0,
                                   "prospects": self.listed_total}
            data["prospects_listed"] = list(self.listed)
        if self.failures:
            data["failures"] = [failure_json(diagnostic) for diagnostic in self.failures]
        return data


def list_pending(state: StateStore, pending: PendingCleanup, tally: CleanupTally) -> None:
    """A dry run's list: every prospect holding a field to clear (the first LIST_CAP kept), no network."""
    stale, after = {item.field for item in pending.fields}, 0
    while batch := state.accepted_holding(stale, after, 1000):
        after = batch[-1][0]
        for prospect_id, stored in batch:
            tally.listed_total += 1
            if len(tally.listed) < LIST_CAP:
                tally.listed.append({"prospect_id": prospect_id,
                                     "fields": {name: value for name, value in stored.items() if name in stale}})


class Clearer:
    """Clears the pending fields through the run's one client, ``concurrency`` requests at a time."""

    def __init__(self, client: OutreachClient, state: StateStore, tally: CleanupTally, control: RunControl,
                 concurrency: int, field_origin: Callable[[str], str | None]) -> None:
        self._client, self._state, self._tally, self._control = client, state, tally, control
        self._slots = asyncio.Semaphore(concurrency)
        self._field_origin = field_origin

    async def run(self) -> None:
        stale, after = {item.field for item in self._tally.pending.fields}, 0
        try:
            while not self._control.stopping:
                await self._control.gate.wait()
                batch = self._state.accepted_holding(stale, after, CHECK_BATCH)
                if not batch or self._control.stopping:
                    return
                after = batch[-1][0]
                ours = {pid: {name: value for name, value in stored.items() if name in stale}
                        for pid, stored in batch}
                await self._clear_batch(ours)
        except (AuthUnreachable, OutreachUnreachable) as exc:
            self._control.stop_with(RunStopped(EXIT_UNREACHABLE, str(exc)))
        except (AuthRequired, ScopeMissing) as exc:
            self._control.stop_with(RunStopped(EXIT_AUTH, str(exc)))

    async def _clear_batch(self, ours: dict[int, dict[str, Any]]) -> None:
        tally, state = self._tally, self._state
        read = sorted({name for values in ours.values() for name in values})
        try:
            current = await self._client.get_prospects(list(ours), read)
        except OutreachRequestFailed as exc:  # kept in the state: the next run tries again
            for prospect_id, values in ours.items():
                tally.add_failure(len(values), Diagnostic(prospect_id, exc.status, "readFailed",
                                                          f"cannot read the current values to clear: {exc}"))
            return
        work: list[tuple[int, list[str]]] = []
        for prospect_id, values in ours.items():
            now = current.get(prospect_id)
            clear = [name for name, value in values.items() if now is not None and _same(now.get(name), value)]
            others = [name for name in values if name not in clear]
            if others:  # no longer ours: someone changed it in Outreach, or the prospect is gone
                tally.skipped += len(others)
                state.forget_fields(prospect_id, others)
            if clear:
                work.append((prospect_id, clear))
        # every clear ends before a stop (unreachable, signed out) is raised: none is left running
        outcomes = await asyncio.gather(*(self._clear_one(prospect_id, names) for prospect_id, names in work),
                                        return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _clear_one(self, prospect_id: int, names: list[str]) -> None:
        async with self._slots:
            if self._control.stopping:
                return
            result = await self._client.patch_prospect(prospect_id, dict.fromkeys(names))
        if result.ok:
            self._state.forget_fields(prospect_id, names)
            self._tally.fields += len(names)
            self._tally.prospects += 1
        else:
            self._tally.add_failure(len(names), diagnose(prospect_id, result.status, result.errors,
                                                         self._field_origin))


def release(state: StateStore, pending: PendingCleanup) -> None:
    """The state forgets the pending fields on every prospect holding them (nothing is sent): they stay in
    Outreach as they are, no longer this destination's to clear."""
    stale, after = {item.field for item in pending.fields}, 0
    while batch := state.accepted_holding(stale, after, 1000):
        after = batch[-1][0]
        state.forget_fields_many((prospect_id, stale.intersection(stored)) for prospect_id, stored in batch)


async def clean_up(profile: Profile, state: StateStore, tally: CleanupTally, control: RunControl,
                   emit: Callable[[Event], None], connect: Callable[[], Connection | None],
                   keep: bool = False) -> None:
    """The run's cleanup: announce, then clear (a dry run lists; clear_on_unmap = false leaves; ``keep``
    leaves and forgets); then remember what writes each mapped field, so a later run can say why a field is
    no longer written."""
    tally.pending = pending = find_pending(profile, state, keep)
    for item, text in zip(pending.fields, pending.lines(tally.dry_run), strict=True):
        emit(CleanupAnnounced(field=item.field, prospects=item.prospects, reason=item.reason, text=text))
    if pending and not pending.enabled:
        tally.left = pending.values
        if pending.released and not tally.dry_run:
            release(state, pending)
    elif pending and tally.dry_run:
        list_pending(state, pending, tally)
    elif pending and not control.stopping and (connection := connect()) is not None:
        await Clearer(connection.client, state, tally, control, profile.export.concurrency,
                      profile.field_origin).run()
    if not tally.dry_run:
        state.record_field_writers(mapped_fields(profile))
