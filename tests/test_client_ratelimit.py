"""Pacing against the sandbox's real fixed windows (aligned to multiples of ``window``): the limiter follows
X-RateLimit-* so that the requests use (nearly) every allowed slot per window and meet (almost) no 429s."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import httpx

from outreach_tui.outreach.client import OutreachClient, PatchResult
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.outreach.ratelimit import RateLimiter
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.sandbox import Sandbox

USER = "demo@example.com"


async def patch_many(client: OutreachClient, total: int, concurrency: int) -> list[PatchResult]:
    """``total`` PATCHes with ``concurrency`` in flight, as the runner sends them."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for prospect_id in range(1, total + 1):
        queue.put_nowait(prospect_id)
    results: list[PatchResult] = []

    async def worker() -> None:
        while not queue.empty():
            prospect_id = queue.get_nowait()
            results.append(await client.patch_prospect(prospect_id, {"custom4": "realized"}))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def make_client(sandbox: Sandbox, token: str, concurrency: int) -> OutreachClient:
    return OutreachClient(
        sandbox.api_base,
        StaticTokenSource(token),
        limiter=RateLimiter(100_000),
        retry=RetryPolicy(base_delay=0.001, max_delay=0.01),
        concurrency=concurrency,
    )


async def test_paced_burst_fills_every_window_without_429(sandbox_factory: Callable[..., Sandbox]) -> None:
    sandbox = sandbox_factory(rate_limit=20, window=2, prospects=60)
    client = make_client(sandbox, sandbox.issue_token()["access_token"], concurrency=4)
    throttles: list[str] = []
    client.limiter.on_throttle = lambda until, reason: throttles.append(reason)
    started = time.monotonic()
    try:
        results = await patch_many(client, total=60, concurrency=4)
    finally:
        await client.aclose()
    elapsed = time.monotonic() - started

    assert len(results) == 60 and all(r.ok for r in results)
    windows = sorted(sandbox.stats.windows[USER].items())
    counts = [count for _, count in windows]
    assert sum(counts) == 60
    assert sandbox.stats.rate_limited <= len(windows)  # at most one 429 per window (in practice none)
    assert client.rate_limited == sandbox.stats.rate_limited
    assert all(count == 20 for count in counts[1:-1]), counts  # every window in between is used fully
    assert len(windows) <= 4  # 60 requests = 3 full windows, plus the partial one we started in
    assert elapsed <= 2 * len(windows) + 1.0
    # 60 requests against 20 per window must wait for a reset at least twice: each wait is announced
    assert throttles, "the limiter never announced waiting for the window to reset"
    assert all("rate limit reached" in reason or "429" in reason for reason in throttles)
    assert client.requests_sent == 60 + client.rate_limited


async def test_budget_shared_with_another_integration(sandbox_factory: Callable[..., Sandbox]) -> None:
    """Another integration acting as the same user spends part of every window: we meet at most one 429
    per window, then wait for its reset, and every prospect still gets through."""
    sandbox = sandbox_factory(rate_limit=20, window=1, prospects=40)
    client = make_client(sandbox, sandbox.issue_token()["access_token"], concurrency=4)
    other_token = sandbox.issue_token()["access_token"]
    done = asyncio.Event()

    async def other_integration() -> None:
        async with httpx.AsyncClient(base_url=sandbox.api_base, timeout=5) as http:
            while not done.is_set():
                await http.get("/prospects/1", headers={"Authorization": f"Bearer {other_token}"})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=0.1)

    other = asyncio.ensure_future(other_integration())
    try:
        results = await patch_many(client, total=40, concurrency=4)
    finally:
        done.set()
        await other
        await client.aclose()

    assert all(r.ok for r in results), [r for r in results if not r.ok]
    windows = sandbox.stats.windows[USER]
    assert client.rate_limited <= len(windows)
    assert client.limiter.in_flight == 0


async def test_429_waits_for_the_reset_then_succeeds(sandbox_factory: Callable[..., Sandbox]) -> None:
    """The window is already spent by someone else: the first PATCH meets a 429, every task waits until the
    reset the 429 announced (no retry storm), then the PATCHes go through."""
    sandbox = sandbox_factory(rate_limit=5, window=2, prospects=10)
    other_token = sandbox.issue_token()["access_token"]
    async with httpx.AsyncClient(base_url=sandbox.api_base, timeout=5) as http:
        spent = None
        while spent is None or spent.status_code != 429:  # spend the window up to its first 429
            spent = await http.get("/prospects/1", headers={"Authorization": f"Bearer {other_token}"})
    reset = float(spent.headers["X-RateLimit-Reset"])
    client = make_client(sandbox, sandbox.issue_token()["access_token"], concurrency=4)
    retries: list[tuple[int, int, float, str]] = []
    client.on_retry = lambda *event: retries.append(event)
    try:
        results = await patch_many(client, total=4, concurrency=4)
    finally:
        await client.aclose()
    assert all(r.ok for r in results)
    assert time.time() >= reset - 0.01  # nothing got through before the window reset
    assert client.rate_limited == 1 and sandbox.stats.rate_limited == 2  # ours: the one probe, nobody else
    assert sum(r.rate_limited for r in results) == 1
    assert [reason for *_, reason in retries] == ["HTTP 429"]
    assert 0 < retries[0][2] <= 2.0
