"""Data-usage labels and policies: a mapping row or segment carrying a label denied for one of the destination's
marketing actions refuses the profile, naming the row or segment, the label, the action and the policy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DEMO
from profile_support import write

from outreach_tui.profile import ProfileError, load_draft, load_profile, save_profile

BASE = """\
[destination]
name = "Outreach EMEA"

[source]
path = "profiles.jsonl"

[[mapping]]
source = "person.name.firstName"
target = "firstName"

[[mapping]]
source = "person.birthDate"
target = "custom7"

[[segments]]
id = "seg-emea"
name = "EMEA high intent"
mapping_id = 4
"""

GOVERNANCE = """
[governance]
marketing_actions = ["email-targeting"]
labels = { "person.birthDate" = ["S1"] }

[[governance.policies]]
name = "No sensitive data in email"
action = "email-targeting"
deny_labels = ["S1"]
"""


def test_a_denied_label_on_a_mapped_field_refuses_the_profile(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + GOVERNANCE)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    [problem] = caught.value.problems
    assert problem.key == "mapping[2].source"
    assert problem.message == ("mapping row 2 (person.birthDate → custom7) carries the label S1 (labelled on "
                               "'person.birthDate'), which policy 'No sensitive data in email' denies for the "
                               "marketing action 'email-targeting'")
    assert "remove the row" in problem.hint

    profile, problems = load_draft(path)  # the wizard opens it, and shows the violation at its row
    assert problems == [problem]
    [violation] = profile.violations()
    assert (violation.row, violation.segment_id, violation.label, violation.action, violation.policy,
            violation.labelled_path) == (2, None, "S1", "email-targeting", "policy 'No sensitive data in email'",
                                         "person.birthDate")


def test_validate_refuses_a_violation_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + GOVERNANCE)
    (tmp_path / "profiles.jsonl").write_text("", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "mapping row 2 (person.birthDate → custom7) carries the label S1" in done.stderr
    assert "policy 'No sensitive data in email'" in done.stderr and "'email-targeting'" in done.stderr


def test_a_label_on_a_path_labels_everything_under_it_and_a_whole_object_carries_its_fields(tmp_path: Path) -> None:
    prefix = GOVERNANCE.replace('"person.birthDate" = ["S1"]', '"person.name" = ["S1"]')
    problems = load_draft(write(tmp_path, BASE + prefix))[1]
    assert [p.key for p in problems] == ["mapping[1].source"]  # person.name labels person.name.firstName

    whole = BASE.replace('source = "person.birthDate"', 'source = "person"')
    problems = load_draft(write(tmp_path, whole + GOVERNANCE, "whole.toml"))[1]
    assert [p.key for p in problems] == ["mapping[2].source"]  # mapping person sends person.birthDate

    sibling = GOVERNANCE.replace('"person.birthDate" = ["S1"]', '"person.birth" = ["S1"]')
    assert load_draft(write(tmp_path, BASE + sibling, "sibling.toml"))[1] == []  # a prefix of the name only


def test_no_violation_when_the_destination_does_not_perform_the_action(tmp_path: Path) -> None:
    text = BASE + GOVERNANCE.replace('marketing_actions = ["email-targeting"]', 'marketing_actions = ["analytics"]')
    profile = load_profile(write(tmp_path, text))
    assert profile.violations() == []
    [warning] = profile.warnings()
    assert warning.key == "governance.policies[1].action"
    assert "never applies here" in warning.message


def test_a_misspelt_policy_action_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    text = BASE + GOVERNANCE.replace('action = "email-targeting"', 'action = "email-targetting"')
    [warning] = load_profile(write(tmp_path, text)).warnings()
    assert warning.hint == "did you mean 'email-targeting'?"


def test_a_labelled_segment_is_a_violation_and_an_unnamed_policy_is_named_by_its_place(tmp_path: Path) -> None:
    text = (BASE.replace("mapping_id = 4", 'mapping_id = 4\nlabels = ["C5"]')
            + GOVERNANCE.replace('name = "No sensitive data in email"\n', "").replace('["S1"]\n', '["S1", "C5"]\n'))
    profile, problems = load_draft(write(tmp_path, text))
    assert [str(p) for p in problems][1] == (
        "segments[1].labels: segment 'EMEA high intent' (mapping ID 4) carries the label C5, which policy "
        "governance.policies[1] denies for the marketing action 'email-targeting' — remove the segment, or its "
        "label if it was wrong")
    assert [(v.row, v.segment_id) for v in profile.violations()] == [(2, None), (None, "seg-emea")]


def test_several_labels_and_policies_give_one_violation_each(tmp_path: Path) -> None:
    text = BASE + """
