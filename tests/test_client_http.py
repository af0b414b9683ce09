"""The Outreach client against the sandbox over real HTTP on loopback: success, failures that must not be
retried (with diagnostics), faults that must be retried, token refresh, missing scopes, reads."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from outreach_tui.outreach import reads as reads_module
from outreach_tui.outreach.client import OutreachClient, OutreachRequestFailed, OutreachUnreachable, PatchResult
from outreach_tui.outreach.credentials import AuthRequired, ScopeMissing, StaticTokenSource
from outreach_tui.outreach.errors import diagnose
from outreach_tui.outreach.ratelimit import RateLimiter
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.sandbox import Sandbox

SEGMENT = "segment 'EMEA high intent' (mapping ID 4)"
ORIGINS = {"custom4": SEGMENT, "firstName": "mapping row 1 (person.name.firstName → firstName)"}
QUICK: dict[str, Any] = {"base_delay": 0.001, "max_delay": 0.01}


class SandboxTokens:
    """A real token source for the sandbox: refreshing mints a new token there."""

    def __init__(self, sandbox: Sandbox, scopes: tuple[str, ...] | None = None, reject_refreshed: bool = False):
        self.sandbox = sandbox
        self.scopes = scopes
        self.reject_refreshed = reject_refreshed
        self.current = self._mint()
        self.refreshes = 0
        self.issued = [self.current]

    def _mint(self) -> str:
        body = self.sandbox.issue_token(scopes=self.scopes) if self.scopes else self.sandbox.issue_token()
        return str(body["access_token"])

    async def access_token(self) -> str:
        return self.current

    async def refresh_after_401(self, rejected: str) -> str:
        if rejected == self.current:  # one refresh for all requests that held the same rejected token
            self.refreshes += 1
            self.current = self._mint()
            self.issued.append(self.current)
            if self.reject_refreshed:
                self.sandbox.expire_all_tokens()
        return self.current


def types_body(validations: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A GET /types body in the shape Outreach's OpenAPI document describes."""
    return {"data": [{"type": "prospect", "meta": {"validations": validations}}]}


def origin_of(field: str) -> str | None:
    return ORIGINS.get(field)


