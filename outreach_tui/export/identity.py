"""Identity parsing: which Outreach prospects a record targets, from its identityMap namespace."""

from __future__ import annotations

from typing import Any

from outreach_tui.export.convert import describe, kind

MAX_PROSPECT_ID = 2**63 - 1


def prospect_ids(entries: Any) -> tuple[list[int], list[str]]:
    """Valid OutreachIds from an identityMap namespace (distinct, in order), and why the others were skipped."""
    if type(entries) is dict:
        entries = [entries]
    if type(entries) is not list:
        return [], [f"identityMap namespace holds {kind(entries)}, not a list of identities"]
    ids: list[int] = []
    invalid: list[str] = []
    for entry in entries:
        raw = entry.get("id") if type(entry) is dict else entry
        prospect_id = parse_id(raw)
        if prospect_id is None:
            invalid.append(f"id {describe(raw)} is not a positive whole number")
        elif prospect_id not in ids:
            ids.append(prospect_id)
    return ids, invalid


def parse_id(raw: Any) -> int | None:
    """A positive 64-bit OutreachId from a number or digits (surrounding spaces allowed); None otherwise."""
    if type(raw) is str:
        text = raw.strip()
        raw = int(text) if text.isascii() and text.isdigit() else None
    if type(raw) is int and 0 < raw <= MAX_PROSPECT_ID:
        return raw
    return None
