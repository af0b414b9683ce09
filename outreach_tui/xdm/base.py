"""What every reader shares: the `Record` it yields, the whole-file `InputError`, and opening the file."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

__all__ = [
    "BOM",
    "MAX_DEPTH",
    "MAX_RECORD_BYTES",
    "READ_BUFFER",
    "TOO_DEEP",
    "TOO_LONG",
    "Format",
    "InputError",
    "LongLine",
    "Record",
    "bounded_lines",
    "nested_deeper_than",
    "not_object",
    "open_binary",
]

Format = Literal["jsonl", "json", "csv", "parquet"]

BOM = codecs.BOM_UTF8
READ_BUFFER = 1 << 20  # fewer read syscalls and copies for line iteration than the 8 KiB default
# The same limits in every reader, so a hostile or broken file costs bounded memory and never a crash:
MAX_RECORD_BYTES = 16 * 1024 * 1024  # a longer line (JSON Lines, CSV) or array element is malformed
MAX_DEPTH = 64  # objects and arrays nested deeper than this are malformed (XDM profiles need about 6)
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
TOO_LONG = f"longer than {MAX_RECORD_BYTES // (1024 * 1024)} MiB"
_SKIP_CHUNK = 1 << 20
_JSON_TYPE_NAMES = {list: "array", str: "string", int: "number", float: "number", Decimal: "number",
                    bool: "boolean"}


class InputError(Exception):
    """The input file as a whole cannot be read. The message names the file and says what to do."""


@dataclass(slots=True)
class Record:
    # 1-based position of the record: the line where it starts (JSON Lines, CSV), the element's index
    # (JSON array), or the row number (Parquet).
    line: int
    data: dict[str, Any] | None  # the parsed JSON object; None when malformed
    error: str | None  # why malformed, for humans; None when fine


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def not_object(line: int, value: Any) -> Record:
    return Record(line, None, f"not a JSON object (got {type_name(value)})")


def open_binary(path: Path) -> IO[bytes]:
    try:
        return path.open("rb", buffering=READ_BUFFER)
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


class LongLine:
    """Stands for a line longer than MAX_RECORD_BYTES, which was skipped without being held in memory."""

    __slots__ = ()


def bounded_lines(handle: IO[bytes], limit: int = MAX_RECORD_BYTES) -> Iterator[bytes | LongLine]:
    """The file's lines (line ends included); a line of `limit` bytes or more comes as one `LongLine`."""
    readline = handle.readline
    while line := readline(limit):
        if len(line) < limit or line.endswith(b"\n"):
            yield line
            continue
        while chunk := readline(_SKIP_CHUNK):  # skip to the next line end, a chunk at a time
            if chunk.endswith(b"\n"):
                break
        yield LongLine()


def nested_deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays in `value` nest more than `limit` levels (the value itself is level 1)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False
