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


def main(argv: list[str]) -> int:
    args = [arg for arg in argv[1:] if arg != "--check"]
    if len(args) != 1:
        print(f"usage: python {argv[0]} OPENAPI.json [--check]  (Outreach's OpenAPI document)", file=sys.stderr)
        return 2
    spec_path = Path(args[0])
    if not spec_path.is_file():
        print(f"no OpenAPI document at {spec_path}; give its path as the first argument", file=sys.stderr)
        return 2
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    props = spec["components"]["schemas"]["prospect"]["properties"]
    attributes = [attribute_entry(name, props[name]) for name in sorted(props)]
    out = {"source": "components.schemas.prospect of Outreach's OpenAPI document", "attributes": attributes}
    text = json.dumps(out, indent=1, ensure_ascii=False) + "\n"
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != text:
            print(f"{OUTPUT} is stale: run python tools/gen_catalog.py {spec_path}", file=sys.stderr)
            return 1
        print(f"{OUTPUT} is up to date with {spec_path}")
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {len(attributes)} attributes to {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