[governance]
marketing_actions = ["email-targeting", "onsite-personalisation"]
labels = { "person" = ["C2"], "person.birthDate" = ["S1", "C2"] }

[[governance.policies]]
action = "email-targeting"
deny_labels = ["S1"]

[[governance.policies]]
action = "onsite-personalisation"
deny_labels = ["C2"]
"""
    violations = load_draft(write(tmp_path, text))[0].violations()
    assert sorted((v.row, v.label, v.action, v.labelled_path) for v in violations) == [
        (1, "C2", "onsite-personalisation", "person"),
        (2, "C2", "onsite-personalisation", "person"),
        (2, "C2", "onsite-personalisation", "person.birthDate"),
        (2, "S1", "email-targeting", "person.birthDate"),
    ]


@pytest.mark.parametrize(
    ("governance", "expected"),
    [
        ('[[governance.policies]]\naction = "email-targeting"\ndeny_label = ["S1"]',
         ["governance.policies[1].deny_label: unknown key — did you mean 'deny_labels'?",
          "governance.policies[1].deny_labels: required key is missing"]),
        ('[[governance.policies]]\naction = "email-targeting"\ndeny_labels = []',
         ["governance.policies[1].deny_labels: List should have at least 1 item after validation, not 0"]),
        ('[governance]\nlabels = { "person..birthDate" = ["S1"] }',
         ["governance.labels: 'person..birthDate' is not a dotted source path (e.g. person.birthDate)"]),
        ('[governance]\nlabels = { "person.birthDate" = [""] }',
         ["governance.labels: a label name cannot be empty (write e.g. \"S1\")"]),
        ('[governance]\nmarketing_action = ["x"]',
         ["governance.marketing_action: unknown key — did you mean 'marketing_actions'?"]),
    ],
)
def test_governance_keys_are_checked(tmp_path: Path, governance: str, expected: list[str]) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, BASE + "\n" + governance + "\n"))
    assert sorted(caught.value.problems) == sorted(expected)


def test_governance_round_trips_equal(tmp_path: Path) -> None:
    text = BASE.replace("mapping_id = 4", 'mapping_id = 4\nlabels = ["C5"]') + GOVERNANCE.replace(
        'deny_labels = ["S1"]', 'deny_labels = ["C9"]\ndescription = "why"')
    original = load_profile(write(tmp_path, text))
    again = load_profile(save_profile(original, tmp_path / "copy.toml"))
    assert again == original and again.governance.labels == {"person.birthDate": ["S1"]}


def test_run_refuses_a_violation_before_any_request(tmp_path: Path) -> None:
    # One prospect to send, and api_base on a loopback port nothing listens on: without the violation the run
    # tries to connect (and says "cannot connect"); with it, the run stops at the profile.
    outreach = '\n[outreach]\napi_base = "http://127.0.0.1:9/api/v2"\ntoken_url = "http://127.0.0.1:9/oauth/token"\n'
    path = write(tmp_path, BASE + outreach + GOVERNANCE)
    first_record = (DEMO / "profiles.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (tmp_path / "profiles.jsonl").write_text(first_record + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "outreach_tui", "--run", str(path)],
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "OUTREACH_ACCESS_TOKEN": "test-token"})
    assert done.returncode == 2, done.stderr
    assert "carries the label S1" in done.stderr and "Traceback" not in done.stderr
    assert "cannot connect" not in done.stderr and "requests:" not in done.stderr
