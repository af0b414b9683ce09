"""The checks every ``/api/v2`` request passes before its endpoint, in Outreach's order: scheduled
maintenance (503, before anything else: the API is down), bearer token (401, the gateway's bare body), the
per-user fixed-window rate limit (429), injected 5xx faults, then scopes (403). ``X-RateLimit-*`` headers go
on every answer that reached the limiter."""

from __future__ import annotations

import math
import time
from email.utils import formatdate

from starlette.requests import Request
from starlette.responses import Response

from outreach_tui.sandbox import responses as r
from outreach_tui.sandbox.state import AccessToken, RateDecision, SandboxState


def rate_headers(decision: RateDecision) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(math.ceil(decision.reset)),
    }


def http_date(moment: float) -> str:
    """``Retry-After`` as an HTTP date (RFC 9110 IMF-fixdate), rounded up to the whole second."""
    return formatdate(math.ceil(moment), usegmt=True)


def missing_scope(needed: tuple[str, ...], granted: frozenset[str]) -> str | None:
    """The first of ``needed`` the token lacks (``<resource>.all`` covers read, write and delete)."""
    for scope in needed:
        if scope not in granted and f"{scope.split('.', 1)[0]}.all" not in granted:
            return scope
    return None


class Gate:
    """What the checks produced: the token and headers, or the answer to send now."""

    __slots__ = ("answer", "headers", "token")

    def __init__(self, token: AccessToken | None, headers: dict[str, str], answer: Response | None) -> None:
        self.token, self.headers, self.answer = token, headers, answer


def check(state: SandboxState, request: Request, needed: tuple[str, ...] = ()) -> Gate:
    """Run the shared checks; ``needed`` are the scopes the endpoint requires (all of them)."""
    maintenance_until = state.maintenance_until
    if maintenance_until and maintenance_until > time.time():
        headers = {"Retry-After": http_date(maintenance_until)}
        return Gate(None, headers, r.json_api(503, r.FAULT_BODIES[503], headers))
    target = len(request.scope.get("raw_path") or b"") + len(request.scope.get("query_string") or b"") + 1
    if target > state.config.max_url_bytes:
        detail = f"The request URL is {target:,} bytes; at most {state.config.max_url_bytes:,} are accepted."
        return Gate(None, {}, r.json_api(414, r.error(414, "uriTooLong", "URI Too Long", detail)))
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer ":
        return _unauthorized(state, "Authorization header with a Bearer token is required.")
    token = state.access_token(header[7:].strip())
    if token is None:
        return _unauthorized(state, "The token is unknown or has expired.")
    decision = state.charge(token.user)
    headers = rate_headers(decision)
    if not decision.allowed:
        headers["Retry-After"] = str(max(1, math.ceil(decision.reset - time.time())))
        body = r.rate_limit_exceeded(decision.limit, decision.reset)
        return Gate(token, headers, r.json_api(429, body, headers))
    fault = state.roll_error()
    if fault is not None:
        if fault == 503:
            headers["Retry-After"] = http_date(time.time() + 1)
        return Gate(token, headers, r.json_api(fault, r.FAULT_BODIES[fault], headers))
    lacking = missing_scope(needed, token.scopes) if needed else None
    if lacking is not None:
        return Gate(token, headers, r.json_api(403, r.scope_missing(lacking), headers))
    return Gate(token, headers, None)


def _unauthorized(state: SandboxState, description: str) -> Gate:
    headers = rate_headers(state.peek(None))
    answer = r.invalid_jwt(description)
    answer.headers.update(headers)
    return Gate(None, headers, answer)
