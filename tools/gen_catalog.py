"""Generate outreach_tui/outreach/catalog.json from Outreach's published OpenAPI document.

Usage: python tools/gen_catalog.py OPENAPI.json [--check]

OPENAPI.json is Outreach's published OpenAPI document (Outreach REST API v2; it is not in this repository). The
document is not shipped, so the result is committed. Rerun this when Outreach publishes a new document and
review the diff; ``--check`` fails (exit 1) when the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from generated_file import write_or_check  # tools/, beside this script

READONLY_BADGE = "badges/readonly.svg"
HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "outreach_tui" / "outreach" / "catalog.json"


def attribute_entry(name: str, schema: dict) -> dict:
    kind = schema.get("type", "string")
    items = schema.get("items") or {}
    entry = {
        "name": name,
        "type": kind,
        "format": schema.get("format"),
        "max_length": schema.get("maxLength"),
        "array": kind == "array",
        "item_type": items.get("type") if kind == "array" else None,
        "item_format": items.get("format") if kind == "array" else None,
        "read_only": READONLY_BADGE in (schema.get("description") or ""),
        "description": (schema.get("description") or "").replace(
            "<img src=https://developers.outreach.io/badges/readonly.svg>", ""
        ).strip(),
    }
    return entry


def render(spec: dict[str, Any]) -> str:
    props = spec["components"]["schemas"]["prospect"]["properties"]
    attributes = [attribute_entry(name, props[name]) for name in sorted(props)]
    out = {"source": "components.schemas.prospect of Outreach's OpenAPI document", "attributes": attributes}
    return json.dumps(out, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    return write_or_check(argv, OUTPUT, render, lambda text: f"{len(json.loads(text)['attributes'])} attributes")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
