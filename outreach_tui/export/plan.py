"""The planner: profile records -> one update per target prospect (DESIGN.md section 3).

Records are added in input order. Each record's values are converted (and length-checked) when it is added;
a value that cannot be converted is kept as a failure marker, so a later good value for the same attribute
still replaces it. Values are merged per prospect, later records winning per attribute and per segment.
Up to ``SPILL_AFTER`` prospects the merge is a dict; past it, updates go to a temporary file and only the
prospects seen more than once are merged (in a temporary SQLite table past ``SPILL_AFTER`` of them): memory
holds an id per prospect, not its values, however large the input is.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Literal, NamedTuple

import orjson

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.outreach import catalog
from outreach_tui.profile import STATUSES, Profile
from outreach_tui.xdm.records import Record

Outcome = Literal["planned", "excluded", "malformed"]
SPILL_AFTER = 50_000
# Log entries written at a time: few enough that the values held back stay below the garbage collector's
# threshold of 700 new objects (holding more sets off collections that promote them, then full ones).
_LOG_BATCH = 128
LIST_LIMIT = 1_000  # exclusions and malformed lines kept for the report; totals are always exact
MAX_PROSPECT_ID = 2**63 - 1
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INTEGER = re.compile(r"^[+-]?\d+$")


class ConversionError(ValueError):
    """A value that cannot be written to its attribute without losing information."""


@dataclass(frozen=True, slots=True)
class Exclusion:
    line: int
    reason: str  # "missing identity" | "invalid OutreachId" | "malformed"
    detail: str = ""


@dataclass(slots=True)
class RecordCounts:
    read: int = 0
    planned: int = 0
    excluded: int = 0
    malformed: int = 0


@dataclass(slots=True)
class PlannedProspect:
    prospect_id: int
    attributes: dict[str, Any]  # converted, ready to send; empty when failures is not
    failures: list[Diagnostic] = field(default_factory=list)
    segments: str = ""  # segment code: one status character per profile segment ("" when in none)


def patch_body(prospect_id: int, attributes: dict[str, Any]) -> dict[str, Any]:
    """The JSON:API body of ``PATCH /prospects/{id}``."""
    return {"data": {"type": "prospect", "id": prospect_id, "attributes": attributes}}


# ----- reading XDM values ----------------------------------------------------------------------------

PathPart = tuple[str, int | None]  # the key, and the same as a list index when it is all digits


def compile_path(dotted: str) -> tuple[PathPart, ...]:
    return tuple((part, int(part) if part.isdigit() else None) for part in dotted.split("."))


def read_path(data: Any, parts: tuple[PathPart, ...]) -> Any:
    """The value at a dotted path, or None; list elements are addressed by index (phones.0.number)."""
    current = data
    for key, index in parts:
        if type(current) is dict:
            current = current.get(key)
        elif type(current) is list and index is not None and index < len(current):
            current = current[index]
        else:
            return None
        if current is None:
            return None
    return current


# ----- conversions -------------------------------------------------------------------------------------

def _as_text(value: Any) -> str:
    if type(value) is str:
        return value
    if type(value) is bool:
        return "true" if value else "false"
    if type(value) in (int, float):
        return _json_text(value)  # as JSON writes numbers: 3, 1.5
    raise ConversionError(f"{_kind(value)} cannot be written to a text field")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean"}.get(type(value), "a number")


def _limit(text: str, max_length: int | None) -> str:
    if max_length is not None and len(text) > max_length:
        raise ConversionError(f"is {len(text):,} characters long; Outreach accepts at most {max_length:,}")
    return text


def _converter(attribute: catalog.Attribute) -> Callable[[Any], Any]:
    kind, fmt, max_length = attribute.type, attribute.format, attribute.max_length
    if attribute.array:
        def to_list(value: Any) -> list[str]:
            items = value if type(value) is list else [value]
            return [_limit(_as_text(item), max_length) for item in items]
        return to_list
    if kind == "integer":
        return _to_integer
    if kind == "number":
        return _to_number
    if kind == "boolean":
        return _to_boolean
    if fmt == "date":
        return _to_date
    if fmt == "date-time":
        return _to_datetime
    return lambda value: _limit(_as_text(value), max_length)


def _to_integer(value: Any) -> int:
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    if type(value) is str and INTEGER.match(value.strip()):
        return int(value.strip())
    raise ConversionError(f"{_describe_value(value)} is not a whole number")


def _to_number(value: Any) -> int | float:
    if type(value) in (int, float):
        return value
    if type(value) is str:
        try:
            number = float(value.strip())
        except ValueError:
            pass
        else:
            if number == number and number not in (float("inf"), float("-inf")):
                return int(number) if INTEGER.match(value.strip()) else number
    raise ConversionError(f"{_describe_value(value)} is not a number")


def _to_boolean(value: Any) -> bool:
    if type(value) is bool:
        return value
    if type(value) is str and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConversionError(f"{_describe_value(value)} is not true or false")


def _to_date(value: Any) -> str:
    if type(value) is str and DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ConversionError(f"{_describe_value(value)} is not a date written YYYY-MM-DD")


def _to_datetime(value: Any) -> str:
    if type(value) is str and len(value.strip()) > 10:
        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return value.strip()
    raise ConversionError(f"{_describe_value(value)} is not an ISO 8601 date and time (2026-11-20T13:15:49Z)")


def _describe_value(value: Any) -> str:
    if type(value) in (dict, list):
        return _kind(value)
    text = _json_text(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # integers beyond 64 bits: orjson refuses them, the json module does not
        return json.dumps(value, ensure_ascii=False)


def _json_loads(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


# ----- identities --------------------------------------------------------------------------------------

def prospect_ids(entries: Any) -> tuple[list[int], list[str]]:
    """Valid OutreachIds from an identityMap namespace, and why the others were skipped."""
    if type(entries) is dict:
        entries = [entries]
    if type(entries) is not list:
        return [], [f"identityMap namespace holds {_kind(entries)}, not a list of identities"]
    ids: list[int] = []
    invalid: list[str] = []
    for entry in entries:
        raw = entry.get("id") if type(entry) is dict else entry
        prospect_id = _parse_id(raw)
        if prospect_id is None:
            invalid.append(f"id {_describe_value(raw)} is not a positive whole number")
        elif prospect_id not in ids:
            ids.append(prospect_id)
    return ids, invalid


def _single_id(entries: Any) -> int | None:
    """The common case, a list of one identity with a valid id, without building error lists; None: take the
    long way (``prospect_ids``)."""
    try:
        (entry,) = entries  # a list of exactly one
        raw = entry["id"]
    except (TypeError, ValueError, KeyError):
        return None
    return _parse_id(raw)


def _parse_id(raw: Any) -> int | None:
    if type(raw) is str:
        text = raw.strip()
        raw = int(text) if text.isascii() and text.isdigit() else None
    if type(raw) is int and 0 < raw <= MAX_PROSPECT_ID:
        return raw
    return None


# ----- merging -----------------------------------------------------------------------------------------

class _MergeTable:
    """Merged raw values per prospect, in first-seen order: a dict, then a temporary SQLite file."""

    def __init__(self, spill_dir: Path | None, spill_after: int) -> None:
        self._memory: dict[int, dict[str, Any]] | None = {}
        self._spill_dir = spill_dir
        self._spill_after = spill_after
        self._db: sqlite3.Connection | None = None
        self._db_path: str | None = None
        self._pending: list[tuple[int, int, str]] = []
        self._seq = 0

    def merge(self, prospect_id: int, values: dict[str, Any]) -> None:
        if self._memory is not None:
            _merge_in_memory(self._memory, prospect_id, values)
            if len(self._memory) > self._spill_after:
                self._spill()
            return
        self._seq += 1
        self._pending.append((prospect_id, self._seq, _json_text(_patchable(values))))
        if len(self._pending) >= 5_000:
            self._flush()

    def _spill(self) -> None:
        handle, self._db_path = tempfile.mkstemp(prefix="outreach-tui-plan-", suffix=".db", dir=self._spill_dir)
        os.close(handle)
        self._db = sqlite3.connect(self._db_path)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-32000;"
            "CREATE TABLE staged (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, vals TEXT NOT NULL);"
        )
        memory, self._memory = self._memory or {}, None
        for prospect_id, values in memory.items():
            self.merge(prospect_id, values)
        self._flush()

    def _flush(self) -> None:
        if self._db is None or not self._pending:
            return
        # json_patch (RFC 7396) is "later values win per key"; nulls never reach here.
        self._db.executemany(
            "INSERT INTO staged (id, seq, vals) VALUES (?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET vals = json_patch(staged.vals, excluded.vals)",
            self._pending,
        )
        self._pending.clear()

    def __len__(self) -> int:
        if self._memory is not None:
            return len(self._memory)
        assert self._db is not None
        self._flush()
        return int(self._db.execute("SELECT count(*) FROM staged").fetchone()[0])

    def items(self) -> Iterator[tuple[int, dict[str, Any]]]:
        if self._memory is not None:
            yield from self._memory.items()
            return
        assert self._db is not None
        self._flush()
        for prospect_id, values in self._db.execute("SELECT id, vals FROM staged ORDER BY seq"):
            yield prospect_id, _from_patchable(_json_loads(values))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._db_path:
            with _ignore_missing():
                os.unlink(self._db_path)
            self._db_path = None
        self._memory = {}


def _patchable(values: dict[str, Any]) -> dict[str, Any]:
    """The segment code as an object of its statuses by position, which json_patch merges per segment as
    ``merge_codes`` does ("n" keeps the length)."""
    code = values.get(SEGMENTS_KEY)
    if code is None:
        return values
    by_position: dict[str, Any] = {str(index): char for index, char in enumerate(code) if char != NO_STATUS}
    return {**values, SEGMENTS_KEY: {"n": len(code), **by_position}}


def _from_patchable(values: dict[str, Any]) -> dict[str, Any]:
    by_position = values.get(SEGMENTS_KEY)
    if by_position is not None:
        values[SEGMENTS_KEY] = "".join(by_position.get(str(index), NO_STATUS) for index in range(by_position["n"]))
    return values


class _Staging:
    """Raw values per prospect. Small inputs merge in a dict. Past ``spill_after`` prospects updates are
    appended to a temporary log (cheap), and a set notes the prospects seen more than once; reading back
    yields single-record prospects straight from the log and merges only the repeated ones."""

    def __init__(self, spill_dir: Path | None, spill_after: int) -> None:
        self._spill_dir = spill_dir
        self._spill_after = spill_after
        self._memory: dict[int, dict[str, Any]] | None = {}
        self._log: IO[bytes] | None = None
        self._batch: list[tuple[int, dict[str, Any]]] = []
        self._seen: set[int] = set()
        self._repeated: set[int] = set()

    def merge(self, prospect_id: int, values: dict[str, Any]) -> None:
        if self._memory is not None:
            _merge_in_memory(self._memory, prospect_id, values)
            if len(self._memory) > self._spill_after:
                self._spill()
            return
        if prospect_id in self._seen:
            self._repeated.add(prospect_id)
        else:
            self._seen.add(prospect_id)
        self._batch.append((prospect_id, values))  # values are not changed after add(): no copy needed
        if len(self._batch) >= _LOG_BATCH:
            self._write_batch()

    def _write_batch(self) -> None:
        """One frame of the log: a length, then the batch in ``marshal`` format. marshal round-trips every
        JSON value exactly (integers of any size too), writes each repeated key once per batch, and is several
        times faster than JSON both ways. It is safe here: only this process writes and reads the file."""
        assert self._log is not None
        frame = marshal.dumps(self._batch)
        self._log.write(len(frame).to_bytes(4, "little"))
        self._log.write(frame)
        self._batch.clear()

    def _spill(self) -> None:
        self._log = tempfile.TemporaryFile(prefix="outreach-tui-plan-", dir=self._spill_dir)  # noqa: SIM115 (closed by close())
        memory, self._memory = self._memory or {}, None
        for prospect_id, values in memory.items():
            self.merge(prospect_id, values)

    def __len__(self) -> int:
        return len(self._memory) if self._memory is not None else len(self._seen)

    def items(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """Every prospect once: the log's single-record prospects in input order, then the repeated ones."""
        if self._memory is not None:
            yield from self._memory.items()
            return
        assert self._log is not None
        if self._batch:
            self._write_batch()
        self._log.flush()
        self._log.seek(0)
        repeated = _MergeTable(self._spill_dir, self._spill_after)
        read = self._log.read
        try:
            while header := read(4):
                for prospect_id, values in marshal.loads(read(int.from_bytes(header, "little"))):
                    if prospect_id in self._repeated:
                        repeated.merge(prospect_id, values)
                    else:
                        yield prospect_id, values
            yield from repeated.items()
        finally:
            repeated.close()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        self._memory = {}
        self._batch.clear()
        self._seen.clear()
        self._repeated.clear()


