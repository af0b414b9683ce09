"""Parquet: one record per row, streamed in record batches with pyarrow (the optional `parquet` extra).

Rows become the same nested objects as JSON: structs are objects, lists are lists, and a MAP column (say
`identityMap` as MAP<string, list<struct<id, primary>>>) is an object keyed by the map's keys, so dotted
paths read alike (`person.name.firstName`, `identityMap.Oid.0.id`). Parquet cannot tell a missing field from
a null one, and the export treats null as missing, so null fields are left out. `Record.line` is the row
number, 1-based. Memory is bounded by one batch and one row group (the writer chose its size).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from outreach_tui.xdm.base import InputError, Record

__all__ = ["read_parquet"]

_BATCH_ROWS = 1024  # rows turned into Python objects at a time: the peak memory of a read is about this
MISSING_PYARROW = "reading Parquet needs pyarrow: pip install 'outreach-tui[parquet]'"

Convert = Callable[[Any], Any]


class _BadValue(ValueError):
    """A value JSON cannot carry (a non-finite number, bytes that are not UTF-8): the row is malformed."""


def read_parquet(handle: IO[bytes], path: Path) -> Iterator[Record]:
    """Read the footer and schema now (InputError at the call), then stream the rows."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: {MISSING_PYARROW}") from None
    try:
        parquet = pq.ParquetFile(handle)
    except Exception as exc:  # pyarrow raises ArrowInvalid / OSError subclasses for a file that is not Parquet
        raise InputError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    row = _row_converter(parquet.schema_arrow)
    return _rows(parquet, row)


def _rows(parquet: Any, row: Convert) -> Iterator[Record]:
    number = 0
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, use_threads=False):
        try:
            rows: list[dict[str, Any]] | None = batch.to_pylist()
        except UnicodeDecodeError:
            rows = None  # some text is not UTF-8: convert row by row, so only those rows are malformed
        for index in range(batch.num_rows):
            number += 1
            try:
                raw = rows[index] if rows is not None else batch.slice(index, 1).to_pylist()[0]
                yield Record(number, row(raw), None)
            except _BadValue as exc:
                yield Record(number, None, str(exc))
            except UnicodeDecodeError:
                yield Record(number, None, "invalid UTF-8 text")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# ------------------------------------------------------------------------------------ schema -> converter

def _row_converter(schema: Any) -> Convert:
    import pyarrow as pa

    return _struct(pa.struct(list(schema)))


def _converter(arrow_type: Any) -> Convert | None:
    """A function turning pyarrow's Python value for this type into JSON's; None when it is already JSON's."""
    import pyarrow.types as types

    if types.is_struct(arrow_type):
        return _struct(arrow_type)
    if types.is_map(arrow_type):
        return _map(_converter(arrow_type.item_type))
    if types.is_list(arrow_type) or types.is_large_list(arrow_type) or types.is_fixed_size_list(arrow_type):
        return _list(_converter(arrow_type.value_type))
    if types.is_floating(arrow_type) or types.is_decimal(arrow_type):
        return _number
    if types.is_temporal(arrow_type):
        return _temporal
    if types.is_binary(arrow_type) or types.is_large_binary(arrow_type) or types.is_fixed_size_binary(arrow_type):
        return _text
    return None


def _struct(arrow_type: Any) -> Convert:
    fields = [arrow_type.field(i) for i in range(arrow_type.num_fields)]
    nested = [(field.name, inner) for field in fields if (inner := _converter(field.type)) is not None]

    def convert(value: Any) -> Any:
        if value is None:
            return None
        converted = {name: item for name, item in value.items() if item is not None}
        for name, convert_field in nested:
            item = converted.get(name)
            if item is not None:
                converted[name] = convert_field(item)
        return converted
    return convert


def _map(convert_item: Convert | None) -> Convert:
    def convert(value: Any) -> Any:
        if value is None:
            return None
        return {str(key): convert_item(item) if convert_item else item for key, item in value if item is not None}
    return convert


def _list(convert_item: Convert | None) -> Convert:
    def convert(value: Any) -> Any:
        if value is None or convert_item is None:
            return value
        return [convert_item(item) for item in value]
    return convert


def _number(value: Any) -> Any:
    if value is None:
        return None
    number = float(value) if isinstance(value, Decimal) else value
    if not math.isfinite(number):
        raise _BadValue("a number is out of range (NaN or infinite)")
    return number


def _temporal(value: Any) -> Any:
    """Dates and times as ISO 8601 text, as they would be written in JSON (UTC as `Z`)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None).isoformat() + "Z"
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def _text(value: Any) -> Any:
    if value is None:
        return None
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        raise _BadValue("binary value that is not UTF-8 text") from None
