"""XDM record readers: every odd input a real export meets, through the public functions only."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tracemalloc
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach_tui.xdm import Format, InputError, Record, detect_format, discover, iter_jsonl_lines, read_records

BIG = 10 * 1024 * 1024


def read(tmp_path: Path, content: bytes | str, name: str = "in.jsonl",
         fmt: Format | None = None) -> list[Record]:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return list(read_records(path, fmt or detect_format(path)))


def summary(records: list[Record]) -> list[tuple[int, Any]]:
    """(line, data) for good records, (line, 'ERR') for malformed ones."""
    return [(r.line, r.data if r.error is None else "ERR") for r in records]


def assert_well_formed(records: list[Record]) -> None:
    for record in records:
        assert (record.data is None) == (record.error is not None), record


# ------------------------------------------------------------------------------------------------ jsonl

def test_jsonl_good_records_with_line_numbers(tmp_path: Path) -> None:
    records = read(tmp_path, '{"a": 1}\n{"b": {"c": [1, 2]}}\n')
    assert summary(records) == [(1, {"a": 1}), (2, {"b": {"c": [1, 2]}})]


def test_jsonl_bom_is_ignored(tmp_path: Path) -> None:
    records = read(tmp_path, b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n')
    assert summary(records) == [(1, {"a": 1}), (2, {"b": 2})]


def test_jsonl_bom_then_blank_first_line_is_still_blank(tmp_path: Path) -> None:
    records = read(tmp_path, b'\xef\xbb\xbf\n{"b": 2}\n')
    assert summary(records) == [(2, {"b": 2})]


def test_jsonl_crlf_line_ends(tmp_path: Path) -> None:
    records = read(tmp_path, b'{"a": "x"}\r\n\r\n{"b": 2}\r\n')
    assert summary(records) == [(1, {"a": "x"}), (3, {"b": 2})]


def test_jsonl_blank_and_whitespace_lines_are_skipped_not_yielded(tmp_path: Path) -> None:
    records = read(tmp_path, '\n   \n\t\n{"a": 1}\n\n{"b": 2}\n\n')
    assert summary(records) == [(4, {"a": 1}), (6, {"b": 2})]


def test_jsonl_empty_file_yields_nothing(tmp_path: Path) -> None:
    assert read(tmp_path, b"") == []


def test_jsonl_truncated_last_line_without_newline(tmp_path: Path) -> None:
    records = read(tmp_path, '{"a": 1}\n{"b": {"c": "tru')
    assert summary(records) == [(1, {"a": 1}), (2, "ERR")]
    assert records[1].error is not None and records[1].error.startswith("invalid JSON")
    assert "truncated" in records[1].error


def test_jsonl_bad_json_in_the_middle_does_not_stop_reading(tmp_path: Path) -> None:
    records = read(tmp_path, '{"a": 1}\n{"a": 1 "b": 2}\n{"c": 3}\n')
    assert summary(records) == [(1, {"a": 1}), (2, "ERR"), (3, {"c": 3})]
    assert records[1].error == "invalid JSON: unexpected character, expected ',' or '}' (column 9)"


@pytest.mark.parametrize(
    ("line", "kind"),
    [("[1, 2]", "array"), ("42", "number"), ("1.5", "number"), ('"text"', "string"), ("null", "null"),
     ("true", "boolean")],
)
def test_jsonl_non_object_json_is_malformed(tmp_path: Path, line: str, kind: str) -> None:
    records = read(tmp_path, f'{{"ok": 1}}\n{line}\n{{"ok": 2}}\n')
    assert summary(records) == [(1, {"ok": 1}), (2, "ERR"), (3, {"ok": 2})]
    assert records[1].error == f"not a JSON object (got {kind})"


def test_jsonl_ten_megabyte_line_is_read(tmp_path: Path) -> None:
    big = "x" * BIG
    records = read(tmp_path, f'{{"a": 1}}\n{{"big": "{big}"}}\n{{"c": 3}}\n')
    assert [r.line for r in records] == [1, 2, 3]
    assert records[1].data == {"big": big}


def test_jsonl_ten_megabyte_truncated_line_is_malformed(tmp_path: Path) -> None:
    big = "x" * BIG
    records = read(tmp_path, f'{{"a": 1}}\n{{"big": "{big}\n{{"c": 3}}\n')
    assert summary(records) == [(1, {"a": 1}), (2, "ERR"), (3, {"c": 3})]


def test_jsonl_invalid_utf8_spoils_only_its_line(tmp_path: Path) -> None:
    records = read(tmp_path, b'{"a": "caf\xc3\xa9"}\n{"b": "caf\xe9"}\n{"c": "\xe6\x9d\x8e"}\n')
    assert summary(records) == [(1, {"a": "café"}), (2, "ERR"), (3, {"c": "李"})]
    assert records[1].error == "invalid UTF-8 (byte 11 of the line)"


def test_jsonl_binary_garbage_lines_are_malformed_with_their_numbers(tmp_path: Path) -> None:
    records = read(tmp_path, b'\x00\x01\x02\n{"a": 1}\n\xff\xfe\n')
    assert summary(records) == [(1, "ERR"), (2, {"a": 1}), (3, "ERR")]
    assert_well_formed(records)


def test_iter_jsonl_lines_continues_numbering_for_follow() -> None:
    lines = [b'{"a": 1}\n', b"\n", b"oops\n", b'{"b": 2}']
    records = list(iter_jsonl_lines(lines, first_line=41))
    assert summary(records) == [(41, {"a": 1}), (43, "ERR"), (44, {"b": 2})]


def test_iter_jsonl_lines_strips_bom_only_at_the_start_of_the_file() -> None:
    assert summary(list(iter_jsonl_lines([b'\xef\xbb\xbf{"a": 1}']))) == [(1, {"a": 1})]
    assert summary(list(iter_jsonl_lines([b'\xef\xbb\xbf{"a": 1}'], first_line=7))) == [(7, "ERR")]


# ------------------------------------------------------------------------------------------ json array

def test_json_array_good_elements_numbered_by_index(tmp_path: Path) -> None:
    # ijson reports no positions: a JSON array element's `line` is its 1-based index in the array.
    content = '[\n  {"a": 1},\n  {\n    "b": 2\n  },   {"c": 3}\n]\n'
    records = read(tmp_path, content, "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, {"b": 2}), (3, {"c": 3})]


def test_json_array_compact_on_one_line(tmp_path: Path) -> None:
    records = read(tmp_path, '[{"a":1},{"b":2}]', "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, {"b": 2})]


def test_json_array_empty(tmp_path: Path) -> None:
    assert read(tmp_path, " [ \n ] \n", "in.json") == []


def test_json_array_with_bom_and_crlf(tmp_path: Path) -> None:
    records = read(tmp_path, b'\xef\xbb\xbf[\r\n{"a": 1},\r\n{"b": 2}\r\n]\r\n', "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, {"b": 2})]


def test_json_array_syntax_error_is_reported_once_and_stops_reading(tmp_path: Path) -> None:
    # A streaming parser cannot tell where a syntactically broken element ends, so reading stops there.
    content = '[\n{"a": 1},\n{"b":\n  tru},\n{"c": 3}\n]'
    records = read(tmp_path, content, "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, "ERR")]
    assert records[1].error == "broken JSON array: invalid string in json text; stopped reading"


def test_json_array_non_object_elements_are_malformed(tmp_path: Path) -> None:
    records = read(tmp_path, '[{"a": 1}, [1, {"x": 2}], 7, "s", null, {"b": 2}]', "in.json")
    assert [r.error for r in records] == [
        None, "not a JSON object (got array)", "not a JSON object (got number)",
        "not a JSON object (got string)", "not a JSON object (got null)", None]


def test_json_array_strings_with_brackets_and_escaped_quotes(tmp_path: Path) -> None:
    tricky = {"s": 'a ] } [ { , "quoted" \\ end', "n": [[1, [2]], {"k": "]"}]}
    content = "[" + json.dumps(tricky) + ",\n" + '{"bad": "x ] \\" , [", oops},\n' + json.dumps(tricky) + "]"
    records = read(tmp_path, content, "in.json")
    assert summary(records) == [(1, tricky), (2, "ERR")]


def test_json_array_missing_comma_breaks_the_structure_once(tmp_path: Path) -> None:
    records = read(tmp_path, '[{"a": 1}\n{"b": 2},\n{"c": 3}]', "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, "ERR")]
    assert records[1].error is not None and records[1].error.startswith("broken JSON array")


def test_json_array_truncated_inside_an_element(tmp_path: Path) -> None:
    records = read(tmp_path, '[{"a": 1},\n{"b": "cut', "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, "ERR")]
    assert records[1].error is not None and "truncated" in records[1].error


def test_json_array_missing_closing_bracket(tmp_path: Path) -> None:
    records = read(tmp_path, '[{"a": 1},\n{"b": 2}\n', "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, {"b": 2}), (3, "ERR")]


def test_json_array_data_after_the_array(tmp_path: Path) -> None:
    records = read(tmp_path, '[{"a": 1}]\n\n{"b": 2}', "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, "ERR")]
    assert records[1].error == "unexpected data after the closing ']'; ignored the rest"


def test_json_array_nan_is_not_json(tmp_path: Path) -> None:
    records = read(tmp_path, '[{"b": 1}, {"a": NaN}, {"b": 1}]', "in.json")
    assert summary(records) == [(1, {"b": 1}), (2, "ERR")]


def test_json_array_invalid_utf8_spoils_only_its_element(tmp_path: Path) -> None:
    records = read(tmp_path, b'[{"a": "caf\xe9"},\n {"b": "caf\xc3\xa9"}]', "in.json")
    assert summary(records) == [(1, "ERR"), (2, {"b": "café"})]
    assert records[0].error == "invalid UTF-8 or a lone UTF-16 surrogate in this element"


def test_json_array_elements_across_read_chunks_keep_lines(tmp_path: Path) -> None:
    elements = [{"i": i, "pad": "p" * (i % 700), "n": [i, {"q": "]"}]} for i in range(4000)]  # ~1.5 MB
    content = "[\n" + ",\n".join(json.dumps(e) for e in elements) + "\n]\n"
    records = read(tmp_path, content, "in.json")
    assert [r.data for r in records] == elements
    assert [r.line for r in records] == list(range(1, 4001))


def test_json_array_ten_megabyte_element_and_bad_neighbours(tmp_path: Path) -> None:
    big = "y" * BIG
    content = f'[{{"a": 1}},\n{{"big": "{big}"}},\n{{"bad": }},\n{{"c": 3}}]'
    records = read(tmp_path, content, "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, {"big": big}), (3, "ERR")]


def test_json_array_bad_ten_megabyte_element_stops_reading(tmp_path: Path) -> None:
    big = "z" * BIG
    content = f'[{{"big": "{big}" "oops"}},\n{{"c": 3}}]'
    records = read(tmp_path, content, "in.json")
    assert summary(records) == [(1, "ERR")]


def test_json_format_on_a_non_array_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"in\.json.*not a JSON array.*jsonl"):
        read(tmp_path, '{"a": 1}', "in.json", fmt="json")


# ------------------------------------------------------------------------------------------------- csv

def test_csv_nested_paths_identities_and_segments(tmp_path: Path) -> None:
    content = (
        "person.name.firstName,person.name.lastName,identityMap.Oid,identityMap.Email,"
        "segmentMembership.ups.seg-emea.status,segmentMembership.ups.seg.v2.status,phones.0.number\n"
        "Zoë,Lee,1001| 1002 ,zoe@x.example,realized,exited,555-1\n"
    )
    records = read(tmp_path, content, "in.csv")
    assert summary(records) == [(2, {
        "person": {"name": {"firstName": "Zoë", "lastName": "Lee"}},
        "identityMap": {"Oid": [{"id": "1001"}, {"id": "1002"}], "Email": [{"id": "zoe@x.example"}]},
        "segmentMembership": {"ups": {"seg-emea": {"status": "realized"}, "seg.v2": {"status": "exited"}}},
        "phones": [{"number": "555-1"}],
    })]


def test_csv_list_indexes_build_lists(tmp_path: Path) -> None:
    records = read(tmp_path, "phones.0.number,phones.1.number,tags.1\n,555-2,b\n", "in.csv")
    assert records[0].data == {"phones": [None, {"number": "555-2"}], "tags": [None, "b"]}


def test_csv_empty_cells_are_absent(tmp_path: Path) -> None:
    records = read(tmp_path, "a.b,a.c,identityMap.Oid,d\n,x,,\n", "in.csv")
    assert records[0].data == {"a": {"c": "x"}}


def test_csv_quoted_multiline_cell_keeps_physical_line_numbers(tmp_path: Path) -> None:
    content = 'note,id\n"line one\nline two\nline three",1\n\nplain,2\n"a ""quoted"" word",3\n'
    records = read(tmp_path, content, "in.csv")
    assert summary(records) == [
        (2, {"note": "line one\nline two\nline three", "id": "1"}),
        (6, {"note": "plain", "id": "2"}),
        (7, {"note": 'a "quoted" word', "id": "3"}),
    ]


def test_csv_bom_and_crlf(tmp_path: Path) -> None:
    records = read(tmp_path, b'\xef\xbb\xbfperson.name.firstName\r\nAnn\r\n\r\nBo\r\n', "in.csv")
    assert summary(records) == [(2, {"person": {"name": {"firstName": "Ann"}}}),
                                (4, {"person": {"name": {"firstName": "Bo"}}})]


def test_csv_blank_rows_are_skipped(tmp_path: Path) -> None:
    records = read(tmp_path, "a,b\n\n,\n1,2\n", "in.csv")
    assert summary(records) == [(4, {"a": "1", "b": "2"})]


def test_csv_row_with_too_many_cells_is_malformed(tmp_path: Path) -> None:
    records = read(tmp_path, "a,b\n1,2,3\n4,5\n", "in.csv")
    assert summary(records) == [(2, "ERR"), (3, {"a": "4", "b": "5"})]
    assert records[0].error == "row has 3 cells but the header has 2 columns"


def test_csv_bad_quoting_is_malformed_and_reading_goes_on(tmp_path: Path) -> None:
    records = read(tmp_path, 'a,b\n1,"x"y\n2,z\n', "in.csv")
    assert summary(records) == [(2, "ERR"), (3, {"a": "2", "b": "z"})]
    assert records[0].error is not None and records[0].error.startswith("invalid CSV")


def test_csv_unterminated_quote_at_end_of_file(tmp_path: Path) -> None:
    records = read(tmp_path, 'a,b\n1,2\n3,"open\nmore', "in.csv")
    assert summary(records) == [(2, {"a": "1", "b": "2"}), (3, "ERR")]


def test_csv_invalid_utf8_row_is_malformed(tmp_path: Path) -> None:
    records = read(tmp_path, b"a\ncaf\xe9\ncaf\xc3\xa9\n", "in.csv")
    assert summary(records) == [(2, "ERR"), (3, {"a": "café"})]
    assert records[0].error == "invalid UTF-8"


@pytest.mark.parametrize(
    ("header", "message"),
    [("a,a", "twice"), ("a.b,a", "conflict"), ("a.0,a.x", "conflict"), ("a,,b", "column 2"),
     ("a..b", "column 1")],
)
def test_csv_bad_header_is_an_input_error(tmp_path: Path, header: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read(tmp_path, header + "\n1,2,3\n", "in.csv")


# ------------------------------------------------------------------------------------- format and errors

@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [("p.jsonl", "{}", "jsonl"), ("p.ndjson", "{}", "jsonl"), ("p.JSONL", "{}", "jsonl"),
     ("p.json", "[{}]", "json"), ("p.json", "\ufeff \n [", "json"), ("p.json", '{"a": 1}\n', "jsonl"),
     ("p.json", "", "json"), ("p.csv", "a\n", "csv")],
)
def test_detect_format(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(path) == expected


def test_detect_format_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "profiles.txt"
    path.write_text("{}")
    with pytest.raises(InputError, match=r"profiles\.txt.*\.jsonl.*format"):
        detect_format(path)


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_missing_file_is_an_input_error_naming_it(tmp_path: Path, fmt: Format) -> None:
    with pytest.raises(InputError, match=r"nowhere\.jsonl: file not found; check \[source\] path"):
        read_records(tmp_path / "nowhere.jsonl", fmt)


def test_detect_format_on_a_missing_json_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        detect_format(tmp_path / "gone.json")


def test_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        read_records(tmp_path, "jsonl")


# ------------------------------------------------------------------------------------------- properties

# Text without surrogates, and without U+FFFF: the JSON-array reader marks unreadable bytes with that
# noncharacter, so a literal one is judged unreadable too (outreach_tui/xdm/json_array.py says why).
readable = st.characters(exclude_categories=["Cs"], exclude_characters="\uffff")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(readable),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(readable, max_size=8), inner, max_size=4),
    max_leaves=12,
)
garbage = (st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\r"), max_size=20)
           .map(lambda text: ("#" + text).encode())
           | st.binary(max_size=20).map(lambda raw: b"\xff" + raw.replace(b"\n", b"")))
blank = st.sampled_from([b"", b" ", b"\t", b"  \r"])
lines = st.lists(st.one_of(json_values.map(lambda v: ("json", v)), garbage.map(lambda g: ("garbage", g)),
                           blank.map(lambda b: ("blank", b))), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=lines, crlf=st.booleans())
def test_property_jsonl_counts_add_up_and_lines_increase(tmp_path: Path, items: list[tuple[str, Any]],
                                                         crlf: bool) -> None:
    raw_lines: list[bytes] = []
    expected: list[tuple[int, Any]] = []
    for number, (kind, item) in enumerate(items, start=1):
        if kind == "json":
            raw_lines.append(json.dumps(item, ensure_ascii=False).encode())
            expected.append((number, item if isinstance(item, dict) else "ERR"))
        elif kind == "garbage":
            raw_lines.append(item)
            expected.append((number, "ERR"))
        else:
            raw_lines.append(item)
    end = b"\r\n" if crlf else b"\n"
    records = read(tmp_path, end.join(raw_lines), "prop.jsonl")
    assert_well_formed(records)
    valid = sum(1 for kind, item in items if kind == "json" and isinstance(item, dict))
    malformed = sum(1 for kind, item in items if kind != "blank" and not isinstance(item, dict))
    assert len(records) == valid + malformed
    assert sum(r.data is None for r in records) == malformed
    assert all(a.line < b.line for a, b in pairwise(records))
    assert summary(records) == expected


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(json_values, max_size=30), pretty=st.booleans())
def test_property_json_array_reads_every_element(tmp_path: Path, values: list[Any], pretty: bool) -> None:
    content = json.dumps(values, ensure_ascii=False, indent=2 if pretty else None)
    records = read(tmp_path, content, "prop.json", fmt="json")
    assert_well_formed(records)
    assert [r.data if r.error is None else "ERR" for r in records] == [
        v if isinstance(v, dict) else "ERR" for v in values]
    assert all(a.line <= b.line for a, b in pairwise(records))


# --------------------------------------------------------------------------- whole-file errors, eagerly

@pytest.mark.parametrize(
    ("name", "content", "message"),
    [("in.json", '{"a": 1}', "not a JSON array"), ("in.csv", "a,a\n1,2\n", "twice"),
     ("in.csv", '\n\n"a,b\n', "header \\(line 3\\) is unreadable"), ("in.csv", b"caf\xe9\n1\n", "UTF-8")],
)
def test_whole_file_errors_raise_at_the_call_not_mid_iteration(tmp_path: Path, name: str,
                                                               content: str | bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(InputError, match=message):
        read_records(path, "json" if name.endswith(".json") else "csv")


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_an_unread_or_half_read_stream_closes_its_file(tmp_path: Path, fmt: Format) -> None:
    path = tmp_path / "in.data"
    path.write_text({"jsonl": '{"a": 1}\n{"b": 2}\n', "json": '[{"a": 1}, {"b": 2}]', "csv": "a\n1\n2\n"}[fmt])
    untouched = read_records(path, fmt)
    half = read_records(path, fmt)
    assert next(half).line in (1, 2)
    del untouched, half  # an unclosed file would raise ResourceWarning, an error under filterwarnings=error


@pytest.mark.parametrize("name", ["in.json", "in.csv", "in.jsonl"])
def test_empty_files_hold_no_records(tmp_path: Path, name: str) -> None:
    assert read(tmp_path, b"  \n", name) == []


# ------------------------------------------------------------------------- json array: bad text and numbers

def test_json_array_lone_surrogate_spoils_only_its_element(tmp_path: Path) -> None:
    content = '[{"a": "\\ud800"}, {"b": "\\ud83d\\ude00"}, {"\\udc00": 1}, {"c": "x\\\\ud800"}]'
    records = read(tmp_path, content, "in.json")
    assert summary(records) == [(1, "ERR"), (2, {"b": "😀"}), (3, "ERR"), (4, {"c": "x\\ud800"})]
    assert records[0].error == "invalid UTF-8 or a lone UTF-16 surrogate in this element"


def test_json_array_lone_surrogate_first_in_a_long_file_does_not_stop_reading(tmp_path: Path) -> None:
    elements = ['{"s": "\\ud800"}'] + [json.dumps({"i": i, "pad": "\\" * (i % 13)}) for i in range(20000)]
    records = read(tmp_path, "[" + ",".join(elements) + "]", "in.json")
    assert summary(records)[0] == (1, "ERR")
    assert [r.data for r in records[1:]] == [{"i": i, "pad": "\\" * (i % 13)} for i in range(20000)]


def test_json_array_number_out_of_range_is_malformed(tmp_path: Path) -> None:
    records = read(tmp_path, '[{"a": 1e400}, {"b": -1E999}, {"c": 1.5, "d": 10}]', "in.json")
    assert summary(records) == [(1, "ERR"), (2, "ERR"), (3, {"c": 1.5, "d": 10})]
    assert records[0].error == "a number is out of range"
    assert type(records[2].data["c"]) is float  # type: ignore[index]


# ---------------------------------------------------------------------------------------------- parquet

DEMO = Path(__file__).resolve().parent.parent / "outreach_tui" / "demo"


def demo_records() -> list[dict[str, Any]]:
    """The demo's well-formed records, typed as a Parquet export holds them: a column has one type, so the
    few numeric Oid ids (the demo mixes 1003 and "1001") are text, as in every other record."""
    records = [r.data for r in read_records(DEMO / "profiles.jsonl", "jsonl") if r.data is not None]
    for record in records:
        for ids in record.get("identityMap", {}).values():
            for entry in ids:
                entry["id"] = str(entry["id"])
    return records


def write_twins(directory: Path) -> tuple[Path, Path]:
    """The same records as JSON Lines and as Parquet (written by pyarrow, several row groups)."""
    records = demo_records()
    jsonl = directory / "profiles.jsonl"
    jsonl.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return jsonl, write_parquet(directory / "profiles.parquet", records, row_group_size=50)


def write_parquet(path: Path, rows: list[dict[str, Any]], schema: Any = None,
                  row_group_size: int | None = None) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=row_group_size)
    return path


def test_parquet_from_the_demo_data_reads_like_the_json_lines(tmp_path: Path) -> None:
    jsonl, parquet = write_twins(tmp_path)
    assert detect_format(parquet) == "parquet"
    from_jsonl = list(read_records(jsonl, "jsonl"))
    from_parquet = list(read_records(parquet, "parquet"))
    assert len(from_parquet) == len(demo_records()) > 200
    assert [r.data for r in from_parquet] == [r.data for r in from_jsonl]
    assert [r.line for r in from_parquet] == [r.line for r in from_jsonl] == list(range(1, len(from_jsonl) + 1))
    assert all(r.error is None for r in from_parquet)


def test_parquet_map_identity_map_becomes_an_object(tmp_path: Path) -> None:
    import pyarrow as pa

    identity = pa.list_(pa.struct([("id", pa.string()), ("primary", pa.bool_())]))
    schema = pa.schema([("identityMap", pa.map_(pa.string(), identity)),
                        ("person", pa.struct([("name", pa.struct([("firstName", pa.string())]))])),
                        ("score", pa.float64())])
    rows = [{"identityMap": [("Oid", [{"id": "1001", "primary": True}]), ("Email", [{"id": "a@x.example"}])],
             "person": {"name": {"firstName": "Ann"}}, "score": 1.5},
            {"identityMap": [], "person": None, "score": float("nan")},
            {"identityMap": None, "person": {"name": None}, "score": None}]
    records = list(read_records(write_parquet(tmp_path / "m.parquet", rows, schema), "parquet"))
    assert summary(records) == [
        (1, {"identityMap": {"Oid": [{"id": "1001", "primary": True}], "Email": [{"id": "a@x.example"}]},
             "person": {"name": {"firstName": "Ann"}}, "score": 1.5}),
        (2, "ERR"),
        (3, {"person": {}}),
    ]
    assert records[1].error == "a number is out of range (NaN or infinite)"
    found = discover(tmp_path / "m.parquet")
    assert found.format == "parquet"
    assert found.namespaces == {"Oid": 1, "Email": 1}
    assert found.paths == {"person.name.firstName": 1, "score": 1}


def test_parquet_discovery_finds_the_demo_paths(tmp_path: Path) -> None:
    jsonl, parquet = write_twins(tmp_path)
    from_parquet, from_jsonl = discover(parquet), discover(jsonl)
    assert from_parquet.format == "parquet"
    assert "identityMap.Oid.0.id" not in from_parquet.paths  # identities are listed as namespaces
    assert from_parquet.namespaces["Oid"] > 200
    assert from_parquet.model_dump(exclude={"format"}) == from_jsonl.model_dump(exclude={"format"})


def test_parquet_that_is_not_parquet_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_text('{"a": 1}\n')
    with pytest.raises(InputError, match=r"fake\.parquet: not a readable Parquet file"):
        read_records(path, "parquet")


def test_parquet_without_pyarrow_says_which_extra_to_install(tmp_path: Path) -> None:
    _, path = write_twins(tmp_path)
    profile = tmp_path / "demo.toml"
    profile.write_text((DEMO / "demo.toml").read_text().replace(
        'path = "profiles.jsonl"\nformat = "jsonl"', f'path = "{path}"\nformat = "parquet"'))
    shim = ("import sys; sys.modules['pyarrow'] = None; from outreach_tui.cli import main; "
            f"sys.exit(main(['validate', {str(profile)!r}]))")
    done = subprocess.run([sys.executable, "-c", shim], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"input: {path}: reading Parquet needs pyarrow: pip install 'outreach-tui[parquet]'"]
    with_pyarrow = subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(profile)],
                                  capture_output=True, text=True, timeout=120)
    assert with_pyarrow.returncode == 0, with_pyarrow.stderr


def test_parquet_plans_to_the_same_validation_report_as_json_lines(tmp_path: Path) -> None:
    jsonl, parquet = write_twins(tmp_path)
    text = (DEMO / "demo.toml").read_text()
    reports = []
    for path, fmt in ((jsonl, "jsonl"), (parquet, "parquet")):
        profile = tmp_path / f"{fmt}.toml"
        profile.write_text(text.replace('path = "profiles.jsonl"\nformat = "jsonl"',
                                        f'path = "{path}"\nformat = "{fmt}"'))
        done = subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(profile), "--json", "--offline"],
                              capture_output=True, text=True, timeout=120)
        report = json.loads(done.stdout)
        assert report["format"] == fmt
        assert report["records"]["read"] == len(demo_records())
        reports.append({key: value for key, value in report.items() if key not in ("input", "format")})
    assert reports[0]["records"]["planned"] > 200
    assert reports[0] == reports[1]


# ------------------------------------------------------------------ hostile inputs: the same limits everywhere

MIB = 1024 * 1024


def nested(levels: int) -> str:
    """An object nesting `levels` objects and arrays, alternating (the outer object is level 1)."""
    inner = "{}"
    for level in range(levels - 1, 0, -1):
        inner = f'{{"a": {inner}}}' if level % 2 else f"[{inner}]"
    return inner


def test_jsonl_line_over_the_limit_is_malformed_and_reading_goes_on(tmp_path: Path) -> None:
    long_line = '{"big": "' + "x" * (16 * MIB) + '"}'
    records = read(tmp_path, '{"a": 1}\n' + long_line + '\n{"c": 3}\n')
    assert summary(records) == [(1, {"a": 1}), (2, "ERR"), (3, {"c": 3})]
    assert records[1].error == "line longer than 16 MiB"


def read_measuring_memory(path: Path, fmt: Format) -> tuple[list[Record], int]:
    """Every record of ``path``, and the peak of memory allocated while reading them (bytes)."""
    tracemalloc.start()
    try:
        records = list(read_records(path, fmt))
        return records, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_file_of_nul_bytes_is_read_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "nul.jsonl"
    with path.open("wb") as out:
        out.truncate(96 * MIB)  # one 96 MiB "line" of NUL bytes (sparse: no disk used)
    records, peak = read_measuring_memory(path, "jsonl")
    assert summary(records) == [(1, "ERR")]
    assert records[0].error == "line longer than 16 MiB"
    assert peak < 40 * MIB, f"peak {peak / MIB:.0f} MiB"


def test_csv_lines_over_the_limit(tmp_path: Path) -> None:
    records = read(tmp_path, "a,b\n1,2\n" + "x" * (16 * MIB) + "\n3,4\n", "in.csv")
    assert summary(records) == [(2, {"a": "1", "b": "2"}), (3, "ERR"), (4, {"a": "3", "b": "4"})]
    assert records[1].error == "line longer than 16 MiB"
    path = tmp_path / "nul.csv"
    with path.open("wb") as out:
        out.truncate(40 * MIB)
    with pytest.raises(InputError, match=r"header \(line 1\) is unreadable: line longer than 16 MiB"):
        read_records(path, "csv")


def test_json_array_element_over_the_limit_stops_reading(tmp_path: Path) -> None:
    content = '[{"a": 1}, {"big": "' + "x" * (17 * MIB) + '"}, {"c": 3}]'
    records = read(tmp_path, content, "in.json")
    assert summary(records) == [(1, {"a": 1}), (2, "ERR")]
    assert records[1].error == "array element longer than 16 MiB; stopped reading"


@pytest.mark.parametrize("levels", [65, 200, 10_000])
def test_nesting_deeper_than_64_levels_is_malformed_in_every_reader(tmp_path: Path, levels: int) -> None:
    jsonl = read(tmp_path, f'{nested(64)}\n{nested(levels)}\n{{"c": 3}}\n')
    assert summary(jsonl) == [(1, json.loads(nested(64))), (2, "ERR"), (3, {"c": 3})]
    assert jsonl[1].error == "nested deeper than 64 levels"
    array = read(tmp_path, f"[{nested(64)},\n{nested(levels)},\n{{\"c\": 3}}]", "in.json")
    assert summary(array) == [(1, json.loads(nested(64))), (2, "ERR"), (3, {"c": 3})]
    assert array[1].error == "nested deeper than 64 levels"


def test_json_array_a_million_levels_deep_is_quick_and_malformed(tmp_path: Path) -> None:
    started = time.perf_counter()
    records = read(tmp_path, "[" + "[" * 1_000_000 + "]" * 1_000_000 + ', {"c": 3}]', "in.json")
    assert summary(records) == [(1, "ERR"), (2, {"c": 3})]
    assert time.perf_counter() - started < 60


def test_lone_surrogates_and_non_finite_numbers_are_malformed_lines(tmp_path: Path) -> None:
    lines = ['{"a": "\\ud800"}', '{"a": "\\udc00x"}', '{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}',
             '{"a": 1e400}', '{"ok": "\\ud83d\\ude00"}']
    records = read(tmp_path, "\n".join(lines) + "\n")
    assert summary(records) == [(n, "ERR") for n in range(1, 7)] + [(7, {"ok": "😀"})]
    assert_well_formed(records)


def test_csv_encoded_surrogate_is_invalid_utf8(tmp_path: Path) -> None:
    records = read(tmp_path, b"a\n\xed\xa0\x80\nok\n", "in.csv")
    assert summary(records) == [(2, "ERR"), (3, {"a": "ok"})]
    assert records[0].error == "invalid UTF-8"


def test_validate_on_hostile_input_exits_cleanly_with_the_reasons(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    good = ('{"identityMap": {"Oid": [{"id": "1001"}]}, "person": {"name": {"firstName": "Ann"}}, '
            '"segmentMembership": {"ups": {"seg-emea": {"status": "realized"}}}}')
    bad.write_text(f'[{{"person": {{"name": {{"firstName": "\\ud800"}}}}}},\n{nested(10_000)},\n'
                   f'{{"a": 1e400}},\n{good}]', encoding="utf-8")
    profile = tmp_path / "demo.toml"
    profile.write_text((DEMO / "demo.toml").read_text().replace(
        'path = "profiles.jsonl"\nformat = "jsonl"', f'path = "{bad}"\nformat = "json"'))
    done = subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(profile), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr
    assert done.returncode in (0, 1, 2, 3), done.stderr
    report = json.loads(done.stdout)
    assert report["records"]["read"] == 4
    assert report["records"]["malformed"] == 3
    assert [m["detail"] for m in report["malformed"]] == [
        "invalid UTF-8 or a lone UTF-16 surrogate in this element", "nested deeper than 64 levels",
        "a number is out of range"]
    nul = tmp_path / "nul.jsonl"
    with nul.open("wb") as out:
        out.truncate(40 * MIB)
    profile.write_text(profile.read_text().replace(f'path = "{bad}"\nformat = "json"',
                                                   f'path = "{nul}"\nformat = "jsonl"'))
    done = subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(profile), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout) if done.stdout else {}
    assert report.get("malformed") == [{"line": 1, "detail": "line longer than 16 MiB"}], done.stderr


def test_json_array_after_a_lot_of_whitespace_in_constant_memory(tmp_path: Path) -> None:
    path = tmp_path / "spaces.json"
    path.write_bytes(b" " * (48 * MIB) + b'[{"a": 1}]')
    records, peak = read_measuring_memory(path, "json")
    assert summary(records) == [(1, {"a": 1})]
    assert peak < 16 * MIB, f"peak {peak / MIB:.0f} MiB"
