"""Files and messages through the command line (``python -m outreach_tui``): the report, the state, the profile
and the input never overwrite each other; the report is written atomically; a state file that is not ours
or is damaged is refused untouched; an input of nothing but malformed lines is a usage error; lists of
problems on the terminal end with "and N more"."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from test_run_support import cli_env, record, write_profile, write_records

from outreach_tui.export.state import StateStore

OFFLINE_API = "http://127.0.0.1:9/api/v2"  # nothing listens: these runs must stop before any request


def outreach_tui(*args: str | Path, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "outreach_tui", *map(str, args)], env=cli_env(data),
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    write_records(tmp_path / "in.jsonl", [record(i, f"first-{i}", f"title-{i}") for i in range(1, 4)])
    return write_profile(tmp_path, OFFLINE_API)


def fingerprint(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), path.stat().st_mtime_ns


def test_a_report_over_the_input_is_refused_and_the_input_kept(tmp_path: Path, profile: Path) -> None:
    source = tmp_path / "in.jsonl"
    before = fingerprint(source)

    done = outreach_tui("--run", profile, "--dry-run", "--report", tmp_path / "sub" / ".." / "in.jsonl",
                        data=tmp_path / "data")

    assert done.returncode == 2, done.stderr
    assert "[source] path and --report are the same file" in done.stderr and "another file for --report" in done.stderr
    assert fingerprint(source) == before


def test_a_state_over_the_profile_or_the_report_is_refused(tmp_path: Path, profile: Path) -> None:
    before = fingerprint(profile)

    over_profile = outreach_tui("--run", profile, "--state", profile, data=tmp_path / "data")
    over_report = outreach_tui("--run", profile, "--dry-run", "--input", tmp_path / "in.jsonl", "--state",
                               tmp_path / "out.json", "--report", tmp_path / "out.json", data=tmp_path / "data")

    assert over_profile.returncode == 2 and "the profile and --state are the same file" in over_profile.stderr
    assert fingerprint(profile) == before
    assert not (tmp_path / "profile.toml.lock").exists()
    assert over_report.returncode == 2 and "--state and --report are the same file" in over_report.stderr
    assert not (tmp_path / "out.json").exists()


def test_a_report_that_cannot_be_written_leaves_no_temporary_file(tmp_path: Path, profile: Path) -> None:
    (tmp_path / "reports").mkdir()

    done = outreach_tui("--run", profile, "--dry-run", "--report", tmp_path / "reports", data=tmp_path / "data")

    assert done.returncode == 2 and "cannot write the report" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "data") == ["in.jsonl", "profile.toml", "reports"]


def foreign_database(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO contacts (name) VALUES ('Ada')")
    db.close()
    return path


def damaged_state(path: Path) -> None:
    """A state of ours whose pages past the schema are overwritten: only reading them finds the damage."""
    with StateStore.open(path) as store:
        for prospect_id in range(1, 3001):
            store.record_accepted(prospect_id, {"firstName": "x" * 40, "title": "y" * 40}, None)
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 20_000] = bytes(range(256)) * 78 + bytes(32)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize(("kind", "expected"), [
    ("foreign", "an SQLite database of another program (tables: contacts)"),
    ("text", "not an SQLite database"),
    ("damaged", "the export state is damaged"),
    ("damaged inside", "the export state is damaged"),
])
def test_a_state_file_that_is_not_ours_is_refused_untouched(tmp_path: Path, profile: Path, kind: str,
                                                            expected: str, dry_run: bool) -> None:
    state = tmp_path / "other.db"
    if kind == "foreign":
        foreign_database(state)
    elif kind == "text":
        state.write_text("name,email\nAda,ada@example.com\n", encoding="utf-8")
    elif kind == "damaged":
        state.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
    else:
        damaged_state(state)
    before = fingerprint(state)

    done = outreach_tui("--run", profile, "--state", state, *(["--dry-run"] if dry_run else []),
                        data=tmp_path / "data")

    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "left untouched" in done.stderr
    assert "--state NEW_FILE, or move this file away" in done.stderr
    assert "Traceback" not in done.stderr
    assert fingerprint(state) == before
    if kind != "damaged inside":  # (a reader of a WAL database, ours, may add its -wal and -shm files)
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("other.db")) == ["other.db"]


def test_an_input_of_nothing_but_malformed_lines_exits_2(tmp_path: Path, profile: Path) -> None:
    write_records(tmp_path / "in.jsonl", ["{not json", "[1, 2]", "plain text"])

    run = outreach_tui("--run", profile, "--dry-run", data=tmp_path / "data")
    check = outreach_tui("validate", profile, data=tmp_path / "data")

    assert run.returncode == 2 and "every record is malformed (3)" in run.stderr
    assert check.returncode == 2 and "every record is malformed (3)" in check.stderr


def test_lists_of_problems_on_the_terminal_end_with_and_n_more(tmp_path: Path, profile: Path) -> None:
    too_long = "x" * 300  # title holds at most 255 characters: each prospect fails locally
    write_records(tmp_path / "in.jsonl", [record(i, "first", too_long) for i in range(1, 26)]
                  + ["{broken"] * 30)

    run = outreach_tui("--run", profile, "--dry-run", data=tmp_path / "data")
    check = outreach_tui("validate", profile, data=tmp_path / "data")

    assert run.returncode == 1, run.stderr
    assert run.stderr.count("title") >= 20
    assert "… and 5 more failures; the report lists them (--report FILE.json)" in run.stderr
    assert check.returncode == 1, check.stderr
    assert check.stderr.count(": malformed:") == 10
    assert "… and 20 more (outreach-tui validate --json lists up to 1,000)" in check.stderr
    assert "… and 15 more (outreach-tui validate --json" in check.stderr


def test_validate_counts_past_the_listed_thousand(tmp_path: Path, profile: Path) -> None:
    write_records(tmp_path / "in.jsonl", [record(1, "first", "title")] + ["{broken"] * 1500)

    check = outreach_tui("validate", profile, data=tmp_path / "data")

    assert check.returncode == 0, check.stderr
    assert "… and 1,490 more (outreach-tui validate --json lists up to 1,000)" in check.stderr
    assert os.linesep.join(check.stderr.splitlines()).count("malformed: ") == 10
