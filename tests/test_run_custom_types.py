"""Typed custom fields checked before sending, and one bad field never sinking the rest, through real HTTP
against a sandbox serving custom field types (GET /types) and refusing values that do not fit them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from test_run_support import cli_env, record, run_cli, run_export, token_for, write_profile, write_records

from outreach_tui.export.custom_types import check_custom_fields
from outreach_tui.profile import load_profile
from outreach_tui.sandbox import Sandbox


def types_body(**fields: tuple[str, Any]) -> dict[str, Any]:
    validations = {name: {"type": kind, "required": False, "label": name, "definition": definition}
                   for name, (kind, definition) in fields.items()}
    return {"data": [{"type": "prospect", "meta": {"validations": validations}}]}


def validate(*args: str | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "outreach_tui", "validate", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_segment_into_a_numerical_field_stops_the_run_before_any_patch(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_types(types_body(custom4=("numerical", None), custom5=("string", None)))
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [record(i, f"first-{i}", segments={"seg-emea": "realized"})
                                          for i in range(1, 6)])

    finished, _ = run_export(profile, sb=sandbox, report_path=tmp_path / "r.json")

    assert finished.exit_code == 2, finished.message
    assert "segment 'EMEA high intent' (mapping ID 4) writes custom4, which Outreach types as numerical" \
        in finished.message
    assert sandbox.stats.patch_count == 0
    assert (finished.counts.pending, finished.counts.activated) == (5, 0)
    assert finished.report["requests"] == {"sent": 0, "reads": 1, "retried": 0, "rate_limited": 0, "imports": 0,
                                           "polls": 0, "records_per_import": 0, "lookups": 0}

    # the headless command: exit 2, the problem on stderr
    done = run_cli(profile, env=cli_env(tmp_path / "data", token_for(sandbox)))
    assert done.returncode == 2, done.stderr
    assert "custom4, which Outreach types as numerical" in done.stderr and "Traceback" not in done.stderr
    assert sandbox.stats.patch_count == 0


def test_status_texts_a_typed_field_accepts_pass_and_an_unknown_field_is_a_warning(
        tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_types(types_body(custom4=("inclusion", ["realized", "existing", "exited"])))
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [record(1, "Ada", segments={"seg-emea": "existing"})])

    finished, _ = run_export(profile, sb=sandbox)

    assert finished.exit_code == 0, finished.message
    assert (sandbox.prospect(1) or {})["custom4"] == "existing"
    warnings = finished.report["warnings"]
    assert len(warnings) == 1 and "custom5" in warnings[0] and "not configured in Outreach" in warnings[0]


def test_check_custom_fields_names_segment_field_and_type_for_the_wizard(tmp_path: Path) -> None:
    profile = load_profile(write_profile(tmp_path, "https://api.outreach.io/api/v2",
                                         mapping=(("person.score", "custom10"), ("person.since", "custom11"))))
    types = {"custom4": {"type": "date"}, "custom5": {"type": "string"}, "custom10": {"type": "numerical"}}

    errors, warnings = check_custom_fields(profile, types)

    assert [(e.key, e.message.split(":")[0]) for e in errors] == [
        ("segments[1].mapping_id", "segment 'EMEA high intent' (mapping ID 4) writes custom4, which Outreach "
                                   "types as date")]
    assert [w.key for w in warnings] == ["mapping[1].target", "mapping[2].target"]
    assert "numerical" in warnings[0] and "custom11" in warnings[1] and "not configured" in warnings[1]


def test_validate_checks_the_types_when_signed_in_and_says_when_it_cannot(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_types(types_body(custom4=("boolean", None), custom5=("string", None)))
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [record(1, "Ada")])

    signed_in = validate(profile, env=cli_env(tmp_path / "data", token_for(sandbox)))
    assert signed_in.returncode == 2, signed_in.stderr
    assert "custom4, which Outreach types as boolean" in signed_in.stderr

    offline = validate(profile, env=cli_env(tmp_path / "data"))
    assert offline.returncode == 0, offline.stderr
    assert "not checked (offline: not signed in)" in offline.stderr and f"login {profile}" in offline.stderr


def test_a_value_a_typed_attribute_field_refuses_fails_that_field_only(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.set_types(types_body(custom4=("string", None), custom5=("string", None), custom10=("numerical", None)))
    profile = write_profile(tmp_path, sandbox.api_base, mapping=(("person.name.firstName", "firstName"),
                                                                 ("person.score", "custom10")))
    rows = [record(1, "Ada"), record(2, "Bo")]
    rows[0]["person"]["score"] = "42"
    rows[1]["person"]["score"] = "very high"
    write_records(tmp_path / "in.jsonl", rows)

    finished, _ = run_export(profile, sb=sandbox)

    assert finished.exit_code == 1
    assert (finished.counts.activated, finished.counts.failed) == (1, 1)
    assert (sandbox.prospect(1) or {})["custom10"] == "42"
    assert (sandbox.prospect(2) or {}).get("firstName") == "Bo"  # the rest was sent
    assert (sandbox.prospect(2) or {}).get("custom10") is None
    failure = finished.report["failures"][0]
    assert (failure["prospect_id"], failure["field"], failure["error_id"]) == (2, "custom10", "typedFieldMismatch")
    assert failure["status"] is None and sandbox.stats.patch_count == 2  # no PATCH carried the bad value
    assert failure["hint"].endswith("The other fields (firstName) were sent and accepted.")


def test_a_422_naming_one_field_resends_the_other_fields(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base, mapping=(("person.name.firstName", "firstName"),
                                                                 ("workEmail.address", "emails")))
    good, bad = record(1, "Ada"), record(2, "Bo", segments={"seg-emea": "realized"})
    good["workEmail"] = {"address": "ada@example.com"}
    bad["workEmail"] = {"address": "not-an-address"}  # the sandbox, like Outreach, refuses it: 422 emails
    write_records(tmp_path / "in.jsonl", [good, bad])

    finished, _ = run_export(profile, sb=sandbox)

    assert finished.exit_code == 1
    assert (finished.counts.activated, finished.counts.failed) == (1, 1)
    second = sandbox.prospect(2) or {}
    assert (second.get("firstName"), second.get("custom4"), second.get("emails")) == ("Bo", "realized", None)
    failure = finished.report["failures"][0]
    assert (failure["prospect_id"], failure["status"], failure["field"]) == (2, 422, "emails")
    assert "The other fields (custom4, firstName) were sent and accepted." in failure["hint"]
    assert finished.report["requests"]["sent"] == 3  # prospect 1, prospect 2, prospect 2 without emails

    # the accepted fields are recorded: after the source is fixed, the next run sends what is left
    bad["workEmail"] = {"address": "bo@example.com"}
    write_records(tmp_path / "in.jsonl", [good, bad])
    again, _ = run_export(profile, sb=sandbox)
    assert again.exit_code == 0, again.message
    assert (again.counts.activated, again.counts.unchanged) == (1, 1)
    assert (sandbox.prospect(2) or {}).get("emails") == ["bo@example.com"]
