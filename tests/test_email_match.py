"""Matching records by email (``[identity] match = "email"``) through real HTTP against the sandbox: lookups
in batches, counted by the sandbox; exclusions; the cache in the state; a cached id that answers 404; dry
runs. Planner-level cases (order rule, spilled and in-memory equivalence) use the cache alone."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_run_support import record, run_export, write_profile, write_records

from outreach_tui.export.connect import connector
from outreach_tui.export.email_match import RECHECK_AFTER, URL_BUDGET, EmailMatcher, batches, encoded_size
from outreach_tui.export.events import Event, Excluded, Progress
from outreach_tui.export.plan import PlannedProspect, Planner
from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.export.state import StateStore
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.profile import load_profile
from outreach_tui.sandbox import Sandbox
from outreach_tui.xdm.records import Record

LIST_ROUTE = "/api/v2/prospects"


def email_profile(directory: Path, api_base: str, identity: str = 'match = "email"') -> Path:
    path = write_profile(directory, api_base)
    path.write_text(path.read_text() + f"\n[identity]\n{identity}\n", encoding="utf-8")
    return path


def by_email(email: str, first: str, **extra: Any) -> dict[str, Any]:
    return {"identityMap": {"Email": [{"id": email}]}, "person": {"name": {"firstName": first}}, **extra}


def lookups_sent(sb: Sandbox) -> int:
    return sb.stats.count("GET", LIST_ROUTE)


def test_profiles_with_only_emails_activate_their_prospects_and_a_rerun_costs_nothing(
        tmp_path: Path, sandbox: Sandbox) -> None:
    # prospects 1..40 hold one email each (written in mixed case in Outreach), 41 and 42 share one
    sandbox.add_prospects({i: {"emails": [f"Person.{i}@Corp.Example"]} for i in range(1, 41)})
    sandbox.add_prospects({41: {"emails": ["shared@corp.example"]}, 42: {"emails": ["Shared@corp.example"]}})
    rows = [by_email(f"person.{i}@corp.example" if i % 2 else f"PERSON.{i}@CORP.EXAMPLE ", f"first-{i}")
            for i in range(1, 41)]
    rows += [by_email("shared@corp.example", "Sam"), by_email("nobody@corp.example", "Nia"),
             {"identityMap": {"Email": [{"id": "not an email"}]}}, {"identityMap": {"Oid": [{"id": "x"}]}}]
    write_records(tmp_path / "in.jsonl", rows)
    profile = email_profile(tmp_path, sandbox.api_base)

    finished, events = run_export(profile, sb=sandbox)

    report = finished.report
    assert finished.exit_code == 0, finished.message
    progress = [event for event in events if isinstance(event, Progress)][-1]
    assert (progress.counts.lookups, progress.counts.matched_by_email) == (1, 40)  # the events count them too
    assert sorted(event.reason for event in events if isinstance(event, Excluded)) == [
        "ambiguous email", "invalid OutreachId", "invalid email", "no prospect with this email"]
    assert all((sandbox.prospect(i) or {}).get("firstName") == f"first-{i}" for i in range(1, 41))
    assert [(sandbox.prospect(i) or {}).get("firstName") for i in (41, 42)] == [None, None]
    assert report["records"] == {"read": 44, "planned": 40, "excluded": 4, "malformed": 0}
    assert report["identities"] == {"matched_by_email": 40}
    assert report["prospects"]["activated"] == 40
    assert [(e["line"], e["reason"]) for e in report["exclusions"]] == [
        (43, "invalid email"), (44, "invalid OutreachId"), (41, "ambiguous email"),
        (42, "no prospect with this email")]
    assert report["exclusions"][2]["detail"] == "shared@corp.example is held by prospects 41 and 42"
    assert report["exclusions"][1]["detail"].endswith("and no email in identityMap.Email")
    # 42 distinct emails fit one request: one lookup, counted alike by the report and the sandbox
    assert report["requests"]["lookups"] == lookups_sent(sandbox) == sandbox.stats.count("GET", LIST_ROUTE, 200) == 1
    assert (report["requests"]["sent"], report["requests"]["reads"]) == (40, 2)  # 40 PATCH; 1 lookup, GET /types

    again, _ = run_export(profile, sb=sandbox)

    assert again.exit_code == 0
    # no lookup and no PATCH; the one read is the run's GET /types (the profile writes custom fields)
    assert again.report["requests"] == {"sent": 0, "reads": 1, "retried": 0, "rate_limited": 0, "imports": 0,
                                        "polls": 0, "records_per_import": 0, "lookups": 0}
    assert again.report["prospects"]["unchanged"] == 40 and again.report["identities"]["matched_by_email"] == 40
    assert [e["reason"] for e in again.report["exclusions"]] == [e["reason"] for e in report["exclusions"]]
    assert lookups_sent(sandbox) == 1 and sandbox.stats.patch_count == 40


def test_lookups_are_batched_one_request_per_page_of_emails(tmp_path: Path, sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(prospects=0)
    emails = [f"customer.number.{i}@example-company.example" for i in range(1, 1201)]
    sandbox.add_prospects({i: {"emails": [email]} for i, email in enumerate(emails[:1000], start=1)})
    write_records(tmp_path / "in.jsonl", [by_email(email, "Kim") for email in emails] + [by_email(emails[0], "Kay")])
    profile = email_profile(tmp_path, sandbox.api_base)

    finished, _ = run_export(profile, sb=sandbox)

    report = finished.report
    pages = list(batches(emails))
    assert [email for batch in pages for email in batch] == emails
    for batch, following in pairwise(pages):  # each page is full: the next email is too many
        assert len(batch) == 1000 or sum(map(encoded_size, [*batch, following[0]])) > URL_BUDGET
    assert sandbox.stats.count("GET", LIST_ROUTE, 414) == 0
    assert report["requests"]["lookups"] == sandbox.stats.count("GET", LIST_ROUTE, 200) == len(pages) == 4
    assert report["identities"]["matched_by_email"] == 1001 and report["prospects"]["activated"] == 1000
    assert report["exclusions_total"] == 200
    assert (sandbox.prospect(1) or {}).get("firstName") == "Kay"  # the later record wins


def test_a_server_with_shorter_urls_costs_one_request_more(tmp_path: Path, sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(prospects=0, max_url_bytes=8192)  # nginx's default request line buffer
    emails = [f"customer.number.{i}@example-company.example" for i in range(1, 1201)]
    sandbox.add_prospects({i: {"emails": [email]} for i, email in enumerate(emails, start=1)})
    write_records(tmp_path / "in.jsonl", [by_email(email, "Kim") for email in emails])

    finished, _ = run_export(email_profile(tmp_path, sandbox.api_base), sb=sandbox)

    assert finished.exit_code == 0 and finished.counts.activated == 1200
    assert sandbox.stats.count("GET", LIST_ROUTE, 414) == 1  # then every batch fits
    assert finished.report["requests"]["lookups"] == sandbox.stats.count("GET", LIST_ROUTE, 200) == 8


def test_a_lookup_that_fails_for_good_excludes_its_records_and_caches_nothing(
        tmp_path: Path, sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(prospects=0, max_url_bytes=60)  # not even one email fits
    sandbox.add_prospects({4: {"emails": ["ann@corp.example"]}})
    write_records(tmp_path / "in.jsonl", [by_email("ann@corp.example", "Ann")])
    profile = email_profile(tmp_path, sandbox.api_base)

    failed, _ = run_export(profile, sb=sandbox)

    assert failed.exit_code == 0 and failed.counts.excluded == 1
    assert failed.report["exclusions"][0]["reason"] == "email lookup failed"
    assert "414" in failed.report["exclusions"][0]["detail"]
    assert failed.report["requests"]["lookups"] == 0 and sandbox.stats.count("GET", LIST_ROUTE, 414) == 1
    again, _ = run_export(profile, sb=sandbox)
    assert sandbox.stats.count("GET", LIST_ROUTE, 414) == 2 and again.counts.excluded == 1  # asked again


def test_a_cached_prospect_that_answers_404_is_looked_up_again_next_run(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.add_prospects({7: {"emails": ["moved@corp.example"]}})
    profile = email_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [by_email("moved@corp.example", "v1")])
    assert run_export(profile, sb=sandbox)[0].counts.activated == 1
    sandbox.delete_prospect(7)  # deleted in Outreach, and the email given to a new prospect
    sandbox.add_prospects({60: {"emails": ["moved@corp.example"]}})
    write_records(tmp_path / "in.jsonl", [by_email("moved@corp.example", "v2")])

    stale, _ = run_export(profile, sb=sandbox)  # the cache says 7: it answers 404

    assert stale.exit_code == 1 and stale.report["failures"][0]["prospect_id"] == 7
    assert stale.report["requests"]["lookups"] == 0 and lookups_sent(sandbox) == 1

    fresh, _ = run_export(profile, sb=sandbox)

    assert fresh.exit_code == 0 and fresh.counts.activated == 1
    assert fresh.report["requests"]["lookups"] == 1 and lookups_sent(sandbox) == 2
    assert (sandbox.prospect(60) or {}).get("firstName") == "v2"


def test_dry_runs_look_up_when_signed_in_and_never_cache(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.add_prospects({3: {"emails": ["ann@corp.example"]}})
    profile = email_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [by_email("ann@corp.example", "Ann")])

    signed_out, _ = run_export(profile, dry_run=True)  # no token anywhere: the cache alone, which is empty

    assert signed_out.exit_code == 0 and lookups_sent(sandbox) == 0
    assert [e["reason"] for e in signed_out.report["exclusions"]] == ["email not looked up"]
    assert "sign in" in signed_out.report["exclusions"][0]["detail"]

    signed_in, _ = run_export(profile, sb=sandbox, dry_run=True)

    assert signed_in.report["planned_updates_sample"] == [
        {"data": {"type": "prospect", "id": 3, "attributes": {"firstName": "Ann"}}}]
    assert signed_in.report["requests"]["lookups"] == 1 and sandbox.stats.patch_count == 0

    real, _ = run_export(profile, sb=sandbox)  # the dry run cached nothing: this run looks up again
    assert real.report["requests"]["lookups"] == 1 and real.counts.activated == 1


def test_email_path_reads_the_email_from_a_field(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.add_prospects({9: {"emails": ["work@corp.example"]}})
    profile = email_profile(tmp_path, sandbox.api_base, 'match = "email"\nemail_path = "workEmail.address"')
    row = by_email("home@mail.example", "Zoe", workEmail={"address": "work@corp.example"})
    write_records(tmp_path / "in.jsonl", [row])

    finished, _ = run_export(profile, sb=sandbox)

    assert finished.counts.activated == 1 and (sandbox.prospect(9) or {}).get("firstName") == "Zoe"


# ----- the planner side: order rule, spilled and in-memory equivalence (answers from the cache) ---------

def plan_with_cache(directory: Path, items: list[Any], cache: dict[str, list[int]], spill_after: int = 50_000,
                    ) -> tuple[list[PlannedProspect], list[tuple[int, str, str]], Planner]:
    profile_path = email_profile(directory, "http://127.0.0.1:9/api/v2")
    planner = Planner(load_profile(profile_path), spill_after=spill_after)
    with StateStore.open(directory / "state.sqlite3") as state:
        state.record_email_matches(cache.items(), 2e9)  # answered "now" (far in the future): trusted
        for line, data in enumerate(items, start=1):
            planner.add(Record(line, data, None) if isinstance(data, dict) else Record(line, None, "bad"))
        asyncio.run(EmailMatcher(state, planner.tally, None, write_cache=False).match(planner))
    prospects = list(planner.prospects())
    planner.close()
    exclusions = [(e.line, e.reason, e.detail) for e in planner.tally.exclusions]
    return prospects, exclusions, planner


def test_records_matched_by_email_are_merged_after_those_identified_by_id(tmp_path: Path) -> None:
    items = [record(5, "by-id-first", "t1"), by_email("a@x.example", "by-email"), record(5, "by-id-last"),
             by_email("b@x.example", "new")]
    prospects, _, planner = plan_with_cache(tmp_path, items, {"a@x.example": [5], "b@x.example": [8]})
    assert [(p.prospect_id, p.attributes.get("firstName"), p.attributes.get("title")) for p in prospects] == [
        (5, "by-email", "t1"), (8, "new", None)]
    counts = planner.tally
    assert (counts.read, counts.planned, counts.matched_by_email, counts.awaiting_lookup) == (4, 4, 2, 0)


emails = st.sampled_from(["a@x.example", "B@x.example", "c@x.example", "d@x.example", "e@x.example", "bad"])
identified = st.fixed_dictionaries({"identityMap": st.fixed_dictionaries({}, optional={
    "Oid": st.lists(st.fixed_dictionaries({"id": st.integers(1, 6) | st.just("x")}), max_size=1),
    "Email": st.lists(st.fixed_dictionaries({"id": emails}), max_size=2)})},
    optional={"title": st.text(max_size=3), "person": st.fixed_dictionaries({"name": st.fixed_dictionaries(
        {"firstName": st.text(max_size=3) | st.integers()})})})
CACHE = {"a@x.example": [1], "b@x.example": [7], "c@x.example": [], "d@x.example": [2, 3]}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(identified | st.integers(), max_size=20), st.integers(1, 3))
def test_spilled_and_in_memory_matching_give_the_same_plan(items: list[Any], spill_after: int) -> None:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        in_memory = plan_with_cache(Path(one), items, CACHE)
        spilled = plan_with_cache(Path(two), items, CACHE, spill_after=spill_after)
    assert spilled[:2] == in_memory[:2]
    counts = spilled[2].tally
    assert counts.read == len(items) == counts.planned + counts.excluded + counts.malformed
    assert counts.awaiting_lookup == 0


def test_validate_offline_says_how_many_records_need_a_lookup(tmp_path: Path) -> None:
    profile = email_profile(tmp_path, "http://127.0.0.1:9/api/v2")  # nothing listens there: nothing is asked
    write_records(tmp_path / "in.jsonl", [record(1, "Ida"), by_email("a@x.example", "A"), by_email("A@X.example", "B"),
                                          by_email("b@x.example", "C"), {"identityMap": {}}])
    command = [sys.executable, "-m", "outreach_tui", "validate", str(profile), "--offline"]

    done = subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["records"] == {"read": 5, "planned": 1, "excluded": 1, "malformed": 0, "awaiting_lookup": 3}
    assert result["email_lookups"] == {"records": 3, "emails": 2, "requests": 1}
    assert "3 records would need an email lookup (2 distinct emails: at most 1 lookup request, fewer" in done.stderr


def test_no_match_is_asked_again_after_a_day_and_full_resync_asks_everything(
        tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.add_prospects({5: {"emails": ["known@corp.example"]}})
    profile = email_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [by_email("known@corp.example", "K"), by_email("later@corp.example", "L")])
    first, _ = run_export(profile, sb=sandbox)
    assert [e["reason"] for e in first.report["exclusions"]] == ["no prospect with this email"]
    sandbox.add_prospects({6: {"emails": ["later@corp.example"]}})  # created in Outreach after the lookup

    soon, _ = run_export(profile, sb=sandbox)  # the answer "none" is trusted for a day
    assert soon.report["requests"]["lookups"] == 0 and soon.counts.excluded == 1

    with StateStore.open(tmp_path / "state.sqlite3") as state:  # a day later
        state.record_email_matches([("later@corp.example", [])], time.time() - RECHECK_AFTER - 1)
    next_day, _ = run_export(profile, sb=sandbox)
    assert next_day.report["requests"]["lookups"] == 1 and next_day.counts.activated == 1  # only 'later' asked
    assert (sandbox.prospect(6) or {}).get("firstName") == "L"

    resync, _ = run_export(profile, sb=sandbox, full_resync=True)
    assert resync.report["requests"]["lookups"] == 1 and resync.counts.activated == 2


def test_a_run_stopped_before_the_lookups_counts_every_record(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.add_prospects({5: {"emails": ["known@corp.example"]}})
    profile_path = email_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [by_email("not an email", "X"), by_email("known@corp.example", "K")])
    profile = load_profile(profile_path)
    runner: ExportRunner

    def cancel_at_the_first_exclusion(event: Event) -> None:
        if isinstance(event, Excluded):
            runner.cancel()

    tokens = StaticTokenSource(str(sandbox.issue_token()["access_token"]))
    runner = ExportRunner(profile, RunOptions(state_path=tmp_path / "state.sqlite3"), cancel_at_the_first_exclusion,
                          connect=connector(profile, tokens=tokens))
    finished = asyncio.run(runner.run())

    assert finished.exit_code == 130 and lookups_sent(sandbox) == 0
    assert finished.report["records"] == {"read": 2, "planned": 0, "excluded": 2, "malformed": 0}
    assert finished.report["exclusions"][1] == {
        "line": 2, "reason": "email not looked up",
        "detail": "known@corp.example: the run stopped before this email was looked up"}
