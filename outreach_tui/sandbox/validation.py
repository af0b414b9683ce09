"""Attribute validation for PATCH /prospects/{id}: the catalog plus the custom-field types from /types.

Every attribute gets one precomputed check (a closure) so a request costs one dict lookup per attribute.
Details imitate Outreach's Rails messages ("Contacts <attribute> ..."), like the one real example we know:
"Contacts email hash has already been taken.".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlparse

from outreach_tui.outreach import catalog

Check = Callable[[Any], str | None]  # returns an error detail, or None when the value is fine

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[\d\s().\-x]{5,40}$")
DUPLICATE_EMAIL = "Contacts email hash has already been taken."


def humanize(name: str) -> str:
    """``linkedInConnections`` -> ``linked in connections`` (Rails-style attribute names in messages)."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r" \1", name).lower()


@dataclass(frozen=True, slots=True)
class CustomType:
    """One entry of GET /types: a custom field with an admin-configured validation."""

    number: int
    validation_type: str  # string | numerical | date | date_time | boolean | inclusion | multi_inclusion | url ...
    options: tuple[str, ...] = ()
    max_length: int | None = None
    required: bool = False


def parse_types(body: Any) -> dict[int, CustomType]:
    """Read a GET /types body (format from the OpenAPI document's description); prospect entries only::

    {"data": [{"type": "prospect", "meta": {"validations": {"custom4": {"type": "inclusion",
        "required": false, "label": "...", "definition": ["a", "b"]}}}}]}

    ``definition`` holds the options of inclusion/multi_inclusion (a currency code for currency).
    """
    entries = body.get("data") if isinstance(body, dict) else None
    result: dict[int, CustomType] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("type") != "prospect":
            continue
        validations = (entry.get("meta") or {}).get("validations") or {}
        for field_name, rule in validations.items():
            number = catalog.custom_number(field_name)
            if number is None or not catalog.CUSTOM_MIN <= number <= catalog.CUSTOM_MAX or not isinstance(rule, dict):
                continue
            definition = rule.get("definition")
            result[number] = CustomType(
                number=number,
                validation_type=str(rule.get("type") or "string"),  # casing checked by types_document
                options=tuple(str(o) for o in definition) if isinstance(definition, list) else (),
                required=bool(rule.get("required", False)),
            )
    return result


class Validator:
    """Checks PATCH attributes; rebuilt whenever the custom-field types change."""

    def __init__(self, types: dict[int, CustomType] | None = None) -> None:
        self.types = dict(types or {})
        self.checks: dict[str, Check] = {}
        for attribute in catalog.attributes().values():
            self.checks[attribute.name] = _check_for(attribute, self.types)

    def errors(self, attributes: dict[str, Any]) -> list[tuple[str, str]]:
        """``[(attribute name, detail), ...]`` for every bad attribute (empty when all are fine)."""
        found: list[tuple[str, str]] = []
        checks = self.checks
        for name, value in attributes.items():
            check = checks.get(name)
            detail = f"Unknown attribute '{name}' for 'prospect'." if check is None else check(value)
            if detail is not None:
                found.append((name, detail))
        return found


def _check_for(attribute: catalog.Attribute, types: dict[int, CustomType]) -> Check:
    label = f"Contacts {humanize(attribute.name)}"
    if attribute.read_only:
        return lambda _value: f"Attribute '{attribute.name}' is read-only and cannot be written."
    number = catalog.custom_number(attribute.name)
    if number is not None and number in types:
        return _custom_check(label, types[number], attribute.max_length)
    if attribute.array:
        return _array_check(label, attribute.item_format)
    return _scalar_check(label, attribute)


def _nullable(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _scalar_check(label: str, attribute: catalog.Attribute) -> Check:
    kind, fmt, max_length = attribute.type, attribute.format, attribute.max_length
    if kind == "integer":
        return _nullable(lambda v: None if _is_int(v) else f"{label} must be an integer.")
    if kind == "number":
        return _nullable(lambda v: None if _is_number(v) else f"{label} is not a number.")
    if kind == "boolean":
        return _nullable(lambda v: None if isinstance(v, bool) else f"{label} must be true or false.")
    if fmt == "date":
        return _nullable(lambda v: None if _is_date(v) else f"{label} is not a valid date.")
    if fmt == "date-time":
        return _nullable(lambda v: None if _is_datetime(v) else f"{label} is not a valid datetime.")
    return _nullable(_string_check(label, max_length))


def _string_check(label: str, max_length: int | None) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"{label} must be a string."
        if max_length is not None and len(value) > max_length:
            return f"{label} is too long (maximum is {max_length:,} characters)."
        return None

    return check


def _array_check(label: str, item_format: str | None) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return f"{label} must be a list of strings."
        if item_format == "email" and not all(EMAIL.match(item) for item in value):
            return f"{label} contains an invalid email address."
        return None

    return _nullable(check)


def _custom_check(label: str, custom: CustomType, catalog_max: int | None) -> Check:
    """Custom fields stay strings on the wire; the admin's type constrains the text."""
    text_check = _string_check(label, custom.max_length or catalog_max)
    value_check = _typed_text_check(label, custom)

    def check(value: Any) -> str | None:
        if value is None or value == "":
            return f"{label} can't be blank." if custom.required else None
        return text_check(value) or value_check(value)

    return check


def _typed_text_check(label: str, custom: CustomType) -> Callable[[str], str | None]:
    kind, options = custom.validation_type, set(custom.options)
    rules: dict[str, tuple[Callable[[str], bool], str]] = {
        "numerical": (_is_numeric_text, "is not a number"),
        "currency": (_is_numeric_text, "is not a number"),
        "percentage": (_is_numeric_text, "is not a number"),
        "boolean": (lambda t: t.lower() in ("true", "false"), "must be true or false"),
        "date": (_is_date, "is not a valid date"),
        "date_time": (_is_datetime, "is not a valid datetime"),
        "url": (_is_url, "is not a valid URL"),
        "phone_number": (lambda t: bool(PHONE.match(t)), "is not a valid phone number"),
        "inclusion": (lambda t: t in options, "is not included in the list"),
        "multi_inclusion": (lambda t: _all_in(re.split(r"[;,]", t), options), "is not included in the list"),
    }
    valid, message = rules.get(kind, (lambda _t: True, ""))
    return lambda text: None if valid(text) else f"{label} {message}."


def _all_in(values: Iterable[str], options: set[str]) -> bool:
    return all(v.strip() in options for v in values)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_numeric_text(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 10:
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 16:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _is_url(text: str) -> bool:
    parsed = urlparse(text)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)