class _ignore_missing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> bool:
        return kind is not None and issubclass(kind, FileNotFoundError)


# ----- the planner -------------------------------------------------------------------------------------

# Staged values are final: converted at add time, so reading prospects back is nearly free. Two reserved
# keys ride along: the segment code and a flag that some value failed conversion; a failed value is stored
# as {FAILED: message} in place of the value, so a later good value replaces it.
SEGMENTS_KEY = "\x00segments"
FAILED_KEY = "\x00failed"
FAILED = "\x00"

# A prospect's segment statuses travel as a segment code: one character per profile segment, in profile
# order. One short string is cheaper to build, stage and count than a dict plus a custom field per segment;
# the custom fields are written from it when prospects are read back.
STATUS_CODES = {"realized": "r", "existing": "e", "exited": "x"}
CODE_STATUSES = {code: status for status, code in STATUS_CODES.items()}
NO_STATUS = "-"  # the segment is absent from the record, or has no status: nothing is written
BAD_STATUS = "!"  # an unknown status: the custom field holds a failure marker
_FIELDS_CACHE_LIMIT = 4096  # distinct segment codes whose custom fields are kept ready


def merge_codes(earlier: str, later: str) -> str:
    """Per segment, the later record's status wins unless it has none."""
    return "".join(old if new == NO_STATUS else new for old, new in zip(earlier, later, strict=True))


