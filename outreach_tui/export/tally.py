"""The tally: every count a run keeps, the capped lists behind them, and the report built from both.

One type for the records read, the prospects' outcomes, the requests, the segment totals and the lists the
report shows (exclusions, malformed lines, failures, sample PATCH bodies). Every list cap is here. Events
carry ``snapshot()``s: the counts alone, frozen in time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import InitVar, asdict, dataclass, replace
from typing import Any

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.report import (
    ExclusionEntry,
    activation_rate,
    check_counts,
    exclusion_json,
    failure_json,
    segment_rows,
)
from outreach_tui.outreach.imports import encode_record
from outreach_tui.profile import STATUSES

LIST_CAP = 1000  # entries kept in each list (exclusions, malformed lines, failures); the totals stay exact
EXCLUDED_EVENT_CAP = 1000  # Excluded events per run; the report has the totals
PLANNED_SAMPLE = 5  # PATCH bodies shown in a dry run's report


class SegmentCounts:
    """Prospects per segment and status. Counting is one dict update per prospect on its statuses; they are
    spread over the segments when the totals are read (a few hundred distinct combinations, not a prospect
    each)."""

    def __init__(self, segment_ids: Iterable[str]) -> None:
        self._ids = tuple(segment_ids)
        self._combinations: dict[tuple[str | None, ...], int] = {}
        self._totals = {segment_id: dict.fromkeys(STATUSES, 0) for segment_id in self._ids}

    def add(self, statuses: tuple[str | None, ...]) -> None:
        self._combinations[statuses] = self._combinations.get(statuses, 0) + 1

    def totals(self) -> dict[str, dict[str, int]]:
        """segment id -> {status: prospects}; a fresh copy."""
        for statuses, times in self._combinations.items():
            for segment_id, status in zip(self._ids, statuses, strict=False):
                if status is not None:
                    self._totals[segment_id][status] += times
        self._combinations.clear()
        return {segment_id: dict(by_status) for segment_id, by_status in self._totals.items()}


@dataclass
class Tally:
    """records: read = planned + excluded + malformed. prospects: targeted = activated + unchanged + failed +
    pending (+ dry_run_planned in a dry run). The counts are the dataclass fields (compared, serialised);
    the lists and segment totals are plain attributes."""

    read: int = 0
    planned: int = 0
    excluded: int = 0
    malformed: int = 0
    targeted: int = 0
    activated: int = 0
    unchanged: int = 0
    failed: int = 0
    pending: int = 0
    dry_run_planned: int = 0  # prospects that would be sent, in a dry run
    carried_over: int = 0  # targeted prospects taken from earlier runs' dead letters, absent from the input
    sent: int = 0  # PATCH (and import) requests; reads are counted apart
    reads: int = 0  # GET requests: the custom field types, the prospects' current lists
    retried: int = 0
    rate_limited: int = 0
    imports: int = 0  # bulk imports started (bisection's included)
    polls: int = 0  # GET /imports/{id}
    import_records: int = 0  # records those imports carried
    # matching by email (export/email_match.py): records read and staged under their email, not yet planned or
    # excluded (0 once the lookups are done); lookup requests sent; records matched to a prospect by email
    awaiting_lookup: int = 0
    lookups: int = 0
    matched_by_email: int = 0
    segment_ids: InitVar[Iterable[str]] = ()

    def __post_init__(self, segment_ids: Iterable[str]) -> None:
        self.segments = SegmentCounts(segment_ids)
        self.exclusions: list[ExclusionEntry] = []
        self.malformed_lines: list[ExclusionEntry] = []
        self.failures: list[Diagnostic] = []
        self.planned_updates: list[dict[str, Any]] = []
        self.strategy = "patch"  # how changes were sent: "patch", "bulk", or "bulk, then patch"
        self.notes: list[str] = []  # what the report's message must say (a fallback from bulk to PATCH)
        self.planned_bytes = 0  # a dry run: the encoded import records of the planned updates
        self.carried_over_ids: set[int] = set()  # failures among them are flagged in the report
        self.warnings: list[str] = []  # allowed, but worth a word (a custom field Outreach does not know)

    def snapshot(self) -> Tally:
        """The counts now, for an event (no lists)."""
        return replace(self)

    def as_json(self) -> dict[str, int]:
        return asdict(self)

    # ----- counting, with the caps ------------------------------------------------------------------

    def add_malformed(self, line: int, detail: str) -> None:
        self.read += 1
        self.malformed += 1
        if len(self.malformed_lines) < LIST_CAP:
            self.malformed_lines.append(ExclusionEntry(line, "malformed", detail))

    def add_exclusion(self, line: int, reason: str, detail: str, *, awaited: bool = False) -> None:
        """``awaited``: a record counted read when it was staged under its email, excluded after the lookup."""
        if awaited:
            self.awaiting_lookup -= 1
        else:
            self.read += 1
        self.excluded += 1
        if len(self.exclusions) < LIST_CAP:
            self.exclusions.append(ExclusionEntry(line, reason, detail))

    def add_failure(self, diagnostic: Diagnostic) -> None:
        """A prospect that failed (locally or in Outreach's answer): one diagnostic per prospect."""
        self.failed += 1
        if len(self.failures) < LIST_CAP:
            self.failures.append(diagnostic)

    def add_planned_update(self, prospect_id: int, attributes: dict[str, Any]) -> None:
        """A prospect a dry run would send; the first few PATCH bodies are kept as a sample."""
        self.dry_run_planned += 1
        self.planned_bytes += len(encode_record(prospect_id, attributes))  # what the bulk strategy would send
        if len(self.planned_updates) < PLANNED_SAMPLE:
            from outreach_tui.export.plan import patch_body  # plan.py imports this module

            self.planned_updates.append(patch_body(prospect_id, attributes))

    # ----- the report --------------------------------------------------------------------------------

    def report(self, *, destination: str, started_at: str, finished_at: str, dry_run: bool, exit_code: int,
               segments: Iterable[tuple[str, int]], extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """The run report: one JSON object whose counts always add up. ``segments``: (id, mapping_id) of the
        profile's segments. Keys beyond the contract: ``planned`` (dry runs) and ``carried_over`` (dead letters
        of earlier runs absent from this input, also flagged on their failures) under ``prospects``,
        ``reads`` under ``requests`` (GETs: the custom field types, current lists; ``sent`` counts writes),
        ``warnings``, and ``planned_updates_sample`` (the first PATCH bodies; ``prospects.planned`` counts them all)
        (dry runs), ``exclusions_total`` / ``failures_total`` (the lists are capped), ``exit_code``, and
        ``extra``'s (input, state_path, malformed_lines, ...)."""
        check_counts(self, dry_run)
        prospects = {"targeted": self.targeted, "activated": self.activated, "unchanged": self.unchanged,
                     "failed": self.failed, "pending": self.pending, "carried_over": self.carried_over}
        if dry_run:
            prospects["planned"] = self.dry_run_planned
        report: dict[str, Any] = {
            "destination": destination,
            "started_at": started_at,
            "finished_at": finished_at,
            "dry_run": dry_run,
            "records": {"read": self.read, "planned": self.planned, "excluded": self.excluded,
                        "malformed": self.malformed},
            "prospects": prospects,
            "requests": {"sent": self.sent, "reads": self.reads, "retried": self.retried,
                         "rate_limited": self.rate_limited, "imports": self.imports, "polls": self.polls,
                         "records_per_import": round(self.import_records / self.imports, 1) if self.imports else 0},
            "strategy": self.strategy,
            "activation_rate": activation_rate(self, dry_run),
            "segments": segment_rows(segments, self.segments.totals()),
            "exclusions": [exclusion_json(entry) for entry in self.exclusions],
            "exclusions_total": self.excluded,
            "failures": [{**failure_json(diagnostic), "carried_over": diagnostic.prospect_id in self.carried_over_ids}
                         for diagnostic in self.failures],
            "failures_total": self.failed,
            "exit_code": exit_code,
            "warnings": list(self.warnings),
        }
        report["requests"]["lookups"] = self.lookups  # GET /prospects?filter[emails]=... (matching by email)
        report["identities"] = {"matched_by_email": self.matched_by_email}
        if dry_run:
            report["planned_updates_sample"] = list(self.planned_updates)
        report["malformed_lines"] = [asdict(entry) for entry in self.malformed_lines]
        if extra:
            report.update({key: value for key, value in extra.items() if key not in report})
        return report
