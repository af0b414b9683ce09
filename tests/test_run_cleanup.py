"""Fields the profile no longer maps are cleared where this destination wrote them, through the sandbox over
real HTTP: a segment removed, a segment's mapping ID changed, an attribute row removed, clear_on_unmap =
false, the dry run's list, the headless line and the face's read-only preview."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from test_run_support import cli_env, read_report, record, run_cli, run_export, token_for, write_records

from outreach_tui.export.cleanup import pending_cleanup
from outreach_tui.export.connect import connector
from outreach_tui.export.events import CleanupAnnounced
from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.export.state import StateStore
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.profile import load_profile
from outreach_tui.sandbox import Sandbox

BOTH = (("seg-emea", 4), ("seg-trial", 5))
ROWS = (("person.name.firstName", "firstName"), ("person.jobTitle", "title"))


def profile_at(directory: Path, api_base: str, segments: Iterable[tuple[str, int]] = BOTH,
               mapping: Iterable[tuple[str, str]] = ROWS, export: dict[str, Any] | None = None) -> Path:
    lines = ["[destination]", 'name = "Cleanup test"', "", "[outreach]", f'api_base = "{api_base}"',
             f'token_url = "{api_base.rsplit("/api/", 1)[0]}/oauth/token"', 'client_id = "outreach-tui-sandbox"', "",
             "[source]", 'path = "in.jsonl"', ""]
    for source, target in mapping:
        lines += ["[[mapping]]", f'source = "{source}"', f'target = "{target}"', ""]
    for segment_id, mapping_id in segments:
        lines += ["[[segments]]", f'id = "{segment_id}"', f"mapping_id = {mapping_id}", ""]
    lines += ["[export]", *(f"{k} = {json.dumps(v)}" for k, v in {"concurrency": 2, **(export or {})}.items())]
    path = directory / "profile.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def seed_records(directory: Path) -> None:
    """Prospects 1-4 in seg-emea, 5-6 in seg-trial; every one gets a first name and a title."""
    rows = [record(i, f"first-{i}", f"title-{i}", {"seg-emea": "realized"}) for i in range(1, 5)]
    rows += [record(i, f"first-{i}", f"title-{i}", {"seg-trial": "existing"}) for i in (5, 6)]
    write_records(directory / "in.jsonl", rows)


def set_in_outreach(sb: Sandbox, prospect_id: int, **values: Any) -> None:
    """Someone else changes a prospect in Outreach, behind this destination's back."""
    sb.add_prospects({prospect_id: {**(sb.prospect(prospect_id) or {}), **values}})


def value(sb: Sandbox, prospect_id: int, name: str) -> Any:
    return (sb.prospect(prospect_id) or {}).get(name)


def first_run(tmp_path: Path, sb: Sandbox) -> None:
    seed_records(tmp_path)
    finished, _ = run_export(profile_at(tmp_path, sb.api_base), sb=sb)
    assert finished.exit_code == 0, finished.message
    assert [value(sb, i, "custom4") for i in range(1, 7)] == ["realized"] * 4 + [None] * 2


def test_removing_a_segment_clears_its_field_only_where_this_destination_wrote_it(
        tmp_path: Path, sandbox: Sandbox) -> None:
    first_run(tmp_path, sandbox)
    set_in_outreach(sandbox, 2, custom4="set by a colleague")  # no longer ours
    set_in_outreach(sandbox, 7, custom4="realized")  # same text, but this destination never wrote it
    sandbox.reset_stats()

    finished, events = run_export(profile_at(tmp_path, sandbox.api_base, segments=[("seg-trial", 5)]), sb=sandbox)

    assert finished.exit_code == 0, finished.message
    assert [value(sandbox, i, "custom4") for i in (1, 3, 4)] == [None, None, None]
    assert value(sandbox, 2, "custom4") == "set by a colleague"
    assert value(sandbox, 7, "custom4") == "realized"
    assert [value(sandbox, i, "custom5") for i in (5, 6)] == ["existing", "existing"]
    assert [value(sandbox, i, "title") for i in range(1, 7)] == [f"title-{i}" for i in range(1, 7)]
    announced = [event for event in events if isinstance(event, CleanupAnnounced)]
    assert [event.text for event in announced] == ["clearing custom4 on 4 prospects: segment seg-emea left the profile"]
    cleared = finished.report["cleared"]
    assert (cleared["fields"], cleared["prospects"], cleared["skipped"], cleared["failed"]) == (3, 3, 1, 0)
    assert sandbox.stats.patch_count == 3  # only the clears: the rest is unchanged
    with StateStore.open(tmp_path / "state.sqlite3", read_only=True) as state:
        stored = state.last_accepted(range(1, 7))
    assert all("custom4" not in stored[i] for i in range(1, 5))  # forgotten, the colleague's one included
    assert stored[5]["custom5"] == "existing"

    again, again_events = run_export(profile_at(tmp_path, sandbox.api_base, segments=[("seg-trial", 5)]), sb=sandbox)
    assert again.exit_code == 0 and again.report["cleared"]["fields"] == 0
    assert not [event for event in again_events if isinstance(event, CleanupAnnounced)]
    assert sandbox.stats.patch_count == 3


