"""The Outreach API client: one keep-alive HTTP/1.1 connection pool (``transport.py``), JSON:API bodies,
pacing, retries.

Every request goes through the one rate limiter and the one retry policy; every error body goes through the
one parser (``errors.py``). Tokens come from a ``TokenSource``; they never appear in messages or exceptions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from outreach_tui.outreach.credentials import AuthRequired, ScopeMissing, TokenSource
from outreach_tui.outreach.errors import ApiError, connection_error, parse_errors
from outreach_tui.outreach.ratelimit import RateLimiter
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.outreach.transport import IDEMPOTENT, KeepAliveTransport

log = logging.getLogger(__name__)

JSON_API = "application/vnd.api+json"
MAX_RATE_LIMITED = 20  # 429s one request may meet before it fails (the limiter waits out each one)
IDS_PER_QUERY = 100  # filter[id]=1,2,... stays well below URL length limits
PAGE_SIZE = 100  # prospects per page of GET /prospects (links.next gives the rest)
TIMEOUT = httpx.Timeout(30.0, connect=10.0, pool=None)  # waiting for a free pooled connection is fine
KEEPALIVE_EXPIRY = 20.0  # seconds an idle connection is kept (servers and load balancers close them later)
LOGIN_HINT = "outreach-tui login PROFILE.toml"
CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)  # never reached the server

RetryCallback = Callable[[int, int, float, str], None]  # prospect id (0: not a prospect), attempt, delay, why


class OutreachUnreachable(Exception):
    """No connection to Outreach at all (DNS, refused, connect timeout) after every retry: exit code 4."""


class OutreachRequestFailed(Exception):
    """A read request (not a prospect update) failed for good; carries the parsed errors."""

    def __init__(self, url: str, status: int | None, errors: list[ApiError]) -> None:
        detail = "; ".join(e.detail for e in errors) or "no detail"
        super().__init__(f"{url}: HTTP {status or 'no response'}: {detail}")
        self.status = status
        self.errors = errors


@dataclass
class PatchResult:
    ok: bool
    status: int | None  # the last HTTP status; None when the last attempt got no response
    attempts: int  # requests sent for this prospect
    errors: list[ApiError] = field(default_factory=list)
    accepted: dict[str, Any] | None = None  # the attributes Outreach returned (the full prospect)
    rate_limited: int = 0  # 429 answers met on the way


@dataclass
class _Tries:
    """What happened so far to one logical request."""

    attempts: int = 0  # requests sent
    failures: int = 0  # transient failures (5xx, 408, no answer): bounded by the retry policy
    rate_limited: int = 0  # 429 answers: bounded separately, the limiter waits each one out
    token: str = ""  # the bearer token of the latest attempt
    refreshed_token: str | None = None  # set after the one refresh a 401 allows
    only_connect_errors: bool = True  # no attempt has reached the server yet


@dataclass
class _Outcome:
    response: httpx.Response | None
    attempts: int
    rate_limited: int
    errors: list[ApiError]


class OutreachClient:
    def __init__(
        self,
        api_base: str,
        tokens: TokenSource,
        *,
        limiter: RateLimiter,
        retry: RetryPolicy,
        concurrency: int = 4,
        on_retry: RetryCallback | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        login_hint: str = LOGIN_HINT,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.limiter = limiter
        self.retry = retry
        self.on_retry = on_retry
        self.requests_sent = 0
        self.retries = 0
        self.rate_limited = 0
        self._tokens = tokens
        self._login_hint = login_hint
        self._origin = _origin(self.api_base)
        # our own lean keep-alive transport: httpx's default one (httpcore) costs about 1 ms of CPU per request,
        # and httpx.AsyncClient's per-request work (merging URLs, headers and cookies, redirect and auth
        # bookkeeping) another 0.1 ms, none of it needed here, so requests go straight to the transport.
        # PATCH may be sent again when a pooled connection turns out closed before any answer: Outreach
        # documents repeating it as safe. TLS verification is always on (the transport refuses otherwise);
        # redirects are never followed (a redirect must not carry the bearer token elsewhere).
        self._transport = transport or KeepAliveTransport(
            max_connections=max(1, concurrency),
            keepalive_expiry=KEEPALIVE_EXPIRY,
            retry_methods=IDEMPOTENT | {"PATCH"},
        )
        self._timeouts = TIMEOUT.as_dict()
        self._base_headers = [
            (b"Accept", JSON_API.encode()),
            (b"Accept-Encoding", b"gzip, deflate"),  # httpx decodes these
            (b"User-Agent", _user_agent().encode()),
        ]
        self._headers_for: tuple[str, list[tuple[bytes, bytes]]] = ("", [])

    async def __aenter__(self) -> OutreachClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    # -- prospects ----------------------------------------------------------------------------------------
    async def patch_prospect(self, prospect_id: int, attributes: dict[str, Any]) -> PatchResult:
        """PATCH one prospect's attributes; retried per policy; never raises for a per-prospect failure."""
        body = orjson.dumps({"data": {"type": "prospect", "id": prospect_id, "attributes": attributes}})
        outcome = await self._request(
            "PATCH",
            f"{self.api_base}/prospects/{prospect_id}",
            content=body,
            scope="prospects.write",
            prospect_id=prospect_id,
        )
        response = outcome.response
        if response is not None and response.is_success:
            return PatchResult(
                True,
                response.status_code,
                outcome.attempts,
                [],
                _attributes_of(response),
                outcome.rate_limited,
            )
        return PatchResult(
            False,
            response.status_code if response is not None else None,
            outcome.attempts,
            outcome.errors,
            None,
            outcome.rate_limited,
        )

    async def get_prospects(self, ids: list[int], fields: list[str] | None = None) -> dict[int, dict[str, Any]]:
        """The attributes of the given prospects that exist and are visible (missing ids are absent)."""
        found: dict[int, dict[str, Any]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), IDS_PER_QUERY):
            chunk = unique[start : start + IDS_PER_QUERY]
            params: dict[str, str] | None = _prospects_query(chunk, fields)
            url: str | None = f"{self.api_base}/prospects"
            while url is not None:
                page = await self._get_json(url, params=params, scope="prospects.read")
                for resource in page.get("data") or []:
                    if isinstance(resource, dict) and str(resource.get("id", "")).isdigit():
                        found[int(resource["id"])] = dict(resource.get("attributes") or {})
                url, params = self._next_page(page), None  # links.next carries the whole query
        return found

    # -- account ------------------------------------------------------------------------------------------
    async def token_info(self) -> dict[str, Any]:
        """GET {api_base}: who is signed in, the token's scopes, the organisation (shape unconfirmed)."""
        return await self._get_json(self.api_base, scope=None)

    async def custom_field_types(self) -> dict[str, dict[str, Any]]:
        """GET /types as ``{"custom4": {"type": "string", "label": "Segment 4", ...}}``."""
        return custom_fields_from_types(await self._get_json(f"{self.api_base}/types", scope=None))

    # -- the one request loop -----------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        url: str,
        *,
        scope: str | None,
        prospect_id: int = 0,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> _Outcome:
        """Send until an answer is final: success, a non-retryable error, or retries exhausted.

        Every attempt passes the limiter. Raises AuthRequired (401 after one refresh), ScopeMissing (403
        unauthorizedOauthScope) and OutreachUnreachable (no connection at all on any attempt)."""
        tries = _Tries()
        while True:
            try:
                response = await self._attempt(method, url, content, params, tries)
            except httpx.RequestError as exc:
                problem = self._after_request_error(exc, tries)
                if problem is not None:
                    return _Outcome(None, tries.attempts, tries.rate_limited, [connection_error(problem)])
                await self._pause(prospect_id, tries, self.retry.delay(tries.failures), _describe(exc))
                continue
            errors = [] if response.is_success else _errors_of(response)
            if response.is_success or not await self._should_resend(prospect_id, response, errors, scope, tries):
                return _Outcome(response, tries.attempts, tries.rate_limited, errors)

    async def _attempt(
        self,
        method: str,
        url: str,
        content: bytes | None,
        params: dict[str, str] | None,
        tries: _Tries,
    ) -> httpx.Response:
        await self.limiter.acquire()
        try:
            # the token is taken after the limiter's wait (which may be long): the source refreshes ahead
            tries.token = tries.refreshed_token or await self._tokens.access_token()
            tries.attempts += 1
            self.requests_sent += 1
            response = await self._send(method, url, tries.token, content, params)
        except BaseException:  # no answer (or cancelled): the limiter must not wait for one
            self.limiter.abandon()
            raise
        tries.only_connect_errors = False
        self.limiter.observe(response.status_code, response.headers, response.content)
        return response

    def _after_request_error(self, exc: httpx.RequestError, tries: _Tries) -> str | None:
        """None to try again; else the failure to report. Raises OutreachUnreachable when no attempt ever
        reached the server (or the URL cannot work at all)."""
        if isinstance(exc, httpx.UnsupportedProtocol):
            raise OutreachUnreachable(f"cannot use {self._origin}: {_describe(exc)}") from None
        tries.only_connect_errors = tries.only_connect_errors and isinstance(exc, CONNECT_ERRORS)
        tries.failures += 1
        if self.retry.has_attempts_left(tries.failures):
            return None
        if tries.only_connect_errors:
            raise OutreachUnreachable(f"cannot connect to {self._origin}: {_describe(exc)}") from None
        return _describe(exc)

    async def _should_resend(
        self,
        prospect_id: int,
        response: httpx.Response,
        errors: list[ApiError],
        scope: str | None,
        tries: _Tries,
    ) -> bool:
        status = response.status_code
        if status == 401:
            if tries.refreshed_token is not None:
                raise AuthRequired(f"Outreach rejected the refreshed access token; run {self._login_hint}")
            tries.refreshed_token = await self._tokens.refresh_after_401(tries.token)
            self.retries += 1
            self._report_retry(prospect_id, tries.attempts + 1, 0.0, "HTTP 401: token refreshed")
            return True
        if status == 403 and any(e.id == "unauthorizedOauthScope" for e in errors):
            raise ScopeMissing(_scope_message(scope, errors, self._login_hint))
        if status == 429:
            tries.rate_limited += 1
            self.rate_limited += 1
            if tries.rate_limited >= MAX_RATE_LIMITED:
                return False
            # no backoff of our own: the limiter holds every task until the reset
            self._report_retry(prospect_id, tries.attempts + 1, self.limiter.seconds_throttled(), "HTTP 429")
            return True
        if not self.retry.is_retryable(status):
            return False
        tries.failures += 1
        if not self.retry.has_attempts_left(tries.failures):
            return False
        # a 503 maintenance answer says when to come back; the policy's ceiling still bounds the wait
        retry_after = min(_retry_after_seconds(response), self.retry.max_delay)
        delay = max(self.retry.delay(tries.failures), retry_after)
        await self._pause(prospect_id, tries, delay, f"HTTP {status} {errors[0].id}")
        return True

    async def _send(
        self, method: str, url: str, token: str, content: bytes | None, params: dict[str, str] | None
    ) -> httpx.Response:
        """One request, straight to the transport (see ``__init__``); the answer is read whole."""
        request = httpx.Request(
            method,
            url,
            params=params,
            content=content,
            headers=self._headers(token, content is not None),
            extensions={"timeout": self._timeouts},
        )
        response = await self._transport.handle_async_request(request)
        await response.aread()  # a no-op for KeepAliveTransport; another transport may stream
        return response

    def _headers(self, token: str, has_body: bool) -> list[tuple[bytes, bytes]]:
        """The default headers plus the bearer token (built once per token) and the body's type."""
        if self._headers_for[0] != token:
            self._headers_for = (token, [*self._base_headers, (b"Authorization", f"Bearer {token}".encode())])
        headers = self._headers_for[1]
        return [*headers, (b"Content-Type", JSON_API.encode())] if has_body else headers

    async def _get_json(self, url: str, *, scope: str | None, params: dict[str, str] | None = None) -> dict[str, Any]:
        outcome = await self._request("GET", url, params=params, scope=scope)
        response = outcome.response
        if response is None or not response.is_success:
            raise OutreachRequestFailed(_without_query(url), response.status_code if response else None, outcome.errors)
        try:
            parsed = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise OutreachRequestFailed(
                _without_query(url),
                response.status_code,
                parse_errors(response.status_code, response.content, None),
            ) from None
        return parsed if isinstance(parsed, dict) else {"data": parsed}

    def _next_page(self, page: dict[str, Any]) -> str | None:
        """links.next, only when it points at the same server (the bearer token goes with it)."""
        links = page.get("links")
        next_url = links.get("next") if isinstance(links, dict) else None
        if not isinstance(next_url, str) or not next_url:
            return None
        if _origin(next_url) != self._origin:
            refused = ApiError("foreignNextLink", "Refused", "a paging link pointed at another host", None)
            raise OutreachRequestFailed(_without_query(next_url), None, [refused])
        return next_url

    async def _pause(self, prospect_id: int, tries: _Tries, delay: float, reason: str) -> None:
        self.retries += 1
        self._report_retry(prospect_id, tries.attempts + 1, delay, reason)
        await asyncio.sleep(delay)

    def _report_retry(self, prospect_id: int, attempt: int, delay: float, reason: str) -> None:
        if self.on_retry is None:
            return
        try:
            self.on_retry(prospect_id, attempt, delay, reason)
        except Exception:  # a listener's bug must not fail the prospect: log it
            log.exception("retry listener %r failed", self.on_retry)


