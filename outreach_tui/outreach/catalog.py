"""The prospect attribute catalog: what Outreach accepts on a prospect.

Generated from Outreach's OpenAPI document by ``tools/gen_catalog.py`` into ``catalog.json`` (committed,
because the document is not shipped to users). Everything that validates targets or values asks here.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

CUSTOM_FIELD = re.compile(r"^custom(\d+)$")
CUSTOM_MIN, CUSTOM_MAX = 1, 150


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    type: str  # string | integer | number | boolean | array
    format: str | None  # date | date-time | float | email | ...
    max_length: int | None
    array: bool
    item_type: str | None
    item_format: str | None
    read_only: bool
    description: str

    @property
    def kind(self) -> str:
        """A short label for pick lists: 'string(255)', 'date', 'list of string', ..."""
        if self.array:
            return f"list of {self.item_type or 'string'}"
        if self.format in ("date", "date-time"):
            return self.format
        if self.type == "string" and self.max_length:
            return f"string({self.max_length})"
        return self.type


@cache
def attributes() -> dict[str, Attribute]:
    raw = json.loads(resources.files(__package__).joinpath("catalog.json").read_text(encoding="utf-8"))
    return {a["name"]: Attribute(**a) for a in raw["attributes"]}


def get(name: str) -> Attribute | None:
    return attributes().get(name)


def writable_names() -> list[str]:
    return [a.name for a in attributes().values() if not a.read_only]


def custom_number(name: str) -> int | None:
    """``custom4`` -> 4; anything else -> None (also for out-of-range numbers like custom151)."""
    match = CUSTOM_FIELD.match(name)
    return int(match.group(1)) if match else None


def suggest(name: str) -> str | None:
    """The closest writable attribute name, for "did you mean" messages."""
    names = writable_names()
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return close[0] if close else None
