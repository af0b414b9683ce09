"""List attributes in merge mode: what a PATCH sends for ``emails``, ``tags`` and the ``*Phones``.

Outreach replaces a list whole on PATCH, so sending only the values a profile maps would delete every
address or tag the prospect already had. For a mapping row in merge mode (the default for lists) the
current lists of the prospects about to be sent are read first, a page of up to 100 prospects per
``GET /prospects?filter[id]=...&fields[prospect]=...`` (through the run's one client, so the reads pass the
one limiter and count against the hourly budget), and the PATCH carries the union: the current values
first, then the new ones. A value leaves the list only when this destination added it before and no
longer wants it: the state keeps, per prospect and field, the values it added (``list_values``; a wanted
value the prospect already had is not one of them, so it is never removed). The accepted values the state
diffs against are what the profile wanted, not the union, so a prospect whose mapped values did not change
costs no request at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.state import StateStore
from outreach_tui.outreach.client import OutreachClient, OutreachRequestFailed
from outreach_tui.profile import Profile

if TYPE_CHECKING:
    from outreach_tui.export.send import Work

READ_BATCH = 100  # prospects per GET /prospects (one page: filter[id] and page[size] both take 100)


def merge_targets(profile: Profile) -> tuple[str, ...]:
    """The list targets whose current values are kept (mapping rows in merge mode)."""
    return tuple(row.target for row in profile.mapping if row.merges)


def _key(field: str) -> Any:
    """How two values of ``field`` are compared: Outreach matches email addresses without case."""
    if field == "emails":
        return lambda value: value.casefold() if isinstance(value, str) else value
    return lambda value: value


def merged_list(field: str, current: Sequence[Any] | None, wanted: Sequence[Any],
                owned: Sequence[Any] | None) -> tuple[list[Any], list[Any]]:
    """(the list to send, the values this destination owns once it is accepted).

    The list: ``current`` without the values this destination added before (``owned``) and no longer wants,
    then ``wanted``'s values not there yet; current first, each value once. Owned afterwards: the wanted
    values that were ours already or that this list adds; a wanted value the prospect already had stays
    the prospect's, so it is never removed later."""
    key = _key(field)
    wanted_keys = {key(value) for value in wanted}
    owned_keys = {key(value) for value in owned or ()}
    current_keys = {key(value) for value in current or ()}
    dropped = owned_keys - wanted_keys
    result: list[Any] = []
    seen: set[Any] = set()
    for value in (*(current or ()), *wanted):
        value_key = key(value)
        if value_key in dropped or value_key in seen:
            continue
        seen.add(value_key)
        result.append(value)
    now_owned = [value for value in dict.fromkeys(wanted)
                 if key(value) in owned_keys or key(value) not in current_keys]
    return result, now_owned


def needs_read(attributes: dict[str, Any], targets: Iterable[str]) -> list[str]:
    """The merge targets among the attributes about to be sent (those need the prospect's current lists)."""
    return [target for target in targets if target in attributes]


def merged_body(attributes: dict[str, Any], owned: dict[str, list[Any]], current: dict[str, Any],
                fields: Iterable[str]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The PATCH attributes (``attributes`` with each of ``fields`` merged into ``current``'s list) and the
    values owned per field once they are accepted."""
    body = dict(attributes)
    now_owned: dict[str, list[Any]] = {}
    for field in fields:
        existing = current.get(field)
        body[field], now_owned[field] = merged_list(
            field, existing if isinstance(existing, list) else None, attributes[field], owned.get(field))
    return body, now_owned


class ListMerger:
    """Fills ``Work.body`` with the merged lists of the prospects about to be sent, reading their current
    lists through ``client`` (``prepare``); the reads are counted by the client as ``reads_sent``."""

    def __init__(self, profile: Profile, client: OutreachClient, state: StateStore,
                 field_origin: Callable[[str], str | None]) -> None:
        self.targets = merge_targets(profile)
        self._client = client
        self._state = state
        self._field_origin = field_origin

    async def prepare(self, works: Sequence[Work]) -> dict[int, Diagnostic]:
        """Merge the lists of ``works`` (up to ``READ_BATCH`` prospects per read). Returns the prospects whose
        lists could not be read: those must not be sent (it could delete what they hold). Raises what the
        client raises when the run must stop (AuthRequired, ScopeMissing, OutreachUnreachable)."""
        if not self.targets:
            return {}
        reading = [(work, fields) for work in works if (fields := needs_read(work.attributes, self.targets))]
        failed: dict[int, Diagnostic] = {}
        for start in range(0, len(reading), READ_BATCH):
            batch = reading[start:start + READ_BATCH]
            fields = sorted({field for _, wanted in batch for field in wanted})
            try:
                current = await self._client.get_prospects([work.prospect_id for work, _ in batch], fields)
            except OutreachRequestFailed as exc:
                for work, wanted in batch:
                    failed[work.prospect_id] = self._unreadable(work.prospect_id, wanted[0], exc)
                continue
            owned = self._state.written_list_values(work.prospect_id for work, _ in batch)
            for work, wanted in batch:
                work.body, work.written_lists = merged_body(
                    work.attributes, owned.get(work.prospect_id, {}), current.get(work.prospect_id, {}), wanted)
        return failed

    def _unreadable(self, prospect_id: int, field: str, exc: OutreachRequestFailed) -> Diagnostic:
        return Diagnostic(
            prospect_id=prospect_id, status=exc.status, error_id="listReadFailed",
            detail=f"{field}: the prospect's current list could not be read ({exc})", field=field,
            origin=self._field_origin(field),
            hint="Nothing was sent for this prospect (sending the list alone would replace what it holds); "
                 "the next run tries again.")
