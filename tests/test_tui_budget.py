"""The Review step's budget arithmetic (tui/budget.py): requests and hours of budget per strategy."""

from __future__ import annotations

from outreach_tui.tui.budget import (
    budget_time,
    changed_prospects,
    estimate,
    strategy_used,
)


def test_the_estimate_is_the_dry_run_reports_own() -> None:
    report = {"strategies": {"patch": {"requests": 1_000_000, "budget_hours": 100.0},
                             "bulk": {"imports": 126, "requests": 265, "budget_hours": 0.027}}}
    cost = estimate(report)
    assert cost is not None
    assert (cost.patch.requests, cost.patch.hours) == (1_000_000, 100.0)
    assert (cost.bulk.requests, cost.bulk.hours, cost.imports) == (265, 0.027, 126)
    assert estimate({}) is None  # a report without figures: nothing is invented


def test_changed_prospects_from_a_dry_run_report() -> None:
    assert changed_prospects({"prospects": {"targeted": 10, "unchanged": 3, "planned": 6}}) == 6
    assert changed_prospects({"prospects": {"targeted": 10, "unchanged": 3}}) == 7
    assert changed_prospects({}) == 0


def test_strategy_used_and_budget_time() -> None:
    assert strategy_used("patch", 5_000, 1_000) == "patch"
    assert strategy_used("bulk", 1, 1_000) == "bulk"
    assert strategy_used("auto", 999, 1_000) == "patch" and strategy_used("auto", 1_000, 1_000) == "bulk"
    assert strategy_used("auto", 5_000, 1_000, imports_granted=False) == "patch"
    assert [budget_time(h) for h in (0.01, 0.12, 1.55, 100)] == ["<1 min", "8 min", "1.6 h", "100 h"]
