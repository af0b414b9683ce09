"""Benchmark the Outreach client layer on its own (no planner, no state): overhead and pacing.

    python tests/bench/bench_client.py                       # both parts
    python tests/bench/bench_client.py --part overhead --requests 3000 --concurrency 8 --runs 3 --loop uvloop
    python tests/bench/bench_client.py --part pacing --limit 100 --window 10 --requests 600

overhead: the sandbox runs in its own process, rate limit off. The same PATCHes are sent by
  (a) a naive sequential loop over a stock ``httpx.AsyncClient`` (one request at a time), (b) the same
  client with ``--concurrency`` requests in flight and (c) ``OutreachClient.patch_prospect`` (limiter, retry
  policy, error parsing, response checks, over the same stock client). Printed: client-process CPU
  milliseconds per request (median of runs) and requests per second for each, and the client's CPU against
  the bare client. ``--loop``: the event loop (``outreach-tui --run`` uses uvloop).
pacing: a sandbox with ``--limit`` requests per ``--window`` seconds; ``--requests`` PATCHes with
  ``--concurrency`` in flight. Printed: requests per window, 429s, utilisation of the windows strictly between
  the first and the last (target 1.0; the first and last are partial by nature) and achieved rate / allowed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sandbox import start_server

from outreach_tui.outreach.client import OutreachClient
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.outreach.http import make_client
from outreach_tui.outreach.ratelimit import RateLimiter
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.sandbox import SandboxConfig, start_sandbox

ATTRIBUTES = {"custom4": "realized", "firstName": "Ann"}
T = TypeVar("T")


async def bare_httpx(api_base: str, token: str, total: int, concurrency: int) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"}
    async with make_client(concurrency=concurrency) as http:

        async def send(prospect_id: int) -> None:
            body = orjson.dumps({"data": {"type": "prospect", "id": prospect_id, "attributes": ATTRIBUTES}})
            response = await http.patch(f"{api_base}/prospects/{prospect_id}", content=body, headers=headers)
            assert response.status_code == 200, response.status_code

        return await timed(send, total, concurrency)


async def outreach_client(api_base: str, token: str, total: int, concurrency: int) -> tuple[float, float]:
    client = OutreachClient(
        api_base,
        StaticTokenSource(token),
        limiter=RateLimiter(10_000_000),
        retry=RetryPolicy(),
        concurrency=concurrency,
    )
    try:

        async def send(prospect_id: int) -> None:
            result = await client.patch_prospect(prospect_id, ATTRIBUTES)
            assert result.ok, result

        return await timed(send, total, concurrency)
    finally:
        await client.aclose()


async def timed(send: Callable[[int], Awaitable[None]], total: int, concurrency: int) -> tuple[float, float]:
    """(client CPU ms per request, requests per second); the first ``concurrency`` requests warm up."""
    ids = list(range(total, 0, -1))

    async def worker() -> None:
        while ids:
            await send(ids.pop())

    await asyncio.gather(*(send(i) for i in range(1, concurrency + 1)))  # connections open, not timed
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / total, total / wall


def overhead(args: argparse.Namespace) -> None:
    proc, base = start_server(args.requests)
    try:
        token = httpx.post(base + "/_sandbox/tokens", json={"scopes": ["prospects.all"]}).json()["access_token"]
        api, n, conc = base + "/api/v2", args.requests, args.concurrency
        runs: dict[str, list[tuple[float, float]]] = {"naive loop": [], "bare httpx": [], "OutreachClient": []}
        for _ in range(args.runs):  # interleaved, so a busy neighbour hurts all alike
            runs["naive loop"].append(run_loop(args.loop, bare_httpx(api, token, n, 1)))
            runs["bare httpx"].append(run_loop(args.loop, bare_httpx(api, token, n, conc)))
            runs["OutreachClient"].append(run_loop(args.loop, outreach_client(api, token, n, conc)))
    finally:
        proc.terminate()
        proc.wait()
    cpu = {name: statistics.median(r[0] for r in results) for name, results in runs.items()}
    for name, results in runs.items():
        rate = statistics.median(r[1] for r in results)
        print(f"{name:15} CPU {cpu[name]:.3f} ms/request   {rate:,.0f} requests/s   (median of {args.runs})")
    print(f"OutreachClient CPU against bare httpx: {cpu['OutreachClient'] / cpu['bare httpx'] - 1:+.1%}")


def run_loop(loop: str, work: Coroutine[Any, Any, T]) -> T:
    if loop == "uvloop":
        import uvloop

        return uvloop.run(work)
    return asyncio.run(work)


def pacing(args: argparse.Namespace) -> None:
    config = SandboxConfig(port=0, prospects=args.requests, mint_interval=0, rate_limit=args.limit, window=args.window)
    with start_sandbox(config) as sandbox:
        token = sandbox.issue_token()["access_token"]
        started = time.monotonic()
        run_loop(args.loop, outreach_client(sandbox.api_base, token, args.requests, args.concurrency))
        elapsed = time.monotonic() - started
        windows = [count for _, count in sorted(sandbox.stats.windows["demo@example.com"].items())]
        rate_limited = sandbox.stats.rate_limited
    inner = windows[1:-1]
    utilisation = sum(inner) / (args.limit * len(inner)) if inner else float("nan")
    allowed = args.limit / args.window
    sent = sum(windows)  # the timed PATCHes plus the warm-up ones
    print(f"limit {args.limit} per {args.window:g} s, {sent} PATCHes, concurrency {args.concurrency}")
    print(f"requests per window: {windows}   429s: {rate_limited}")
    print(
        f"utilisation of full windows: {utilisation:.3f}   achieved rate / allowed: "
        f"{sent / elapsed / allowed:.3f} ({sent / elapsed:.1f}/s over {elapsed:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["overhead", "pacing", "both"], default="both")
    parser.add_argument("--requests", type=int, default=0, help="default: 3000 (overhead), 600 (pacing)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    print("command: python " + " ".join(sys.argv), flush=True)
    if args.part in ("overhead", "both"):
        overhead(argparse.Namespace(**{**vars(args), "requests": args.requests or 3000}))
    if args.part in ("pacing", "both"):
        pacing(argparse.Namespace(**{**vars(args), "requests": args.requests or 600}))


if __name__ == "__main__":
    main()
