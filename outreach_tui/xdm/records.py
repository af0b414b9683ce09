"""Streaming readers for XDM profile records: JSON Lines, a JSON array, and CSV with dotted headers.

Every reader yields one `Record` per record in the file, in file order, with the 1-based line number where
the record starts. A record that cannot be parsed (bad JSON, not an object, invalid UTF-8, a broken CSV row)
is yielded with `data=None` and a human `error`; reading always goes on. Memory stays constant whatever
the file size: files are read line by line or in fixed-size chunks, never loaded whole.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import orjson

__all__ = [
    "Format",
    "InputError",
    "Record",
    "detect_format",
    "iter_jsonl_lines",
    "read_records",
]

Format = Literal["jsonl", "json", "csv", "parquet"]

_BOM = codecs.BOM_UTF8
_READ_BUFFER = 1 << 20  # fewer read syscalls and copies for line iteration than the 8 KiB default
_JSON_TYPE_NAMES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


class InputError(Exception):
    """The input file as a whole cannot be read. The message names the file and says what to do."""


@dataclass(slots=True)
class Record:
    line: int  # 1-based line number where the record starts in the file
    data: dict[str, Any] | None  # the parsed JSON object; None when malformed
    error: str | None  # why malformed, for humans; None when fine


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _not_object(line: int, value: Any) -> Record:
    return Record(line, None, f"not a JSON object (got {_type_name(value)})")


# --------------------------------------------------------------------------------------------- detection

_SUFFIX_FORMATS: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv"}


def detect_format(path: Path) -> Format:
    """Guess the format from the file name; a `.json` file that is not an array is read as JSON Lines."""
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: cannot tell the format from the file name; use a .jsonl, .ndjson, .json or .csv file, "
            "or set [source] format = \"jsonl\" | \"json\" | \"csv\" in the profile"
        )
    if fmt == "json" and _first_significant_byte(path) not in (b"[", b""):
        return "jsonl"
    return fmt


def _first_significant_byte(path: Path) -> bytes:
    with _open_binary(path) as handle:
        while chunk := handle.read(4096):
            stripped = chunk.removeprefix(_BOM).lstrip()
            if stripped:
                return stripped[:1]
    return b""


def _open_binary(path: Path) -> IO[bytes]:
    try:
        return path.open("rb", buffering=_READ_BUFFER)
    except FileNotFoundError:
        raise InputError(
            f"{path}: file not found; check [source] path in the profile or pass --input FILE"
        ) from None
    except IsADirectoryError:
        raise InputError(
            f"{path}: is a directory, not a file; point [source] path at a records file"
        ) from None
    except PermissionError:
        raise InputError(f"{path}: permission denied; make the file readable for this user") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror}); check the path and try again") from None


# ----------------------------------------------------------------------------------------------- entry

def read_records(path: Path, fmt: Format) -> Iterator[Record]:
    """Open `path` now (so a missing file raises InputError at the call) and stream its records."""
    handle = _open_binary(path)
    try:
        if fmt == "jsonl":
            return _closing(handle, iter_jsonl_lines(handle))
        if fmt == "json":
            return _closing(handle, _JsonArrayReader(handle, path).records())
        if fmt == "csv":
            return _closing(handle, _read_csv(handle, path))
    except BaseException:
        handle.close()
        raise
    handle.close()
    raise InputError(f"{path}: unknown format {fmt!r}; use \"jsonl\", \"json\" or \"csv\"")


def _closing(handle: IO[bytes], records: Iterator[Record]) -> Iterator[Record]:
    """Close the file when the records run out, or when the iterator is dropped (even if never started)."""
    stream = _stream(handle, records)
    weakref.finalize(stream, handle.close)
    return stream


def _stream(handle: IO[bytes], records: Iterator[Record]) -> Iterator[Record]:
    with handle:
        yield from records


# ----------------------------------------------------------------------------------------------- jsonl

def iter_jsonl_lines(lines: Iterable[bytes], first_line: int = 1) -> Iterator[Record]:
    """Parse JSON Lines given as raw byte lines (line ends included or not). Blank lines are skipped.

    This is the hot path of a million-record run: one `orjson.loads` per line and nothing else on success.
    """
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    number = first_line - 1
    iterator = iter(lines)
    if first_line == 1:  # a UTF-8 byte order mark may only start the file
        for first in iterator:
            number = 1
            record = _jsonl_record(first.removeprefix(_BOM), 1)
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
            yield _not_object(number, value)


def _jsonl_record(raw: bytes, number: int) -> Record | None:
    """One line, the slow and simple way (the loop above inlines this for speed); None for a blank line."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return None if raw.isspace() or not raw else Record(number, None, _jsonl_error(raw, exc))
    return Record(number, value, None) if type(value) is dict else _not_object(number, value)


