"""The Outreach REST API v2 subset under ``/api/v2``: token info, prospects GET/PATCH/list and /types.

Each request passes, in order: bearer token (401, the gateway's bare body), the per-user fixed-window rate
limit (429), injected 5xx faults, scopes (403), then the endpoint. ``X-RateLimit-*`` headers go on every
answer. ``GET /api/v2`` returns token information; Outreach's shape is unconfirmed, so the sandbox answers::

    {"data": {"type": "token", "id": "current", "attributes": {
        "userEmail": "demo@example.com", "userId": 1, "scopes": ["prospects.read", ...],
        "clientId": "outreach-tui-sandbox", "appName": "outreach-tui-sandbox", "orgName": "Sandbox Org",
        "createdAt": "...Z", "expiresAt": "...Z"}}}
"""

from __future__ import annotations

import math
import time
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from outreach_tui.sandbox import responses as r
from outreach_tui.sandbox.state import AccessToken, RateDecision, SandboxState, iso_now
from outreach_tui.sandbox.validation import DUPLICATE_EMAIL

READ_SCOPES = frozenset({"prospects.read", "prospects.all"})
WRITE_SCOPES = frozenset({"prospects.write", "prospects.all"})
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000


def rate_headers(decision: RateDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(math.ceil(decision.reset)),
    }


class Gate:
    """What the checks before an endpoint produced: the token and headers, or the answer to send now."""

    __slots__ = ("answer", "headers", "token")

    def __init__(self, token: AccessToken | None, headers: dict[str, str], answer: Response | None) -> None:
        self.token, self.headers, self.answer = token, headers, answer


