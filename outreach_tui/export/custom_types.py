"""Typed custom fields, checked before anything is sent.

An Outreach admin can give a custom field a type (``GET /types``: numerical, date, boolean, inclusion, ...);
Outreach then refuses, with a 422, every PATCH whose value for it does not fit. A segment mapped to such a
field would fail on every prospect of every run, so the profile is checked against the types first:

- ``check_custom_fields(profile, types)`` -> ``(errors, warnings)``, each a list of ``Problem`` keyed at the
  profile entry (``segments[2].mapping_id``, ``mapping[3].target``). An error: a segment whose status texts
  (``[status_values]``) the field's type refuses (a segment status into a numerical field, say). A warning:
  a ``customN`` the profile writes that Outreach does not list (not configured there), or an attribute row
  into a typed field (its values are checked one by one, ``value_problem``). ``types`` is what
  ``OutreachClient.custom_field_types()`` returns. ``--run``, ``validate`` (when signed in) and the
  wizard's Segments step call it.
- ``value_problem(rule, text)``: why Outreach would refuse ``text`` for a field typed ``rule``, or None.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlparse

from outreach_tui.outreach import catalog
from outreach_tui.profile import STATUSES, Profile
from outreach_tui.profile_base import Problem

Types = dict[str, dict[str, Any]]  # "custom4" -> {"type": "numerical", "label": ..., "definition": ...}
TEXT_TYPES = frozenset({"string"})  # hold any text (up to the field's length)
PHONE = re.compile(r"^\+?[\d\s().\-x]{5,40}$")


def _numeric(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def _date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def _date_time(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return len(text) >= 16


def _url(text: str) -> bool:
    parsed = urlparse(text)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


# type -> (accepts the text, what the text is not): the rules Outreach applies to a typed custom field
_RULES: dict[str, tuple[Callable[[str], bool], str]] = {
    "numerical": (_numeric, "a number"),
    "currency": (_numeric, "a number"),
    "percentage": (_numeric, "a number"),
    "boolean": (lambda text: text.lower() in ("true", "false"), "true or false"),
    "date": (_date, "a date (YYYY-MM-DD)"),
    "date_time": (_date_time, "a date and time"),
    "url": (_url, "a URL"),
    "phone_number": (lambda text: bool(PHONE.match(text)), "a phone number"),
}


def value_problem(rule: dict[str, Any], text: Any) -> str | None:
    """Why a field typed ``rule`` refuses ``text`` (the value as sent), or None when it takes it."""
    kind = str(rule.get("type") or "string")
    if not isinstance(text, str):
        return f"custom fields hold text, not {type(text).__name__}"
    if kind in ("inclusion", "multi_inclusion"):
        options = {str(option) for option in rule.get("definition") or ()}
        values = [part.strip() for part in re.split(r"[;,]", text)] if kind == "multi_inclusion" else [text]
        outside = [value for value in values if value not in options]
        if outside:
            listed = ", ".join(repr(option) for option in sorted(options)[:8]) or "none"
            return f"{outside[0]!r} is not one of its options ({listed})"
        return None
    check = _RULES.get(kind)
    if check is not None and not check[0](text):
        return f"{text!r} is not {check[1]}"
    return None


def is_typed(rule: dict[str, Any]) -> bool:
    """A field whose type constrains its text (anything but a plain string field)."""
    return str(rule.get("type") or "string") not in TEXT_TYPES


def check_custom_fields(profile: Profile, types: Types) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) of the profile's ``customN`` targets against Outreach's custom field types."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    status_texts = profile.status_values.model_dump()
    for index, segment in enumerate(profile.segments, start=1):
        key, field = f"segments[{index}].mapping_id", segment.target
        rule = types.get(field)
        if rule is None:
            warnings.append(_not_configured(key, f"{segment.label} writes {field}", field))
            continue
        refused = [(status, problem) for status in STATUSES
                   if (problem := value_problem(rule, status_texts[status])) is not None]
        if refused:
            statuses = ", ".join(f"'{status}'" for status, _ in refused)
            errors.append(Problem(
                key, f"{segment.label} writes {field}, which Outreach types as {rule.get('type')}: the status "
                f"text for {statuses} would be refused ({refused[0][1]}), on every prospect",
                f"map the segment to a text (string) custom field with a free mapping ID, change {field}'s type "
                "in Outreach, or set [status_values] to texts the field accepts"))
    for index, row in enumerate(profile.mapping, start=1):
        if catalog.custom_number(row.target) is None:
            continue
        key = f"mapping[{index}].target"
        rule = types.get(row.target)
        if rule is None:
            warnings.append(_not_configured(key, f"mapping row {index} ({row.source} → {row.target}) writes "
                                                 f"{row.target}", row.target))
        elif is_typed(rule):
            warnings.append(Problem(
                key, f"mapping row {index} writes {row.target}, which Outreach types as {rule.get('type')}",
                "each value is checked before sending; a value that does not fit fails that field only"))
    return errors, warnings


def _not_configured(key: str, what: str, field: str) -> Problem:
    return Problem(key, f"{what}, which is not configured in Outreach (GET /types does not list it)",
                   f"set up {field} in Outreach's custom field settings, or Outreach may refuse its values")