class SegmentCounts:
    """Prospects per segment and status. Counting a prospect is one dict update on its segment code; codes
    are spread over the segments when the totals are read (a few hundred distinct codes, not a prospect
    each)."""

    def __init__(self, segment_ids: Iterable[str]) -> None:
        self._ids = tuple(segment_ids)
        self._codes: dict[str, int] = {}
        self._totals = {segment_id: dict.fromkeys(STATUSES, 0) for segment_id in self._ids}

    def add(self, code: str) -> None:
        codes = self._codes
        codes[code] = codes.get(code, 0) + 1

    def totals(self) -> dict[str, dict[str, int]]:
        """segment id -> {status: prospects}; a fresh copy."""
        self._codes.pop("", None)  # prospects in no mapped segment
        for code, times in self._codes.items():
            for segment_id, char in zip(self._ids, code, strict=True):
                status = CODE_STATUSES.get(char)
                if status is not None:
                    self._totals[segment_id][status] += times
        self._codes.clear()
        return {segment_id: dict(by_status) for segment_id, by_status in self._totals.items()}


def _merge_in_memory(memory: dict[int, dict[str, Any]], prospect_id: int, values: dict[str, Any]) -> None:
    existing = memory.get(prospect_id)
    if existing is None:
        memory[prospect_id] = dict(values)  # a copy: one record's values may go to several prospects
    else:
        merge_values(existing, values)


