"""The planner: profile records -> one update per target prospect.

Records are added in input order. Each record's values are read and converted when it is added
(``export/convert.py``); a value that cannot be converted is staged as a ``Failure``, so a later good value
for the same attribute still replaces it. ``export/staging.py`` merges the values per prospect. Reading the
prospects back turns segment statuses into their custom fields and failures into local diagnostics.

With ``[identity] match = "email"``, a record without a valid id is staged under its email instead (a log in
input order, spilled like the prospects) until ``export/email_match.py`` has looked the emails up; each
matched record is then merged into its prospect with ``add_matched``, after every record identified by id
(that module states the order rule).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.convert import ConversionError, compile_path, converter, describe, read_path
from outreach_tui.export.identity import email_from_identities, normalize_email, parse_id, prospect_ids
from outreach_tui.export.staging import SPILL_AFTER, Failure, Staged, Staging
from outreach_tui.export.tally import Tally
from outreach_tui.outreach import catalog
from outreach_tui.profile import STATUSES, Profile
from outreach_tui.xdm.records import Record

Outcome = Literal["planned", "excluded", "malformed", "awaiting"]  # awaiting: an email lookup
_VIEW_CACHE_LIMIT = 4096  # distinct status combinations worked out once and kept
_VALID_STATUSES = frozenset((None, *STATUSES))
_NOT_A_MEMBER: dict[str, Any] = {"status": None}  # read-only: what a segment absent from the record reads as


@dataclass(slots=True)
class PlannedProspect:
    prospect_id: int
    attributes: dict[str, Any]  # converted, ready to send; empty when failures is not
    failures: list[Diagnostic] = field(default_factory=list)
    segments: tuple[str | None, ...] = ()  # per profile segment: its valid status, or None


# Per profile segment: "realized" | "existing" | "exited", a Failure (an unknown status), or None (no status)
Statuses = tuple[str | Failure | None, ...]
# valid statuses, the custom fields they write, the segments (target, Failure) whose status is unknown
_SegmentView = tuple[tuple[str | None, ...], dict[str, str], tuple[tuple[str, Failure], ...]]


def patch_body(prospect_id: int, attributes: dict[str, Any]) -> dict[str, Any]:
    """The JSON:API body of ``PATCH /prospects/{id}``."""
    return {"data": {"type": "prospect", "id": prospect_id, "attributes": attributes}}


def segment_status(entry: Any) -> str | Failure | None:
    """One segment's entry in ``segmentMembership.ups``: its status, None when it has none, a Failure when
    the status is not one Outreach's custom fields are written from."""
    status = entry.get("status") if type(entry) is dict else None
    if status is None or (type(status) is str and status in STATUSES):
        return status
    return Failure(f"segment status {describe(status)} is not one of realized, existing, exited")


