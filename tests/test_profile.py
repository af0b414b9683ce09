"""The TOML profile: every validation rule of docs/DESIGN.md ("Export semantics", "Profile file"), and
load/save round trips."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO

from outreach_tui.profile import ProfileError, load_profile, save_profile

BASE = """\
[destination]
name = "Outreach EMEA"
description = "Segment status for EMEA campaigns"

[source]
path = "profiles.jsonl"

[identity]
namespace = "Oid"

[[mapping]]
source = "person.name.firstName"
target = "firstName"

[[segments]]
id = "seg-emea"
name = "EMEA high intent"
mapping_id = 4
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, text))
    assert str(tmp_path / "profile.toml") in str(caught.value)  # every error names the file
    return caught.value.problems


def test_a_valid_profile_loads_with_defaults(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, BASE))
    assert profile.destination.name == "Outreach EMEA"
    assert profile.identity.namespace == "Oid"
    assert profile.export.budget_per_hour == 10000 and profile.export.concurrency == 4
    assert profile.segments[0].target == "custom4"
    assert profile.source_path() == tmp_path / "profiles.jsonl"  # relative to the profile file


def test_demo_profile_round_trips_equal(tmp_path: Path) -> None:
    original = load_profile(DEMO / "demo.toml")
    saved = save_profile(original, tmp_path / "copy.toml")
    again = load_profile(saved)
    assert again == original
    assert save_profile(again, tmp_path / "copy2.toml").read_text() == saved.read_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (BASE.replace('name = "Outreach EMEA"', 'nmae = "Outreach EMEA"'),
         ["destination.nmae: unknown key — did you mean 'name'?", "destination.name: required key is missing"]),
        (BASE + "\n[exprt]\nconcurrency = 2\n", ["exprt: unknown key — did you mean 'export'?"]),
        (BASE.replace("mapping_id = 4", 'mapping_id = 4\ncolour = "red"'), ["segments[1].colour: unknown key"]),
    ],
    ids=["typo-in-table", "typo-table", "no-close-match"],
)
def test_unknown_keys_are_named_with_a_suggestion(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert sorted(problems_of(tmp_path, text)) == sorted(expected)


@pytest.mark.parametrize(
    ("mapping_id", "message"),
    [
        ("0", "segments[1].mapping_id: must be a whole number 1..150 (got 0)"),
        ("151", "segments[1].mapping_id: must be a whole number 1..150 (got 151)"),
        ('"4"', "segments[1].mapping_id: must be a whole number 1..150, not the text '4' (write it without quotes)"),
        ("4.5", "segments[1].mapping_id: must be a whole number 1..150 (got 4.5)"),
    ],
)
def test_mapping_id_must_be_an_integer_from_1_to_150(tmp_path: Path, mapping_id: str, message: str) -> None:
    problems = problems_of(tmp_path, BASE.replace("mapping_id = 4", f"mapping_id = {mapping_id}"))
    assert problems[0].startswith(message)


def test_two_segments_with_the_same_mapping_id(tmp_path: Path) -> None:
    text = BASE + '\n[[segments]]\nid = "seg-churn"\nmapping_id = 4\n'
    assert problems_of(tmp_path, text) == [
        "segments[2].mapping_id: 4 collides with segment 'EMEA high intent' (mapping ID 4), which already "
        "writes custom4; pick a free mapping ID"
    ]


def test_the_same_segment_twice(tmp_path: Path) -> None:
    text = BASE + '\n[[segments]]\nid = "seg-emea"\nmapping_id = 5\n'
    assert problems_of(tmp_path, text) == ["segments[2].id: segment 'seg-emea' is listed twice; keep one entry"]


def test_segment_mapping_id_colliding_with_an_attribute_row(tmp_path: Path) -> None:
    text = BASE.replace('target = "firstName"', 'target = "custom4"')
    assert problems_of(tmp_path, text) == [
        "segments[1].mapping_id: 4 collides with mapping row 1, which already writes custom4; pick a free mapping ID"
    ]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("firstname", "unknown Outreach prospect attribute 'firstname' — did you mean 'firstName'?"),
        ("frstName", "unknown Outreach prospect attribute 'frstName' — did you mean 'firstName'?"),
        ("zzzzzz", "unknown Outreach prospect attribute 'zzzzzz'"),
        ("name", "'name' is read-only in Outreach and cannot be written"),
        ("createdAt", "'createdAt' is read-only"),
        ("engagedScore", "'engagedScore' is read-only"),
        ("custom0", "'custom0' does not exist: Outreach custom fields are custom1 … custom150"),
        ("custom151", "'custom151' does not exist"),
        ("OutreachId", "OutreachId is the identity: set it in [identity]"),
    ],
)
def test_mapping_targets_are_validated(tmp_path: Path, target: str, message: str) -> None:
    problems = problems_of(tmp_path, BASE.replace('target = "firstName"', f'target = "{target}"'))
    assert len(problems) == 1
    assert problems[0].startswith(f"mapping[1].target: {message}")


