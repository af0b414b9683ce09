"""Outreach's bulk endpoints, as its OpenAPI document describes them.

``POST /imports/actions/bulkUpsert`` (scope ``imports.write``) takes ``{"data": {"type": "import",
"attributes": {"records": [...], "dupeMethod": "...", "fileName": "..."}}}`` and answers 200 with an
``import`` resource in state ``pending``; it turns ``processing`` halfway through ``import_delay`` and, at its
end, the server's event loop applies it (whether or not anyone polls) and it turns ``finished`` with
``total`` and ``failures`` (``null`` until then): counts only, never
which record failed. ``GET /imports/{id}`` (scope ``imports.read``) polls it. Each record is a prospect
resource object (``{"type": "prospect", "id": 1, "attributes": {...}}``, also accepted wrapped as
``{"data": {...}}``); uniqueness is by its id. A record fails when it would fail as a PATCH (the same
``SandboxState.write``), and, under ``overwriteNoCreate``, when its prospect does not exist. Bodies over
``import_max_bytes`` (2,000,000: the stricter reading of the documented ~2 MB) get 422, the only error
status the document lists for the operation.

``POST /batches/actions/prospectsBulkModify`` (scopes ``batches.write`` and ``prospects.write``) sets the
same attributes on every targeted prospect: the body's ``ids``, else ``actionParams[filter][id]``, else,
as Outreach documents, **every prospect in the organisation**.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from outreach_tui.sandbox import gate
from outreach_tui.sandbox import responses as r
from outreach_tui.sandbox.prospects import invalid_parameter, validation_error
from outreach_tui.sandbox.records import iso_now
from outreach_tui.sandbox.resource import ProspectRenderer
from outreach_tui.sandbox.state import SandboxState

DUPE_METHODS = ("overwriteNoCreate", "overwrite", "skip", "missing")
IMPORT_ATTRIBUTES = (  # components.schemas.import: every attribute, nulls included
    "createdAt", "dupeMethod", "dupes", "errorReason", "externalId", "externalName", "externalType", "failures",
    "fileName", "fileSize", "frequency", "importType", "loadFromPlugin", "mappings", "pluginId",
    "prospectOwnerId", "recurring", "reportInstanceId", "scheduledAt", "source", "stageId", "state",
    "stateChangedAt", "syncedUntil", "timeZone", "total", "updatedAt",
)  # fmt: skip


@dataclass
class ImportJob:
    id: int
    user_id: int
    records: list[Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    # For the inspection API only (Outreach reports counts): ids carried, failed, and silently ignored.
    record_ids: list[int | None] = field(default_factory=list)
    failed_ids: list[int | None] = field(default_factory=list)
    ignored_ids: list[int | None] = field(default_factory=list)


def _bad(status: int, error_id: str, title: str, detail: str, headers: dict[str, str]) -> Response:
    return r.json_api(status, r.error(status, error_id, title, detail), headers)


class ImportsApi:
    def __init__(self, state: SandboxState, renderer: ProspectRenderer) -> None:
        self.state = state
        self.renderer = renderer
        self.jobs: dict[int, ImportJob] = {}
        self.batch_count = 0

    def routes(self) -> list[Route]:
        return [
            Route("/api/v2/imports/actions/bulkUpsert", self.bulk_upsert, methods=["POST"]),
            Route("/api/v2/imports/{id}", self.get_import, methods=["GET"]),
            Route("/api/v2/batches/actions/prospectsBulkModify", self.bulk_modify, methods=["POST"]),
        ]

    # -- imports ---------------------------------------------------------------------------------------
    async def bulk_upsert(self, request: Request) -> Response:
        checked = gate.check(self.state, request, ("imports.write",))
        if checked.answer is not None:
            return checked.answer
        headers, limit = checked.headers, self.state.config.import_max_bytes
        if not _is_json_api(request):
            return r.json_api(415, r.UNSUPPORTED_MEDIA_TYPE, headers)
        declared = request.headers.get("content-length", "")
        raw = b"" if declared.isdigit() and int(declared) > limit else await request.body()
        size = int(declared) if not raw and declared.isdigit() else len(raw)
        if size > limit:
            detail = f"The request body is {size:,} bytes; an import accepts at most {limit:,} bytes."
            return _bad(422, "requestTooLarge", "Request Too Large", detail, headers)
        parsed = _import_attributes(raw)
        if isinstance(parsed, str):
            return _bad(422, "validationError", "Validation Error", parsed, headers)
        records, dupe_method, file_name = parsed
        assert checked.token is not None
        now = iso_now()
        with self.state.lock:
            job_id = len(self.jobs) + 1
            job = ImportJob(job_id, self.state.user_id(checked.token.user), records)
            job.record_ids = [_record_id(record) for record in records]
            job.attributes = {
                **dict.fromkeys(IMPORT_ATTRIBUTES),
                "createdAt": now, "updatedAt": now, "stateChangedAt": now, "state": "pending",
                "dupeMethod": dupe_method, "fileName": file_name, "fileSize": size, "frequency": "once",
                "importType": "bulkUpsert", "recurring": False, "total": len(records),
            }  # fmt: skip
            self.jobs[job_id] = job
            self.state.imports += 1
            self.state.import_records += len(records)
            body = orjson.dumps({"data": self._resource(job)})
        loop, delay = asyncio.get_running_loop(), self.state.config.import_delay
        loop.call_later(delay / 2, self._start, job)  # a client must treat every unfinished state alike
        loop.call_later(delay, self._process, job)
        return r.json_api(200, body, headers)

    async def get_import(self, request: Request) -> Response:
        checked = gate.check(self.state, request, ("imports.read",))
        if checked.answer is not None:
            return checked.answer
        raw_id = request.path_params["id"]
        with self.state.lock:
            job = self.jobs.get(int(raw_id)) if raw_id.isdigit() else None
            body = orjson.dumps({"data": self._resource(job)}) if job is not None else None
        if body is None:
            detail = f"Could not find 'import' with ID '{raw_id}'."
            return _bad(404, "resourceNotFound", "Resource Not Found", detail, checked.headers)
        return r.json_api(200, body, checked.headers)

    def _start(self, job: ImportJob) -> None:
        now = iso_now()
        with self.state.lock:
            job.attributes.update(state="processing", updatedAt=now, stateChangedAt=now)

    def _process(self, job: ImportJob) -> None:
        method = job.attributes["dupeMethod"]
        failures = dupes = 0
        for record in job.records:
            record_id = _record_id(record)
            if self.state.roll_import_ignore():
                job.ignored_ids.append(record_id)
                continue
            outcome = self._upsert(record, method)
            if outcome == "failed":
                failures += 1
                job.failed_ids.append(record_id)
            dupes += outcome == "dupe"
        job.records = []  # processed: the payload is not kept
        now = iso_now()
        with self.state.lock:
            job.attributes.update(state="finished", failures=failures, dupes=dupes, updatedAt=now, stateChangedAt=now)
            self.state.import_failures += failures

    def _upsert(self, record: Any, method: str) -> str:
        """``updated``, ``created``, ``dupe`` (skipped) or ``failed``: the same rules as PATCH."""
        resource = record.get("data", record) if isinstance(record, dict) else None
        if not isinstance(resource, dict) or resource.get("type") != "prospect":
            return "failed"
        attributes, raw_id = resource.get("attributes", {}), resource.get("id")
        if not isinstance(attributes, dict):
            return "failed"
        prospect_id = int(raw_id) if isinstance(raw_id, int | str) and str(raw_id).isdigit() else None
        if raw_id is not None and prospect_id is None:
            return "failed"
        exists = prospect_id is not None and prospect_id in self.state.prospects  # a dict lookup, no copy
        if not exists:
            if method == "overwriteNoCreate":
                return "failed"
            problems, _new_id = self.state.create(prospect_id, attributes)
            return "failed" if problems else "created"
        assert prospect_id is not None
        if method == "skip":
            return "dupe"
        if method == "missing":  # fill only what the prospect lacks
            current = self.state.prospect(prospect_id) or {}
            attributes = {k: v for k, v in attributes.items() if current.get(k) in (None, "", [])}
        problems, _record = self.state.write(prospect_id, attributes)
        return "failed" if problems else "dupe" if method == "missing" else "updated"

    def inspect(self, import_id: int) -> dict[str, Any] | None:
        with self.state.lock:
            job = self.jobs.get(import_id)
            if job is None:
                return None
            return {
                "id": job.id,
                "state": job.attributes["state"],
                "recordIds": list(job.record_ids),
                "failedIds": list(job.failed_ids),
                "ignoredIds": list(job.ignored_ids),
            }

    def _resource(self, job: ImportJob) -> dict[str, Any]:
        api = f"{self.renderer.base_url}/api/v2"
        return {
            "type": "import",
            "id": job.id,
            "attributes": dict(job.attributes),
            "relationships": {
                "creator": {
                    "data": {"type": "user", "id": job.user_id},
                    "links": {"related": f"{api}/users/{job.user_id}"},
                }
            },
            "links": {"self": f"{api}/imports/{job.id}"},
        }

    # -- batches ---------------------------------------------------------------------------------------
    async def bulk_modify(self, request: Request) -> Response:
        checked = gate.check(self.state, request, ("batches.write", "prospects.write"))
        if checked.answer is not None:
            return checked.answer
        headers = checked.headers
        if not _is_json_api(request):
            return r.json_api(415, r.UNSUPPORTED_MEDIA_TYPE, headers)
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _bad(422, "validationError", "Validation Error", "The request body is not valid JSON.", headers)
        data = body.get("data") if isinstance(body, dict) else None
        attributes = data.get("attributes") if isinstance(data, dict) else None
        if not isinstance(attributes, dict):
            return _bad(422, "validationError", "Validation Error", "The body needs data.attributes.", headers)
        targets = _filter_ids(request, attributes.pop("ids", None))
        if isinstance(targets, str):
            return invalid_parameter(targets, headers)
        if "fieldName" in attributes:  # the documented single-field form
            attributes = {str(attributes.get("fieldName")): attributes.get("fieldValue")}
        problems = self.state.validator.errors(attributes)
        if problems:
            return r.json_api(422, {"errors": [validation_error(n, d) for n, d in problems]}, headers)
        with self.state.lock:
            chosen = sorted(self.state.prospects) if targets is None else sorted(set(targets))
        failures = sum(1 for pid in chosen if self.state.write(pid, dict(attributes))[0])
        assert checked.token is not None
        now = iso_now()
        with self.state.lock:
            self.batch_count += 1
            self.state.batch_modified += len(chosen) - failures
            batch_id = self.batch_count
        batch = {
            "action": "prospectsBulkModify", "canceledAt": None, "confirmCount": None, "confirmedAt": None,
            "confirmedCountRequired": False, "createdAt": now, "externalStartPayload": None, "failures": failures,
            "finishedAt": now, "payload": {"attributes": attributes}, "pending": 0, "startedAt": now,
            "state": "finished", "summary": None, "total": len(chosen), "updatedAt": now,
        }  # fmt: skip
        api = f"{self.renderer.base_url}/api/v2"
        user_id = self.state.user_id(checked.token.user)
        resource = {
            "type": "batch",
            "id": batch_id,
            "attributes": batch,
            "relationships": {
                "batchItems": {"links": {"related": f"{api}/batchItems?filter[batch][id]={batch_id}"}},
                "creator": {"data": {"type": "user", "id": user_id}},
            },
            "links": {"self": f"{api}/batches/{batch_id}"},
        }
        return r.json_api(200, {"data": resource}, headers)


def _record_id(record: Any) -> int | None:
    resource = record.get("data", record) if isinstance(record, dict) else None
    raw = resource.get("id") if isinstance(resource, dict) else None
    return int(raw) if isinstance(raw, int | str) and not isinstance(raw, bool) and str(raw).isdigit() else None


def _is_json_api(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == r.JSON_API


def _import_attributes(raw: bytes) -> tuple[list[Any], str, str | None] | str:
    """``(records, dupeMethod, fileName)`` of a bulkUpsert body, or what is wrong with it."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return "The request body is not valid JSON."
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or data.get("type") != "import":
        return "The body must be {\"data\": {\"type\": \"import\", \"attributes\": {...}}}."
    attributes = data.get("attributes")
    records = attributes.get("records") if isinstance(attributes, dict) else None
    if not isinstance(attributes, dict) or not isinstance(records, list) or not records:
        return "data.attributes.records must be a non-empty list of resource objects."
    dupe_method = attributes.get("dupeMethod")
    if dupe_method not in DUPE_METHODS:
        return f"dupeMethod must be one of {', '.join(DUPE_METHODS)} (got {dupe_method!r})."
    file_name = attributes.get("fileName")
    if file_name is not None and not isinstance(file_name, str):
        return "fileName must be a string."
    return records, dupe_method, file_name


def _filter_ids(request: Request, body_ids: Any) -> list[int] | str | None:
    """The targeted ids (the body's ``ids``, else ``actionParams[filter][id]``), None for "no filter: ALL
    prospects", or what is wrong with the filter."""
    if body_ids is not None:
        if not isinstance(body_ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in body_ids):
            return "ids must be a list of integers."
        return list(body_ids)
    q = request.query_params
    keys = [k for k in q if k.startswith("actionParams[filter]")]
    if not keys:
        return None
    unknown = [k for k in keys if k not in ("actionParams[filter][id]", "actionParams[filter][id][]")]
    if unknown:
        return f"Unsupported filter: {', '.join(unknown)}."
    values = [v for k in keys for item in q.getlist(k) for v in item.split(",") if v.strip()]
    if not all(v.strip().isdigit() for v in values):
        return "actionParams[filter][id] values must be integers."
    return [int(v) for v in values]
