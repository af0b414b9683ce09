"""JSON Lines: one JSON object per line, parsed with orjson (the hot path of a million-record run)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from outreach_tui.xdm.base import BOM, Record, not_object

__all__ = ["iter_jsonl_lines"]


def iter_jsonl_lines(lines: Iterable[bytes], first_line: int = 1) -> Iterator[Record]:
    """Parse JSON Lines given as raw byte lines (line ends included or not). Blank lines are skipped.

    One `orjson.loads` per line and nothing else on success.
    """
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    number = first_line - 1
    iterator = iter(lines)
    if first_line == 1:  # a UTF-8 byte order mark may only start the file
        for first in iterator:
            number = 1
            record = _jsonl_record(first.removeprefix(BOM), 1)
            if record is not None:
                yield record
            break
    for raw in iterator:
        number += 1
        try:
            value = loads(raw)
        except decode_error as exc:
            if raw.isspace() or not raw:
                continue
            yield Record(number, None, _jsonl_error(raw, exc))
            continue
        if type(value) is dict:
            yield Record(number, value, None)
        else:
            yield not_object(number, value)


def _jsonl_record(raw: bytes, number: int) -> Record | None:
    """One line, the slow and simple way (the loop above inlines this for speed); None for a blank line."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None if raw.isspace() or not raw else Record(number, None, _jsonl_error(raw, exc))
    return Record(number, value, None) if type(value) is dict else not_object(number, value)


def _jsonl_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"invalid UTF-8 (byte {bad.start + 1} of the line)"
    if exc.msg == "unexpected end of data":
        return f"invalid JSON: the line ends inside the value, truncated? (column {exc.colno})"
    return f"invalid JSON: {exc.msg} (column {exc.colno})"
