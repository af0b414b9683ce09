"""Value conversion: one XDM value -> the value an Outreach prospect attribute accepts, or a ``ConversionError``
saying why not. Every reader's values pass through here, so the rules (lengths, control characters, numbers
JSON cannot carry) hold whatever the input format."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson

from outreach_tui.outreach import catalog

DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INTEGER = re.compile(r"^[+-]?\d+$")
# C0 controls (NUL included) and DEL; tab, line feed and carriage return are ordinary text.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
LARGEST_INTEGER = 2**63 - 1  # what Outreach's integer attributes (and orjson) hold

Converter = Callable[[Any], Any]
PathPart = tuple[str, int | None]  # the key, and the same as a list index when it is all digits


class ConversionError(ValueError):
    """A value that cannot be written to its attribute without losing information."""


# ----- reading XDM values ----------------------------------------------------------------------------

def compile_path(dotted: str) -> tuple[PathPart, ...]:
    return tuple((part, int(part) if part.isdigit() else None) for part in dotted.split("."))


def read_path(data: Any, parts: tuple[PathPart, ...]) -> Any:
    """The value at a dotted path, or None; list elements are addressed by index (phones.0.number)."""
    current = data
    for key, index in parts:
        if type(current) is dict:
            current = current.get(key)
        elif type(current) is list and index is not None and index < len(current):
            current = current[index]
        else:
            return None
        if current is None:
            return None
    return current


# ----- converters ----------------------------------------------------------------------------------------

def converter(attribute: catalog.Attribute) -> Converter:
    """The conversion for one attribute (chosen once per mapping row, applied to every value)."""
    max_length = attribute.max_length
    if attribute.array:
        text = _text_converter(max_length)  # each item as a text attribute's value (and its common case)

        def to_list(value: Any) -> list[str]:
            return [text(item) for item in value] if type(value) is list else [text(value)]
        return to_list
    if attribute.type == "integer":
        return to_integer
    if attribute.type == "number":
        return to_number
    if attribute.type == "boolean":
        return to_boolean
    if attribute.format == "date":
        return to_date
    if attribute.format == "date-time":
        return to_datetime
    return _text_converter(max_length)


def _text_converter(max_length: int | None) -> Converter:
    limit = max_length if max_length is not None else math.inf
    has_control = CONTROL.search

    def text(value: Any) -> str:
        if type(value) is str and len(value) <= limit and not has_control(value):
            return value  # the common case, checked without a second call
        return to_text(value, max_length)
    return text


def to_text(value: Any, max_length: int | None = None) -> str:
    if type(value) is str:
        text = value
    elif type(value) is bool:
        text = "true" if value else "false"
    elif type(value) is int:
        text = str(value)  # text holds any whole number exactly
    elif _is_number(value):
        text = json_text(_finite(value))  # as JSON writes numbers: 1.5
    else:
        raise ConversionError(f"{kind(value)} cannot be written to a text field")
    if CONTROL.search(text):
        raise ConversionError("contains a control character (such as NUL); remove it from the source data")
    if max_length is not None and len(text) > max_length:
        raise ConversionError(f"is {len(text):,} characters long; Outreach accepts at most {max_length:,}")
    return text


def to_integer(value: Any) -> int:
    number: int | None = None
    if type(value) is int:
        number = value
    elif _is_number(value) and math.isfinite(value) and float(value).is_integer():
        number = int(value)
    elif type(value) is str and INTEGER.match(value.strip()):
        number = int(value.strip())
    if number is None:
        raise ConversionError(f"{describe(value)} is not a whole number")
    if abs(number) > LARGEST_INTEGER:
        raise ConversionError(f"{describe(value)} is out of range (at most {LARGEST_INTEGER:,} either way)")
    return number


def to_number(value: Any) -> int | float:
    if type(value) is str:
        text = value.strip()
        if INTEGER.match(text):
            return to_integer(text)
        try:
            value = float(text)
        except ValueError:
            raise ConversionError(f"{describe(text)} is not a number") from None
    if type(value) is int:
        return to_integer(value)
    if _is_number(value):
        return _finite(value)
    raise ConversionError(f"{describe(value)} is not a number")


def to_boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConversionError(f"{describe(value)} is not true or false")


def to_date(value: Any) -> str:
    if type(value) is str and DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ConversionError(f"{describe(value)} is not a date written YYYY-MM-DD")


def to_datetime(value: Any) -> str:
    if type(value) is str and len(value.strip()) > 10 and not CONTROL.search(value):
        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return value.strip()
    raise ConversionError(f"{describe(value)} is not an ISO 8601 date and time (2026-11-20T13:15:49Z)")


def _is_number(value: Any) -> bool:
    """int, float or Decimal (a streaming JSON parser may give decimals), never bool."""
    return type(value) in (int, float, Decimal)


def _finite(value: int | float | Decimal) -> int | float:
    """The number as JSON can carry it: NaN, infinities (``1e400`` read as a float) and integers beyond 64 bits
    are refused rather than sent as ``null`` or rounded."""
    if type(value) is int:
        return to_integer(value)
    number = float(value)
    if not math.isfinite(number):
        raise ConversionError(f"{describe(value)} is not a finite number (too large, or NaN)")
    return number


# ----- describing values ------------------------------------------------------------------------------

def kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean"}.get(type(value), "a number")


def describe(value: Any) -> str:
    """A value as a diagnostic quotes it: JSON, cut to 40 characters."""
    if type(value) in (dict, list):
        return kind(value)
    text = json_text(value)
    return text if len(text) <= 40 else text[:37] + "..."


def json_text(value: Any) -> str:
    if type(value) is float and not math.isfinite(value):
        return repr(value)  # orjson would write null: say what the input held
    if type(value) is Decimal:
        return str(value)
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits: orjson refuses them, the json module does not
        return json.dumps(value, ensure_ascii=False)
