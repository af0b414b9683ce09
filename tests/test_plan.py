"""The planner: every planning rule, each with its own case, plus property tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach_tui.export.plan import PlannedProspect, Planner, patch_body, segment_status
from outreach_tui.export.tally import SegmentCounts
from outreach_tui.profile import Profile, profile_from_dict
from outreach_tui.xdm.records import Record, read_records

MAPPING = [
    ("person.name.firstName", "firstName"),
    ("workEmail.address", "emails"),
    ("phones.0.number", "workPhones"),
    ("score", "score"),
    ("connections", "linkedInConnections"),
    ("optOut", "optedOut"),
    ("birthday", "dateOfBirth"),
    ("available", "availableAt"),
    ("title", "title"),
    ("tags", "tags"),
]
SEGMENTS = [("seg-emea", "EMEA high intent", 4), ("seg-churn", "Churn risk", 6)]


def make_profile(**status_values: str) -> Profile:
    return profile_from_dict({
        "destination": {"name": "test"},
        "source": {"path": "in.jsonl"},
        "mapping": [{"source": s, "target": t} for s, t in MAPPING],
        "segments": [{"id": i, "name": n, "mapping_id": m} for i, n, m in SEGMENTS],
        **({"status_values": status_values} if status_values else {}),
    })


def plan(records: list[Any], profile: Profile | None = None, spill_after: int = 50_000
         ) -> tuple[Planner, dict[int, PlannedProspect]]:
    planner = Planner(profile or make_profile(), spill_after=spill_after)
    for line, data in enumerate(records, start=1):
        planner.add(Record(line, data, None) if isinstance(data, dict) else Record(line, None, "bad"))
    prospects = {p.prospect_id: p for p in planner.prospects()}
    planner.close()  # counts and lists stay readable
    return planner, prospects


def rec(oid: Any = 1, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"identityMap": {"Oid": [{"id": oid}]}}
    record.update(fields)
    return record


def one(**fields: Any) -> PlannedProspect:
    _, prospects = plan([rec(**fields)])
    return prospects[1]


# ----- identity -----

@pytest.mark.parametrize("raw", [1001, "1001", " 1001 ", "0001001"])
def test_valid_ids(raw: Any) -> None:
    _, prospects = plan([rec(raw)])
    assert list(prospects) == [1001]


@pytest.mark.parametrize("raw", ["abc", -3, 0, "0", "12.5", 12.5, True, None, "", [1], {"id": 1}, 2**64])
def test_invalid_ids_exclude_the_record(raw: Any) -> None:
    planner, prospects = plan([rec(raw)])
    assert prospects == {}
    assert planner.tally.excluded == 1
    assert planner.tally.exclusions[0].reason == "invalid OutreachId"
    assert "not a positive whole number" in planner.tally.exclusions[0].detail


def test_invalid_ids_are_skipped_when_a_valid_one_remains() -> None:
    planner, prospects = plan([{"identityMap": {"Oid": [{"id": "x"}, {"id": 7}, {"id": 7}, {"id": "8"}]},
                                "title": "CEO"}])
    assert sorted(prospects) == [7, 8]  # every distinct valid id is a target
    assert planner.tally.planned == 1 and planner.tally.excluded == 0
    assert prospects[7].attributes == prospects[8].attributes == {"title": "CEO"}


@pytest.mark.parametrize("identity_map", [None, {}, {"Email": [{"id": "a@b.c"}]}, {"Oid": []}, "x"])
def test_missing_identity(identity_map: Any) -> None:
    record = {"title": "CEO"} if identity_map is None else {"identityMap": identity_map, "title": "CEO"}
    planner, prospects = plan([record])
    assert prospects == {}
    assert planner.tally.exclusions[0].reason == "missing identity"
    assert planner.tally.exclusions[0].line == 1


def test_the_identity_namespace_comes_from_the_profile() -> None:
    profile = make_profile()
    profile.identity.namespace = "Custom"
    _, prospects = plan([{"identityMap": {"Custom": [{"id": 5}], "Oid": [{"id": 6}]}}], profile)
    assert list(prospects) == [5]


# ----- attributes and conversions -----

def test_dotted_and_indexed_paths() -> None:
    prospect = one(person={"name": {"firstName": "Zoë"}}, phones=[{"number": "+1 555"}, {"number": "x"}])
    assert prospect.attributes == {"firstName": "Zoë", "workPhones": ["+1 555"]}


def test_missing_and_null_values_are_not_sent() -> None:
    prospect = one(person={"name": {"firstName": None}}, phones=[], title=None)
    assert prospect.attributes == {}


@pytest.mark.parametrize(("value", "sent"), [(3, "3"), (1.5, "1.5"), (True, "true"), (False, "false"), ("VP", "VP")])
def test_scalars_become_text_for_string_fields(value: Any, sent: str) -> None:
    assert one(title=value).attributes == {"title": sent}


@pytest.mark.parametrize(("value", "sent"), [("a@b.c", ["a@b.c"]), (["a@b.c", 5], ["a@b.c", "5"])])
def test_lists_for_array_fields(value: Any, sent: list[str]) -> None:
    assert one(workEmail={"address": value}).attributes == {"emails": sent}


@pytest.mark.parametrize(("value", "sent"), [(12, 12), ("12", 12), (" 12 ", 12), (12.0, 12)])
def test_integer_fields(value: Any, sent: int) -> None:
    assert one(connections=value).attributes == {"linkedInConnections": sent}


@pytest.mark.parametrize(("value", "sent"), [(True, True), ("true", True), ("FALSE", False)])
def test_boolean_fields(value: Any, sent: bool) -> None:
    assert one(optOut=value).attributes == {"optedOut": sent}


@pytest.mark.parametrize(("value", "sent"), [(4.5, 4.5), ("4.5", 4.5), ("7", 7)])
def test_number_fields(value: Any, sent: float) -> None:
    assert one(score=value).attributes == {"score": sent}


def test_date_and_datetime_fields() -> None:
    prospect = one(birthday="1990-02-28", available="2026-11-20T13:15:49Z")
    assert prospect.attributes == {"dateOfBirth": "1990-02-28", "availableAt": "2026-11-20T13:15:49Z"}


@pytest.mark.parametrize(
    ("fields", "target", "message"),
    [
        ({"title": {"a": 1}}, "title", "an object cannot be written to a text field"),
        ({"title": "x" * 256}, "title", "is 256 characters long; Outreach accepts at most 255"),
        ({"connections": "12a"}, "linkedInConnections", "is not a whole number"),
        ({"connections": 1.5}, "linkedInConnections", "is not a whole number"),
        ({"optOut": "yes"}, "optedOut", "is not true or false"),
        ({"score": "high"}, "score", "is not a number"),
        ({"birthday": "28/02/1990"}, "dateOfBirth", "is not a date written YYYY-MM-DD"),
        ({"birthday": "1990-02-30"}, "dateOfBirth", "is not a date written YYYY-MM-DD"),
        ({"available": "yesterday"}, "availableAt", "is not an ISO 8601 date and time"),
        ({"tags": [["nested"]]}, "tags", "a list cannot be written to a text field"),
    ],
)
def test_values_that_cannot_be_converted_fail_the_prospect_locally(fields: dict[str, Any], target: str,
                                                                   message: str) -> None:
    prospect = one(person={"name": {"firstName": "Ann"}}, **fields)
    assert prospect.attributes == {}  # nothing is sent for a prospect with a local failure
    (failure,) = prospect.failures
    assert failure.status is None and failure.error_id == "conversionError"
    assert failure.field == target and message in failure.detail
    assert failure.origin is not None and f"→ {target}" in failure.origin


# ----- segments -----

def ups(**statuses: str) -> dict[str, Any]:
    return {"ups": {k.replace("_", "-"): {"status": v, "lastQualificationTime": "2026-11-20T13:15:49Z"}
                    for k, v in statuses.items()}}


def test_mapped_segments_write_their_status_to_custom_n() -> None:
    planner, prospects = plan([rec(segmentMembership=ups(seg_emea="realized", seg_churn="exited",
                                                         seg_other="realized"))])
    assert prospects[1].attributes == {"custom4": "realized", "custom6": "exited"}  # unmapped ignored
    assert planner.segment_statuses(prospects[1]) == {"seg-emea": "realized", "seg-churn": "exited"}


def test_a_mapped_segment_absent_from_the_record_writes_nothing() -> None:
    assert one(segmentMembership=ups(seg_emea="existing")).attributes == {"custom4": "existing"}


def test_status_value_map() -> None:
    profile = make_profile(realized="Yes", existing="Yes", exited="No")
    _, prospects = plan([rec(segmentMembership=ups(seg_emea="existing", seg_churn="exited"))], profile)
    assert prospects[1].attributes == {"custom4": "Yes", "custom6": "No"}


def test_an_unknown_status_fails_locally_naming_the_segment() -> None:
    (failure,) = one(segmentMembership=ups(seg_emea="qualified")).failures
    assert failure.field == "custom4" and "segment 'EMEA high intent' (mapping ID 4)" in (failure.origin or "")


@pytest.mark.parametrize(("membership", "attributes", "failed"), [
    ({"seg-emea": "realized", "seg-churn": {"status": "exited"}}, {"custom6": "exited"}, []),  # not an object
    ({"seg-emea": None, "seg-churn": {"status": "exited"}}, {"custom6": "exited"}, []),
    ({"seg-emea": {"status": None}, "seg-churn": {"status": "exited"}}, {"custom6": "exited"}, []),
    ({"seg-emea": {}, "seg-churn": {"status": "realized"}}, {"custom6": "realized"}, []),  # no status
    ({"seg-emea": {"status": ["realized"]}, "seg-churn": {"status": "exited"}}, {}, ["custom4"]),
    ({"seg-emea": {"status": "exited"}, "seg-churn": {"status": 1}}, {}, ["custom6"]),
])
def test_unusual_segment_entries(membership: dict[str, Any], attributes: dict[str, str], failed: list[str]) -> None:
    prospect = one(segmentMembership={"ups": membership})
    assert prospect.attributes == attributes
    assert [failure.field for failure in prospect.failures] == failed


def test_rows_sharing_a_top_level_field() -> None:
    profile = profile_from_dict({
        "destination": {"name": "test"}, "source": {"path": "in.jsonl"},
        "mapping": [{"source": "person.name.firstName", "target": "firstName"},
                    {"source": "title", "target": "title"},
                    {"source": "person.name.lastName", "target": "lastName"},
                    {"source": "person.jobTitle", "target": "occupation"},
                    {"source": "person.phones.1", "target": "workPhones"}],
    })
    records = [rec(1, person={"name": {"firstName": "Ann", "lastName": "Lee"}, "jobTitle": "CTO",
                              "phones": ["+1", "+2"]}, title="Dr"),
               rec(2, person="not an object", title="Mx"),
               rec(3, person={"name": ["Bo"], "jobTitle": "x" * 256}),
               rec(4, title=7)]
    _, prospects = plan(records, profile)
    assert prospects[1].attributes == {"firstName": "Ann", "lastName": "Lee", "occupation": "CTO",
                                       "workPhones": ["+2"], "title": "Dr"}
    assert prospects[2].attributes == {"title": "Mx"}
    assert [f.field for f in prospects[3].failures] == ["occupation"]  # 256 characters: over the limit
    assert prospects[4].attributes == {"title": "7"}


# ----- merging -----

def merge_records(spill_after: int) -> dict[int, PlannedProspect]:
    _, prospects = plan([
        rec(1, title="first", person={"name": {"firstName": "Ann"}}, segmentMembership=ups(seg_emea="realized")),
        rec(2, title="other"),
        rec(1, title="second", segmentMembership=ups(seg_emea="exited")),
        rec(1, title={"bad": True}),
        rec(1, title="third"),  # the later good value replaces the bad one: merged values are converted
    ], spill_after=spill_after)
    return prospects


@pytest.mark.parametrize("spill_after", [50_000, 1], ids=["in-memory", "spilled-to-sqlite"])
def test_later_records_win_per_attribute(spill_after: int) -> None:
    prospects = merge_records(spill_after)
    assert sorted(prospects) == [1, 2]  # one update per prospect
    assert prospects[1].attributes == {"title": "third", "firstName": "Ann", "custom4": "exited"}
    assert prospects[1].failures == []


@pytest.mark.parametrize("spill_after", [50_000, 1, 2], ids=["in-memory", "log-and-sqlite-merge", "log"])
def test_later_records_win_per_segment(spill_after: int) -> None:
    """A later status replaces an earlier one (a good one clears a failure, a bad one fails the field); a record
    without the segment leaves it as it was. Counted once per prospect, with its merged statuses."""
    planner, prospects = plan([
        rec(1, segmentMembership=ups(seg_emea="realized", seg_churn="qualified")),
        rec(2, segmentMembership=ups(seg_emea="existing")),
        rec(2, segmentMembership=ups(seg_churn="exited")),
        rec(1, segmentMembership=ups(seg_churn="exited")),
        rec(3, segmentMembership=ups(seg_emea="realized")),
        rec(3, segmentMembership=ups(seg_emea="gone")),
        rec(1, title="Dr"),
    ], spill_after=spill_after)
    assert prospects[1].attributes == {"custom4": "realized", "custom6": "exited", "title": "Dr"}
    assert prospects[2].attributes == {"custom4": "existing", "custom6": "exited"}
    assert [(f.field, '"gone"' in f.detail) for f in prospects[3].failures] == [("custom4", True)]
    assert prospects[1].failures == prospects[2].failures == []
    counts = SegmentCounts(["seg-emea", "seg-churn"])
    for prospect in prospects.values():
        counts.add(prospect.segments)
    assert counts.totals() == {"seg-emea": {"realized": 1, "existing": 1, "exited": 0},
                               "seg-churn": {"realized": 0, "existing": 0, "exited": 2}}
    assert planner.segment_statuses(prospects[3]) == {}  # an unknown status is not counted


def test_patch_body_shape() -> None:
    assert patch_body(7, {"custom4": "realized"}) == {
        "data": {"type": "prospect", "id": 7, "attributes": {"custom4": "realized"}}}


# ----- counts and robustness -----

def test_counts_add_up_on_the_demo_file() -> None:
    from conftest import DEMO
    profile = profile_from_dict({"destination": {"name": "d"}, "source": {"path": str(DEMO / "profiles.jsonl")}})
    planner = Planner(profile)
    for record in read_records(profile.source_path(), "jsonl"):
        planner.add(record)
    counts = planner.tally
    assert counts.read == counts.planned + counts.excluded + counts.malformed
    assert counts.malformed == 2 and counts.excluded > 0 and planner.targeted > 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
record_like = st.fixed_dictionaries({}, optional={
    "identityMap": st.dictionaries(st.sampled_from(["Oid", "Email"]), json_values, max_size=2)
    | st.fixed_dictionaries({"Oid": st.lists(st.fixed_dictionaries({"id": json_values | st.integers(1, 50)}))}),
    "segmentMembership": st.fixed_dictionaries({"ups": st.dictionaries(
        st.sampled_from(["seg-emea", "seg-churn", "x"]), st.fixed_dictionaries({"status": json_values}))})
    | json_values,
    "person": json_values, "title": json_values, "score": json_values, "tags": json_values, "phones": json_values,
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(record_like, json_values), max_size=30), st.sampled_from([50_000, 3]))
def test_the_planner_never_crashes_and_counts_add_up(items: list[Any], spill_after: int) -> None:
    planner = Planner(make_profile(), spill_after=spill_after)
    for line, data in enumerate(items, start=1):
        planner.add(Record(line, data, None) if isinstance(data, dict) else Record(line, None, "bad"))
    prospects = {p.prospect_id: p for p in planner.prospects()}
    planner.close()
    targeted = planner.targeted
    counts = planner.tally
    assert counts.read == len(items) == counts.planned + counts.excluded + counts.malformed
    assert len(prospects) == targeted
    for prospect in prospects.values():
        assert not (prospect.failures and prospect.attributes)
        orjson.dumps(patch_body(prospect.prospect_id, prospect.attributes))  # always sendable JSON


def test_spill_files_are_removed(tmp_path: Path) -> None:
    planner = Planner(make_profile(), spill_dir=tmp_path, spill_after=1)
    for i in range(1, 5):
        planner.add(Record(i, rec(i, title="t"), None))
    assert len(list(planner.prospects())) == 4
    planner.close()
    assert list(tmp_path.iterdir()) == []


def planned_list(items: list[Any], spill_after: int, tmp_path: Path | None = None) -> list[PlannedProspect]:
    planner = Planner(make_profile(), spill_dir=tmp_path, spill_after=spill_after)
    for line, data in enumerate(items, start=1):
        planner.add(Record(line, data, None) if isinstance(data, dict) else Record(line, None, "bad"))
    prospects = list(planner.prospects())
    assert planner.targeted == len(prospects)
    planner.close()
    return prospects


small_ids = st.lists(st.fixed_dictionaries({"id": st.integers(1, 6) | st.sampled_from(["2", " 3", "x"])}),
                     min_size=1, max_size=2)
repeating_records = st.fixed_dictionaries({"identityMap": st.fixed_dictionaries({"Oid": small_ids})}, optional={
    "segmentMembership": st.fixed_dictionaries(
        {"ups": st.dictionaries(st.sampled_from(["seg-emea", "seg-churn"]),
                                st.fixed_dictionaries({}, optional={"status": st.sampled_from(
                                    ["realized", "existing", "exited", "gone"]) | json_values}))}),
    "title": json_values, "score": json_values, "person": json_values, "tags": json_values,
})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(repeating_records | json_values, max_size=25), st.integers(1, 4))
def test_spilled_and_in_memory_planning_give_the_same_prospects_in_the_same_order(items: list[Any],
                                                                                   spill_after: int) -> None:
    in_memory = planned_list(items, spill_after=50_000)
    spilled = planned_list(items, spill_after=spill_after)
    assert [p.prospect_id for p in spilled] == [p.prospect_id for p in in_memory]
    assert spilled == in_memory
    assert [list(p.attributes) for p in spilled] == [list(p.attributes) for p in in_memory]  # key order too


def test_prospects_come_in_first_seen_order_whether_spilled_or_not() -> None:
    items = [rec(5, title="a"), rec(2, title="b"), rec(5, title="c"), rec(9), rec(2, title="d")]
    for spill_after in (50_000, 1, 2):
        prospects = planned_list(items, spill_after)
        assert [p.prospect_id for p in prospects] == [5, 2, 9]
        assert [p.attributes.get("title") for p in prospects] == ["c", "d", None]


# ----- numbers JSON cannot carry, and control characters (the same for every reader) -----

@pytest.mark.parametrize(("fields", "target", "message"), [
    ({"score": float("inf")}, "score", "is not a finite number"),
    ({"score": float("nan")}, "score", "is not a finite number"),
    ({"score": "1e400"}, "score", "is not a finite number"),
    ({"score": 2**70}, "score", "is out of range"),
    ({"connections": float("-inf")}, "linkedInConnections", "is not a whole number"),
    ({"connections": str(2**64)}, "linkedInConnections", "is out of range"),
    ({"title": float("inf")}, "title", "is not a finite number"),
    ({"title": "Chief\x00Officer"}, "title", "contains a control character"),
    ({"title": "bell\x07"}, "title", "contains a control character"),
    ({"tags": ["ok", "no\x1bpe"]}, "tags", "contains a control character"),
    ({"available": "2026-11-20T13:15:49\x00"}, "availableAt", "is not an ISO 8601 date and time"),
])
def test_non_finite_numbers_and_control_characters_fail_locally(fields: dict[str, Any], target: str,
                                                                 message: str) -> None:
    prospect = one(person={"name": {"firstName": "Ann"}}, **fields)
    assert prospect.attributes == {}
    (failure,) = prospect.failures
    assert failure.field == target and message in failure.detail and target in failure.detail


def test_tabs_and_line_breaks_are_ordinary_text() -> None:
    assert one(title="a\tb\r\nc").attributes == {"title": "a\tb\r\nc"}


def test_1e400_read_from_a_json_file_is_never_sent_as_null(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"identityMap": {"Oid": [{"id": 1}]}, "score": 1e400, "title": "VP"}\n'
                       b'{"identityMap": {"Oid": [{"id": 2}]}, "score": 1e300, "title": "x\\u0000y"}\n')
    planner = Planner(make_profile())
    for record in read_records(source, "jsonl"):
        planner.add(record)
    prospects = {p.prospect_id: p for p in planner.prospects()}
    planner.close()
    # the reader may call the first line malformed, or pass the number on: it is never planned for sending
    assert 1 not in prospects or [f.field for f in prospects[1].failures] == ["score"]
    assert 1 in prospects or planner.tally.malformed == 1
    assert prospects[2].attributes == {} and [f.field for f in prospects[2].failures] == ["title"]


status_entries = st.dictionaries(
    st.sampled_from(["seg-emea", "seg-churn", "x"]),
    st.fixed_dictionaries({"status": st.sampled_from(["realized", "existing", "exited", "Realized"]) | json_values})
    | st.fixed_dictionaries({}) | json_values)


@settings(max_examples=300, deadline=None)
@given(status_entries)
def test_the_common_case_statuses_equal_the_plain_reading(ups: dict[str, Any]) -> None:
    """``Planner._statuses`` (one comprehension, falling back on any surprise) against ``segment_status``."""
    planner = Planner(make_profile())
    assert list(planner._statuses(ups)) == [segment_status(ups.get(s)) for s in ("seg-emea", "seg-churn")]
