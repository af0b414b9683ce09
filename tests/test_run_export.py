"""The export runner in-process against the sandbox over real HTTP: outcomes, diff, dead letters, resync,
dry run, local and server failures, pause/resume, cancel, auth and connection errors, events."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from test_run_support import (
    expected_values,
    record,
    run_export,
    standard_records,
    token_for,
    write_profile,
    write_records,
)

from outreach_tui.export.connect import connector
from outreach_tui.export.events import (
    Event,
    Excluded,
    Finished,
    Paused,
    Progress,
    ProspectFailed,
    Resumed,
    RunStarted,
    Throttled,
)
from outreach_tui.export.report import check_counts
from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.profile import load_profile
from outreach_tui.sandbox import Sandbox


def sandbox_values(sb: Sandbox, ids: range, fields: tuple[str, ...] = ("firstName", "title", "custom4")):
    values = {}
    for prospect_id in ids:
        prospect = sb.prospect(prospect_id) or {}
        values[prospect_id] = {name: prospect.get(name) for name in fields if prospect.get(name) is not None}
    return values


def test_export_activates_every_prospect_then_a_rerun_sends_nothing(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    rows: list = [*standard_records(30), {"identityMap": {}}, "{broken json", record("not-a-number", "x")]
    write_records(tmp_path / "in.jsonl", rows)
    report_path = tmp_path / "report.json"

    finished, events = run_export(profile, sb=sandbox, report_path=report_path)

    assert finished.exit_code == 0, finished.message
    assert sandbox_values(sandbox, range(1, 31)) == expected_values(30)
    assert sandbox.stats.patch_count == 30
    counts = finished.counts
    assert (counts.read, counts.planned, counts.excluded, counts.malformed) == (33, 30, 2, 1)
    assert (counts.targeted, counts.activated, counts.sent) == (30, 30, 30)
    report = finished.report
    assert report["exclusions"] == [{"line": 31, "reason": "missing identity", "detail": report["exclusions"][0]
                                     ["detail"]}, {"line": 33, "reason": "invalid OutreachId",
                                                   "detail": report["exclusions"][1]["detail"]}]
    assert report["malformed_lines"][0]["line"] == 32
    assert report["segments"][0] == {"id": "seg-emea", "mapping_id": 4, "realized": 10, "existing": 10,
                                     "exited": 10}
    assert report["activation_rate"] == 1.0
    assert report_path.exists()
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], Finished)
    assert sum(isinstance(event, Excluded) for event in events) == 3
    progress = [event for event in events if isinstance(event, Progress)]
    assert progress and progress[-1].counts == counts and progress[-1].segments["seg-emea"]["realized"] == 10

    again, _ = run_export(profile, sb=sandbox)
    assert again.exit_code == 0
    assert (again.counts.unchanged, again.counts.activated, again.counts.sent) == (30, 0, 0)
    assert sandbox.stats.patch_count == 30


def test_only_changed_fields_are_sent(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(20))
    run_export(profile, sb=sandbox)
    sandbox.add_prospects({3: {"firstName": "edited in Outreach", "title": "edited too"}})
    rows = standard_records(20)
    rows[2] = record(3, "v2-first-3", "title-3", {"seg-emea": "exited"})  # prospect 3: two fields changed
    write_records(tmp_path / "in.jsonl", rows)

    finished, _ = run_export(profile, sb=sandbox)

    assert (finished.counts.activated, finished.counts.unchanged, finished.counts.sent) == (1, 19, 1)
    prospect = sandbox.prospect(3) or {}
    # only firstName and custom4 were sent: the title edited in Outreach was left alone
    assert (prospect["firstName"], prospect["custom4"], prospect["title"]) == ("v2-first-3", "exited", "edited too")


def test_failed_prospects_are_dead_lettered_and_retried_next_run(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [*standard_records(5), record(51, "Nia"), record(52, "Oto")])

    finished, events = run_export(profile, sb=sandbox)

    assert finished.exit_code == 1
    assert (finished.counts.activated, finished.counts.failed) == (5, 2)
    failures = finished.report["failures"]
    assert {f["prospect_id"] for f in failures} == {51, 52}
    assert all(f["status"] == 404 and f["error_id"] == "resourceNotFound" and f["hint"] for f in failures)
    assert {e.diagnostic.prospect_id for e in events if isinstance(e, ProspectFailed)} == {51, 52}
    assert finished.report["activation_rate"] == round(5 / 7, 6)

    sandbox.add_prospects({51: {}, 52: {}})
    retried, _ = run_export(profile, sb=sandbox)

    assert retried.exit_code == 0
    assert (retried.counts.activated, retried.counts.unchanged, retried.counts.sent) == (2, 5, 2)
    assert (sandbox.prospect(52) or {}).get("firstName") == "Oto"


def test_local_conversion_failure_sends_nothing_for_that_prospect(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [record(1, "Ann", segments={"seg-emea": "bogus"}), record(2, "Bo")])

    finished, _ = run_export(profile, sb=sandbox)

    assert finished.exit_code == 1
    assert (finished.counts.failed, finished.counts.activated, finished.counts.sent) == (1, 1, 1)
    failure = finished.report["failures"][0]
    assert failure["prospect_id"] == 1 and failure["status"] is None and failure["field"] == "custom4"
    assert "EMEA high intent" in (failure["origin"] or "")
    assert (sandbox.prospect(1) or {}).get("firstName") is None


def test_full_resync_sends_every_prospect_again(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(10))
    run_export(profile, sb=sandbox)

    finished, _ = run_export(profile, sb=sandbox, full_resync=True)

    assert (finished.counts.activated, finished.counts.unchanged, finished.counts.sent) == (10, 0, 10)
    assert sandbox.stats.patch_count == 20
    assert finished.report["full_resync"] is True


def test_dry_run_plans_and_diffs_but_sends_nothing(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(8))
    state = tmp_path / "dry.sqlite3"

    finished, _ = run_export(profile, dry_run=True, state_path=state)  # no token needed

    assert finished.exit_code == 0
    assert sandbox.stats.count(method="PATCH") == 0 and not state.exists()
    assert (finished.counts.dry_run_planned, finished.counts.targeted) == (8, 8)
    report = finished.report
    assert report["dry_run"] is True and report["prospects"]["planned"] == 8
    assert report["planned_updates_sample"][0] == {"data": {"type": "prospect", "id": 1, "attributes": {
        "firstName": "v1-first-1", "title": "title-1", "custom4": "existing"}}}
    assert len(report["planned_updates_sample"]) == 5

    run_export(profile, sb=sandbox, state_path=state)
    write_records(tmp_path / "in.jsonl", [*standard_records(7), record(8, "changed")])
    dry, _ = run_export(profile, dry_run=True, state_path=state)
    assert (dry.counts.unchanged, dry.counts.dry_run_planned) == (7, 1)
    assert dry.report["planned_updates_sample"] == [{"data": {"type": "prospect", "id": 8,
                                                       "attributes": {"firstName": "changed"}}}]


def run_with_hook(profile_path: Path, sb: Sandbox, hook, **options) -> tuple[Finished, list[Event]]:
    """Run in-process, calling ``hook(runner, event)`` for every event (on the event loop)."""
    events: list[Event] = []
    options.setdefault("state_path", profile_path.parent / "state.sqlite3")
    runner: ExportRunner

    def emit(event: Event) -> None:
        events.append(event)
        hook(runner, event)

    profile = load_profile(profile_path)
    runner = ExportRunner(profile, RunOptions(**options), emit,
                          connect=connector(profile, tokens=StaticTokenSource(token_for(sb))))
    return asyncio.run(runner.run()), events


def test_cancel_drains_in_flight_counts_the_rest_pending_and_a_rerun_finishes(tmp_path: Path,
                                                                              sandbox_factory) -> None:
    sb = sandbox_factory(prospects=120, latency_ms=20)
    profile = write_profile(tmp_path, sb.api_base, export={"concurrency": 3})
    write_records(tmp_path / "in.jsonl", standard_records(120))

    def cancel_midway(runner: ExportRunner, event: Event) -> None:
        if isinstance(event, Progress) and event.counts.activated >= 10:
            runner.cancel()

    finished, _ = run_with_hook(tmp_path / "profile.toml", sb, cancel_midway)

    counts = finished.counts
    assert finished.exit_code == 130
    assert counts.pending > 0 and counts.activated >= 10 and counts.targeted == 120
    check_counts(counts, dry_run=False)
    assert sb.stats.patch_count == counts.activated  # drained: every answered PATCH was recorded

    rest, _ = run_export(profile, sb=sb)
    assert rest.exit_code == 0
    assert (rest.counts.activated, rest.counts.unchanged) == (counts.pending, counts.activated)
    assert sandbox_values(sb, range(1, 121)) == expected_values(120)


def test_pause_sends_nothing_until_resumed(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(20))

    def pause_then_resume(runner: ExportRunner, event: Event) -> None:
        if isinstance(event, RunStarted):
            runner.pause()
        elif isinstance(event, Progress) and event.phase == "sending" and runner.paused:
            assert sandbox.stats.count(method="PATCH") == 0
            runner.resume()

    finished, events = run_with_hook(profile, sandbox, pause_then_resume)

    assert finished.exit_code == 0 and finished.counts.activated == 20
    kinds = [type(event) for event in events]
    assert kinds.index(Paused) < kinds.index(Resumed)


def test_rejected_token_stops_the_run_with_exit_3(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(10))

    finished, _ = run_export(profile, StaticTokenSource("not-a-valid-token"))

    assert finished.exit_code == 3
    assert "log" in finished.message and "not-a-valid-token" not in finished.message
    assert (finished.counts.pending, finished.counts.activated) == (10, 0)


def test_missing_write_scope_stops_the_run_naming_the_scope(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(5))
    token = sandbox.issue_token(scopes=("prospects.read",))["access_token"]

    finished, _ = run_export(profile, StaticTokenSource(token))

    assert finished.exit_code == 3 and "prospects.write" in finished.message
    assert finished.counts.pending == 5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_outreach_exits_4(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, f"http://127.0.0.1:{free_port()}/api/v2")
    write_records(tmp_path / "in.jsonl", standard_records(3))

    events: list[Event] = []
    loaded = load_profile(profile)
    runner = ExportRunner(loaded, RunOptions(state_path=tmp_path / "s.sqlite3"), events.append,
                          connect=connector(loaded, tokens=StaticTokenSource("token"),
                                            retry=RetryPolicy(max_attempts=2, base_delay=0.01)))
    finished = asyncio.run(runner.run())

    assert finished.exit_code == 4, finished.message
    assert "cannot connect" in finished.message
    assert finished.counts.pending == 3


def test_missing_input_file_exits_2(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base, source="nowhere.jsonl")

    finished, _ = run_export(profile, sb=sandbox)

    assert finished.exit_code == 2 and "nowhere.jsonl" in finished.message
    assert finished.counts.read == 0


def test_throttling_is_reported_as_events_and_a_webhook_alert(tmp_path: Path, sandbox_factory) -> None:
    from test_run_cli import Receiver

    sb = sandbox_factory(prospects=30, rate_limit=10, window=1.0)
    receiver = Receiver()
    try:
        profile = write_profile(tmp_path, sb.api_base, alerts={"webhook": receiver.url, "on_throttle": True,
                                                               "on_failure": False})
        write_records(tmp_path / "in.jsonl", standard_records(25))
        finished, events = run_export(profile, sb=sb)
    finally:
        receiver.shutdown()
        receiver.server_close()

    assert finished.exit_code == 0 and finished.counts.activated == 25
    throttled = [event for event in events if isinstance(event, Throttled)]
    assert throttled and all(event.until > 0 and event.reason for event in throttled)
    assert any(isinstance(event, Resumed) for event in events)
    assert [body["kind"] for body in receiver.bodies] == ["throttled"]  # one alert, not one per throttle
    assert "throttled until" in receiver.bodies[0]["text"]
