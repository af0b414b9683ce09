"""JSON Lines: one JSON object per line, parsed with orjson (the hot path of a million-record run)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson

from outreach_tui.xdm.base import BOM, MAX_DEPTH, TOO_DEEP, TOO_LONG, LongLine, Record, nested_deeper_than, not_object

__all__ = ["iter_jsonl_lines"]


def iter_jsonl_lines(lines: Iterable[bytes | LongLine], first_line: int = 1) -> Iterator[Record]:
    """Parse JSON Lines given as raw byte lines (line ends included or not). Blank lines are skipped.

    One `orjson.loads` per line and two byte counts on success (orjson itself rejects NaN, Infinity,
    numbers out of range, lone surrogates and invalid UTF-8). A `LongLine` (see `bounded_lines`) is
    malformed.
    """
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    number = first_line - 1
    iterator = iter(lines)
    if first_line == 1:  # a UTF-8 byte order mark may only start the file
        for first in iterator:
            number = 1
            record = _jsonl_record(first if isinstance(first, LongLine) else first.removeprefix(BOM), 1)
            if record is not None:
                yield record
            break
    for raw in iterator:
        number += 1
        try:
            value = loads(raw)  # type: ignore[arg-type]
        except decode_error as exc:
            if type(raw) is LongLine:
                yield Record(number, None, f"line {TOO_LONG}")
            elif not raw or raw.isspace():  # type: ignore[union-attr]
                continue
            else:
                yield Record(number, None, _jsonl_error(raw, exc))  # type: ignore[arg-type]
            continue
        if type(value) is not dict:
            yield not_object(number, value)
        elif raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and nested_deeper_than(value):  # type: ignore[union-attr]
            yield Record(number, None, TOO_DEEP)
        else:
            yield Record(number, value, None)


def _jsonl_record(raw: bytes | LongLine, number: int) -> Record | None:
    """One line, the slow and simple way (the loop above inlines this for speed); None for a blank line."""
    if isinstance(raw, LongLine):
        return Record(number, None, f"line {TOO_LONG}")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None if raw.isspace() or not raw else Record(number, None, _jsonl_error(raw, exc))
    if type(value) is not dict:
        return not_object(number, value)
    return Record(number, None, TOO_DEEP) if nested_deeper_than(value) else Record(number, value, None)


def _jsonl_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"invalid UTF-8 (byte {bad.start + 1} of the line)"
    if exc.msg.startswith("depth limit exceeded"):  # orjson's own limit (1024) is deeper than ours
        return TOO_DEEP
    if exc.msg == "unexpected end of data":
        return f"invalid JSON: the line ends inside the value, truncated? (column {exc.colno})"
    return f"invalid JSON: {exc.msg} (column {exc.colno})"