@pytest.fixture
async def make_client(sandbox: Sandbox) -> AsyncIterator[Callable[..., OutreachClient]]:
    made: list[OutreachClient] = []

    def make(tokens: Any = None, api_base: str | None = None, **policy: Any) -> OutreachClient:
        client = OutreachClient(
            api_base or sandbox.api_base,
            tokens or SandboxTokens(sandbox),
            limiter=RateLimiter(100_000),
            retry=RetryPolicy(**{**QUICK, **policy}),
            concurrency=4,
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


async def patch_all(client: OutreachClient, ids: range, attributes: dict[str, Any]) -> list[PatchResult]:
    """Patch several prospects with four requests in flight, as the runner does."""
    gate = asyncio.Semaphore(4)

    async def one(prospect_id: int) -> PatchResult:
        async with gate:
            return await client.patch_prospect(prospect_id, {**attributes, "custom9": str(prospect_id)})

    return await asyncio.gather(*(one(i) for i in ids))


# -- success ------------------------------------------------------------------------------------------------
async def test_patch_success(sandbox: Sandbox, make_client: Callable[..., OutreachClient]) -> None:
    client = make_client()
    result = await client.patch_prospect(3, {"firstName": "Ann", "custom4": "realized"})
    assert (result.ok, result.status, result.attempts, result.errors, result.rate_limited) == (True, 200, 1, [], 0)
    assert result.accepted is not None
    assert result.accepted["firstName"] == "Ann" and result.accepted["custom4"] == "realized"
    stored = sandbox.prospect(3)
    assert stored is not None and stored["custom4"] == "realized"
    assert (client.requests_sent, client.retries, client.rate_limited) == (1, 0, 0)
    assert client.limiter.limit == 10_000 and client.limiter.remaining == 9_999


async def test_keep_alive_reuses_connections(sandbox: Sandbox, make_client: Callable[..., OutreachClient]) -> None:
    client = make_client()
    results = await patch_all(client, range(1, 41), {"title": "VP"})
    assert all(r.ok for r in results)
    assert sandbox.stats.peak_concurrency <= 4


# -- failures that are never retried ---------------------------------------------------------------------
async def test_404_is_not_retried_and_explained(make_client: Callable[..., OutreachClient]) -> None:
    client = make_client()
    result = await client.patch_prospect(424242, {"firstName": "Ann"})
    assert (result.ok, result.status, result.attempts) == (False, 404, 1)
    assert client.requests_sent == 1
    diagnostic = diagnose(424242, result.status, result.errors, origin_of)
    assert diagnostic.error_id == "resourceNotFound"
    assert "424242" in diagnostic.detail and "does not exist" in diagnostic.hint


async def test_422_typed_custom_field_names_field_origin_hint(
    sandbox: Sandbox, make_client: Callable[..., OutreachClient]
) -> None:
    sandbox.set_types(types_body({"custom4": {"type": "numerical", "label": "Intent score"}}))
    client = make_client()
    result = await client.patch_prospect(5, {"custom4": "realized"})
    assert (result.ok, result.status, result.attempts) == (False, 422, 1)
    diagnostic = diagnose(5, result.status, result.errors, origin_of)
    assert (diagnostic.field, diagnostic.origin) == ("custom4", SEGMENT)
    assert "typed validation" in diagnostic.hint and SEGMENT in diagnostic.hint
    assert "custom4" in diagnostic.summary() and "422" in diagnostic.summary()


async def test_422_email_taken(make_client: Callable[..., OutreachClient]) -> None:
    client = make_client()
    assert (await client.patch_prospect(1, {"emails": ["ann@corp.example"]})).ok
    result = await client.patch_prospect(2, {"emails": ["ann@corp.example"]})
    assert (result.ok, result.status, result.attempts) == (False, 422, 1)
    diagnostic = diagnose(2, result.status, result.errors, origin_of)
    assert diagnostic.field == "emails"
    assert "already has this email" in diagnostic.hint and "dedupes" in diagnostic.hint


async def test_422_too_long(make_client: Callable[..., OutreachClient]) -> None:
    result = await make_client().patch_prospect(1, {"firstName": "x" * 300})
    assert (result.ok, result.status, result.attempts) == (False, 422, 1)
    diagnostic = diagnose(1, result.status, result.errors, origin_of)
    assert diagnostic.field == "firstName" and diagnostic.origin == ORIGINS["firstName"]
    assert "longer than Outreach allows" in diagnostic.hint and "255" in diagnostic.hint


# -- faults that are retried ------------------------------------------------------------------------------
async def test_5xx_are_retried_then_succeed(sandbox: Sandbox, make_client: Callable[..., OutreachClient]) -> None:
    sandbox.set_faults(error_rate=0.3)
    client = make_client(max_attempts=12)
    retries: list[tuple[int, int, float, str]] = []
    client.on_retry = lambda *event: retries.append(event)
    results = await patch_all(client, range(1, 31), {"title": "CTO"})
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert sandbox.stats.faults > 0
    assert client.retries == sandbox.stats.faults == len(retries)
    assert sum(r.attempts for r in results) == client.requests_sent == 30 + client.retries
    assert all(reason.startswith("HTTP 5") for _, _, _, reason in retries)
    assert all(sandbox.prospect(i)["title"] == "CTO" for i in range(1, 31))  # type: ignore[index]


async def test_dropped_connections_are_retried_then_succeed(
    sandbox: Sandbox, make_client: Callable[..., OutreachClient]
) -> None:
    sandbox.set_faults(drop_rate=0.3)
    client = make_client(max_attempts=12)
    results = await patch_all(client, range(1, 31), {"title": "CFO"})
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert sandbox.stats.dropped > 0 and client.retries >= sandbox.stats.dropped
    assert client.limiter.in_flight == 0  # dropped requests were given back to the limiter


async def test_5xx_exhausted_fails_with_diagnostic(
    sandbox: Sandbox, make_client: Callable[..., OutreachClient]
) -> None:
    sandbox.set_faults(error_rate=1.0)
    client = make_client(max_attempts=3)
    retries: list[tuple[int, int, float, str]] = []
    client.on_retry = lambda *event: retries.append(event)
    result = await client.patch_prospect(7, {"title": "CEO"})
    assert not result.ok and result.status in (500, 502, 503) and result.attempts == 3
    assert [(pid, attempt) for pid, attempt, _, _ in retries] == [(7, 2), (7, 3)]
    diagnostic = diagnose(7, result.status, result.errors, origin_of)
    assert "server error" in diagnostic.hint


async def test_drops_exhausted_fail_without_status(
    sandbox: Sandbox, make_client: Callable[..., OutreachClient]
) -> None:
    sandbox.set_faults(drop_rate=1.0)
    result = await make_client(max_attempts=3).patch_prospect(7, {"title": "CEO"})
    assert (result.ok, result.status, result.attempts) == (False, None, 3)
    assert result.errors[0].id == "connectionError"
    assert "did not answer" in diagnose(7, None, result.errors, origin_of).hint


async def test_unreachable_names_the_url(make_client: Callable[..., OutreachClient]) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api_base = f"http://127.0.0.1:{port}/api/v2"
    client = make_client(tokens=StaticTokenSource("not-used"), api_base=api_base, max_attempts=2)
    with pytest.raises(OutreachUnreachable, match=f"127.0.0.1:{port}") as caught:
        await client.patch_prospect(1, {"title": "x"})
    assert "not-used" not in str(caught.value)
    assert client.requests_sent == 2 and client.limiter.in_flight == 0


# -- tokens and scopes --------------------------------------------------------------------------------------
async def test_401_refreshes_once_then_succeeds(sandbox: Sandbox, make_client: Callable[..., OutreachClient]) -> None:
    tokens = SandboxTokens(sandbox)
    client = make_client(tokens=tokens)
    assert (await client.patch_prospect(1, {"title": "a"})).ok
    sandbox.expire_all_tokens()
    results = await patch_all(client, range(1, 9), {"title": "b"})
    assert all(r.ok for r in results)
    assert tokens.refreshes == 1  # the concurrent 401s shared one refresh
    assert max(r.attempts for r in results) == 2


async def test_401_after_refresh_requires_login(sandbox: Sandbox, make_client: Callable[..., OutreachClient]) -> None:
    tokens = SandboxTokens(sandbox, reject_refreshed=True)
    sandbox.expire_all_tokens()
    with pytest.raises(AuthRequired, match="outreach-tui login") as caught:
        await make_client(tokens=tokens).patch_prospect(1, {"title": "a"})
    assert all(token not in str(caught.value) for token in tokens.issued)


async def test_static_token_401_requires_login(sandbox: Sandbox, make_client: Callable[..., OutreachClient]) -> None:
    with pytest.raises(AuthRequired, match="outreach-tui login"):
        await make_client(tokens=StaticTokenSource("expired-or-made-up")).patch_prospect(1, {"title": "a"})


async def test_missing_write_scope_stops_with_a_clear_message(
    sandbox: Sandbox, make_client: Callable[..., OutreachClient]
) -> None:
    tokens = SandboxTokens(sandbox, scopes=("prospects.read", "users.read"))
    with pytest.raises(ScopeMissing) as caught:
        await make_client(tokens=tokens).patch_prospect(1, {"title": "a"})
    message = str(caught.value)
    assert "prospects.write" in message and "outreach-tui login" in message
    assert tokens.current not in message


# -- reads --------------------------------------------------------------------------------------------------
async def test_custom_field_types(sandbox: Sandbox, make_client: Callable[..., OutreachClient]) -> None:
    validations: dict[str, dict[str, Any]] = {
        "custom4": {"type": "numerical", "required": False, "label": "Score", "definition": None},
        "custom9": {"type": "inclusion", "required": True, "label": "", "definition": ["a", "b"]},
    }  # a body naming standard attributes too is read leniently: test_client_hostile.py (the sandbox refuses it)
    body = types_body(validations)
    body["data"].append({"type": "account", "meta": {"validations": {"custom1": {"type": "date"}}}})
    sandbox.set_types(body)
    types = await make_client().custom_field_types()
    assert types["custom4"]["type"] == "numerical" and types["custom4"]["label"] == "Score"
    assert types["custom9"]["type"] == "inclusion" and types["custom9"]["label"] == "custom9"
    assert types["custom9"]["required"] is True and types["custom9"]["definition"] == ["a", "b"]
    assert sorted(types) == ["custom4", "custom9"]  # not the account's field, not standard attributes


async def test_get_prospects_follows_pages(
    sandbox: Sandbox, make_client: Callable[..., OutreachClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reads_module, "PAGE_SIZE", 7)  # several pages per query
    monkeypatch.setattr(reads_module, "IDS_PER_QUERY", 20)  # several queries
    client = make_client()
    assert (await client.patch_prospect(33, {"firstName": "Zed", "title": "Boss"})).ok
    wanted = [*range(1, 51), 999, 33]
    found = await client.get_prospects(wanted, ["firstName"])
    assert sorted(found) == list(range(1, 51))
    assert found[33] == {"firstName": "Zed"}
    assert client.requests_sent == 1 + 3 + 3 + 2  # the PATCH, then 20 + 20 + 10 ids in pages of 7


async def test_fault_mix_with_tokens_expiring_mid_run(sandbox_factory: Callable[..., Sandbox]) -> None:
    """10 % 5xx, 2 % dropped connections and every token expired part-way: every PATCH still lands."""
    sandbox = sandbox_factory(prospects=200, error_rate=0.1, drop_rate=0.02, fault_seed=3)
    tokens = SandboxTokens(sandbox)
    client = OutreachClient(
        sandbox.api_base, tokens, limiter=RateLimiter(100_000), retry=RetryPolicy(**QUICK), concurrency=4
    )
    done = 0

    async def one(prospect_id: int, gate: asyncio.Semaphore) -> PatchResult:
        nonlocal done
        async with gate:
            result = await client.patch_prospect(prospect_id, {"custom4": "existing"})
        done += 1
        if done == 80:
            sandbox.expire_all_tokens()
        return result

    gate = asyncio.Semaphore(4)
    try:
        results = await asyncio.gather(*(one(i, gate) for i in range(1, 201)))
    finally:
        await client.aclose()
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert tokens.refreshes == 1
    assert sandbox.stats.faults > 0 and sandbox.stats.dropped > 0
    assert all(sandbox.prospect(i)["custom4"] == "existing" for i in range(1, 201))  # type: ignore[index]
    assert client.requests_sent == sum(r.attempts for r in results)


async def test_reads_need_the_read_scope(sandbox: Sandbox, make_client: Callable[..., OutreachClient]) -> None:
    tokens = SandboxTokens(sandbox, scopes=("prospects.write",))  # write does not imply read
    with pytest.raises(ScopeMissing, match=r"prospects\.read"):
        await make_client(tokens=tokens).get_prospects([1, 2])


async def test_read_failure_raises_with_the_parsed_error(
    sandbox: Sandbox, make_client: Callable[..., OutreachClient]
) -> None:
    client = make_client(api_base=sandbox.api_base + "/nothing-here")
    with pytest.raises(OutreachRequestFailed) as caught:
        await client.custom_field_types()
    assert caught.value.status == 404 and caught.value.errors
    assert client.requests_sent == 1  # a 404 is not retried