# -- helpers ------------------------------------------------------------------------------------------------
def custom_fields_from_types(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The prospect custom fields of a GET /types body, as the OpenAPI document describes it::

        {"data": [{"type": "prospect", "meta": {"validations": {"custom4": {"type": "inclusion",
            "required": false, "label": "...", "definition": ["a", "b"]}}}}]}

    -> ``{"custom4": {"type": "inclusion", "label": "...", "required": False, "definition": [...]}}``.
    Other objects (account, opportunity, ...) and names that are not ``custom1..150`` are skipped.
    """
    result: dict[str, dict[str, Any]] = {}
    entries = body.get("data")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or str(entry.get("type", "")).lower() != "prospect":
            continue
        meta = entry.get("meta")
        validations = meta.get("validations") if isinstance(meta, dict) else None
        for raw_name, rule in (validations or {}).items():
            name = _custom_name(raw_name)
            if name is None or not isinstance(rule, dict):
                continue
            result[name] = {
                **rule,
                "type": str(rule.get("type") or "string"),
                "label": str(rule.get("label") or name),
                "required": bool(rule.get("required", False)),
            }
    return result


def _prospects_query(ids: list[int], fields: list[str] | None) -> dict[str, str]:
    query = {"filter[id]": ",".join(str(i) for i in ids), "page[size]": str(min(len(ids), PAGE_SIZE))}
    if fields:
        query["fields[prospect]"] = ",".join(fields)
    return query


def _custom_name(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    number = text.removeprefix("custom")
    return f"custom{int(number)}" if number.isdigit() and 1 <= int(number) <= 150 else None


def _attributes_of(response: httpx.Response) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    data = parsed.get("data") if isinstance(parsed, dict) else None
    attributes = data.get("attributes") if isinstance(data, dict) else None
    return attributes if isinstance(attributes, dict) else None


def _scope_message(scope: str | None, errors: list[ApiError], login_hint: str) -> str:
    needed = f"the {scope} scope" if scope else "a scope this needs"
    detail = next((e.detail for e in errors if e.id == "unauthorizedOauthScope"), "")
    said = f" (Outreach: {detail})" if detail else ""
    return f"The Outreach token lacks {needed}{said}; run {login_hint} to sign in and grant it."


def _retry_after_seconds(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return 0.0
    return seconds if 0 < seconds < float("inf") else 0.0


def _errors_of(response: httpx.Response) -> list[ApiError]:
    return parse_errors(response.status_code, response.content, response.headers.get("content-type"))


def _describe(exc: httpx.RequestError) -> str:
    """The kind of failure only: exception texts may quote request lines, never headers, but stay safe."""
    kinds = {
        httpx.ConnectTimeout: "connect timed out",
        httpx.ConnectError: "connection refused or host not found",
        httpx.ReadTimeout: "timed out waiting for the answer",
        httpx.WriteTimeout: "timed out sending the request",
        httpx.RemoteProtocolError: "the server closed the connection without answering",
        httpx.ReadError: "the connection broke while reading the answer",
        httpx.WriteError: "the connection broke while sending the request",
        httpx.UnsupportedProtocol: "the URL's scheme is not http or https",
        httpx.DecodingError: "the answer could not be decoded",
    }
    for kind, text in kinds.items():
        if isinstance(exc, kind):
            return text
    return type(exc).__name__


def _origin(url: str) -> str:
    """scheme://host:port, never any user:password@ part (it goes into messages)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}".lower()


def _without_query(url: str) -> str:
    return _origin(url) + urlsplit(url).path


def _user_agent() -> str:
    try:
        return f"outreach-tui/{metadata.version('outreach-tui')}"
    except metadata.PackageNotFoundError:
        return "outreach-tui"
