"""The Review step's budget arithmetic (tui/budget.py): requests and hours of budget per strategy."""

from __future__ import annotations

import json

import pytest

from outreach_tui.tui.budget import (
    average_record_bytes,
    budget_time,
    changed_prospects,
    estimate,
    strategy_used,
)


def test_a_million_changed_prospects_patch_against_bulk() -> None:
    cost = estimate(1_000_000, 250, bulk_max_records=10_000, budget_per_hour=10_000)
    assert cost.patch.requests == 1_000_000 and cost.patch.hours == 100
    assert cost.records_per_import == (2_000_000 - 200) // 250 == 7_999  # the 2 MB limit binds first
    assert cost.imports == 126 and cost.polls == 126  # ceil(1,000,000 / 7,999), about one poll each
    assert cost.bulk.requests == 252 and cost.bulk.hours == pytest.approx(0.0252)


def test_the_record_cap_binds_when_records_are_small() -> None:
    cost = estimate(2_500, 100, bulk_max_records=1_000, budget_per_hour=500)
    assert cost.records_per_import == 1_000
    assert (cost.imports, cost.bulk.requests) == (3, 6)
    assert cost.patch.hours == 5 and cost.bulk.hours == pytest.approx(6 / 500)


def test_a_record_bigger_than_an_import_still_goes_one_per_import() -> None:
    cost = estimate(3, 3_000_000, bulk_max_records=10_000, budget_per_hour=10_000)
    assert (cost.records_per_import, cost.imports, cost.bulk.requests) == (1, 3, 6)


def test_nothing_changed_costs_nothing() -> None:
    cost = estimate(0, 250, bulk_max_records=10_000, budget_per_hour=10_000)
    assert (cost.patch.requests, cost.bulk.requests, cost.imports) == (0, 0, 0)


def test_average_size_of_the_planned_payloads() -> None:
    samples = [{"data": {"type": "prospect", "id": 1, "attributes": {"firstName": "Ann"}}},
               {"data": {"type": "prospect", "id": 22, "attributes": {"firstName": "Éloïse", "custom4": "x"}}}]
    sizes = [len(json.dumps(s, ensure_ascii=False, separators=(",", ":")).encode()) + 1 for s in samples]
    assert average_record_bytes(samples) == sum(sizes) / 2
    assert average_record_bytes([]) > 0  # no sample: a guess, never a division by zero


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
