"""The dry run's fast paths give the same answers as the general ones: an empty state (no diff at all), the
diff of a store with nothing accepted, delivery a chunk at a time (a stop in the middle of a chunk), segment
counts across chunks."""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_run_support import record, standard_records, write_profile, write_records

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.events import Event, Excluded, Finished, ProspectFailed
from outreach_tui.export.report import check_counts
from outreach_tui.export.runner import DIFF_CHUNK, ExportRunner, RunOptions
from outreach_tui.export.state import StateStore
from outreach_tui.export.tally import EXCLUDED_EVENT_CAP, LIST_CAP
from outreach_tui.profile import load_profile

API_BASE = "https://127.0.0.1:9/api/v2"  # never contacted: dry runs send nothing


def test_a_store_with_nothing_accepted_diffs_everything_as_new_and_keeps_dead_letters(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.sqlite3") as store:
        store.record_failed(Diagnostic(2, 422, "validationError", "bad title", "title"))
        planned = [(1, {"firstName": "Ann"}), (2, {"title": "CTO"})]
        changes = list(store.diff(planned))
        assert [(c.prospect_id, c.attributes, c.previous) for c in changes] == [
            (1, {"firstName": "Ann"}, None), (2, {"title": "CTO"}, None)]
        assert [c.retry_of_dead_letter for c in changes] == [False, True]
        store.record_accepted(1, {"firstName": "Ann"}, None)  # from now on the diff looks values up
        assert [c.attributes for c in store.diff(planned)] == [{}, {"title": "CTO"}]


def run_dry(profile: Path, stop_on_failure: bool = False) -> Finished:
    runner: ExportRunner

    def emit(event: Event) -> None:
        if stop_on_failure and isinstance(event, ProspectFailed):
            runner.cancel()

    runner = ExportRunner(load_profile(profile), RunOptions(dry_run=True), emit)
    return asyncio.run(runner.run())


def test_segment_counts_and_outcomes_add_up_across_chunks(tmp_path: Path) -> None:
    count = DIFF_CHUNK * 2 + 7
    profile = write_profile(tmp_path, API_BASE)
    write_records(tmp_path / "in.jsonl", standard_records(count))
    finished = run_dry(profile)
    counts = finished.counts
    assert (counts.targeted, counts.dry_run_planned, counts.pending) == (count, count, 0)
    check_counts(counts, dry_run=True)
    (emea, trial) = finished.report["segments"]
    expected = {status: sum(1 for i in range(1, count + 1) if ("realized", "existing", "exited")[i % 3] == status)
                for status in ("realized", "existing", "exited")}
    assert {status: emea[status] for status in expected} == expected
    assert (trial["realized"], trial["existing"], trial["exited"]) == (0, 0, 0)


def test_a_stop_inside_a_chunk_counts_every_later_prospect_pending(tmp_path: Path) -> None:
    count = DIFF_CHUNK * 3
    failing = DIFF_CHUNK + 5  # a local failure in the second chunk stops the run (the hook cancels)
    profile = write_profile(tmp_path, API_BASE, mapping=(("person.name.firstName", "firstName"),
                                                         ("person.jobTitle", "linkedInConnections")))
    records = [record(i, f"first-{i}", "12a" if i == failing else str(i), {"seg-emea": "exited"})
               for i in range(1, count + 1)]
    write_records(tmp_path / "in.jsonl", records)
    finished = run_dry(profile, stop_on_failure=True)
    counts = finished.counts
    assert finished.exit_code == 130
    assert (counts.targeted, counts.failed) == (count, 1)
    assert (counts.dry_run_planned, counts.pending) == (failing - 1, count - failing)
    check_counts(counts, dry_run=True)
    assert finished.report["segments"][0]["exited"] == count


def test_a_dry_run_on_an_empty_state_reports_what_the_diff_path_reports(tmp_path: Path) -> None:
    """The empty-state dry run skips the per-prospect diff; a state holding one unrelated accepted prospect
    takes the diff path. Both must report the same counts, segments and sample bodies."""
    profile = write_profile(tmp_path, API_BASE, mapping=(("person.name.firstName", "firstName"),
                                                         ("person.jobTitle", "linkedInConnections")))
    records = [record(i, f"first-{i}", "12a" if i % 50 == 0 else str(i), {"seg-emea": "exited"})
               for i in range(1, DIFF_CHUNK * 2 + 3)] + [record(DIFF_CHUNK * 3)]  # one with nothing to send
    write_records(tmp_path / "in.jsonl", records)

    def dry(state: Path) -> Finished:
        options = RunOptions(dry_run=True, state_path=state)
        return asyncio.run(ExportRunner(load_profile(profile), options, lambda _: None).run())

    with StateStore.open(tmp_path / "other.sqlite3") as store:
        store.record_accepted(10**9, {"firstName": "Zed"}, None)  # not in the input
    fast, general = dry(tmp_path / "empty.sqlite3"), dry(tmp_path / "other.sqlite3")
    assert (fast.counts.failed, fast.counts.unchanged) == ((DIFF_CHUNK * 2 + 2) // 50, 1)
    assert fast.counts == general.counts
    for key in ("segments", "planned_updates_sample", "failures"):
        assert fast.report[key] == general.report[key], key


def test_lists_are_capped_and_totals_stay_exact(tmp_path: Path) -> None:
    """The report keeps LIST_CAP entries per list, the Excluded events stop at their cap, the totals count all."""
    profile = write_profile(tmp_path, API_BASE)
    extra = 7
    rows: list[dict[str, object] | str] = [{"title": "no identity"} for _ in range(LIST_CAP + extra)]
    rows += ["{not json"] * (LIST_CAP + extra) + [record(1, "Ann")]
    write_records(tmp_path / "in.jsonl", rows)
    events: list[Event] = []
    finished = asyncio.run(ExportRunner(load_profile(profile), RunOptions(dry_run=True), events.append).run())
    report = finished.report
    assert (report["records"]["excluded"], report["exclusions_total"]) == (LIST_CAP + extra, LIST_CAP + extra)
    assert len(report["exclusions"]) == LIST_CAP and len(report["malformed_lines"]) == LIST_CAP
    assert report["records"]["malformed"] == LIST_CAP + extra
    assert sum(isinstance(event, Excluded) for event in events) == EXCLUDED_EVENT_CAP
    assert finished.counts.dry_run_planned == 1
    check_counts(finished.counts, dry_run=True)
