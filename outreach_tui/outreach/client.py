"""The Outreach API client: JSON:API bodies over one ``httpx.AsyncClient`` (``http.py``), pacing, retries.

Every request goes through the one rate limiter and the one retry policy; every error body goes through the
one parser (``errors.py``). Tokens come from a ``TokenSource``; they never appear in messages or exceptions,
and they only go to the configured ``api_base`` origin (paging links elsewhere are refused, redirects are
never followed).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx
import orjson

from outreach_tui.outreach.answers import (
    describe,
    errors_of,
    origin,
    prospect_resource,
    retry_after_seconds,
    scope_message,
    without_query,
)
from outreach_tui.outreach.credentials import AuthRequired, ScopeMissing, TokenSource
from outreach_tui.outreach.errors import ApiError, connection_error, parse_errors
from outreach_tui.outreach.http import DEFAULT_TIMEOUTS, Timeouts, make_client
from outreach_tui.outreach.ratelimit import RateLimiter
from outreach_tui.outreach.reads import EMAIL_PAGE_SIZE, IDS_PER_QUERY, OutreachRequestFailed, ReadRequests
from outreach_tui.outreach.retry import RetryPolicy

__all__ = ["EMAIL_PAGE_SIZE", "IDS_PER_QUERY", "OutreachClient", "OutreachRequestFailed", "OutreachUnreachable",
           "PatchResult", "RetryCallback"]

log = logging.getLogger(__name__)

JSON_API = "application/vnd.api+json"
MAX_RATE_LIMITED = 20  # 429s one request may meet before it fails (the limiter waits out each one)
LOGIN_HINT = "outreach-tui login PROFILE.toml"
CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)  # never reached the server
# no answer at all: with nothing ever answered by this server, these mean it is unreachable, not one bad prospect
NO_ANSWER_ERRORS = (*CONNECT_ERRORS, httpx.TimeoutException, TimeoutError)

RetryCallback = Callable[[int, int, float, str], None]  # prospect id (0: not a prospect), attempt, delay, why


class OutreachUnreachable(Exception):
    """No answer from Outreach at all (DNS, refused, connect or answer timeout) after every retry: exit 4."""


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


class OutreachClient(ReadRequests):
    def __init__(
        self,
        api_base: str,
        tokens: TokenSource,
        *,
        limiter: RateLimiter,
        retry: RetryPolicy,
        concurrency: int = 4,
        on_retry: RetryCallback | None = None,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        transport: httpx.AsyncBaseTransport | None = None,
        login_hint: str = LOGIN_HINT,
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self.limiter = limiter
        self.retry = retry
        self.on_retry = on_retry
        self.requests_sent = 0
        self.reads_sent = 0  # the GETs among requests_sent (a report counts reads apart from writes)
        self.retries = 0
        self.rate_limited = 0
        self.answers = 0  # HTTP answers received, of any status
        self.lookups = 0  # pages of GET /prospects?filter[emails]= answered
        self._silent_failures = 0  # attempts without any answer while the server has never answered
        self._gave_up: str | None = None  # why Outreach counts as unreachable: every request fails at once
        self._tokens = tokens
        self._login_hint = login_hint
        self._origin = origin(self.api_base)
        self._deadline = timeouts.total
        # PATCH is safe to repeat (Outreach documents it), so a dropped connection is simply retried
        self._http = make_client(
            concurrency=concurrency,
            timeouts=timeouts,
            headers={"Accept": JSON_API},
            transport=transport,
        )

    async def __aenter__(self) -> OutreachClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- prospects ----------------------------------------------------------------------------------------
    async def patch_prospect(self, prospect_id: int, attributes: dict[str, Any]) -> PatchResult:
        """PATCH one prospect's attributes; retried per policy; never raises for a per-prospect failure.

        Success means a 2xx answer that is this prospect's JSON:API resource; any other 2xx body (a proxy's
        HTML page, another prospect) is a failure, so nothing unconfirmed is recorded as accepted."""
        body = orjson.dumps({"data": {"type": "prospect", "id": prospect_id, "attributes": attributes}})
        outcome = await self._request(
            "PATCH",
            f"{self.api_base}/prospects/{prospect_id}",
            content=body,
            scope="prospects.write",
            prospect_id=prospect_id,
        )
        response = outcome.response
        status = response.status_code if response is not None else None
        if response is None or not response.is_success:
            return PatchResult(False, status, outcome.attempts, outcome.errors, None, outcome.rate_limited)
        resource = prospect_resource(response, prospect_id)
        if isinstance(resource, ApiError):
            return PatchResult(False, status, outcome.attempts, [resource], None, outcome.rate_limited)
        return PatchResult(True, status, outcome.attempts, [], resource, outcome.rate_limited)

    # -- JSON:API documents (outreach/imports.py builds and reads them) --------------------------------------
    async def send_document(self, method: str, path: str, *, scope: str, content: bytes | None = None,
                            params: dict[str, str] | None = None) -> tuple[int | None, Any, list[ApiError]]:
        """One logical request to ``api_base + path`` through the limiter and retry policy: (status, the
        parsed body or None, the parsed errors)."""
        outcome = await self._request(method, f"{self.api_base}{path}", scope=scope, content=content,
                                      params=params)
        response = outcome.response
        if response is None:
            return None, None, outcome.errors
        try:
            parsed = orjson.loads(response.content) if response.is_success else None
        except orjson.JSONDecodeError:
            return response.status_code, None, parse_errors(response.status_code, response.content, None)
        return response.status_code, parsed, outcome.errors

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
        unauthorizedOauthScope) and OutreachUnreachable (no answer at all on any attempt)."""
        if "/batches/" in url and not (params or {}).get("actionParams[filter][id]", "").strip(", "):
            # a batches action without an id filter modifies EVERY prospect of the organisation: no request
            # of this client may ever be one (every request passes here)
            raise ValueError(f"refused: {without_query(url)} without an id filter would modify every prospect")
        if origin(url) != self._origin:  # the bearer token goes to the configured server only
            refused = ApiError("foreignHost", "Refused", "a request to another host than api_base", None)
            raise OutreachRequestFailed(without_query(url), None, [refused])
        tries = _Tries()
        while True:
            try:
                response = await self._attempt(method, url, content, params, tries)
            except (httpx.RequestError, TimeoutError) as exc:
                problem = self._after_request_error(exc, tries)
                if problem is not None:
                    return _Outcome(None, tries.attempts, tries.rate_limited, [connection_error(problem)])
                await self._pause(prospect_id, tries, self.retry.delay(tries.failures), describe(exc))
                continue
            errors = [] if response.is_success else errors_of(response)
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
            if self._gave_up is not None:  # decided while this task waited for the limiter
                raise OutreachUnreachable(self._gave_up)
            # the token is taken after the limiter's wait (which may be long): the source refreshes ahead
            tries.token = tries.refreshed_token or await self._tokens.access_token()
            tries.attempts += 1
            self.requests_sent += 1
            self.reads_sent += method == "GET"
            response = await self._send(method, url, tries.token, content, params)
        except BaseException:  # no answer (or cancelled): the limiter must not wait for one
            self.limiter.abandon()
            raise
        tries.only_connect_errors = False
        self.answers += 1
        self.limiter.observe(response.status_code, response.headers, response.content)
        return response

    async def _send(
        self, method: str, url: str, token: str, content: bytes | None, params: dict[str, str] | None
    ) -> httpx.Response:
        """One request, read whole within the whole-request deadline (httpx bounds each phase only)."""
        headers = {"Authorization": f"Bearer {token}"}
        if content is not None:
            headers["Content-Type"] = JSON_API
        async with asyncio.timeout(self._deadline):
            return await self._http.request(method, url, content=content, params=params, headers=headers)

    def _after_request_error(self, exc: httpx.RequestError | TimeoutError, tries: _Tries) -> str | None:
        """None to try again; else the failure to report. Raises OutreachUnreachable when no attempt ever
        reached the server, or none got an answer from a server that has never answered (or the URL cannot
        work at all)."""
        if isinstance(exc, httpx.UnsupportedProtocol):
            self._give_up(f"cannot use {self._origin}: {describe(exc)}")
        tries.only_connect_errors = tries.only_connect_errors and isinstance(exc, CONNECT_ERRORS)
        tries.failures += 1
        if isinstance(exc, NO_ANSWER_ERRORS) and self.answers == 0:
            # counted across requests: workers take turns while nothing has answered yet, so per-request
            # counting would multiply the wait by the number of prospects
            self._silent_failures += 1
            if not self.retry.has_attempts_left(self._silent_failures):
                what = "cannot connect to" if isinstance(exc, CONNECT_ERRORS) else "no answer from"
                self._give_up(f"{what} {self._origin} in {self._silent_failures} attempts: {describe(exc)}")
        if self.retry.has_attempts_left(tries.failures):
            return None
        if tries.only_connect_errors:
            self._give_up(f"cannot connect to {self._origin}: {describe(exc)}")
        return describe(exc)

    def _give_up(self, why: str) -> NoReturn:
        self._gave_up = why
        raise OutreachUnreachable(why) from None

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
            raise ScopeMissing(scope_message(scope, errors, self._login_hint))
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
        # a 503 maintenance answer says when to come back (seconds or a date); the policy's ceiling bounds it
        retry_after = min(retry_after_seconds(response), self.retry.max_delay)
        delay = max(self.retry.delay(tries.failures), retry_after)
        await self._pause(prospect_id, tries, delay, f"HTTP {status} {errors[0].id}")
        return True

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
