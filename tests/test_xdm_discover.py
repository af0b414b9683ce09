"""Discovery on the built-in demo data and on small files; the demo data's own promises."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from outreach_tui.profile import load_profile
from outreach_tui.xdm import Discovery, InputError, discover, read_records

REPO = Path(__file__).resolve().parent.parent
DEMO = Path(str(resources.files("outreach_tui") / "demo"))


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return json.loads((DEMO / "manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def demo_discovery() -> Discovery:
    return discover(DEMO / "profiles.jsonl")


def demo_records() -> list[dict[str, Any]]:
    return [r.data for r in read_records(DEMO / "profiles.jsonl", "jsonl") if r.data is not None]


# ---------------------------------------------------------------------------------------- demo discovery

def test_demo_discovery_counts_records_and_malformed(demo_discovery: Discovery,
                                                     manifest: dict[str, Any]) -> None:
    assert demo_discovery.format == "jsonl"
    assert demo_discovery.records_sampled == manifest["records"] == 277
    assert demo_discovery.malformed == manifest["malformed"] == 2


def test_demo_discovery_namespaces_match_the_generator(demo_discovery: Discovery,
                                                       manifest: dict[str, Any]) -> None:
    assert demo_discovery.namespaces == manifest["namespaces"]
    assert set(demo_discovery.namespaces) == {"Oid", "Email"}


def test_demo_discovery_segments_match_the_generator(demo_discovery: Discovery,
                                                     manifest: dict[str, Any]) -> None:
    assert demo_discovery.segments == manifest["segments"]
    for segment_id in ("seg-emea", "seg-trial", "seg-churn", "seg-webinar"):
        counts = demo_discovery.segments[segment_id]
        assert all(counts[status] > 0 for status in ("realized", "existing", "exited"))


def test_demo_discovery_paths_exclude_identities_and_segments(demo_discovery: Discovery) -> None:
    assert {"person.name.firstName", "person.name.lastName", "workEmail.address", "person.jobTitle",
            "workAddress.city", "workAddress.country", "mobilePhone.number"} == set(demo_discovery.paths)
    assert demo_discovery.paths["person.name.firstName"] == 275  # every well-formed record has a name
    assert demo_discovery.sample_values["person.name.firstName"]


def test_discovery_sample_limit(manifest: dict[str, Any]) -> None:
    found = discover(DEMO / "profiles.jsonl", sample=10)
    assert found.records_sampled == 10
    assert found.namespaces["Oid"] == 10


def test_discovery_is_json_serialisable(demo_discovery: Discovery) -> None:
    again = Discovery.model_validate_json(demo_discovery.model_dump_json())
    assert again == demo_discovery
    assert json.loads(demo_discovery.model_dump_json())["segments"]["seg-emea"]["realized"] > 0


# ------------------------------------------------------------------------------------ discovery details

def test_discovery_array_indexes_nulls_and_sample_truncation(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    records = [
        {"phones": [{"number": "1"}, {"number": "2"}], "tags": ["a"], "gone": None, "empty": {},
         "long": "x" * 100, "n": 3, "flag": False},
        {"phones": [{"number": "3"}], "n": 4},
        "not an object",
    ]
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    found = discover(path)
    assert found.records_sampled == 3 and found.malformed == 1
    assert found.paths == {"phones.0.number": 2, "phones.1.number": 1, "tags.0": 1, "long": 1, "n": 2,
                           "flag": 1}
    assert found.sample_values["long"] == "x" * 39 + "…"
    assert len(found.sample_values["long"]) == 40
    assert found.sample_values["n"] == "3" and found.sample_values["flag"] == "false"


def test_discovery_unusual_segment_status_is_counted(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"segmentMembership": {"ups": {"s1": {"status": "paused"}, "s2": "junk"}}}))
    found = discover(path)
    assert found.segments == {"s1": {"realized": 0, "existing": 0, "exited": 0, "paused": 1},
                              "s2": {"realized": 0, "existing": 0, "exited": 0}}


def test_discovery_on_csv(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("identityMap.Oid,person.name.firstName,segmentMembership.ups.seg-emea.status\n"
                    "1001,Ann,realized\n1002|1003,,exited\n", encoding="utf-8")
    found = discover(path)
    assert found.format == "csv"
    assert found.paths == {"person.name.firstName": 1}
    assert found.namespaces == {"Oid": 2}
    assert found.segments == {"seg-emea": {"realized": 1, "existing": 0, "exited": 1}}


def test_discovery_on_a_json_array_with_explicit_format(tmp_path: Path) -> None:
    path = tmp_path / "export.data"
    path.write_text('[{"identityMap": {"Oid": [{"id": 1}]}}, {"a": {"b": 1}}]')
    found = discover(path, fmt="json")
    assert found.format == "json" and found.namespaces == {"Oid": 1} and found.paths == {"a.b": 1}


def test_discovery_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.jsonl: file not found"):
        discover(tmp_path / "missing.jsonl")


# ---------------------------------------------------------------------------------- the demo's promises

def test_demo_data_is_what_the_generator_writes() -> None:
    result = subprocess.run([sys.executable, str(REPO / "tools" / "gen_demo.py"), "--check"],
                            capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr


def test_demo_identities_every_case(manifest: dict[str, Any]) -> None:
    oid_lists = [r["identityMap"].get("Oid") for r in demo_records()]
    assert sum(ids is None for ids in oid_lists) == manifest["no_oid"] == 8
    ids = [entry["id"] for entries in oid_lists if entries for entry in entries]
    invalid = [i for i in ids if not str(i).strip().isdigit() or int(str(i)) <= 0]
    assert sorted(map(str, invalid)) == sorted(["abc", "-3", "0", "12.5", ""])
    assert any(isinstance(i, int) for i in ids) and any(isinstance(i, str) and i != i.strip() for i in ids)
    two_ids = sum(1 for entries in oid_lists if entries and len(entries) == 2)
    assert two_ids == manifest["two_oid_records"] == 3
    valid = [int(str(i)) for i in ids if i not in invalid]
    repeated = sorted({i for i in valid if valid.count(i) > 1})
    assert repeated == manifest["duplicated_prospects"] and len(repeated) == 15
    assert set(valid) == set(range(1001, 1251))


def test_demo_unicode_names() -> None:
    first_names = {r["person"]["name"]["firstName"] for r in demo_records()}
    assert {"José", "Zoë", "李雷", "Łukasz", "Ørjan"} <= first_names


def test_demo_seed_covers_every_prospect_without_shared_emails() -> None:
    seed = json.loads((DEMO / "prospects.json").read_text(encoding="utf-8"))["prospects"]
    assert [p["id"] for p in seed] == list(range(1001, 1251))
    assert all(set(p["attributes"]) == {"firstName", "lastName", "emails", "company"} for p in seed)
    owner = {email: p["id"] for p in seed for email in p["attributes"]["emails"]}
    assert len(owner) == sum(len(p["attributes"]["emails"]) for p in seed)
    for record in demo_records():  # an email written to a prospect is nobody else's, in the seed or the file
        address = record.get("workEmail", {}).get("address")
        for entry in record["identityMap"].get("Oid", []):
            target = str(entry["id"]).strip()
            if address and target.isdigit():
                assert owner.get(address, int(target)) == int(target)
                owner[address] = int(target)


def test_demo_types_body() -> None:
    body = json.loads((DEMO / "types.json").read_text(encoding="utf-8"))
    (prospect,) = [item for item in body["data"] if item["type"] == "prospect"]
    validations = prospect["meta"]["validations"]
    assert {name: (v["type"], v["label"]) for name, v in validations.items()} == {
        "custom4": ("string", "EMEA high intent"), "custom5": ("string", "Trial started"),
        "custom6": ("string", "Churn risk"), "custom7": ("string", "Webinar attendee"),
        "custom10": ("numerical", "Lead score")}


def test_demo_profile_loads_and_points_at_the_demo_file() -> None:
    profile = load_profile(DEMO / "demo.toml")
    assert profile.destination.name == "Outreach demo (sandbox)"
    assert profile.source.path == "profiles.jsonl" and profile.source.format == "jsonl"
    assert profile.identity.namespace == "Oid"
    assert [(s.id, s.mapping_id) for s in profile.segments] == [
        ("seg-emea", 4), ("seg-trial", 5), ("seg-churn", 6), ("seg-webinar", 7)]
    assert [(m.source, m.target) for m in profile.mapping][2] == ("workEmail.address", "emails")
    assert profile.outreach.client_id == "outreach-tui-sandbox"
    assert (profile.export.budget_per_hour, profile.export.concurrency) == (10000, 4)
    alerts = profile.alerts
    assert (alerts.on_failure, alerts.on_throttle, alerts.on_complete) == (True, True, False)
