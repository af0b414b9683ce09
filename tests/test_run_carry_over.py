"""Dead letters keep the values they tried to write: a prospect that failed is retried by the next run even
when that run's input does not carry it (a --follow input of changes only), and the report says which were
carried over. Through real HTTP against the sandbox."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from test_run_support import (
    cli_env,
    read_report,
    record,
    run_cli,
    run_export,
    standard_records,
    token_for,
    write_profile,
    write_records,
)

from outreach_tui.sandbox import Sandbox


def test_a_failed_prospect_absent_from_the_next_input_is_carried_over(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [*standard_records(3), record(51, "Nia", "CTO", {"seg-emea": "realized"})])

    first, _ = run_export(profile, sb=sandbox)

    assert first.exit_code == 1 and first.counts.failed == 1  # prospect 51 does not exist yet: 404
    assert first.report["failures"][0]["carried_over"] is False
    assert first.report["prospects"]["carried_over"] == 0

    sandbox.add_prospects({51: {}})  # the cause is fixed in Outreach
    write_records(tmp_path / "in.jsonl", [record(2, "changed-2")])  # the next input carries only a change

    second, _ = run_export(profile, sb=sandbox)

    assert second.exit_code == 0, second.message
    prospects = second.report["prospects"]
    assert (prospects["targeted"], prospects["activated"], prospects["carried_over"]) == (2, 2, 1)
    nia = sandbox.prospect(51) or {}
    assert (nia.get("firstName"), nia.get("title"), nia.get("custom4")) == ("Nia", "CTO", "realized")

    third, _ = run_export(profile, sb=sandbox)  # accepted: no longer a dead letter
    assert (third.report["prospects"]["carried_over"], third.counts.sent) == (0, 0)


def test_a_carried_over_prospect_that_fails_again_is_flagged_and_kept(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [record(1, "Ada"), record(60, "Gone")])
    run_export(profile, sb=sandbox)
    write_records(tmp_path / "in.jsonl", [record(1, "Ada")])

    second, _ = run_export(profile, sb=sandbox)

    assert second.exit_code == 1
    assert (second.counts.unchanged, second.counts.failed, second.report["prospects"]["carried_over"]) == (1, 1, 1)
    failure = second.report["failures"][0]
    assert (failure["prospect_id"], failure["status"], failure["carried_over"]) == (60, 404, True)

    dry, _ = run_export(profile, sb=sandbox, dry_run=True)  # still a dead letter: a dry run shows it planned
    assert (dry.report["prospects"]["carried_over"], dry.report["prospects"]["planned"]) == (1, 1)
    assert dry.report["planned_updates_sample"][0]["data"]["attributes"] == {"firstName": "Gone"}


def test_a_state_file_from_before_keeps_working(tmp_path: Path, sandbox: Sandbox) -> None:
    state = tmp_path / "state.sqlite3"
    with sqlite3.connect(state) as db:  # a state of the release before: dead letters without their values
        db.execute("CREATE TABLE accepted (prospect_id INTEGER PRIMARY KEY, fields BLOB NOT NULL, run_id INTEGER, "
                   "accepted_at TEXT NOT NULL)")
        db.execute("CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started_at TEXT NOT NULL, "
                   "finished_at TEXT, dry_run INTEGER NOT NULL, full_resync INTEGER NOT NULL, exit_code INTEGER, "
                   "report BLOB)")
        db.execute("CREATE TABLE dead_letters (prospect_id INTEGER PRIMARY KEY, run_id INTEGER, status INTEGER, "
                   "error_id TEXT NOT NULL, detail TEXT NOT NULL, field TEXT, failed_at TEXT NOT NULL)")
        db.execute("INSERT INTO dead_letters VALUES (7, 1, 404, 'resourceNotFound', 'gone', NULL, '2026-01-01')")
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [record(1, "Ada")])

    finished, _ = run_export(profile, sb=sandbox, state_path=state)

    assert finished.exit_code == 0, finished.message
    assert (finished.counts.activated, finished.report["prospects"]["carried_over"]) == (1, 0)  # nothing stored


def test_a_follow_run_of_changes_retries_the_dead_letters_of_the_run_before(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base, export={"follow_window": 0.1})
    write_records(tmp_path / "in.jsonl", [record(1, "Ada"), record(55, "Nia")])
    state = tmp_path / "state.sqlite3"
    first, _ = run_export(profile, sb=sandbox, state_path=state)
    assert first.counts.failed == 1
    sandbox.add_prospects({55: {}})

    done = run_cli(profile, "--follow", "--input", "-", "--state", state, "--report", tmp_path / "r.json",
                   env=cli_env(tmp_path / "data", token_for(sandbox)), stdin=json.dumps(record(1, "Ada B.")) + "\n")

    assert done.returncode == 0, done.stderr
    report = read_report(tmp_path / "r.json")
    assert (report["prospects"]["activated"], report["prospects"]["carried_over"]) == (2, 1)
    assert (sandbox.prospect(55) or {}).get("firstName") == "Nia"
    assert (sandbox.prospect(1) or {}).get("firstName") == "Ada B."
