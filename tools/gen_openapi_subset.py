"""Generate tests/contract/outreach-openapi-subset.json: the part of Outreach's published OpenAPI document
that the contract tests (tests/test_sandbox_contract.py) validate the sandbox against.

Usage: python tools/gen_openapi_subset.py OPENAPI.json [--check]

OPENAPI.json is Outreach's published OpenAPI document (Outreach REST API v2; it is not in this repository). The
subset keeps the operations below with every component they reach through ``$ref``, and the security
schemes; nothing else changes, so openapi-core validates exactly as against the whole document. The full
document is not shipped with the repository, so the subset is committed, like outreach/catalog.json
(tools/gen_catalog.py). Rerun this when Outreach publishes a new document or a test needs another
operation, and review the diff; ``--check`` fails (exit 1) when the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from generated_file import write_or_check  # tools/, beside this script

HERE = Path(__file__).resolve().parent
OUTPUT = HERE.parent / "tests" / "contract" / "outreach-openapi-subset.json"
# The operations the sandbox serves and the contract tests exercise: path -> methods.
OPERATIONS: dict[str, tuple[str, ...]] = {
    "/prospects": ("get",),
    "/prospects/{id}": ("get", "patch"),
    "/imports/actions/bulkUpsert": ("post",),
    "/imports/{id}": ("get",),
    "/batches/actions/prospectsBulkModify": ("post",),
}
TOP_LEVEL = ("openapi", "info", "servers", "security")
HTTP = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def refs(node: Any) -> Iterator[str]:
    """Every local ``$ref`` target inside ``node`` (``#/components/schemas/prospect``, ...)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            yield ref
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(spec: dict[str, Any], ref: str) -> Any:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def subset(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {key: spec[key] for key in TOP_LEVEL if key in spec}
    out["paths"] = {}
    for path, methods in OPERATIONS.items():
        item = spec["paths"][path]
        missing = [method for method in methods if method not in item]
        if missing:
            raise SystemExit(f"the document has no {', '.join(m.upper() for m in missing)} {path}")
        # Path-level keys (parameters, summary) stay; only the operations not used are left out.
        out["paths"][path] = {key: value for key, value in item.items() if key in methods or key not in HTTP}
    components: dict[str, dict[str, Any]] = {}
    if "securitySchemes" in spec.get("components", {}):
        components["securitySchemes"] = spec["components"]["securitySchemes"]
    pending, seen = list(refs(out["paths"])), set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        parts = ref.removeprefix("#/").split("/")
        if len(parts) != 3 or parts[0] != "components":
            raise SystemExit(f"unsupported $ref {ref!r}: only #/components/<kind>/<name> is copied")
        target = resolve(spec, ref)
        components.setdefault(parts[1], {})[parts[2]] = target
        pending.extend(refs(target))
    out["components"] = {kind: dict(sorted(entries.items())) for kind, entries in sorted(components.items())}
    return out


def render(spec: dict[str, Any]) -> str:
    return json.dumps(subset(spec), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    return write_or_check(argv, OUTPUT, render, lambda text: f"{len(OPERATIONS)} paths and their components "
                                                              f"({len(text) // 1024} KiB)")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