class Planner:
    """Add records in input order, then read the planned prospects once."""

    def __init__(self, profile: Profile, tally: Tally | None = None, *, spill_dir: Path | None = None,
                 spill_after: int = SPILL_AFTER) -> None:
        self.profile = profile
        self.tally = tally if tally is not None else Tally(segment_ids=(segment.id for segment in profile.segments))
        self._namespace = profile.identity.namespace
        self._rows = tuple((compile_path(row.source), converter(_attribute(row.target))) for row in profile.mapping)
        self._row_targets = tuple(row.target for row in profile.mapping)
        self._segment_ids = tuple(segment.id for segment in profile.segments)
        self._segment_targets = tuple(segment.target for segment in profile.segments)
        self._no_statuses: Statuses = (None,) * len(self._segment_ids)
        # A segment's custom field only ever holds one of three texts: convert them once.
        status_values = profile.status_values.model_dump()
        custom_text = converter(_attribute("custom1"))
        self._status_text = {status: custom_text(status_values[status]) for status in STATUSES}
        self._views: dict[Statuses, _SegmentView] = {}
        self._staging = Staging(spill_dir, spill_after)
        self._targeted_at_close: int | None = None
        identity = profile.identity
        self._match_email = identity.match == "email"
        self._email_namespace = identity.email_identity_namespace
        self._email_path = compile_path(identity.email_path) if identity.email_path else None
        # records awaiting an email lookup, keyed by arrival: (line, email, *slots) each, never merged here
        self._awaiting: Staging | None = Staging(spill_dir, spill_after) if self._match_email else None
        self._awaited = 0

    @property
    def targeted(self) -> int:
        """Distinct target prospects so far."""
        return self._targeted_at_close if self._targeted_at_close is not None else len(self._staging)

    def add(self, record: Record) -> Outcome:
        data = record.data
        if data is None:
            self.tally.add_malformed(record.line, record.error or "")
            return "malformed"
        identity_map = data.get("identityMap")
        entries = identity_map.get(self._namespace) if type(identity_map) is dict else None
        if not entries:
            detail = f"no '{self._namespace}' identity in identityMap"
            if self._match_email:
                return self._await_email(record.line, data, "missing identity", detail)
            self.tally.add_exclusion(record.line, "missing identity", detail)
            return "excluded"
        single = _single_id(entries)
        if single is not None:
            self._staging.add(single, self.stage(data))
        else:
            ids, invalid = prospect_ids(entries)
            if not ids:
                if self._match_email:
                    return self._await_email(record.line, data, "invalid OutreachId", "; ".join(invalid))
                self.tally.add_exclusion(record.line, "invalid OutreachId", "; ".join(invalid))
                return "excluded"
            staged = self.stage(data)
            for prospect_id in ids:
                self._staging.add(prospect_id, staged)
        self.tally.read += 1
        self.tally.planned += 1
        return "planned"

    # ----- matching by email -------------------------------------------------------------------------

    def _await_email(self, line: int, data: dict[str, Any], reason: str, detail: str) -> Outcome:
        """Stage a record without a valid id under its email; without a usable email it is excluded."""
        raw = self.email_of(data)
        if raw is None:
            where = self.profile.identity.email_path or f"identityMap.{self._email_namespace}"
            self.tally.add_exclusion(line, reason, f"{detail}; and no email in {where}")
            return "excluded"
        email = normalize_email(raw)
        if email is None:
            self.tally.add_exclusion(line, "invalid email", f"{describe(raw)} is not an email address")
            return "excluded"
        assert self._awaiting is not None
        self._awaited += 1
        self._awaiting.add(self._awaited, (line, email, *self.stage(data)))  # keys from 1, as prospect ids
        self.tally.read += 1
        self.tally.awaiting_lookup += 1
        return "awaiting"

    def email_of(self, data: dict[str, Any]) -> Any:
        """The record's email as written (None: it has none): from ``email_path``, or the identityMap
        namespace's primary (else first) entry."""
        if self._email_path is not None:
            value = read_path(data, self._email_path)
            return value[0] if type(value) is list and value else value
        identity_map = data.get("identityMap")
        entries = identity_map.get(self._email_namespace) if type(identity_map) is dict else None
        return email_from_identities(entries)

    def awaiting_emails(self) -> Iterator[tuple[int, str, Staged]]:
        """The records staged under their email, in input order: (line, email, slots)."""
        if self._awaiting is not None:
            for _, (line, email, *slots) in self._awaiting.items():
                yield line, email, tuple(slots)

    @property
    def awaiting(self) -> int:
        """Records staged under their email (the lookups resolve them)."""
        return self._awaited

    def add_matched(self, prospect_id: int, staged: Staged) -> None:
        """A record staged under its email, now matched: merged into its prospect like any other record."""
        self._staging.add(prospect_id, staged)

    def stage(self, data: dict[str, Any]) -> Staged:
        """One record's slots: each mapping row's converted value (or Failure), then each segment's status."""
        slots: list[Any] = []
        for path, convert in self._rows:
            value = read_path(data, path)
            if value is not None:
                try:
                    value = convert(value)
                except ConversionError as exc:
                    value = Failure(str(exc))
            slots.append(value)
        membership = data.get("segmentMembership")
        ups = membership.get("ups") if type(membership) is dict else None
        if type(ups) is dict and self._segment_ids:
            slots += self._statuses(ups)
        else:
            slots += self._no_statuses
        return tuple(slots)

    def _statuses(self, ups: dict[str, Any]) -> list[str | Failure | None]:
        """The statuses of the profile's segments. The first line is the common case, every entry an object
        with a valid status (it runs for every segment of every record); anything else takes the plain way."""
        try:
            statuses = [ups.get(segment_id, _NOT_A_MEMBER)["status"] for segment_id in self._segment_ids]
            if _VALID_STATUSES.issuperset(statuses):
                return statuses
        except (KeyError, TypeError):  # an entry without a status or not an object; an unhashable status
            pass
        return [segment_status(ups.get(segment_id)) for segment_id in self._segment_ids]

    def prospects(self) -> Iterator[PlannedProspect]:
        rows = self._row_targets
        first_segment = len(rows)
        for prospect_id, staged in self._staging.items():
            valid, segment_fields, segment_failures = self._segment_view(staged[first_segment:])
            attributes = dict(zip(rows, staged, strict=False))  # the segments follow the rows
            if None in attributes.values():  # the records said nothing about some targets
                attributes = {target: value for target, value in attributes.items() if value is not None}
            if segment_failures or Failure in map(type, attributes.values()):
                failures = [self._local_failure(prospect_id, target, value.problem)
                            for target, value in attributes.items() if type(value) is Failure]
                failures += [self._local_failure(prospect_id, target, failure.problem)
                             for target, failure in segment_failures]
                yield PlannedProspect(prospect_id, {}, failures, valid)
            else:
                attributes.update(segment_fields)
                yield PlannedProspect(prospect_id, attributes, [], valid)

    def _segment_view(self, statuses: Statuses) -> _SegmentView:
        """What a prospect's statuses mean: the valid ones, the custom fields they write, the failed ones.
        Few distinct combinations occur, so they are worked out once each."""
        view = self._views.get(statuses)
        if view is None:
            valid = tuple(status if type(status) is str else None for status in statuses)
            fields = {target: self._status_text[status]
                      for target, status in zip(self._segment_targets, valid, strict=True) if status is not None}
            failed = tuple((target, status) for target, status in zip(self._segment_targets, statuses, strict=True)
                           if type(status) is Failure)
            view = (valid, fields, failed)
            if len(self._views) < _VIEW_CACHE_LIMIT:
                self._views[statuses] = view
        return view

    def segment_statuses(self, prospect: PlannedProspect) -> dict[str, str]:
        """segment id -> status of a planned prospect (segments with a valid status only)."""
        return {segment_id: status for segment_id, status in zip(self._segment_ids, prospect.segments, strict=False)
                if status is not None}

    def _local_failure(self, prospect_id: int, target: str, problem: str) -> Diagnostic:
        return Diagnostic(
            prospect_id=prospect_id, status=None, error_id="conversionError",
            detail=f"{target}: the value {problem}", field=target, origin=self.profile.field_origin(target),
            hint="Fix the value in the source data, or map a different attribute; nothing was sent for "
                 "this prospect.",
        )

    def close(self) -> None:
        """Free the temporary files; counts, lists and ``targeted`` stay readable."""
        if self._targeted_at_close is None:
            self._targeted_at_close = len(self._staging)
        self._staging.close()
        if self._awaiting is not None:
            self._awaiting.close()

    def __enter__(self) -> Planner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _single_id(entries: Any) -> int | None:
    """The common case, one identity with a valid id, without building error lists; None: the long way."""
    if type(entries) is list and len(entries) == 1 and type(entries[0]) is dict:
        return parse_id(entries[0].get("id"))
    return None


def _attribute(target: str) -> catalog.Attribute:
    attribute = catalog.get(target)
    if attribute is None:  # the profile validated targets already; this guards direct callers
        raise ValueError(f"unknown Outreach prospect attribute {target!r}")
    return attribute