def _jsonl_error(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"invalid UTF-8 (byte {bad.start + 1} of the line)"
    if exc.msg == "unexpected end of data":
        return f"invalid JSON: the line ends inside the value, truncated? (column {exc.colno})"
    return f"invalid JSON: {exc.msg} (column {exc.colno})"


# ------------------------------------------------------------------------------------------ json array

_CHUNK = 1 << 20  # bytes read at a time
_LOOKAHEAD = 1 << 16  # refill before decoding when fewer characters than this are buffered
_WHITESPACE = re.compile(r"[ \t\n\r]*")
# Structural characters, or a whole string (so brackets and escaped quotes inside strings are skipped).
_TOKEN = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[\[\]{},"]', re.DOTALL)
_SURROGATE = re.compile("[\udc80-\udcff]")


class _BrokenArray(Exception):
    """The array's own structure is broken: report once and stop reading the file."""

    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.message = message


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _JsonArrayReader:
    """Incremental parser for a top-level JSON array of objects: a text buffer + `raw_decode`.

    Element boundaries come from the C decoder on the fast path; a small tokenizer (strings, brackets,
    commas) finds the end of an element only when decoding fails, so a bad element is reported and
    parsing resumes at the next one.
    """

    def __init__(self, handle: IO[bytes], path: Path) -> None:
        self._handle = handle
        self._path = path
        self._undecoded = b""  # the start of a UTF-8 sequence cut by the chunk boundary
        self._json = json.JSONDecoder(parse_constant=_reject_constant)
        self._buf = ""
        self._eof = False
        self._saw_bad_utf8 = False
        self._line = 1  # line number at self._line_pos
        self._line_pos = 0

    # buffer management ------------------------------------------------------------------------------

    def _refill(self, keep_from: int) -> int:
        """Drop consumed text before `keep_from`, append one chunk; return the shift applied to positions."""
        if self._eof:
            return 0
        self._line += self._buf.count("\n", self._line_pos, keep_from)
        self._buf = self._buf[keep_from:]
        self._line_pos = 0
        chunk = self._handle.read(_CHUNK)
        self._eof = not chunk
        self._buf += self._decode(self._undecoded + chunk)
        return keep_from

    def _decode(self, data: bytes) -> str:
        """Strict UTF-8 (fast); bad bytes become surrogates, and then elements are checked for them."""
        try:
            text, used = codecs.utf_8_decode(data, "strict", self._eof)
        except UnicodeDecodeError:
            self._saw_bad_utf8 = True
            text, used = codecs.utf_8_decode(data, "surrogateescape", self._eof)
        self._undecoded = data[used:]
        return text

    def _ensure(self, pos: int, wanted: int = _LOOKAHEAD) -> int:
        """Make sure `wanted` characters after `pos` are buffered (unless at EOF); return the new `pos`."""
        while not self._eof and len(self._buf) - pos < wanted:
            pos -= self._refill(pos)
        return pos

    def _line_at(self, pos: int) -> int:
        self._line += self._buf.count("\n", self._line_pos, pos)
        self._line_pos = pos
        return self._line

    def _skip_ws(self, pos: int) -> int:
        while True:
            pos = _WHITESPACE.match(self._buf, pos).end()  # type: ignore[union-attr]
            if pos < len(self._buf) or self._eof:
                return pos
            pos -= self._refill(pos)

    # parsing ----------------------------------------------------------------------------------------

    def records(self) -> Iterator[Record]:
        """Check the opening bracket now (InputError at the call), then stream the elements."""
        pos = self._skip_ws(self._ensure(0, 1))
        if self._buf.startswith("\ufeff", pos):
            pos = self._skip_ws(pos + 1)
        if pos >= len(self._buf):
            return iter(())  # an empty file holds no records
        if self._buf[pos] != "[":
            raise InputError(
                f"{self._path}: not a JSON array (starts with {self._buf[pos]!r}); "
                "for one JSON object per line use format = \"jsonl\""
            )
        return self._guarded(pos + 1)

    def _guarded(self, pos: int) -> Iterator[Record]:
        try:
            yield from self._elements(pos)
        except _BrokenArray as broken:
            message = f"broken JSON array: {broken.message}; stopped reading"
            yield Record(self._line_at(broken.pos), None, message)

    def _elements(self, pos: int) -> Iterator[Record]:
        pos = self._skip_ws(pos)
        if self._buf.startswith("]", pos):
            yield from self._after_array(pos + 1)
            return
        while True:
            pos = self._skip_ws(self._ensure(pos))
            if pos >= len(self._buf):
                raise _BrokenArray(pos, "file ends inside the array (truncated?)")
            record, pos = self._element(pos)
            yield record
            pos = self._skip_ws(pos)
            if pos >= len(self._buf):
                raise _BrokenArray(pos, "file ends inside the array (truncated?), expected ',' or ']'")
            separator = self._buf[pos]
            if separator == "]":
                yield from self._after_array(pos + 1)
                return
            if separator != ",":
                raise _BrokenArray(pos, f"expected ',' or ']' between elements, found {separator!r}")
            pos += 1

    def _element(self, pos: int) -> tuple[Record, int]:
        line = self._line_at(pos)
        try:
            value, end = self._json.raw_decode(self._buf, pos)
        except ValueError:
            return self._slow_element(pos)
        if end >= len(self._buf) and not self._eof:
            return self._slow_element(pos)  # a scalar cut by the buffer end: re-read it whole
        if self._saw_bad_utf8 and _SURROGATE.search(self._buf, pos, end):
            return Record(line, None, "invalid UTF-8 in this element"), end
        if type(value) is dict:
            return Record(line, value, None), end
        return _not_object(line, value), end

    def _slow_element(self, pos: int) -> tuple[Record, int]:
        """Find the element's end with the tokenizer (reading more if needed), then judge it whole."""
        while True:
            end = self._scan_element_end(pos)
            if end is not None:
                break
            if self._eof:
                raise _BrokenArray(pos, "file ends inside an element (truncated JSON)")
            pos -= self._refill(pos)
        line = self._line_at(pos)
        text = self._buf[pos:end].rstrip(" \t\r\n")
        if self._saw_bad_utf8 and _SURROGATE.search(text):
            return Record(line, None, "invalid UTF-8 in this element"), end
        try:
            value = self._json.decode(text)
        except json.JSONDecodeError as exc:
            return Record(line, None, f"invalid JSON: {exc.msg} (line {line + exc.lineno - 1}, "
                                      f"column {exc.colno})"), end
        except ValueError as exc:
            return Record(line, None, f"invalid JSON: {exc}"), end
        if type(value) is dict:
            return Record(line, value, None), end
        return _not_object(line, value), end

    def _scan_element_end(self, pos: int) -> int | None:
        """Index of the ',' or ']' that ends the element starting at `pos`, or None if not buffered yet."""
        depth = 0
        for match in _TOKEN.finditer(self._buf, pos):
            char = match.group()
            if char in "[{":
                depth += 1
            elif char in "]}":
                if depth == 0:
                    if char == "]":
                        return match.start()  # the array's own closing bracket
                    continue  # a stray '}': the element is bad anyway, keep looking for its end
                depth -= 1
            elif char == ",":
                if depth == 0:
                    return match.start()
            elif char == '"':
                return None  # a string not closed within the buffer
        return None

    def _after_array(self, pos: int) -> Iterator[Record]:
        pos = self._skip_ws(pos)
        if pos < len(self._buf):
            yield Record(self._line_at(pos), None, "unexpected data after the closing ']'; ignored the rest")


# ------------------------------------------------------------------------------------------------- csv

_IDENTITY_PREFIX = "identityMap."
_SEGMENT_PREFIX = "segmentMembership.ups."

Setter = Callable[[dict[str, Any], str], None]


def _read_csv(handle: IO[bytes], path: Path) -> Iterator[Record]:
    """Read the header now (a bad header is an InputError at the call), then stream the rows."""
    rows = _csv_rows(handle)
    for start_line, row, error in rows:
        if error is not None:
            raise InputError(f"{path}: the CSV header (line {start_line}) is unreadable: {error}; "
                             "the first line must list dotted XDM paths such as person.name.firstName")
        return _csv_records(rows, _compile_header(row, path))
    return iter(())  # an empty file holds no records


def _csv_records(rows: Iterator[tuple[int, list[str], str | None]], header: list[Setter]) -> Iterator[Record]:
    for start_line, row, error in rows:
        yield Record(start_line, None, error) if error is not None else _csv_record(start_line, row, header)


def _csv_rows(handle: IO[bytes]) -> Iterator[tuple[int, list[str], str | None]]:
    """(first physical line, cells, error) for every non-blank row."""
    bad_utf8_lines: set[int] = set()
    reader = csv.reader(_decoded_lines(handle, bad_utf8_lines), strict=True)
    end_line = 0
    while True:
        start_line = end_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end_line = reader.line_num
            yield start_line, [], f"invalid CSV: {exc}"
            continue
        end_line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if bad_utf8_lines and any(n in bad_utf8_lines for n in range(start_line, end_line + 1)):
            yield start_line, [], "invalid UTF-8"
            continue
        yield start_line, row, None


def _decoded_lines(handle: IO[bytes], bad_lines: set[int]) -> Iterator[str]:
    for number, raw in enumerate(handle, start=1):
        if number == 1:
            raw = raw.removeprefix(_BOM)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.add(number)
            yield raw.decode("utf-8", errors="replace")


def _csv_record(line: int, row: list[str], header: list[Setter]) -> Record:
    if len(row) > len(header):
        return Record(line, None, f"row has {len(row)} cells but the header has {len(header)} columns")
    data: dict[str, Any] = {}
    for setter, cell in zip(header, row, strict=False):
        if cell.strip():
            setter(data, cell)
    return Record(line, data, None)


def _compile_header(row: list[str], path: Path) -> list[Setter]:
    names = [cell.strip() for cell in row]
    for index, name in enumerate(names, start=1):
        if not name or any(not part for part in name.split(".")):
            raise InputError(f"{path}: CSV header column {index} ({name!r}) is not a dotted XDM path "
                             "such as person.name.firstName")
    keys = [_path_keys(name) for name in names]
    _check_header_conflicts(names, keys, path)
    return [_identity_setter(name[len(_IDENTITY_PREFIX):]) if name.startswith(_IDENTITY_PREFIX)
            else _path_setter(key) for name, key in zip(names, keys, strict=True)]


def _path_keys(name: str) -> tuple[str | int, ...]:
    """Dotted header -> keys; digit parts become list indexes; segment ids may contain dots."""
    if name.startswith(_IDENTITY_PREFIX):
        return ("identityMap", name[len(_IDENTITY_PREFIX):])
    if name.startswith(_SEGMENT_PREFIX):
        rest = name[len(_SEGMENT_PREFIX):]
        segment, dot, field = rest.rpartition(".")
        if not dot:
            return ("segmentMembership", "ups", rest, "status")  # bare segment column holds the status
        return ("segmentMembership", "ups", segment, field)
    return tuple(int(part) if part.isdigit() else part for part in name.split("."))


def _check_header_conflicts(names: list[str], keys: list[tuple[str | int, ...]], path: Path) -> None:
    seen: dict[tuple[str | int, ...], str] = {}
    for name, key in zip(names, keys, strict=True):
        if key in seen:
            raise InputError(f"{path}: CSV header has {name!r} twice (or {seen[key]!r} means the same); "
                             "remove one of the columns")
        seen[key] = name
    child_kinds: dict[tuple[str | int, ...], tuple[bool, str]] = {}
    for name, key in zip(names, keys, strict=True):
        for size in range(1, len(key)):
            if key[:size] in seen:
                raise InputError(f"{path}: CSV columns {seen[key[:size]]!r} and {name!r} conflict "
                                 "(one is a prefix of the other); keep only one")
            is_index = isinstance(key[size], int)
            kind, other = child_kinds.setdefault(key[:size], (is_index, name))
            if kind != is_index:
                raise InputError(f"{path}: CSV columns {other!r} and {name!r} conflict (a list index and "
                                 "a field name under the same path); rename one of them")


def _identity_setter(namespace: str) -> Setter:
    def set_identity(data: dict[str, Any], cell: str) -> None:
        ids = [{"id": part.strip()} for part in cell.split("|") if part.strip()]
        if ids:
            data.setdefault("identityMap", {})[namespace] = ids
    return set_identity


def _path_setter(keys: tuple[str | int, ...]) -> Setter:
    if all(isinstance(key, str) for key in keys):
        return _dict_path_setter(tuple(str(key) for key in keys))
    parents, leaf = keys[:-1], keys[-1]
    containers = [list if isinstance(nxt, int) else dict for nxt in keys[1:]]

    def set_path(data: dict[str, Any], cell: str) -> None:
        node: Any = data
        for key, make in zip(parents, containers, strict=True):
            node = _child(node, key, make)
        _store(node, leaf, cell)
    return set_path


def _dict_path_setter(keys: tuple[str, ...]) -> Setter:
    """The common case (no list indexes), kept lean: it runs once per non-empty cell."""
    parents, leaf = keys[:-1], keys[-1]

    def set_path(data: dict[str, Any], cell: str) -> None:
        node = data
        for key in parents:
            child = node.get(key)
            if child is None:
                child = node[key] = {}
            node = child
        node[leaf] = cell
    return set_path


def _child(node: Any, key: str | int, make: type) -> Any:
    if isinstance(node, list):
        assert isinstance(key, int)
        while len(node) <= key:
            node.append(None)
        if node[key] is None:
            node[key] = make()
        return node[key]
    child = node.get(key)
    if child is None:
        child = node[key] = make()
    return child


def _store(node: Any, key: str | int, value: str) -> None:
    if isinstance(node, list):
        assert isinstance(key, int)
        while len(node) <= key:
            node.append(None)
    node[key] = value
