"""The run report's parts and files: the tally builds the report (``export/tally.py``); this module checks
its counts add up, words its entries, writes it atomically and sums it up in one line for humans."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from outreach_tui.diagnostics import Diagnostic

if TYPE_CHECKING:
    from outreach_tui.export.tally import Tally
STATUSES = ("realized", "existing", "exited")


class ReportError(Exception):
    """The report file cannot be written. The message names the file."""


@dataclass(frozen=True, slots=True)
class ExclusionEntry:
    line: int
    reason: str
    detail: str = ""


def activation_rate(counts: Tally, dry_run: bool) -> float:
    """Share of targeted prospects that hold their values in Outreach (or would, in a dry run)."""
    if counts.targeted == 0:
        return 1.0
    good = counts.activated + counts.unchanged + (counts.dry_run_planned if dry_run else 0)
    return round(good / counts.targeted, 6)


def check_counts(counts: Tally, dry_run: bool) -> None:
    """The report's promise: every record and every target prospect is counted exactly once."""
    records = counts.planned + counts.excluded + counts.malformed
    assert counts.read == records, f"records do not add up: read {counts.read} != {records}"
    prospects = counts.activated + counts.unchanged + counts.failed + counts.pending + counts.dry_run_planned
    assert counts.targeted == prospects, f"prospects do not add up: targeted {counts.targeted} != {prospects}"
    assert dry_run or counts.dry_run_planned == 0, "planned prospects outside a dry run"


def exclusion_json(entry: ExclusionEntry) -> dict[str, Any]:
    data: dict[str, Any] = {"line": entry.line, "reason": entry.reason}
    if entry.detail:
        data["detail"] = entry.detail
    return data


def failure_json(diagnostic: Diagnostic) -> dict[str, Any]:
    return {"prospect_id": diagnostic.prospect_id, "status": diagnostic.status,
            "error_id": diagnostic.error_id, "detail": diagnostic.detail,
            "field": diagnostic.field, "origin": diagnostic.origin, "hint": diagnostic.hint}


def segment_rows(segments: Iterable[tuple[str, int]],
                 tallies: dict[str, dict[str, int]]) -> list[dict[str, Any]]:
    """One row per mapped segment (id, mapping_id), with how many target prospects carry each status."""
    rows = []
    for segment_id, mapping_id in segments:
        tally = tallies.get(segment_id, {})
        rows.append({"id": segment_id, "mapping_id": mapping_id,
                     **{status: tally.get(status, 0) for status in STATUSES}})
    return rows


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write atomically: a temporary file of its own in the same directory, then one rename. A reader never
    sees half a report, a failure leaves the previous report (and no temporary file) behind."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
        os.replace(temporary, path)
    except OSError as exc:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        raise ReportError(f"{path}: cannot write the report ({exc.strerror or exc})") from None


def summary_line(counts: Tally, dry_run: bool, report_path: Path | None) -> str:
    """One line for humans, e.g. ``1,204 activated, 3 unchanged, 2 failed (requests: 1,206 sent ...)``."""
    parts = [f"{counts.targeted:,} prospects targeted"]
    if dry_run:
        parts.append(f"{counts.dry_run_planned:,} would be updated")
    else:
        parts.append(f"{counts.activated:,} activated")
    parts.append(f"{counts.unchanged:,} unchanged")
    parts.append(f"{counts.failed:,} failed")
    if counts.pending:
        parts.append(f"{counts.pending:,} pending")
    records = (f"records: {counts.read:,} read, {counts.excluded:,} excluded, {counts.malformed:,} malformed")
    line = ", ".join(parts) + f"; {records}"
    if not dry_run:
        line += (f"; requests: {counts.sent:,} sent, {counts.retried:,} retried, "
                 f"{counts.rate_limited:,} rate-limited")
    if report_path is not None:
        line += f"; report: {report_path}"
    return ("dry run (nothing sent): " if dry_run else "") + line
