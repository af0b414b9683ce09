"""What the planned changes of a dry run would cost in Outreach's hourly request budget, per strategy: the
Review step's arithmetic (presentation only; the bulk sender chunks for real, on the encoded bodies).

PATCH sends one request per changed prospect. Bulk (``POST /imports/actions/bulkUpsert``) sends imports of at
most ``bulk_max_records`` records and about 2 MB each, plus about one ``GET /imports/{id}`` poll per import.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

IMPORT_MAX_BYTES = 2_000_000  # Outreach limits an import request to about 2 MB
IMPORT_ENVELOPE_BYTES = 200  # the import's own body around its records (type, dupeMethod, fileName)
RECORD_BYTES_UNKNOWN = 300  # a guess when the dry run kept no sample payload
POLLS_PER_IMPORT = 1  # about one; the sender backs off, so a slow import may take a few more


@dataclass(frozen=True)
class StrategyCost:
    requests: int
    hours: float  # of budget: requests / budget_per_hour


@dataclass(frozen=True)
class BudgetEstimate:
    changed: int  # prospects with at least one changed field
    patch: StrategyCost
    bulk: StrategyCost
    imports: int
    polls: int
    records_per_import: int  # min(bulk_max_records, what fits in 2 MB at the average record size)


def average_record_bytes(samples: Iterable[dict[str, Any]]) -> float:
    """The average size of a planned payload, encoded compactly as an import carries it (plus its comma)."""
    sizes = [len(json.dumps(sample, ensure_ascii=False, separators=(",", ":")).encode()) + 1 for sample in samples]
    return sum(sizes) / len(sizes) if sizes else RECORD_BYTES_UNKNOWN


def estimate(changed: int, record_bytes: float, *, bulk_max_records: int, budget_per_hour: int,
             max_bytes: int = IMPORT_MAX_BYTES) -> BudgetEstimate:
    """Requests and hours of budget for ``changed`` prospects under each strategy."""
    fits = int((max_bytes - IMPORT_ENVELOPE_BYTES) // max(record_bytes, 1.0))
    per_import = max(1, min(bulk_max_records, fits))
    imports = math.ceil(changed / per_import)
    polls = imports * POLLS_PER_IMPORT
    return BudgetEstimate(changed=changed, patch=StrategyCost(changed, changed / budget_per_hour),
                          bulk=StrategyCost(imports + polls, (imports + polls) / budget_per_hour),
                          imports=imports, polls=polls, records_per_import=per_import)


def changed_prospects(report: dict[str, Any]) -> int:
    """Prospects a dry run would update: ``prospects.planned``, else targeted minus unchanged."""
    prospects = report.get("prospects") or {}
    planned = prospects.get("planned")
    if isinstance(planned, int):
        return planned
    return max(0, int(prospects.get("targeted", 0)) - int(prospects.get("unchanged", 0)))


def strategy_used(strategy: str, changed: int, bulk_threshold: int, imports_granted: bool = True) -> str:
    """Which sender a run would pick ("auto": bulk from ``bulk_threshold`` changed prospects when the sign-in
    asks for the import scopes, else PATCH)."""
    if strategy != "auto":
        return strategy
    return "bulk" if imports_granted and changed >= bulk_threshold else "patch"


def budget_time(hours: float) -> str:
    """``<1 min``, ``12 min``, ``3.4 h``, ``100 h`` of budget."""
    if hours * 60 < 1:
        return "<1 min"
    if hours < 1:
        return f"{math.ceil(hours * 60)} min"
    return f"{hours:,.1f} h" if hours < 10 else f"{math.ceil(hours):,} h"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
