"""The command line the generators share: ``python tools/gen_X.py OPENAPI.json [--check]``.

Each generator renders a committed file from Outreach's published OpenAPI document (not in this
repository); this writes it, or with ``--check`` says whether the committed file is current (exit 1 when
stale), so the generators differ only in what they render.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_or_check(argv: list[str], output: Path, render: Callable[[dict[str, Any]], str],
                   summary: Callable[[str], str]) -> int:
    """The exit code; ``summary(text)`` says what was written."""
    args = [arg for arg in argv[1:] if arg != "--check"]
    if len(args) != 1:
        print(f"usage: python {argv[0]} OPENAPI.json [--check]  (Outreach's OpenAPI document)", file=sys.stderr)
        return 2
    spec_path = Path(args[0])
    if not spec_path.is_file():
        print(f"no OpenAPI document at {spec_path}; give its path as the first argument", file=sys.stderr)
        return 2
    text = render(json.loads(spec_path.read_text(encoding="utf-8")))
    if "--check" in argv:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"{output} is stale: run python {argv[0]} {spec_path}", file=sys.stderr)
            return 1
        print(f"{output} is up to date with {spec_path}")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    print(f"wrote {summary(text)} to {output}")
    return 0
