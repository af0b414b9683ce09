"""Streaming readers for XDM profile records: JSON Lines, a JSON array, CSV with dotted headers, Parquet.

Every reader yields one `Record` per record in the file, in file order, with its 1-based position (see
`Record.line`). A record that cannot be parsed (bad JSON, not an object, invalid UTF-8, a broken CSV row)
is yielded with `data=None` and a human `error`; reading goes on where the format allows. Memory stays
constant whatever the file size: files are read line by line or in fixed-size chunks, never loaded whole.
Every reader applies the same limits (`base.MAX_RECORD_BYTES`, `base.MAX_DEPTH`) and rejects the same bad
text (invalid UTF-8, lone UTF-16 surrogates) and numbers (NaN, Infinity, out of range) as malformed records.
This module picks the reader; each format lives in its own module.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from outreach_tui.xdm.base import BOM, Format, InputError, Record, bounded_lines, open_binary
from outreach_tui.xdm.csv_table import read_csv
from outreach_tui.xdm.json_array import read_json_array
from outreach_tui.xdm.jsonl import iter_jsonl_lines
from outreach_tui.xdm.parquet import read_parquet

__all__ = [
    "Format",
    "InputError",
    "Record",
    "detect_format",
    "iter_jsonl_lines",
    "read_records",
]

_SUFFIX_FORMATS: dict[str, Format] = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
                                       ".parquet": "parquet"}


def detect_format(path: Path) -> Format:
    """Guess the format from the file name; a `.json` file that is not an array is read as JSON Lines."""
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: cannot tell the format from the file name; use a .jsonl, .ndjson, .json, .csv or "
            ".parquet file, or set [source] format = \"jsonl\" | \"json\" | \"csv\" | \"parquet\" in the profile"
        )
    if fmt == "json" and _first_significant_byte(path) not in (b"[", b""):
        return "jsonl"
    return fmt


def _first_significant_byte(path: Path) -> bytes:
    with open_binary(path) as handle:
        while chunk := handle.read(4096):
            stripped = chunk.removeprefix(BOM).lstrip()
            if stripped:
                return stripped[:1]
    return b""


def read_records(path: Path, fmt: Format) -> Iterator[Record]:
    """Open `path` now (so a missing file raises InputError at the call) and stream its records."""
    handle = open_binary(path)
    try:
        if fmt == "jsonl":
            return _closing(handle, iter_jsonl_lines(bounded_lines(handle)))
        if fmt == "json":
            return _closing(handle, read_json_array(handle, path))
        if fmt == "csv":
            return _closing(handle, read_csv(handle, path))
        if fmt == "parquet":
            return _closing(handle, read_parquet(handle, path))
    except BaseException:
        handle.close()
        raise
    handle.close()
    raise InputError(f"{path}: unknown format {fmt!r}; use \"jsonl\", \"json\", \"csv\" or \"parquet\"")


def _closing(handle: IO[bytes], records: Iterator[Record]) -> Iterator[Record]:
    """Close the file when the records run out, or when the iterator is dropped (even if never started)."""
    stream = _stream(handle, records)
    weakref.finalize(stream, handle.close)
    return stream


def _stream(handle: IO[bytes], records: Iterator[Record]) -> Iterator[Record]:
    with handle:
        yield from records
