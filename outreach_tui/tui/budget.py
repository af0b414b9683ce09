"""What the planned changes of a dry run would cost in Outreach's hourly request budget, per strategy, as the
Review step shows it. The figures are the engine's (the dry-run report's ``strategies``); this module only
reads and words them, and says which strategy a run would pick."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StrategyCost:
    requests: int
    hours: float  # of budget: requests / budget_per_hour


@dataclass(frozen=True)
class BudgetEstimate:
    patch: StrategyCost
    bulk: StrategyCost
    imports: int


def estimate(report: dict[str, Any]) -> BudgetEstimate | None:
    """The dry-run report's ``strategies`` (worked out by the engine from every planned record's encoded size,
    ``export/bulk.py``), or None when the report has none."""
    strategies = report.get("strategies")
    if not isinstance(strategies, dict):
        return None
    patch, bulk = strategies.get("patch") or {}, strategies.get("bulk") or {}
    return BudgetEstimate(patch=StrategyCost(int(patch.get("requests", 0)), float(patch.get("budget_hours", 0))),
                          bulk=StrategyCost(int(bulk.get("requests", 0)), float(bulk.get("budget_hours", 0))),
                          imports=int(bulk.get("imports", 0)))


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
