"""The state store: diff against what Outreach last accepted, dead letters, runs, locations, durability."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.state import StateError, StateStore, default_state_path, state_path_for
from outreach_tui.profile import profile_from_dict


def make_profile(name: str = "EMEA", api_base: str = "https://api.outreach.io/api/v2", **export: object):
    return profile_from_dict({"destination": {"name": name}, "outreach": {"api_base": api_base},
                              "source": {"path": "in.jsonl"}, "export": export})


def diff(store: StateStore, planned: dict[int, dict], full_resync: bool = False) -> dict[int, dict]:
    return {c.prospect_id: c.attributes for c in store.diff(planned.items(), full_resync=full_resync)}


def test_first_run_sends_everything_then_only_changed_fields(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.sqlite3") as store:
        planned = {1: {"firstName": "Ann", "custom4": "realized"}, 2: {"firstName": "Bo"}}
        assert diff(store, planned) == planned
        for change in store.diff(planned.items()):
            store.record_accepted(change.prospect_id, change.attributes, change.previous)
        assert diff(store, planned) == {1: {}, 2: {}}
        changed = {1: {"firstName": "Ann", "custom4": "exited"}, 2: {"firstName": "Bo", "title": "CTO"}}
        assert diff(store, changed) == {1: {"custom4": "exited"}, 2: {"title": "CTO"}}


def test_values_compare_by_json_type(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.sqlite3") as store:
        store.record_accepted(1, {"score": 1, "optedOut": True, "tags": ["a"]}, None)
        assert diff(store, {1: {"score": 1.5, "optedOut": 1, "tags": ["a"]}}) == {1: {"score": 1.5, "optedOut": 1}}
        assert diff(store, {1: {"score": 1, "optedOut": True, "tags": ["a", "b"]}}) == {1: {"tags": ["a", "b"]}}


def test_accepted_values_merge_with_earlier_fields(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.sqlite3") as store:
        store.record_accepted(7, {"firstName": "Ann"}, None)
        previous = store.last_accepted([7])[7]
        store.record_accepted(7, {"title": "CTO"}, previous)
        assert store.last_accepted([7]) == {7: {"firstName": "Ann", "title": "CTO"}}


def test_dead_letters_resend_full_values_until_accepted(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with StateStore.open(path) as store:
        store.record_accepted(3, {"firstName": "Cy", "custom4": "realized"}, None)
        store.record_failed(Diagnostic(3, 422, "validationError", "bad custom5", "custom5"))
    with StateStore.open(path) as store:
        assert store.dead_letters == {3}
        planned = {3: {"firstName": "Cy", "custom4": "realized", "custom5": "x"}}
        changes = list(store.diff(planned.items()))
        assert changes[0].attributes == planned[3] and changes[0].retry_of_dead_letter
        store.record_accepted(3, planned[3], changes[0].previous)
        assert store.dead_letters == set()
    with StateStore.open(path) as store:
        assert store.dead_letters == set()
        assert diff(store, planned) == {3: {}}


def test_full_resync_ignores_state(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.sqlite3") as store:
        store.record_accepted(1, {"firstName": "Ann"}, None)
        assert diff(store, {1: {"firstName": "Ann"}}, full_resync=True) == {1: {"firstName": "Ann"}}


def test_read_only_store_over_missing_file_is_empty_and_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "s.sqlite3"
    with StateStore.open(path, read_only=True) as store:
        assert diff(store, {1: {"firstName": "Ann"}}) == {1: {"firstName": "Ann"}}
        with pytest.raises(StateError):
            store.record_accepted(1, {"firstName": "Ann"}, None)
    assert not path.exists() and not path.parent.exists()


def test_runs_are_recorded(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.sqlite3") as store:
        run_id = store.start_run("2026-01-01T00:00:00Z", dry_run=False, full_resync=True)
        store.finish_run("2026-01-01T00:01:00Z", 0, {"destination": "x"})
        assert store.runs()[0]["id"] == run_id and store.runs()[0]["exit_code"] == 0


def test_unwritable_location_is_a_state_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StateError, match="cannot open the export state"):
        StateStore.open(blocker / "s.sqlite3")


def test_default_location_is_per_destination_under_the_data_dir(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTREACH_TUI_DATA_DIR", str(tmp_path))
    emea, apac = make_profile("Outreach EMEA"), make_profile("Outreach APAC")
    assert default_state_path(emea).parent == tmp_path / "state"
    assert default_state_path(emea).name.startswith("outreach-emea-")
    assert default_state_path(emea) != default_state_path(apac)
    assert default_state_path(emea) != default_state_path(make_profile("Outreach EMEA", "https://x.example/api/v2"))
    assert state_path_for(emea, tmp_path / "cli.sqlite3") == tmp_path / "cli.sqlite3"
    assert state_path_for(make_profile(state_path="/srv/state.sqlite3")) == Path("/srv/state.sqlite3")


def test_accepted_update_survives_a_killed_process(tmp_path: Path) -> None:
    """Each accepted prospect is committed at once: SIGKILL right after record_accepted loses nothing."""
    path = tmp_path / "s.sqlite3"
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from outreach_tui.export.state import StateStore\n"
        "store = StateStore.open(Path(sys.argv[1]))\n"
        "for i in range(1, 101):\n"
        "    store.record_accepted(i, {'firstName': f'N{i}'}, None)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], check=False)
    assert result.returncode == -9
    rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM accepted").fetchone()[0]
    assert rows == 100
    with StateStore.open(path) as store:  # the killed writer's lock went with it: the next run goes ahead
        assert store.accepted_count() == 100