def test_two_rows_writing_the_same_target(tmp_path: Path) -> None:
    text = BASE + '\n[[mapping]]\nsource = "person.name.nickname"\ntarget = "firstName"\n'
    assert problems_of(tmp_path, text) == [
        "mapping[2].target: 'firstName' is already written by mapping row 1; each target takes one row "
        "(remove one of them)"
    ]


def test_identity_from_a_mapping_row_is_refused(tmp_path: Path) -> None:
    text = BASE + '\n[[mapping]]\nsource = "identityMap.Email"\ntarget = "emails"\n'
    assert "exactly one identity row" in problems_of(tmp_path, text)[0]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("concurrency", "[export]\nconcurrency = \"four\"", "export.concurrency: Input should be a valid integer"),
        ("budget", "[export]\nbudget_per_hour = 0",
         "export.budget_per_hour: Input should be greater than or equal to 1"),
        ("format", "[source]\npath = \"x\"\nformat = \"xml\"",
         "source.format: Input should be 'jsonl', 'json', 'csv' or 'parquet'"),
        ("alerts", "[alerts]\non_failure = \"yes\"", "alerts.on_failure: Input should be a valid boolean"),
        ("scopes", "[outreach]\nscopes = \"prospects.write\"", "outreach.scopes: Input should be a valid list"),
        ("url", "[outreach]\napi_base = \"api.outreach.io\"", "outreach.api_base: must be an http(s) URL"),
    ],
)
def test_wrong_types_name_the_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    text = BASE.replace('[source]\npath = "profiles.jsonl"\n', "") if old == "format" else BASE
    problems = problems_of(tmp_path, text + "\n" + new + "\n")
    assert any(problem.startswith(message) for problem in problems), problems


def test_missing_required_tables(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "[identity]\nnamespace = \"Oid\"\n") == [
        "destination: required key is missing", "source: required key is missing"]


def test_broken_toml_and_missing_file(tmp_path: Path) -> None:
    assert problems_of(tmp_path, "[destination\nname = 1")[0].startswith("not valid TOML")
    with pytest.raises(ProfileError, match="file not found"):
        load_profile(tmp_path / "absent.toml")


def test_validate_command_reports_problems_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, BASE.replace('target = "firstName"', 'target = "firstname"'))
    done = subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "did you mean 'firstName'?" in done.stderr
    assert "Traceback" not in done.stderr


def test_validate_command_plans_the_demo(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(DEMO / "demo.toml")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "2 malformed" in done.stderr and "prospects targeted" in done.stderr


def test_validate_counts_segments_as_the_dry_run_reports_them(tmp_path: Path) -> None:
    """Both faces count segment statuses from the planner's segment codes; they must agree, status by status."""
    checked = subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(DEMO / "demo.toml"), "--json"],
                             capture_output=True, text=True, check=True)
    report_path = tmp_path / "plan.json"
    subprocess.run([sys.executable, "-m", "outreach_tui", "--run", str(DEMO / "demo.toml"), "--dry-run", "--quiet",
                    "--report", str(report_path)], capture_output=True, text=True, check=True)
    validated = json.loads(checked.stdout)["segments"]
    reported = json.loads(report_path.read_text(encoding="utf-8"))["segments"]
    statuses = ("realized", "existing", "exited")
    assert [(row["id"], *(row[s] for s in statuses)) for row in validated] == \
        [(row["id"], *(row[s] for s in statuses)) for row in reported]
    assert sum(row[s] for row in validated for s in statuses) > 0
