"""The rules a ``GET /types`` body follows, from the description in Outreach's OpenAPI document.

The document's shape::

    {"data": [{"type": "<object_name>", "meta": {"validations": {"<field_name>": {
        "type": "<validation_type>", "required": true / false, "label": "...",
        "definition": null / ["...", ...] / "..."}}}}]}

Casing follows the document: object names are JSON:API resource types (``prospect``,
``opportunityLineItem``: lower camel case, never ``Prospect``), field names are ``customN``, validation
types are the lower snake case names it lists (``date_time``, ``multi_inclusion``). The sandbox refuses a
body that breaks them instead of serving something Outreach never would.
"""

from __future__ import annotations

import re
from typing import Any

OBJECT_TYPES = frozenset(
    {"account", "opportunity", "opportunityLineItem", "opportunityProspectRole", "product", "prospect", "purchase"}
)
VALIDATION_TYPES = frozenset(
    {
        "boolean",
        "currency",
        "date",
        "date_time",
        "inclusion",
        "multi_inclusion",
        "numerical",
        "percentage",
        "phone_number",
        "string",
        "url",
    }
)
LIST_DEFINITIONS = frozenset({"inclusion", "multi_inclusion"})
FIELD_NAME = re.compile(r"^custom([1-9]\d*)$")
PROSPECT_CUSTOM_MAX = 150
MAX_PROBLEMS = 10


def types_problems(body: Any) -> list[str]:
    """Every way ``body`` breaks the document's format (empty when it follows it)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return ['expected {"data": [{"type": "prospect", "meta": {"validations": {...}}}]}']
    problems: list[str] = []
    for index, entry in enumerate(body["data"]):
        problems.extend(_entry_problems(f"data[{index}]", entry))
    if len(problems) > MAX_PROBLEMS:
        problems = [*problems[:MAX_PROBLEMS], f"and {len(problems) - MAX_PROBLEMS} more"]
    return problems


def _entry_problems(where: str, entry: Any) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where}: expected an object"]
    object_type = entry.get("type")
    if object_type not in OBJECT_TYPES:
        wanted = ", ".join(sorted(OBJECT_TYPES))
        return [f"{where}.type: {object_type!r} is not an object with custom fields ({wanted})"]
    meta = entry.get("meta")
    validations = meta.get("validations") if isinstance(meta, dict) else None
    if not isinstance(validations, dict):
        return [f"{where}.meta.validations: expected an object of customN fields"]
    problems: list[str] = []
    for name, rule in validations.items():
        problems.extend(_field_problems(f"{where} ({object_type}) {name}", object_type, name, rule))
    return problems


def _field_problems(where: str, object_type: str, name: str, rule: Any) -> list[str]:
    match = FIELD_NAME.match(name)
    if match is None:
        return [f"{where}: field names are customN (lower case), e.g. custom4"]
    if object_type == "prospect" and int(match.group(1)) > PROSPECT_CUSTOM_MAX:
        return [f"{where}: prospects have custom1 to custom{PROSPECT_CUSTOM_MAX}"]
    if not isinstance(rule, dict):
        return [f"{where}: expected an object with type, required, label and definition"]
    problems: list[str] = []
    kind = rule.get("type")
    if kind not in VALIDATION_TYPES:
        problems.append(f"{where}.type: {kind!r} is not one of {', '.join(sorted(VALIDATION_TYPES))}")
    if "required" in rule and not isinstance(rule["required"], bool):  # absent reads as false
        problems.append(f"{where}.required: expected true or false")
    if "label" in rule and not isinstance(rule["label"], str):
        problems.append(f"{where}.label: expected a string")
    definition = rule.get("definition")
    if kind in LIST_DEFINITIONS:
        if not isinstance(definition, list) or not all(isinstance(o, str) for o in definition):
            problems.append(f"{where}.definition: {kind} needs a list of option strings")
    elif definition is not None and not isinstance(definition, str):
        problems.append(f"{where}.definition: expected null or a string for {kind}")
    return problems