def merge_values(existing: dict[str, Any], values: dict[str, Any]) -> None:
    """Later values win per attribute and per segment (the segment codes are merged, not replaced)."""
    earlier = existing.get(SEGMENTS_KEY)
    existing.update(values)
    later = values.get(SEGMENTS_KEY)
    if earlier is not None and later is not None:
        existing[SEGMENTS_KEY] = merge_codes(earlier, later)


class _RowPlan(NamedTuple):
    target: str
    keys: tuple[str, ...] | None  # the source path after its top-level field; None: it has a list index
    rest: tuple[PathPart, ...]  # the same path for ``read_path``, which handles list indexes
    text_limit: int  # text up to this long is stored as it is (a text attribute or list); -1: always convert
    as_list: bool  # the attribute is a list of texts
    convert: Callable[[Any], Any]


# What an absent key reads as while walking a path: its own .get returns it again, so a walk needs no check
# per step. Read-only, so no record can ever put values into it.
_ABSENT: Mapping[str, Any] = MappingProxyType({})


def _row_groups(profile: Profile) -> tuple[tuple[str, tuple[_RowPlan, ...]], ...]:
    """Mapping rows grouped by their source's top-level field. XDM nests most fields under a few objects
    (``person``, ``workEmail``...): each is looked up once per record, not once per row."""
    groups: dict[str, list[_RowPlan]] = {}
    for row in profile.mapping:
        (top, _), *rest = compile_path(row.source)
        attribute = _attribute(row.target)
        plain_text = attribute.array or (attribute.type == "string" and attribute.format is None)
        text_limit = (attribute.max_length or sys.maxsize) if plain_text else -1
        keys = None if any(index is not None for _, index in rest) else tuple(key for key, _ in rest)
        groups.setdefault(top, []).append(_RowPlan(row.target, keys, tuple(rest), text_limit, attribute.array,
                                                   _converter(attribute)))
    return tuple((top, tuple(rows)) for top, rows in groups.items())


