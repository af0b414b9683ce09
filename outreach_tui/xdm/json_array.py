"""A top-level JSON array of objects, streamed with ijson (its C backend, yajl2_c) in constant memory.

ijson reports no byte positions, so `Record.line` is the element's 1-based index in the array, not a line
of the file. A bad element (not an object, a number out of range, invalid UTF-8, a lone UTF-16 surrogate,
nesting deeper than MAX_DEPTH) is malformed and reading goes on; a syntax error (NaN and Infinity included)
or an element over MAX_RECORD_BYTES is reported once, as the next element, and reading stops there: a
streaming parser cannot tell where a broken element ends.
"""

from __future__ import annotations

import codecs
import math
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import ijson

from outreach_tui.xdm.base import MAX_DEPTH, MAX_RECORD_BYTES, TOO_DEEP, TOO_LONG, InputError, Record, not_object

__all__ = ["read_json_array"]

_CHUNK = 1 << 16  # bytes handed to the parser at a time
# yajl would decode invalid UTF-8 as a fatal error and a lone surrogate escape as a silent "?": the source
# below turns both into U+FFFF, a noncharacter (so a literal U+FFFF in the input is judged unreadable too),
# and the element holding it is malformed.
_UNREADABLE = "\uffff"
_UNREADABLE_ESCAPE = "\\uffff"


def _mark_unreadable(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeDecodeError)
    return _UNREADABLE, exc.end


codecs.register_error("outreach-tui-unreadable", _mark_unreadable)
# A \uXXXX escape of a high surrogate not followed by a low one, or a low one not preceded by a high one,
# after an even number of backslashes (an odd one would make the backslash itself escaped text).
_LONE_SURROGATE = re.compile(
    r"(?<!\\)((?:\\\\)*)(?:\\ud[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})"
    r"|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2})",
    re.IGNORECASE,
)
_HOLD_BACK = 12  # characters kept for the next chunk, so an escape pair is never judged half-read
_OPENERS = frozenset(("start_map", "start_array"))
_CLOSERS = frozenset(("end_map", "end_array"))
_BAD_TEXT = "invalid UTF-8 or a lone UTF-16 surrogate in this element"


class _TooLarge(Exception):
    """An element grew past MAX_RECORD_BYTES: stop before the parser buffers more of it."""


class _Source:
    """The file as the parser reads it: UTF-8 checked, byte order mark dropped, unreadable text marked,
    and no more than about MAX_RECORD_BYTES handed over since the last element ended."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.since_element = 0  # bytes handed to the parser since the last element ended (reset by it)
        self._decoder = codecs.getincrementaldecoder("utf-8")("outreach-tui-unreadable")
        self._pending = ""
        self._started = False
        self._eof = False

    def first_significant(self) -> str:
        """The first non-blank character ('' for a blank file), read now without consuming it."""
        while True:
            self._pending = self._pending.lstrip(" \t\r\n")  # JSON whitespace: dropped as read, never held
            if self._pending or self._eof:
                return self._pending[:1]
            self._fill()

    def _fill(self) -> None:
        chunk = self._handle.read(_CHUNK)
        self._eof = not chunk
        text = self._decoder.decode(chunk, final=self._eof)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        self._pending += text

    def read(self, size: int = -1) -> bytes:
        """About one chunk; b"" only at the end of the file (and for ijson's `read(0)` type probe)."""
        if size == 0:
            return b""
        while not self._eof and len(self._pending) <= _HOLD_BACK:
            self._fill()
        cut = len(self._pending) if self._eof else len(self._pending) - _HOLD_BACK
        text, self._pending = self._pending[:cut], self._pending[cut:]
        if "\\" in text:
            text = _LONE_SURROGATE.sub(lambda match: match.group(1) + _UNREADABLE_ESCAPE, text)
        data = text.encode("utf-8")
        self.since_element += len(data)
        if self.since_element > MAX_RECORD_BYTES + _CHUNK:  # a chunk of slack: the parser reads ahead
            raise _TooLarge
        return data


def read_json_array(handle: IO[bytes], path: Path) -> Iterator[Record]:
    """Check the opening bracket now (InputError at the call), then stream the elements."""
    source = _Source(handle)
    first = source.first_significant()
    if not first:
        return iter(())  # an empty file holds no records
    if first != "[":
        raise InputError(
            f"{path}: not a JSON array (starts with {first!r}); for one JSON object per line use format = \"jsonl\""
        )
    return _records(ijson.basic_parse(source, buf_size=_CHUNK), source)


def _records(events: Iterator[tuple[str, Any]], source: _Source) -> Iterator[Record]:
    index = 0
    try:
        next(events)  # the array's own start_array, checked above
        for index, (value, problem) in enumerate(_elements(events, source), start=1):
            if problem is not None:
                yield Record(index, None, problem)
            elif type(value) is dict:
                yield Record(index, value, None)
            else:
                yield not_object(index, value)
        _expect_end(events)
    except ijson.JSONError as exc:
        yield Record(index + 1, None, _broken(exc))
    except _TooLarge:
        yield Record(index + 1, None, f"array element {TOO_LONG}; stopped reading")


def _expect_end(events: Iterator[tuple[str, Any]]) -> None:
    for _ in events:  # yajl raises on anything after the closing bracket
        break


def _broken(exc: ijson.JSONError) -> str:
    reason = str(exc).splitlines()[0].removeprefix("parse error: ").removeprefix("lexical error: ").rstrip(".")
    if reason == "trailing garbage":
        return "unexpected data after the closing ']'; ignored the rest"
    if reason == "premature EOF":
        return "broken JSON array: the file ends inside the array (truncated?); stopped reading"
    return f"broken JSON array: {reason}; stopped reading"


def _elements(events: Iterator[tuple[str, Any]], source: _Source) -> Iterator[tuple[Any, str | None]]:
    """(value, problem) per element until the array's closing bracket; problem is None for a sound value."""
    stack: list[Any] = []  # the containers of the element being built, outermost first
    top: Any = None  # stack[-1], the container that takes the next value
    key: str = ""
    problem: str | None = None
    skipping = 0  # while > 0: the element is too deep, and this many levels are open (nothing is built)
    for event, value in events:
        if skipping:
            skipping += 1 if event in _OPENERS else -1 if event in _CLOSERS else 0
            if not skipping:
                source.since_element = 0
                yield None, TOO_DEEP
            continue
        if event == "map_key":
            if _UNREADABLE in value:
                problem = _BAD_TEXT
            key = value
            continue
        if event in _OPENERS:
            if len(stack) == MAX_DEPTH:
                skipping, stack, top, problem = len(stack) + 1, [], None, None
                continue
            container: Any = {} if event == "start_map" else []
            if top is not None:
                _attach(top, key, container)
            stack.append(container)
            top = container
            continue
        if event in _CLOSERS:
            if top is None:
                return  # the array's own closing bracket
            done = stack.pop()
            top = stack[-1] if stack else None
            if top is None:
                source.since_element = 0
                yield done, problem
                problem = None
            continue
        if event == "string":
            if _UNREADABLE in value:
                problem = _BAD_TEXT
        elif event == "number" and type(value) is Decimal:
            value = float(value)
            if not math.isfinite(value):
                problem = "a number is out of range"
        if top is None:
            source.since_element = 0
            yield value, problem
            problem = None
        elif type(top) is dict:
            top[key] = value
        else:
            top.append(value)


def _attach(container: Any, key: str, value: Any) -> None:
    if type(container) is dict:
        container[key] = value
    else:
        container.append(value)
