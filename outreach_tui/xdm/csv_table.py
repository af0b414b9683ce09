"""CSV with dotted XDM paths in the header (`person.name.firstName`, `identityMap.Oid`, segment statuses).

Each row becomes the nested object the same data would be in JSON; empty cells are absent. A `|` in an
identity cell separates several ids. Line numbers are physical lines, so a quoted cell over several lines
still reports the line where its row starts.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from outreach_tui.xdm.base import BOM, TOO_LONG, InputError, LongLine, Record, bounded_lines

__all__ = ["read_csv"]

_IDENTITY_PREFIX = "identityMap."
_SEGMENT_PREFIX = "segmentMembership.ups."

Setter = Callable[[dict[str, Any], str], None]


def read_csv(handle: IO[bytes], path: Path) -> Iterator[Record]:
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
    bad_lines: dict[int, str] = {}  # physical line -> why it is unreadable, until its row is judged
    reader = csv.reader(_decoded_lines(handle, bad_lines), strict=True)
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
        if bad_lines:
            reasons = [bad_lines.pop(n) for n in range(start_line, end_line + 1) if n in bad_lines]
            if reasons:
                yield start_line, [], reasons[0]
                continue
        if not any(cell.strip() for cell in row):
            continue  # blank line
        yield start_line, row, None


def _decoded_lines(handle: IO[bytes], bad_lines: dict[int, str]) -> Iterator[str]:
    """Text lines for the csv module; an unreadable line is noted in `bad_lines` and passed on blank."""
    for number, raw in enumerate(bounded_lines(handle), start=1):
        if isinstance(raw, LongLine):
            bad_lines[number] = f"line {TOO_LONG}"
            yield "\n"
            continue
        if number == 1:
            raw = raw.removeprefix(BOM)
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines[number] = "invalid UTF-8"
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