def test_a_changed_mapping_id_moves_the_status_to_the_new_field_and_clears_the_old(
        tmp_path: Path, sandbox: Sandbox) -> None:
    first_run(tmp_path, sandbox)
    moved = profile_at(tmp_path, sandbox.api_base, segments=[("seg-emea", 6), ("seg-trial", 5)])

    finished, events = run_export(moved, sb=sandbox)

    assert finished.exit_code == 0, finished.message
    assert [value(sandbox, i, "custom6") for i in range(1, 5)] == ["realized"] * 4
    assert [value(sandbox, i, "custom4") for i in range(1, 5)] == [None] * 4
    assert [e.text for e in events if isinstance(e, CleanupAnnounced)] == [
        "clearing custom4 on 4 prospects: segment seg-emea moved to custom6"]
    assert finished.report["cleared"]["fields"] == 4


def test_removing_an_attribute_row_clears_that_attribute_only_where_ours(tmp_path: Path, sandbox: Sandbox) -> None:
    first_run(tmp_path, sandbox)
    set_in_outreach(sandbox, 3, title="Chief of Everything")
    set_in_outreach(sandbox, 9, title="title-9")  # never written by this destination
    without_title = profile_at(tmp_path, sandbox.api_base, mapping=ROWS[:1])

    finished, events = run_export(without_title, sb=sandbox)

    assert finished.exit_code == 0, finished.message
    assert [value(sandbox, i, "title") for i in range(1, 7)] == [None, None, "Chief of Everything", None, None, None]
    assert value(sandbox, 9, "title") == "title-9"
    assert [value(sandbox, i, "firstName") for i in range(1, 7)] == [f"first-{i}" for i in range(1, 7)]
    assert [value(sandbox, i, "custom4") for i in range(1, 5)] == ["realized"] * 4
    assert [e.text for e in events if isinstance(e, CleanupAnnounced)] == [
        "clearing title on 6 prospects: mapping row person.jobTitle → title was removed"]
    cleared = finished.report["cleared"]
    assert (cleared["fields"], cleared["prospects"], cleared["skipped"]) == (5, 5, 1)


def test_clear_on_unmap_false_leaves_the_fields_and_says_how_many(tmp_path: Path, sandbox: Sandbox) -> None:
    first_run(tmp_path, sandbox)
    sandbox.reset_stats()
    keep = profile_at(tmp_path, sandbox.api_base, segments=[("seg-trial", 5)], export={"clear_on_unmap": False})

    finished, events = run_export(keep, sb=sandbox)

    assert finished.exit_code == 0, finished.message
    assert [value(sandbox, i, "custom4") for i in range(1, 5)] == ["realized"] * 4
    assert sandbox.stats.patch_count == 0
    assert [e.text for e in events if isinstance(e, CleanupAnnounced)] == [
        "leaving custom4 on 4 prospects ([export] clear_on_unmap = false): segment seg-emea left the profile"]
    assert (finished.report["cleared"]["fields"], finished.report["cleared"]["left"]) == (0, 4)


def test_kept_fields_are_left_and_no_longer_tracked_so_no_later_run_clears_or_asks(
        tmp_path: Path, sandbox: Sandbox) -> None:
    first_run(tmp_path, sandbox)
    set_in_outreach(sandbox, 5, title="title-5")  # untouched: title stays mapped
    sandbox.reset_stats()
    removed = profile_at(tmp_path, sandbox.api_base, segments=[("seg-trial", 5)])

    kept, events = run_export(removed, sb=sandbox, keep_unmapped=True)  # the wizard's "Keep them"

    assert kept.exit_code == 0, kept.message
    assert [e.text for e in events if isinstance(e, CleanupAnnounced)] == [
        "leaving custom4 on 4 prospects (kept; no longer tracked): segment seg-emea left the profile"]
    assert (kept.report["cleared"]["fields"], kept.report["cleared"]["left"]) == (0, 4)
    assert not pending_cleanup(load_profile(removed), tmp_path / "state.sqlite3")
    with StateStore.open(tmp_path / "state.sqlite3", read_only=True) as state:  # the other fields stay ours
        assert state.last_accepted([1])[1] == {"firstName": "first-1", "title": "title-1"}

    later, events = run_export(removed, sb=sandbox)  # clear_on_unmap = true: still nothing to clear

    assert later.exit_code == 0, later.message
    assert [e for e in events if isinstance(e, CleanupAnnounced)] == []
    assert later.report["cleared"]["fields"] == later.report["cleared"]["left"] == 0
    assert sandbox.stats.patch_count == 0
    assert [value(sandbox, i, "custom4") for i in range(1, 5)] == ["realized"] * 4


