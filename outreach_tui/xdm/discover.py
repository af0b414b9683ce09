"""Discovery: which XDM paths, identity namespaces and segments a sample of the input holds (with counts).

The wizard fills its pick lists from this (source paths, the identity namespace, segment ids); it reads only
the first `sample` records, so it is quick on any file size.
"""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from outreach_tui.xdm.records import Format, detect_format, read_records

__all__ = ["Discovery", "discover"]

STATUSES = ("realized", "existing", "exited")
SAMPLE_VALUE_LENGTH = 40
MAX_ARRAY_INDEX = 20  # list elements beyond this are not listed as separate paths (keeps pick lists sane)
_SKIPPED_ROOTS = ("identityMap", "segmentMembership")


class Discovery(BaseModel):
    """What the sample holds. JSON-serialisable with `model_dump_json()`."""

    format: Format
    records_sampled: int = 0  # records read, malformed ones included
    malformed: int = 0
    paths: dict[str, int] = Field(default_factory=dict)  # leaf dotted path -> records having it
    namespaces: dict[str, int] = Field(default_factory=dict)  # identityMap namespace -> records having it
    segments: dict[str, dict[str, int]] = Field(default_factory=dict)  # segment id -> status -> records
    sample_values: dict[str, str] = Field(default_factory=dict)  # path -> one example, at most 40 chars


def discover(path: Path, fmt: Format | None = None, sample: int = 2000) -> Discovery:
    """Read the first `sample` records of `path`. Raises InputError when the file cannot be read."""
    fmt = fmt or detect_format(path)
    found = Discovery(format=fmt)
    for record in islice(read_records(path, fmt), sample):
        found.records_sampled += 1
        if record.data is None:
            found.malformed += 1
            continue
        _add_record(found, record.data)
    return found


def _add_record(found: Discovery, data: dict[str, Any]) -> None:
    for key, value in data.items():
        if key not in _SKIPPED_ROOTS:
            _add_leaves(found, key, value)
    identity_map = data.get("identityMap")
    if isinstance(identity_map, dict):
        for namespace in identity_map:
            found.namespaces[namespace] = found.namespaces.get(namespace, 0) + 1
    membership = data.get("segmentMembership")
    ups = membership.get("ups") if isinstance(membership, dict) else None
    if isinstance(ups, dict):
        for segment_id, entry in ups.items():
            counts = found.segments.setdefault(segment_id, dict.fromkeys(STATUSES, 0))
            status = entry.get("status") if isinstance(entry, dict) else None
            if isinstance(status, str) and status:
                counts[status] = counts.get(status, 0) + 1


def _add_leaves(found: Discovery, path: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _add_leaves(found, f"{path}.{key}", child)
    elif isinstance(value, list):
        for index, child in enumerate(value[: MAX_ARRAY_INDEX + 1]):
            _add_leaves(found, f"{path}.{index}", child)
    elif value is not None:  # null is "missing" for the export: not worth offering
        found.paths[path] = found.paths.get(path, 0) + 1
        if path not in found.sample_values:
            found.sample_values[path] = _sample_text(value)


def _sample_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SAMPLE_VALUE_LENGTH else text[: SAMPLE_VALUE_LENGTH - 1] + "…"
