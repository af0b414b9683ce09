"""The profile keys for list modes, the bulk strategy, Parquet, matching by email and governance: defaults keep
today's behaviour, every key survives load -> save -> load, and wrong values are named with a fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from profile_support import BASE, write

from outreach_tui.profile import ProfileError, load_profile, save_profile

EVERY_NEW_KEY = """\
[destination]
name = "Outreach EMEA"

[outreach]
scopes = ["prospects.read", "prospects.write", "imports.read", "imports.write"]

[source]
path = "profiles.parquet"
format = "parquet"

[identity]
namespace = "Oid"
match = "email"
email_path = "workEmail.address"

[[mapping]]
source = "workEmail.address"
target = "emails"
mode = "replace"

[[mapping]]
source = "person.tags"
target = "tags"
mode = "merge"

[[segments]]
id = "seg-emea"
mapping_id = 4
labels = ["C5"]

[export]
strategy = "auto"
bulk_threshold = 50
bulk_max_records = 2000
clear_on_unmap = false

[governance]
marketing_actions = ["email-targeting", "analytics"]
labels = { "person.birthDate" = ["S1"], "person" = ["C2"] }

[[governance.policies]]
name = "No sensitive data in email campaigns"
description = "S1 stays out of Outreach"
action = "email-targeting"
deny_labels = ["S1", "C9"]
"""


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ProfileError) as caught:
        load_profile(write(tmp_path, text))
    return caught.value.problems


def validate(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "outreach_tui", "validate", *map(str, args)],
                          capture_output=True, text=True, check=False)


def test_defaults_keep_todays_behaviour_and_todays_file(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, BASE))
    assert profile.mapping[0].mode is None and not profile.mapping[0].merges  # firstName is not a list
    export = profile.export
    assert (export.strategy, export.bulk_threshold, export.bulk_max_records, export.clear_on_unmap) == \
        ("patch", 1000, 10_000, True)
    identity = profile.identity
    assert (identity.match, identity.email_identity_namespace, identity.email_path) == ("outreach_id", "Email", None)
    assert profile.segments[0].labels == [] and profile.governance.is_empty()
    assert profile.violations() == [] and profile.warnings() == []
    assert profile.required_scopes() == ("prospects.read", "prospects.write") and profile.optional_scopes() == ()
    saved = save_profile(profile, tmp_path / "saved.toml").read_text(encoding="utf-8")
    # The new keys stay out of the file at their defaults, so an old profile saves as it did.
    for absent in ("governance", "labels", "mode", "match", "email_", "bulk_", "clear_on_unmap"):
        assert absent not in saved
    assert 'strategy = "patch"' in saved and load_profile(tmp_path / "saved.toml") == profile


def test_every_new_key_round_trips_equal(tmp_path: Path) -> None:
    original = load_profile(write(tmp_path, EVERY_NEW_KEY))
    assert original.source.format == "parquet"
    assert [row.mode for row in original.mapping] == ["replace", "merge"]
    assert [row.merges for row in original.mapping] == [False, True]
    assert original.identity.email_identity_namespace is None  # email_path is used instead
    assert original.export.bulk_max_records == 2000 and original.export.clear_on_unmap is False
    assert original.governance.policies[0].deny_labels == ["S1", "C9"]
    assert original.segments[0].labels == ["C5"]
    saved = save_profile(original, tmp_path / "copy.toml")
    again = load_profile(saved)
    assert again == original
    assert again.model_dump() == original.model_dump()
    assert save_profile(again, tmp_path / "copy2.toml").read_text() == saved.read_text()


def test_email_namespace_round_trips(tmp_path: Path) -> None:
    text = BASE + '\n[identity]\nmatch = "email"\nemail_namespace = "WorkEmail"\n'
    original = load_profile(write(tmp_path, text))
    assert original.identity.email_identity_namespace == "WorkEmail"
    assert load_profile(save_profile(original, tmp_path / "copy.toml")) == original


@pytest.mark.parametrize(
    ("addition", "expected"),
    [
        ('mode = "replace"', "mapping[1].mode: 'firstName' is not a list; mode applies only to emails, tags and "
                             "the *Phones lists — remove the mode key from this row"),
        ('mode = "append"', "mapping[1].mode: Input should be 'merge' or 'replace'"),
    ],
    ids=["mode-on-a-scalar", "unknown-mode"],
)
def test_mode_is_for_list_targets_only(tmp_path: Path, addition: str, expected: str) -> None:
    text = BASE.replace('target = "firstName"\n', f'target = "firstName"\n{addition}\n')
    assert problems_of(tmp_path, text) == [expected]


@pytest.mark.parametrize(
    ("target", "items"), [("emails", "addresses"), ("tags", "tags"), ("mobilePhones", "numbers")])
def test_replacing_a_list_is_allowed_with_a_warning(tmp_path: Path, target: str, items: str) -> None:
    text = BASE + f'\n[[mapping]]\nsource = "person.x"\ntarget = "{target}"\nmode = "replace"\n'
    profile = load_profile(write(tmp_path, text))
    [warning] = profile.warnings()
    assert warning.key == "mapping[2].mode"
    assert warning.message == (f"row 2 maps {target} with mode=replace: Outreach replaces the whole list, "
                               f"{items} not in your data will be removed")
    merged = load_profile(write(tmp_path, text.replace('mode = "replace"', 'mode = "merge"'), "merge.toml"))
    assert merged.warnings() == [] and merged.mapping[1].merges


@pytest.mark.parametrize(
    ("export", "expected"),
    [
        ('strategy = "fast"', "export.strategy: Input should be 'patch', 'bulk' or 'auto'"),
        ("bulk_threshold = 0", "export.bulk_threshold: Input should be greater than or equal to 1"),
        ('bulk_threshold = "1000"', "export.bulk_threshold: Input should be a valid integer (got '1000')"),
        ("bulk_max_records = 0", "export.bulk_max_records: Input should be greater than or equal to 1"),
        ("bulk_max_records = 1000000", "export.bulk_max_records: Input should be less than or equal to 100000"),
        ('clear_on_unmap = "no"', "export.clear_on_unmap: Input should be a valid boolean (got 'no')"),
        ("bulk_treshold = 5", "export.bulk_treshold: unknown key — did you mean 'bulk_threshold'?"),
    ],
)
def test_export_keys_are_checked(tmp_path: Path, export: str, expected: str) -> None:
    assert problems_of(tmp_path, BASE + f"\n[export]\n{export}\n") == [expected]


def test_bulk_needs_the_import_scopes(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + '\n[export]\nstrategy = "bulk"\n')
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    [problem] = caught.value.problems
    assert problem.key == "export.strategy"
    assert problem.message == "the bulk strategy needs the scopes imports.read, imports.write"
    assert problem.hint == ("add imports.read, imports.write to [outreach] scopes, then sign in again "
                            f"(outreach-tui login {path.resolve()})")
    done = validate(path, "--no-input")
    assert done.returncode == 2 and "the bulk strategy needs the scopes" in done.stderr

    granted = BASE + '\n[outreach]\nscopes = ["prospects.read", "prospects.write", "imports.all"]\n'
    profile = load_profile(write(tmp_path, granted + '\n[export]\nstrategy = "bulk"\n', "bulk.toml"))
    assert profile.required_scopes() == ("prospects.read", "prospects.write", "imports.read", "imports.write")
    assert profile.optional_scopes() == () and profile.warnings() == []


def test_auto_without_import_scopes_is_a_warning_and_needs_only_prospect_scopes(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, BASE + '\n[export]\nstrategy = "auto"\n'))
    assert profile.required_scopes() == ("prospects.read", "prospects.write")
    assert profile.optional_scopes() == ("imports.read", "imports.write")
    [warning] = profile.warnings()
    assert warning.key == "export.strategy" and "will always use PATCH" in warning.message


@pytest.mark.parametrize(
    ("identity", "expected"),
    [
        ('match = "email"\nemail_namespace = "Email"\nemail_path = "workEmail.address"',
         "identity: set email_namespace or email_path, not both: email_path reads the email from a field of the "
         "record, email_namespace from identityMap"),
        ('match = "email"\nemail_path = "workEmail..address"',
         "identity.email_path: 'workEmail..address' is not a dotted XDM path (e.g. person.name.firstName)"),
        ('match = "phone"', "identity.match: Input should be 'outreach_id' or 'email'"),
        ('email_namespace = ""', "identity.email_namespace: String should have at least 1 character"),
    ],
)
def test_identity_keys_are_checked(tmp_path: Path, identity: str, expected: str) -> None:
    assert problems_of(tmp_path, BASE + f"\n[identity]\n{identity}\n") == [expected]


def test_email_settings_without_match_email_are_a_warning(tmp_path: Path) -> None:
    profile = load_profile(write(tmp_path, BASE + '\n[identity]\nemail_path = "workEmail.address"\n'))
    assert [(w.key, w.message) for w in profile.warnings()] == [
        ("identity.email_path", 'is used only when match = "email"')]


def test_validate_accepts_every_new_key_and_refuses_a_mode_on_a_scalar(tmp_path: Path) -> None:
    done = validate(write(tmp_path, EVERY_NEW_KEY), "--no-input")
    assert done.returncode == 0, done.stderr
    bad = write(tmp_path, BASE.replace('target = "firstName"\n', 'target = "firstName"\nmode = "merge"\n'), "bad.toml")
    done = validate(bad, "--no-input")
    assert done.returncode == 2
    assert "mapping[1].mode: 'firstName' is not a list" in done.stderr and "Traceback" not in done.stderr