class OutreachApi:
    def __init__(self, state: SandboxState, base_url: str = "") -> None:
        self.state = state
        self.base_url = base_url  # set once the port is known; used in links

    def routes(self) -> list[Route]:
        return [
            Route("/api/v2", self.token_info, methods=["GET"]),
            Route("/api/v2/", self.token_info, methods=["GET"]),
            Route("/api/v2/prospects", self.list_prospects, methods=["GET"]),
            Route("/api/v2/prospects/{id}", self.get_prospect, methods=["GET"]),
            Route("/api/v2/prospects/{id}", self.patch_prospect, methods=["PATCH"]),
            Route("/api/v2/types", self.types, methods=["GET"]),
            Route("/api/v2/{rest:path}", self.unknown, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        ]

    # -- the checks every endpoint shares --------------------------------------------------------------
    def gate(self, request: Request, scopes: frozenset[str] | None) -> Gate:
        state = self.state
        header = request.headers.get("authorization", "")
        if header[:7].lower() != "bearer ":
            return self._unauthorized("Authorization header with a Bearer token is required.")
        token = state.access_token(header[7:].strip())
        if token is None:
            return self._unauthorized("The token is unknown or has expired.")
        decision = state.charge(token.user)
        headers = rate_headers(decision)
        if not decision.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(decision.reset - time.time())))
            body = r.rate_limit_exceeded(decision.limit, decision.reset)
            return Gate(token, headers, r.json_api(429, body, headers))
        fault = state.roll_error()
        if fault is not None:
            if fault == 503:
                headers["Retry-After"] = "1"
            return Gate(token, headers, r.json_api(fault, r.FAULT_BODIES[fault], headers))
        if scopes is not None and scopes.isdisjoint(token.scopes):
            needed = min(scopes)
            return Gate(token, headers, r.json_api(403, r.scope_missing(needed), headers))
        return Gate(token, headers, None)

    def _unauthorized(self, description: str) -> Gate:
        headers = rate_headers(self.state.peek(None))
        answer = r.invalid_jwt(description)
        answer.headers.update(headers)
        return Gate(None, headers, answer)

    # -- endpoints --------------------------------------------------------------------------------------
    async def token_info(self, request: Request) -> Response:
        gate = self.gate(request, None)
        if gate.answer is not None:
            return gate.answer
        token = gate.token
        assert token is not None
        users = list(self.state.config.users)
        attributes = {
            "userEmail": token.user,
            "userId": users.index(token.user) + 1 if token.user in users else 0,
            "scopes": sorted(token.scopes),
            "clientId": token.client_id,
            "appName": token.client_id,
            "orgName": self.state.config.org_name,
            "createdAt": iso_now(token.created_at),
            "expiresAt": iso_now(token.expires_at),
        }
        body = {"data": {"type": "token", "id": "current", "attributes": attributes}}
        return r.json_api(200, body, gate.headers)

    async def unknown(self, request: Request) -> Response:
        """Anything else under /api/v2: a JSON:API 404 (the sandbox serves only what the product uses)."""
        gate = self.gate(request, None)
        if gate.answer is not None:
            return gate.answer
        detail = f"The sandbox does not serve {request.method} {request.url.path}."
        return r.json_api(404, r.error(404, "resourceNotFound", "Resource Not Found", detail), gate.headers)

    async def types(self, request: Request) -> Response:
        gate = self.gate(request, None)
        if gate.answer is not None:
            return gate.answer
        return r.json_api(200, self.state.types_body, gate.headers)

    async def get_prospect(self, request: Request) -> Response:
        gate = self.gate(request, READ_SCOPES)
        if gate.answer is not None:
            return gate.answer
        raw_id = request.path_params["id"]
        prospect_id = _int_or_none(raw_id)
        record = self.state.prospect(prospect_id) if prospect_id is not None else None
        if record is None or prospect_id is None:
            return r.json_api(404, r.not_found(raw_id), gate.headers)
        fields = _sparse_fields(request)
        return r.json_api(200, {"data": self._resource(prospect_id, record, fields)}, gate.headers)

    async def list_prospects(self, request: Request) -> Response:
        gate = self.gate(request, READ_SCOPES)
        if gate.answer is not None:
            return gate.answer
        q = request.query_params
        try:
            size = int(q.get("page[size]", DEFAULT_PAGE_SIZE))
            after = int(q.get("page[after]", 0))
            ids = [int(i) for i in q["filter[id]"].split(",") if i.strip()] if "filter[id]" in q else None
        except ValueError:
            return _invalid_parameter("page and filter[id] values must be integers.", gate.headers)
        if not 1 <= size <= MAX_PAGE_SIZE:
            return _invalid_parameter(f"page[size] must be between 1 and {MAX_PAGE_SIZE}.", gate.headers)
        matches = self._matching(ids, q.get("filter[emails]"))
        page = [pid for pid in matches if pid > after][: size + 1]
        fields = _sparse_fields(request)
        with self.state.lock:
            data = [self._resource(pid, dict(self.state.prospects[pid]), fields) for pid in page[:size]]
        body: dict[str, Any] = {"data": data, "meta": {"count": len(matches)}, "links": {}}
        params = [(k, v) for k, v in q.multi_items() if k != "page[after]"]
        body["links"]["first"] = f"{self.base_url}/api/v2/prospects?{urlencode(params)}"
        if len(page) > size:
            next_params = [*params, ("page[after]", str(page[size - 1]))]
            body["links"]["next"] = f"{self.base_url}/api/v2/prospects?{urlencode(next_params)}"
        return r.json_api(200, body, gate.headers)

    def _matching(self, ids: list[int] | None, emails: str | None) -> list[int]:
        with self.state.lock:
            prospects = self.state.prospects
            found = sorted({i for i in ids if i in prospects}) if ids is not None else sorted(prospects)
            if emails:
                owners = self.state.email_owner
                wanted = {owners.get(e.strip().lower()) for e in emails.split(",")}
                found = [pid for pid in found if pid in wanted]
        return found

    async def patch_prospect(self, request: Request) -> Response:
        gate = self.gate(request, WRITE_SCOPES)
        if gate.answer is not None:
            return gate.answer
        headers = gate.headers
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != r.JSON_API:
            return r.json_api(415, r.UNSUPPORTED_MEDIA_TYPE, headers)
        raw_id = request.path_params["id"]
        prospect_id = _int_or_none(raw_id)
        attrs_or_answer = _patch_attributes(await request.body(), raw_id, headers)
        if isinstance(attrs_or_answer, Response):
            return attrs_or_answer
        attrs = attrs_or_answer
        state = self.state
        if prospect_id is None or prospect_id not in state.prospects:
            return r.json_api(404, r.not_found(raw_id), headers)
        problems = state.validator.errors(attrs)
        if problems:
            errors = [_validation_error(name, detail) for name, detail in problems]
            return r.json_api(422, {"errors": errors}, headers)
        with state.lock:
            if "emails" in attrs and state.email_taken(prospect_id, attrs["emails"]):
                return r.json_api(422, {"errors": [_validation_error("emails", DUPLICATE_EMAIL)]}, headers)
            record = state.update(prospect_id, attrs)
            body = orjson.dumps({"data": self._resource(prospect_id, record or {}, None)})
        return r.json_api(200, body, headers)

    def _resource(self, prospect_id: int, record: dict[str, Any], fields: set[str] | None) -> dict[str, Any]:
        attributes = record if fields is None else {k: v for k, v in record.items() if k in fields}
        return {
            "type": "prospect",
            "id": prospect_id,
            "attributes": attributes,
            "relationships": {},
            "links": {"self": f"{self.base_url}/api/v2/prospects/{prospect_id}"},
        }


def _int_or_none(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else None


def _invalid_parameter(detail: str, headers: dict[str, str]) -> Response:
    return r.json_api(400, r.error(400, "invalidParameter", "Invalid Parameter", detail), headers)


def _sparse_fields(request: Request) -> set[str] | None:
    value = request.query_params.get("fields[prospect]")
    return None if value is None else {f.strip() for f in value.split(",") if f.strip()}


def _validation_error(name: str, detail: str) -> dict[str, Any]:
    return {
        "id": "validationError",
        "title": "Validation Error",
        "detail": detail,
        "source": {"pointer": f"/data/attributes/{name}"},
    }


def _patch_attributes(raw: bytes, url_id: str, headers: dict[str, str]) -> dict[str, Any] | Response:
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
