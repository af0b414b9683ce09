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


# ----- emails (``[identity] match = "email"``) ------------------------------------------------------------

MAX_EMAIL_LENGTH = 254  # what an address can hold (RFC 5321's path limit)


def email_from_identities(entries: Any) -> str | None:
    """The email of an identityMap namespace: the entry marked ``primary``, else the first with an id."""
    if type(entries) is dict:
        entries = [entries]
    if type(entries) is not list:
        return None
    ids = [entry.get("id") for entry in entries if type(entry) is dict and entry.get("id") is not None]
    primary = [entry.get("id") for entry in entries if type(entry) is dict and entry.get("primary") is True
               and entry.get("id") is not None]
    found = (primary or ids or [None])[0]
    return found if found is None or type(found) is str else describe(found)


def normalize_email(raw: Any) -> str | None:
    """An address as it is looked up and cached: trimmed and lowercase (Outreach compares emails without
    case). None when it cannot be one: no '@', spaces, commas (they separate the values of
    ``filter[emails]``), control characters, or too long."""
    if type(raw) is not str:
        return None
    email = raw.strip().lower()
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain or len(email) > MAX_EMAIL_LENGTH:
        return None
    if any(char.isspace() or char == "," or ord(char) < 32 or ord(char) == 127 for char in email):
        return None
    return email
