"""How a profile's problems are reported: every section's at once, each with key path, message and hint,
capped on the terminal with "and N more", and secrets refused with where they belong instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from profile_support import BASE, write

from outreach_tui.profile import Problem, ProfileError, capped, load_draft, load_profile, profile_from_dict


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(path), "--no-input"],
                          capture_output=True, text=True, check=False)


BROKEN_EVERYWHERE = BASE.replace('target = "firstName"', 'target = "frstName"') + """
[[mapping]]
source = "person.name.lastName"
target = "lastName"
mode = "merge"

[[segments]]
id = "seg-churn"
mapping_id = 4

[export]
concurency = 2
strategy = "bulk"

[governance]
marketing_actions = ["email-targeting"]
labels = { "person.name.lastName" = ["S1"] }

[[governance.policies]]
action = "email-targeting"
deny_labels = ["S1"]

[alerts]
on_failure = "yes"
"""


def test_every_section_is_reported_at_once(tmp_path: Path) -> None:
    """Pydantic errors in [export] and [alerts] must not hide the mapping, segment, scope and governance checks."""
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, BROKEN_EVERYWHERE))
    # [export] has an unknown key, so its strategy is not checked against the scopes until that is fixed.
    assert sorted(p.key for p in caught.value.problems) == sorted([
        "export.concurency", "alerts.on_failure",  # pydantic: unknown key, wrong type
        "mapping[1].target", "mapping[2].mode", "segments[2].mapping_id",  # cross-key checks
        "mapping[2].source",  # governance violation
    ])
    by_key = {p.key: p for p in caught.value.problems}
    assert by_key["export.concurency"].hint == "did you mean 'concurrency'?"
    assert by_key["mapping[1].target"].hint == "did you mean 'firstName'?"


def test_validate_lists_every_section_on_the_terminal(tmp_path: Path) -> None:
    done = validate(write(tmp_path, BROKEN_EVERYWHERE))
    assert done.returncode == 2
    for expected in ("export.concurency: unknown key — did you mean 'concurrency'?",
                     "alerts.on_failure: Input should be a valid boolean",
                     "mapping[1].target: unknown Outreach prospect attribute 'frstName'",
                     "mapping[2].mode: 'lastName' is not a list",
                     "segments[2].mapping_id: 4 collides with segment 'seg-emea' (mapping ID 4)",
                     "mapping[2].source: mapping row 2 (person.name.lastName → lastName) carries the label S1"):
        assert expected in done.stderr, done.stderr


def test_problems_are_structured_strings(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, BASE.replace('target = "firstName"', 'target = "firstname"')))
    [problem] = caught.value.problems
    assert isinstance(problem, Problem) and isinstance(problem, str)
    assert (problem.key, problem.section, problem.message, problem.hint) == (
        "mapping[1].target", "mapping", "unknown Outreach prospect attribute 'firstname'", "did you mean 'firstName'?")
    assert problem == "mapping[1].target: unknown Outreach prospect attribute 'firstname' — did you mean 'firstName'?"
    assert str(caught.value) == f"{tmp_path / 'profile.toml'}: {problem}"


def test_load_draft_returns_the_profile_with_its_cross_key_problems(tmp_path: Path) -> None:
    profile, problems = load_draft(write(tmp_path, BASE.replace('target = "firstName"', 'target = "name"')))
    assert profile.mapping[0].target == "name"
    assert [p.key for p in problems] == ["mapping[1].target"]
    with pytest.raises(ProfileError):  # no profile can be built: the caller shows the error instead
        load_draft(write(tmp_path, BASE.replace('name = "Outreach EMEA"', ""), "broken.toml"))


def test_a_flood_of_problems_is_capped_with_and_n_more(tmp_path: Path) -> None:
    unknown = "".join(f"unknown_key_{n} = {n}\n" for n in range(200))
    path = write(tmp_path, BASE.replace("[source]\n", f"[source]\n{unknown}"))
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert len(caught.value.problems) == 200  # all of them, for faces that show them elsewhere
    text = str(caught.value)
    assert text.count("\n  - ") == 20
    assert text.endswith(f"… and 180 more (fix these, then check again: outreach-tui validate {path.resolve()})")
    done = validate(path)
    assert done.returncode == 2 and "… and 180 more" in done.stderr
    assert len(done.stderr.splitlines()) < 30


def test_huge_values_are_cut_in_messages(tmp_path: Path) -> None:
    huge = "x" * 1_000_000
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, BASE + f'\n[export]\nconcurrency = "{huge}"\n'))
    assert len(str(caught.value)) < 400


def test_capped_helper() -> None:
    assert capped(["a", "b"], 2) == ["a", "b"]
    assert capped([str(n) for n in range(150)], 10, rest=" (see the report)") == \
        [*map(str, range(10)), "… and 140 more (see the report)"]


@pytest.mark.parametrize(
    ("table", "line", "key"),
    [
        ("[outreach]", 'client_secret = "s3cr3t-value"', "outreach.client_secret"),
        ("[outreach]", 'access_token = "s3cr3t-value"', "outreach.access_token"),
        ("[outreach]", 'refresh-token = "s3cr3t-value"', "outreach.refresh-token"),
        ("[alerts]", 'password = "s3cr3t-value"', "alerts.password"),
        ("[destination.extra]", 'secret = "s3cr3t-value"', "destination.extra.secret"),
    ],
)
def test_secrets_are_refused_with_where_they_go(tmp_path: Path, table: str, line: str, key: str) -> None:
    path = write(tmp_path, f"{BASE}\n{table}\n{line}\n")
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    [problem] = [p for p in caught.value.problems if "secret" in p.message]
    assert problem.key == key
    assert problem.message == "a secret does not belong in a profile (a plain file that gets copied and shared)"
    assert "OUTREACH_CLIENT_SECRET" in problem.hint and "OS keyring" in problem.hint
    assert f"outreach-tui login {path}" in problem.hint
    assert "s3cr3t-value" not in str(caught.value)


def test_validate_refuses_a_secret_without_printing_it(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + '\n[outreach]\nclient_id = "abc"\ntoken_url = "https://api.outreach.io/oauth/token"\n'
                 'client_secret = "s3cr3t-value"\n')
    done = validate(path)
    assert done.returncode == 2
    assert "outreach.client_secret: a secret does not belong in a profile" in done.stderr
    assert "OUTREACH_CLIENT_SECRET" in done.stderr and f"outreach-tui login {path}" in done.stderr
    assert "s3cr3t-value" not in done.stderr + done.stdout
    assert "token_url" not in done.stderr  # a URL key is not a secret


def test_a_long_unknown_target_is_cut_with_an_ellipsis(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, BASE.replace('target = "firstName"', f'target = "{"q" * 5000}"')))
    [problem] = caught.value.problems
    assert problem.message == f"unknown Outreach prospect attribute '{'q' * 59}…'"


def test_a_source_field_named_like_a_secret_may_carry_labels(tmp_path: Path) -> None:
    """Keys of [governance] labels are source paths (data), not settings: only settings are secrets."""
    profile = load_profile(write(tmp_path, BASE + '\n[governance]\nlabels = { password = ["S1"] }\n'))
    assert profile.governance.labels == {"password": ["S1"]}


def test_profile_from_dict_leaves_the_callers_data_alone() -> None:
    data = {"destination": {"name": "x"}, "source": {"path": "p.jsonl"}, "outreach": {"client_secret": "s"}}
    with pytest.raises(ProfileError, match=r"outreach\.client_secret: a secret does not belong"):
        profile_from_dict(data)
    assert data["outreach"] == {"client_secret": "s"}
