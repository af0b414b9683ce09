"""OAuth scopes: read in one place, compared in one place.

Outreach's own sample token answer joins scopes with ``+`` (``"prospects.read+prospects.write"``); RFC 6749
says spaces; some answers use commas or a JSON list. All of them are read here.
"""

from __future__ import annotations

import re
from typing import Any

_SEPARATORS = re.compile(r"[\s+,]+")


def parse_scopes(value: Any) -> list[str]:
    """A token answer's ``scope``: a string joined by ``+``, spaces or commas, or a list of them."""
    if isinstance(value, str):
        return [scope for scope in _SEPARATORS.split(value) if scope]
    if isinstance(value, list | tuple):
        return [scope for item in value for scope in parse_scopes(str(item))]
    return []


def scope_covers(granted: list[str], needed: str) -> bool:
    """``prospects.all`` covers ``prospects.read``/``write``/``delete``; ``write`` does not imply ``read``."""
    resource = needed.split(".", 1)[0]
    return needed in granted or f"{resource}.all" in granted


def missing_scopes(needed: list[str], granted: list[str]) -> list[str]:
    """The scopes of ``needed`` that ``granted`` does not cover, in ``needed``'s order."""
    return [scope for scope in needed if not scope_covers(granted, scope)]
