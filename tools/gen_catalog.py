"""Generate outreach_tui/outreach/catalog.json from Outreach's published OpenAPI document.

Usage: python tools/gen_catalog.py [../shared/outreach/openapi.json]

The shared folder is not there at run time for users, so the result is committed. Rerun this when
Outreach publishes a new document and review the diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

READONLY_BADGE = "badges/readonly.svg"
HERE = Path(__file__).resolve().parent
DEFAULT_SPEC = HERE.parent.parent / "shared" / "outreach" / "openapi.json"
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


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    props = spec["components"]["schemas"]["prospect"]["properties"]
    attributes = [attribute_entry(name, props[name]) for name in sorted(props)]
    out = {"source": "components.schemas.prospect of Outreach's OpenAPI document", "attributes": attributes}
    OUTPUT.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(attributes)} attributes to {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
