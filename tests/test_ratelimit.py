"""The rate limiter's decisions, with time under the test's control (a fake clock and sleep, no network).

The limiter against real HTTP (the sandbox's fixed windows) is in ``test_client_ratelimit.py``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import TypeVar

import pytest

from outreach_tui.outreach.ratelimit import DEFAULT_THROTTLE, RateLimiter

T = TypeVar("T")
START = 1_800_000_000.0


class FakeTime:
    """A clock that only moves when every task is waiting: then it jumps to the earliest sleeper's deadline."""

    def __init__(self) -> None:
        self.now = START
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(seconds, 0.0), next(self._order), future))
        await future

    async def settle(self) -> None:
        for _ in range(20):
            await asyncio.sleep(0)

    async def step(self) -> bool:
        """Wake the earliest live sleeper; False when nobody sleeps."""
        while self._sleepers:
            deadline, _, future = heapq.heappop(self._sleepers)
            if future.done():
                continue
            self.now = max(self.now, deadline)
            future.set_result(None)
            await self.settle()
            return True
        return False

    async def run(self, awaitable: Awaitable[T], limit: int = 10_000) -> T:
        task = asyncio.ensure_future(awaitable)
        await self.settle()
        for _ in range(limit):
            if task.done():
                return task.result()
            if not await self.step():
                await self.settle()
        raise AssertionError("the fake clock ran out of steps")


def headers(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}


def make(budget: int = 10_000, **kwargs: float) -> tuple[RateLimiter, FakeTime]:
    time = FakeTime()
    return RateLimiter(budget, clock=time.clock, sleep=time.sleep, **kwargs), time


async def probe(limiter: RateLimiter, status: int = 200, answer: dict[str, str] | None = None) -> None:
    await limiter.acquire()
    limiter.observe(status, answer or {}, b"")


# -- our own hourly budget -----------------------------------------------------------------------------------
async def test_budget_holds_in_every_rolling_hour() -> None:
    limiter, time = make(budget=3)
    granted: list[float] = []

    async def send_many() -> None:
        for _ in range(10):
            await limiter.acquire()
            granted.append(time.now)
            limiter.observe(200, {}, b"")

    announced: list[str] = []
    limiter.on_throttle = lambda until, reason: announced.append(reason)
    await time.run(send_many())
    assert granted[:3] == [START] * 3
    assert all(later - earlier >= 3600 for earlier, later in zip(granted, granted[3:], strict=False))
    assert granted[-1] - START < 3 * 3600 + 10  # and not much slower than that
    assert announced and "budget" in announced[0]


async def test_budget_counts_requests_in_flight() -> None:
    limiter, time = make(budget=3)
    await probe(limiter)
    await limiter.acquire()
    await limiter.acquire()  # no answers yet: both are in flight and count
    third = asyncio.ensure_future(limiter.acquire())
    await time.settle()
    assert not third.done()
    await time.run(third)
    assert time.now >= START + 3600


# -- the server's window ----------------------------------------------------------------------------------------
async def test_first_answer_is_awaited_before_a_burst() -> None:
    limiter, time = make()
    await limiter.acquire()
    second = asyncio.ensure_future(limiter.acquire())
    await time.settle()
    assert not second.done()  # nothing known about the server's limit yet: one request probes it
    limiter.observe(200, headers(100, 99, START + 60), b"")
    await time.settle()
    assert second.done() and time.now == START


async def test_in_flight_requests_are_subtracted_from_remaining() -> None:
    limiter, time = make(spread_share=0)
    reset = START + 10
    await probe(limiter, answer=headers(10, 5, reset))
    for _ in range(5):
        await limiter.acquire()  # exactly what remains, sent at once
    assert time.now == START
    sixth = asyncio.ensure_future(limiter.acquire())
    await time.settle()
    assert not sixth.done()
    for left in (4, 3, 2, 1, 0):
        limiter.observe(200, headers(10, left, reset), b"")
    await time.run(sixth)
    assert time.now >= reset  # the sixth waited for the window to reset: no 429


async def test_answers_that_show_room_release_waiters_early() -> None:
    limiter, time = make(spread_share=0)
    reset = START + 10
    await probe(limiter, answer=headers(10, 2, reset))
    await limiter.acquire()
    await limiter.acquire()
    third = asyncio.ensure_future(limiter.acquire())
    await time.settle()
    assert not third.done()
    # both were already counted before the last answer (another window started meanwhile): room again
    limiter.observe(200, headers(10, 8, reset + 10), b"")
    await time.settle()
    assert third.done() and time.now == START


async def test_out_of_order_answers_keep_the_lowest_remaining() -> None:
    limiter, _ = make()
    reset = START + 100
    limiter.observe(200, headers(100, 40, reset), b"")
    limiter.observe(200, headers(100, 45, reset), b"")
    assert limiter.remaining == 40
    limiter.observe(200, headers(100, 90, reset + 100), b"")  # a newer window
    assert (limiter.remaining, limiter.reset_at) == (90, reset + 100)
    limiter.observe(200, headers(100, 10, reset), b"")  # a late answer from the old window
    assert limiter.remaining == 90


async def test_answers_from_an_ended_window_are_ignored() -> None:
    limiter, _ = make()
    limiter.observe(200, headers(100, 0, START - 1), b"")
    assert limiter.remaining is None and limiter.limit == 100


