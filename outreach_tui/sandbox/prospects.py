"""``/api/v2/prospects``: GET one, PATCH one, and the filtered, cursor-paged list.

PATCH replaces what it names, lists included (``emails``, ``tags``, ``*Phones``: the list sent becomes the
list, as on Outreach), and answers 200 with the full resource (``resource.py``). The list answers
``filter[id]=1,2,3`` and ``filter[emails]=a@x,b@y`` (several values, any of them, emails compared without
case), ``fields[prospect]=...``, ``page[size]`` (default 50, at most 1000) and a ``page[after]`` cursor
carried in ``links.next``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from outreach_tui.sandbox import gate
from outreach_tui.sandbox import responses as r
from outreach_tui.sandbox.resource import ProspectRenderer
from outreach_tui.sandbox.state import SandboxState

READ = ("prospects.read",)
WRITE = ("prospects.write",)
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000
FILTERS = frozenset({"filter[id]", "filter[emails]"})


class ProspectsApi:
    def __init__(self, state: SandboxState, renderer: ProspectRenderer) -> None:
        self.state = state
        self.renderer = renderer

    async def get_prospect(self, request: Request) -> Response:
        checked = gate.check(self.state, request, READ)
        if checked.answer is not None:
            return checked.answer
        raw_id = request.path_params["id"]
        prospect_id = int_or_none(raw_id)
        record = self.state.prospect(prospect_id) if prospect_id is not None else None
        if record is None or prospect_id is None:
            return r.json_api(404, r.not_found(raw_id), checked.headers)
        body = {"data": self.renderer.resource(prospect_id, record, sparse_fields(request))}
        return r.json_api(200, body, checked.headers)

    async def list_prospects(self, request: Request) -> Response:
        checked = gate.check(self.state, request, READ)
        if checked.answer is not None:
            return checked.answer
        headers, q = checked.headers, request.query_params
        unknown = sorted(k for k in q if k.startswith("filter[") and k not in FILTERS)
        if unknown:
            return invalid_parameter(f"Unsupported filter: {', '.join(unknown)}.", headers)
        try:
            size = int(q.get("page[size]", DEFAULT_PAGE_SIZE))
            after = int(q.get("page[after]", 0))
            ids = [int(i) for i in q["filter[id]"].split(",") if i.strip()] if "filter[id]" in q else None
        except ValueError:
            return invalid_parameter("page and filter[id] values must be integers.", headers)
        if not 1 <= size <= MAX_PAGE_SIZE:
            return invalid_parameter(f"page[size] must be between 1 and {MAX_PAGE_SIZE}.", headers)
        emails = q.get("filter[emails]")
        matches = self._matching(ids, [e for e in emails.split(",") if e.strip()] if emails is not None else None)
        page = [pid for pid in matches if pid > after][: size + 1]
        fields = sparse_fields(request)
        with self.state.lock:
            records = [(pid, dict(self.state.prospects[pid])) for pid in page[:size]]
        data = [self.renderer.resource(pid, record, fields) for pid, record in records]
        body: dict[str, Any] = {"data": data, "meta": {"count": len(matches)}, "links": {}}
        params = [(k, v) for k, v in q.multi_items() if k != "page[after]"]
        base = f"{self.renderer.base_url}/api/v2/prospects"
        body["links"]["first"] = f"{base}?{urlencode(params)}"
        if len(page) > size:
            body["links"]["next"] = f"{base}?{urlencode([*params, ('page[after]', str(page[size - 1]))])}"
        return r.json_api(200, body, headers)

    def _matching(self, ids: list[int] | None, emails: list[str] | None) -> list[int]:
        with self.state.lock:
            prospects = self.state.prospects
            found = sorted({i for i in ids if i in prospects}) if ids is not None else sorted(prospects)
            if emails is not None:
                owners = self.state.email_owners
                wanted = {pid for e in emails for pid in owners.get(e.strip().lower(), ())}
                found = [pid for pid in found if pid in wanted]
        return found

    async def patch_prospect(self, request: Request) -> Response:
        checked = gate.check(self.state, request, WRITE)
        if checked.answer is not None:
            return checked.answer
        headers = checked.headers
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != r.JSON_API:
            return r.json_api(415, r.UNSUPPORTED_MEDIA_TYPE, headers)
        raw_id = request.path_params["id"]
        prospect_id = int_or_none(raw_id)
        attrs_or_answer = patch_attributes(await request.body(), raw_id, headers)
        if isinstance(attrs_or_answer, Response):
            return attrs_or_answer
        if prospect_id is None or prospect_id not in self.state.prospects:
            return r.json_api(404, r.not_found(raw_id), headers)
        problems, record = self.state.write(prospect_id, attrs_or_answer, patch=True)
        if problems:
            return r.json_api(422, {"errors": [validation_error(n, d) for n, d in problems]}, headers)
        return r.json_api(200, orjson.dumps({"data": self.renderer.resource(prospect_id, record)}), headers)


def int_or_none(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


def invalid_parameter(detail: str, headers: dict[str, str]) -> Response:
    return r.json_api(400, r.error(400, "invalidParameter", "Invalid Parameter", detail), headers)


def sparse_fields(request: Request) -> set[str] | None:
    value = request.query_params.get("fields[prospect]")
    return None if value is None else {f.strip() for f in value.split(",") if f.strip()}


def validation_error(name: str, detail: str) -> dict[str, Any]:
    return {
        "id": "validationError",
        "title": "Validation Error",
        "detail": detail,
        "source": {"pointer": f"/data/attributes/{name}"},
    }


def patch_attributes(raw: bytes, url_id: str, headers: dict[str, str]) -> dict[str, Any] | Response:
    """The attributes of a well-formed PATCH body, or the 400/409 answer for a malformed one."""

    def bad(status: int, error_id: str, title: str, detail: str, pointer: str) -> Response:
        return r.json_api(status, r.error(status, error_id, title, detail, pointer), headers)

    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return bad(400, "invalidJson", "Invalid JSON", "The request body is not valid JSON.", "/")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return bad(400, "invalidRequest", "Invalid Request", "The body must have a 'data' object.", "/data")
    if data.get("type") != "prospect":
        detail = f"Expected resource type 'prospect', got '{data.get('type')}'."
        return bad(409, "resourceTypeMismatch", "Resource Type Mismatch", detail, "/data/type")
    body_id = data.get("id")
    if body_id is None or isinstance(body_id, bool) or str(body_id) != url_id:
        detail = f"The resource ID in the body ('{body_id}') does not match the URL ('{url_id}')."
        return bad(409, "resourceIdMismatch", "Resource ID Mismatch", detail, "/data/id")
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        return bad(400, "invalidRequest", "Invalid Request", "'attributes' must be an object.", "/data/attributes")
    return attributes

