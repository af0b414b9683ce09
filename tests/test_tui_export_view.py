"""The export panel's figures from runner events at fixed times: throughput from real elapsed time, budget,
ETA, failures grouped by cause with a bounded list."""

from __future__ import annotations

from dataclasses import replace

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export import events
from outreach_tui.tui.export_view import EXAMPLES_PER_CAUSE, ExportView, clock_text

T0 = 1_800_000_000.0


def progress(sent: int, *, done: int = 0, total: int = 1000, remaining: int | None = None) -> events.Progress:
    return events.Progress(counts=events.Counts(sent=sent, activated=done, targeted=total), total=total,
                           phase="sending", budget_limit=10_000 if remaining is not None else None,
                           budget_remaining=remaining, budget_reset_at=T0 + 600 if remaining is not None else None)


def test_a_fast_short_run_is_not_reported_as_50_per_second() -> None:
    view = ExportView.started(T0)
    view.apply(progress(250, done=250, total=250), T0 + 0.5)
    assert view.rate(T0 + 0.5) is None  # half a second: too early to call it a rate
    view.finish(events.Finished(counts=events.Counts(sent=250, activated=250), exit_code=0, report_path=None,
                                report={}, message="done"), T0 + 0.5)
    assert view.rate(T0 + 30) is None  # and it stays what it was, however long the panel is watched
    view = ExportView.started(T0)
    view.apply(progress(250, done=250, total=250), T0 + 2.0)
    view.finish(events.Finished(counts=events.Counts(sent=250, activated=250), exit_code=0, report_path=None,
                                report={}, message="done"), T0 + 2.0)
    assert view.rate(T0 + 30) == 125.0  # 250 requests over the 2 s the run took


def test_rate_over_the_last_minute_and_the_sparkline() -> None:
    view = ExportView.started(T0)
    for second in range(1, 121):  # 3/s for a minute, then 1/s for a minute
        view.apply(progress(3 * min(second, 60) + max(0, second - 60)), T0 + second)
    assert view.rate(T0 + 120) == 1.0
    points = view.sparkline(T0 + 120)
    assert len(points) == 60 and set(points) == {1.0}


def test_eta_from_the_rate_and_the_budget() -> None:
    view = ExportView.started(T0)
    for second in range(1, 11):
        view.apply(progress(2 * second, done=2 * second, remaining=9_000), T0 + second)
    seconds, budget_bound = view.eta(T0 + 10) or (0.0, True)
    assert (round(seconds), budget_bound) == (490, False)  # 980 left at 2/s
    view.apply(progress(20, done=20, remaining=100), T0 + 10)  # 100 requests left this hour, reset in 590 s
    seconds, budget_bound = view.eta(T0 + 10) or (0.0, False)
    assert budget_bound and seconds > 590
    view.apply(events.Throttled(until=T0 + 70, reason="budget spent"), T0 + 10)
    assert view.throttled() and clock_text(70 - 10) == "1:00"


def test_failures_grouped_by_cause_with_a_bounded_list() -> None:
    view = ExportView.started(T0)
    numeric = Diagnostic(0, 422, "validationError", "custom10 is numeric in Outreach", "custom10", None, "map text")
    for prospect in range(1, 35):
        view.apply(events.ProspectFailed(replace(numeric, prospect_id=prospect)), T0)
    view.apply(events.ProspectFailed(Diagnostic(99, 404, "resourceNotFound", "gone")), T0)
    causes = sorted(view.causes.values(), key=lambda cause: -cause.count)
    assert [(cause.count, len(cause.examples)) for cause in causes] == [(34, EXAMPLES_PER_CAUSE), (1, 1)]
    assert causes[0].examples == [1, 2, 3, 4, 5]
    assert causes[0].title == "custom10: custom10 is numeric in Outreach (validationError, HTTP 422)"
    assert view.failures == 35


def test_imports_cleanup_and_carried_over_lines() -> None:
    view = ExportView.started(0.0)
    assert view.imports_text() == ""
    view.apply(events.StrategyChosen("bulk", "[export] strategy = \"bulk\""), 0.5)
    view.apply(events.ImportsProgress(in_flight=2, records_in_flight=1800, finished=5, records_finished=5000,
                                      polls=7), 1.0)
    assert (view.strategy, view.imports_text()) == (
        "bulk", "imports: 2 in flight (1,800 records), 5 finished (5,000 records), 7 polls")
    view.apply(events.CleanupAnnounced("custom4", 37, "segment seg-emea left the profile", "clearing custom4"), 1.5)
    report = {"prospects": {"carried_over": 3}, "cleared": {"fields": 37, "prospects": 36, "skipped": 1,
                                                            "failed": 0, "left": 0}}
    finished = events.Finished(counts=events.Counts(sent=40, activated=37), exit_code=0, report_path=None,
                               report=report, message="done")
    view.apply(finished, 2.0)
    view.finish(finished, 2.5)  # the worker's end comes after the Finished event: nothing doubles
    assert view.cleanup + view.notes == [
        "clearing custom4", "cleanup: 37 values cleared on 36 prospects, 1 skipped (changed since)",
        "carried over from earlier runs' dead letters: 3 prospects"]