async def test_last_requests_of_a_window_are_spread() -> None:
    limiter, time = make()
    reset = START + 100
    await probe(limiter, answer=headers(100, 2, reset))  # 2 left: at most 2 % of the limit
    granted: list[float] = []

    async def send(n: int) -> None:
        for _ in range(n):
            await limiter.acquire()
            granted.append(time.now)
            limiter.observe(200, headers(100, max((limiter.remaining or 0) - 1, 0), reset), b"")

    await time.run(send(3))
    # spaced at the server's average rate (100 per 100 s), not bunched, not stretched over the window
    assert granted[0] - START == pytest.approx(1)
    assert granted[1] - START == pytest.approx(2)
    assert granted[2] >= reset  # the window is spent: the third waits for the reset


async def test_spreading_never_runs_past_the_reset() -> None:
    limiter, time = make()
    await probe(limiter, answer=headers(100, 90, START + 100))  # the window is about 100 s long
    await time.run(time.sleep(99))
    await probe(limiter, answer=headers(100, 2, START + 100))  # sent at START + 99 with 2 left
    await time.run(limiter.acquire())
    assert time.now - START == pytest.approx(99 + 1 / 3)  # even spacing until the reset is the shorter


async def test_plenty_remaining_means_no_pacing() -> None:
    limiter, time = make()
    await probe(limiter, answer=headers(100, 50, START + 9))
    for _ in range(10):
        await limiter.acquire()
    assert time.now == START


async def test_reset_given_in_seconds_from_now() -> None:
    limiter, _ = make()
    limiter.observe(200, headers(100, 10, 30), b"")
    assert limiter.reset_at == START + 30


# -- 429 ---------------------------------------------------------------------------------------------------------
def rate_limited_body(at: datetime) -> bytes:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S")
    return (
        '{"errors":[{"id":"rateLimitExceeded","title":"Rate Limit Exceeded","detail":"You have exceeded your '
        f'permitted rate limit of 10,000; please try again at {stamp}."}}]}}'
    ).encode()


@pytest.mark.parametrize(
    ("answer", "body", "expected"),
    [
        ({"Retry-After": "7"}, b"", START + 7),
        ({"X-RateLimit-Reset": str(int(START + 12))}, b"", START + 12),
        ({}, rate_limited_body(datetime.fromtimestamp(START + 20, UTC)), START + 20),
        ({"Retry-After": "5", "X-RateLimit-Reset": str(int(START + 9))}, b"", START + 9),  # the later one
        ({"Retry-After": "Fri, 15 Jan 2027 08:00:05 GMT"}, b"", datetime(2027, 1, 15, 8, 0, 5, tzinfo=UTC).timestamp()),
        ({}, b"Retry later", START + DEFAULT_THROTTLE),
    ],
)
async def test_429_reset_sources(answer: dict[str, str], body: bytes, expected: float) -> None:
    limiter, _ = make()
    limiter.observe(429, answer, body)
    assert limiter.throttled_until is not None
    assert limiter.throttled_until - expected == pytest.approx(0, abs=1e-3)


async def test_429_stops_every_task_until_the_reset_and_announces_once() -> None:
    limiter, time = make()
    throttles: list[tuple[float, str]] = []
    resumes: list[float] = []
    limiter.on_throttle = lambda until, reason: throttles.append((until, reason))
    limiter.on_resume = lambda: resumes.append(time.now)
    await probe(limiter, answer=headers(100, 50, START + 3600))
    granted: list[float] = []

    async def worker(index: int) -> None:
        for round_ in range(3):
            await limiter.acquire()
            granted.append(time.now)
            await time.sleep(0.1)  # the request travels
            if index == 0 and round_ == 0:
                limiter.observe(429, {"Retry-After": "30"}, b"")
            else:
                limiter.observe(200, {}, b"")

    await time.run(asyncio.gather(*(worker(i) for i in range(4))))
    granted.sort()
    assert len(granted) == 12
    assert granted[:4] == [START] * 4  # the four sent before the 429 arrived
    assert all(t >= START + 30.1 for t in granted[4:])  # nothing more by anyone until the reset
    assert len(throttles) == 1 and throttles[0][0] - START == pytest.approx(30.1)
    assert len(resumes) == 1 and resumes[0] - START == pytest.approx(30.1)


async def test_429_whose_reset_passed_still_pauses() -> None:
    limiter, _ = make()
    limiter.observe(429, {"X-RateLimit-Reset": str(int(START - 5))}, b"")
    until = limiter.throttled_until
    assert until is not None and START < until <= START + 1.5


async def test_server_clock_ahead_of_ours_is_allowed_for() -> None:
    limiter, _ = make()
    server_now = START + 600  # the server's clock is ten minutes ahead
    answer = {
        **headers(100, 10, server_now + 30),
        "Date": format_datetime(datetime.fromtimestamp(server_now, UTC), usegmt=True),
    }
    limiter.observe(200, answer, b"")
    assert limiter.reset_at is not None and abs(limiter.reset_at - (START + 30)) <= 1.0
    limiter.observe(429, {**answer, "X-RateLimit-Reset": str(int(server_now + 40))}, b"")
    assert limiter.throttled_until is not None and abs(limiter.throttled_until - (START + 40)) <= 1.0


async def test_small_clock_differences_are_ignored() -> None:
    limiter, _ = make()
    answer = {
        **headers(100, 10, START + 30),
        "Date": format_datetime(datetime.fromtimestamp(START - 1, UTC), usegmt=True),
    }
    limiter.observe(200, answer, b"")
    assert limiter.reset_at == START + 30


async def test_a_failing_listener_does_not_fail_the_request(caplog: pytest.LogCaptureFixture) -> None:
    limiter, time = make()

    def broken(until: float, reason: str) -> None:
        raise RuntimeError("listener bug")

    limiter.on_throttle = broken
    limiter.observe(429, {"Retry-After": "5"}, b"")
    await time.run(limiter.acquire())
    assert time.now >= START + 5
    assert "listener" in caplog.text


def test_invalid_budget() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)
