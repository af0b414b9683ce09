"""What every reader shares: the `Record` it yields, the whole-file `InputError`, and opening the file."""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

__all__ = ["BOM", "READ_BUFFER", "Format", "InputError", "Record", "not_object", "open_binary"]

Format = Literal["jsonl", "json", "csv", "parquet"]

BOM = codecs.BOM_UTF8
READ_BUFFER = 1 << 20  # fewer read syscalls and copies for line iteration than the 8 KiB default
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
