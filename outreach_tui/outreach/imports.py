"""Outreach's bulk import endpoints, through the one client (limiter, retry policy, error parser).

``POST /imports/actions/bulkUpsert`` (scope ``imports.write``) takes ``{"data": {"type": "import",
"attributes": {"records": [<prospect resource objects>], "dupeMethod": ..., "fileName": ...}}}`` of at most
about 2 MB and answers with an ``import`` resource; it is processed asynchronously, so ``GET /imports/{id}``
(scope ``imports.read``) is polled until its ``state`` is ``finished`` (``total``, ``failures``: counts only,
never which record failed). Each call is one request of the hourly budget. We only ever update existing
prospects: ``overwriteNoCreate``, so a repeated import (a retried POST, a resumed run) writes the same values
again and creates nothing.

There is deliberately no call for ``/batches/actions/*``: without a filter it modifies every prospect of the
organisation. ``OutreachClient.send_document`` refuses such a request without an id filter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from outreach_tui.outreach.client import OutreachClient, OutreachRequestFailed
from outreach_tui.outreach.errors import ApiError

DUPE_METHOD = "overwriteNoCreate"
MAX_IMPORT_BYTES = 2_000_000  # Outreach says "about 2 MB"; the decimal reading is the stricter one
FILE_NAME = "outreach-tui.json"
FINISHED_STATES = ("finished", "failed", "error", "completed")  # anything else is still running


@dataclass(frozen=True, slots=True)
class ImportStatus:
    id: int
    state: str
    total: int | None
    failures: int | None
    error_reason: str | None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def clean(self) -> bool:
        """Finished with every record applied (as far as Outreach says)."""
        return self.state == "finished" and self.failures == 0 and not self.error_reason


def encode_record(prospect_id: int, attributes: dict[str, Any]) -> bytes:
    """One record of an import: the prospect's resource object carrying only the given attributes."""
    return orjson.dumps({"type": "prospect", "id": prospect_id, "attributes": attributes})


def _envelope(dupe_method: str, file_name: str) -> tuple[bytes, bytes]:
    head = b'{"data":{"type":"import","attributes":{"dupeMethod":' + orjson.dumps(dupe_method)
    head += b',"fileName":' + orjson.dumps(file_name) + b',"records":['
    return head, b"]}}}"


def body_size(record_sizes: int, records: int, dupe_method: str = DUPE_METHOD, file_name: str = FILE_NAME) -> int:
    """The encoded body's size for ``records`` records of ``record_sizes`` bytes together (commas included)."""
    head, tail = _envelope(dupe_method, file_name)
    return len(head) + len(tail) + record_sizes + max(records - 1, 0)


def imports_needed(records: int, record_bytes: int, max_records: int, max_bytes: int = MAX_IMPORT_BYTES) -> int:
    """About how many imports carry ``records`` records of ``record_bytes`` encoded bytes in all (a lower bound:
    chunks are packed whole records at a time)."""
    if records <= 0:
        return 0
    room = max_bytes - body_size(0, 0)
    return max(-(-(record_bytes + records) // room), -(-records // max_records))


def import_body(records: Sequence[bytes], dupe_method: str = DUPE_METHOD, file_name: str = FILE_NAME) -> bytes:
    head, tail = _envelope(dupe_method, file_name)
    return head + b",".join(records) + tail


class ImportRequestFailed(OutreachRequestFailed):
    """Outreach refused an import request (or answered something that is not an import)."""


async def bulk_upsert(client: OutreachClient, records: Sequence[bytes | dict[str, Any]],
                      dupe_method: str = DUPE_METHOD, file_name: str = FILE_NAME) -> ImportStatus:
    """Start one import of ``records`` (encoded ``encode_record`` bytes or resource objects); its status as
    accepted. Raises ValueError for an empty or oversized body (nothing is sent) and ImportRequestFailed when
    Outreach refuses it."""
    if not records:
        raise ValueError("an import needs at least one record")
    encoded = [item if isinstance(item, bytes) else orjson.dumps(item) for item in records]
    body = import_body(encoded, dupe_method, file_name)
    if len(body) > MAX_IMPORT_BYTES:
        raise ValueError(f"an import body of {len(body):,} bytes is over Outreach's {MAX_IMPORT_BYTES:,}")
    path = "/imports/actions/bulkUpsert"
    status, document, errors = await client.send_document("POST", path, scope="imports.write", content=body)
    return _status_of(path, status, document, errors)


async def get_import(client: OutreachClient, import_id: int) -> ImportStatus:
    """Poll one import (one request of the budget)."""
    path = f"/imports/{int(import_id)}"
    status, document, errors = await client.send_document("GET", path, scope="imports.read")
    return _status_of(path, status, document, errors)


def _status_of(path: str, status: int | None, document: Any, errors: list[ApiError]) -> ImportStatus:
    data = document.get("data") if isinstance(document, dict) else None
    if status is None or not 200 <= status < 300 or not isinstance(data, dict):
        raise ImportRequestFailed(path, status, errors)
    found = data.get("attributes")
    attributes: dict[str, Any] = found if isinstance(found, dict) else {}
    raw_id = data.get("id")
    if data.get("type") != "import" or not str(raw_id).isdigit():
        unexpected = ApiError("unexpectedAnswer", "Unexpected answer", "the answer is not an import resource", None)
        raise ImportRequestFailed(path, status, [unexpected])
    return ImportStatus(id=int(str(raw_id)), state=str(attributes.get("state") or "pending"),
                        total=_count(attributes.get("total")), failures=_count(attributes.get("failures")),
                        error_reason=_text(attributes.get("errorReason")))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return str(value)[:500] if value not in (None, "") else None