class Planner:
    """Add records in input order, then read the planned prospects once."""

    def __init__(self, profile: Profile, *, spill_dir: Path | None = None, spill_after: int = SPILL_AFTER) -> None:
        self.profile = profile
        self.counts = RecordCounts()
        self.exclusions: list[Exclusion] = []
        self.exclusions_total = 0
        self.malformed: list[Exclusion] = []
        self._namespace = profile.identity.namespace
        self._row_groups = _row_groups(profile)
        status_values = profile.status_values.model_dump()
        custom_text = _converter(_attribute("custom1"))
        # A segment's custom field only ever holds one of three texts: convert them once.
        self._code_text = {STATUS_CODES[status]: custom_text(status_values[status]) for status in STATUSES}
        self._segment_targets = tuple((segment.id, segment.target) for segment in profile.segments)
        self._segment_ids = tuple(segment.id for segment in profile.segments)
        self._no_segments = NO_STATUS * len(self._segment_ids)
        self._fields_by_code: dict[str, dict[str, str]] = {}
        self._staging = _Staging(spill_dir, spill_after)
        self._targeted_at_close: int | None = None

    @property
    def targeted(self) -> int:
        """Distinct target prospects so far."""
        return self._targeted_at_close if self._targeted_at_close is not None else len(self._staging)

    def add(self, record: Record) -> Outcome:
        self.counts.read += 1
        data = record.data
        if data is None:
            self.counts.malformed += 1
            if len(self.malformed) < LIST_LIMIT:
                self.malformed.append(Exclusion(record.line, "malformed", record.error or ""))
            return "malformed"
        identity_map = data.get("identityMap")
        entries = identity_map.get(self._namespace) if type(identity_map) is dict else None
        if not entries:
            return self._exclude(record.line, "missing identity",
                                 f"no '{self._namespace}' identity in identityMap")
        prospect_id = _single_id(entries)
        if prospect_id is not None:
            self._staging.merge(prospect_id, self._values(data))
        else:
            ids, invalid = prospect_ids(entries)
            if not ids:
                return self._exclude(record.line, "invalid OutreachId", "; ".join(invalid))
            values = self._values(data)
            for prospect_id in ids:
                self._staging.merge(prospect_id, values)
        self.counts.planned += 1
        return "planned"

    def _exclude(self, line: int, reason: str, detail: str) -> Outcome:
        self.counts.excluded += 1
        self.exclusions_total += 1
        if len(self.exclusions) < LIST_LIMIT:
            self.exclusions.append(Exclusion(line, reason, detail))
        return "excluded"

    def _values(self, data: dict[str, Any]) -> dict[str, Any]:
        """The record's converted values (this runs for every field of every record: keep it lean)."""
        values: dict[str, Any] = {}
        absent = _ABSENT
        for top, rows in self._row_groups:
            parent = data.get(top)
            if parent is None:
                continue
            for target, keys, rest, text_limit, as_list, convert in rows:
                value = parent
                if keys is None:
                    value = read_path(parent, rest)
                else:
                    try:
                        for key in keys:  # read_path for paths of object keys only (most XDM paths)
                            value = value.get(key, absent)
                    except AttributeError:  # text, a number, a list or null on the way: nothing to read
                        continue
                if type(value) is str and len(value) <= text_limit:
                    values[target] = [value] if as_list else value
                elif value is not absent and value is not None:
                    try:
                        values[target] = convert(value)
                    except ConversionError as exc:
                        values[target] = {FAILED: str(exc)}
                        values[FAILED_KEY] = True
        if self._segment_ids:
            membership = data.get("segmentMembership")
            ups = membership.get("ups") if type(membership) is dict else None
            if type(ups) is dict:
                code = self._segment_code(ups, values)
                if code != self._no_segments:
                    values[SEGMENTS_KEY] = code
        return values

    def _segment_code(self, ups: dict[str, Any], values: dict[str, Any]) -> str:
        """The record's segment code. This line is the common case, every status valid (it runs for every
        segment of every record); anything else starts over in ``_checked_segment_code``."""
        codes = STATUS_CODES
        try:
            return "".join([codes[ups[segment_id]["status"]] if segment_id in ups else NO_STATUS
                            for segment_id in self._segment_ids])
        except (KeyError, TypeError):  # no status, an unknown one, an entry or a status of another type
            return self._checked_segment_code(ups, values)

    def _checked_segment_code(self, ups: dict[str, Any], values: dict[str, Any]) -> str:
        """Segment by segment: no status writes nothing, an unknown one fails the field."""
        chars: list[str] = []
        for segment_id, target in self._segment_targets:
            entry = ups.get(segment_id)
            status = entry.get("status") if type(entry) is dict else None
            if status is None:
                chars.append(NO_STATUS)
            elif type(status) is str and status in STATUS_CODES:
                chars.append(STATUS_CODES[status])
            else:
                problem = f"segment status {_describe_value(status)} is not one of realized, existing, exited"
                chars.append(BAD_STATUS)
                values[target] = {FAILED: problem}
                values[FAILED_KEY] = True
        return "".join(chars)

    def _segment_fields(self, code: str) -> dict[str, str]:
        """The custom fields a segment code writes (unknown statuses keep their failure markers)."""
        fields = self._fields_by_code.get(code)
        if fields is None:
            fields = {target: self._code_text[char] for (_, target), char in zip(self._segment_targets, code,
                                                                                 strict=True)
                      if char in self._code_text}
            if len(self._fields_by_code) < _FIELDS_CACHE_LIMIT:
                self._fields_by_code[code] = fields
        return fields

    def segment_statuses(self, prospect: PlannedProspect) -> dict[str, str]:
        """segment id -> status of a planned prospect (segments with a valid status only)."""
        code = prospect.segments or self._no_segments
        return {segment_id: CODE_STATUSES[char] for segment_id, char in zip(self._segment_ids, code, strict=True)
                if char in CODE_STATUSES}

    def prospects(self) -> Iterator[PlannedProspect]:
        for prospect_id, values in self._staging.items():
            code = values.pop(SEGMENTS_KEY, "")
            if code:
                values.update(self._segment_fields(code))
            if values.pop(FAILED_KEY, False):
                failures = [self._local_failure(prospect_id, target, value[FAILED])
                            for target, value in values.items() if type(value) is dict]
                if failures:
                    yield PlannedProspect(prospect_id, {}, failures, code)
                    continue
            yield PlannedProspect(prospect_id, values, [], code)

    def _local_failure(self, prospect_id: int, target: str, problem: str) -> Diagnostic:
        origin = self.profile.field_origin(target)
        return Diagnostic(
            prospect_id=prospect_id, status=None, error_id="conversionError",
            detail=f"{target}: the value {problem}", field=target, origin=origin,
            hint="Fix the value in the source data, or map a different attribute; nothing was sent for "
                 "this prospect.",
        )

    def close(self) -> None:
        """Free the temporary files; counts, lists and ``targeted`` stay readable."""
        if self._targeted_at_close is None:
            self._targeted_at_close = len(self._staging)
        self._staging.close()

    def __enter__(self) -> Planner:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _attribute(target: str) -> catalog.Attribute:
    attribute = catalog.get(target)
    if attribute is None:  # the profile validated targets already; this guards direct callers
        raise ValueError(f"unknown Outreach prospect attribute {target!r}")
    return attribute