def test_dry_run_lists_the_fields_to_clear_and_sends_nothing(tmp_path: Path, sandbox: Sandbox) -> None:
    first_run(tmp_path, sandbox)
    sandbox.reset_stats()
    removed = profile_at(tmp_path, sandbox.api_base, segments=[("seg-trial", 5)])

    preview = pending_cleanup(load_profile(removed), tmp_path / "state.sqlite3")
    finished, _ = run_export(removed, sb=sandbox, dry_run=True)

    assert [(item.field, item.prospects, item.reason) for item in preview.fields] == [
        ("custom4", 4, "segment seg-emea left the profile")]
    assert preview.lines() == ["clearing custom4 on 4 prospects: segment seg-emea left the profile"]
    assert finished.exit_code == 0, finished.message
    assert sandbox.stats.count() == 0
    cleared = finished.report["cleared"]
    assert cleared["would_clear"] == {"fields": 4, "prospects": 4}
    assert cleared["prospects_listed"] == [{"prospect_id": i, "fields": {"custom4": "realized"}} for i in range(1, 5)]
    assert [value(sandbox, i, "custom4") for i in range(1, 5)] == ["realized"] * 4

    real, _ = run_export(removed, sb=sandbox)  # the dry run left the state as it was
    assert real.report["cleared"]["fields"] == 4


def test_headless_run_says_what_it_clears_before_it_starts(tmp_path: Path, sandbox: Sandbox) -> None:
    first_run(tmp_path, sandbox)
    removed = profile_at(tmp_path, sandbox.api_base, segments=[("seg-trial", 5)])
    report = tmp_path / "report.json"

    done = run_cli(removed, "--state", tmp_path / "state.sqlite3", "--report", report,
                   env=cli_env(tmp_path / "data", token_for(sandbox)))

    assert done.returncode == 0, done.stderr
    assert "clearing custom4 on 4 prospects: segment seg-emea left the profile" in done.stderr.splitlines()
    assert ("cleanup: 4 fields cleared on 4 prospects, 0 left as changed in Outreach since, 0 failed "
            "(tried again next run)") in done.stderr.splitlines()
    assert read_report(report)["cleared"]["fields"] == 4
    assert [value(sandbox, i, "custom4") for i in range(1, 5)] == [None] * 4


def test_a_clear_outreach_refuses_stays_in_the_state_and_fails_the_run(tmp_path: Path, sandbox: Sandbox) -> None:
    first_run(tmp_path, sandbox)
    required = {"type": "string", "label": "EMEA high intent", "required": True, "definition": None}
    sandbox.set_types({"data": [{"type": "prospect", "meta": {"validations": {"custom4": required}}}]})
    removed = profile_at(tmp_path, sandbox.api_base, segments=[("seg-trial", 5)])

    finished, _ = run_export(removed, sb=sandbox)

    assert finished.exit_code == 1, finished.message
    cleared = finished.report["cleared"]
    assert (cleared["fields"], cleared["failed"]) == (0, 4)
    assert [failure["status"] for failure in cleared["failures"]] == [422] * 4
    assert [value(sandbox, i, "custom4") for i in range(1, 5)] == ["realized"] * 4

    sandbox.set_types({"data": [{"type": "prospect", "meta": {"validations": {}}}]})
    again, _ = run_export(removed, sb=sandbox)  # kept in the state: tried again
    assert again.exit_code == 0 and again.report["cleared"]["fields"] == 4
    assert [value(sandbox, i, "custom4") for i in range(1, 5)] == [None] * 4


def test_outreach_unreachable_while_clearing_exits_4_and_keeps_the_fields_to_clear(
        tmp_path: Path, sandbox: Sandbox) -> None:
    first_run(tmp_path, sandbox)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{probe.getsockname()[1]}/api/v2"
    removed = load_profile(profile_at(tmp_path, nowhere, segments=[("seg-trial", 5)]))
    runner = ExportRunner(removed, RunOptions(state_path=tmp_path / "state.sqlite3"),
                          connect=connector(removed, tokens=StaticTokenSource("token"),
                                            retry=RetryPolicy(max_attempts=2, base_delay=0.01)))

    finished = asyncio.run(runner.run())

    assert finished.exit_code == 4, finished.message
    assert finished.report["cleared"]["fields"] == 0
    preview = pending_cleanup(removed, tmp_path / "state.sqlite3")
    assert [(item.field, item.prospects) for item in preview.fields] == [("custom4", 4)]
