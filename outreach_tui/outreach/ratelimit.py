"""The one rate limiter: spend at most our own hourly budget and never more than Outreach says remains.

Outreach allows 10,000 requests per hour per user, shared by every integration acting as that user, and says
where we stand on every response (``X-RateLimit-Limit/Remaining/Reset``). The limiter:

- counts what it let through in a rolling window (``budget_per_hour``), in one-second buckets;
- subtracts requests still in flight from the server's ``Remaining`` (they will be counted too), so that a
  burst at the end of a window does not overshoot;
- spreads the last few requests of a window (at most the server's average rate) instead of bursting;
- after a 429 lets nothing through, for any task, until the reset.

Every task calls ``acquire()`` before a request and exactly one of ``observe()`` (a response arrived) or
``abandon()`` (no response: connection error) after it. Waiting tasks queue in FIFO order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

log = logging.getLogger(__name__)

HOUR = 3600.0
DEFAULT_THROTTLE = 60.0  # a 429 that says nothing about when to come back: wait a minute
MIN_THROTTLE = 1.0  # a 429 whose reset is already past (clock skew): still pause a moment, no storm
SAME_WINDOW = 0.5  # resets closer than this (seconds) describe the same server window
SKEW_TOLERANCE = 2.0  # seconds of clock difference with the server we ignore (Date has 1-second steps)
EPOCH_FLOOR = 1_000_000_000  # smaller X-RateLimit-Reset values are "seconds from now", not epoch seconds

# "...please try again at 2017-01-01T00:00:00." (UTC) inside a 429's detail text
_DETAIL_TIMESTAMP = re.compile(rb"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:?\d{2})?")


class RateLimiter:
    def __init__(
        self,
        budget_per_hour: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        budget_window: float = HOUR,
        spread_share: float = 0.02,
    ) -> None:
        if budget_per_hour < 1:
            raise ValueError("budget_per_hour must be at least 1")
        self.budget_per_hour = budget_per_hour
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset_at: float | None = None
        self.throttled_until: float | None = None
        self.throttle_reason: str | None = None
        self.on_throttle: Callable[[float, str], None] | None = None
        self.on_resume: Callable[[], None] | None = None
        self._clock = clock
        self._sleep = sleep
        self._budget_window = budget_window
        self._bucket = budget_window / HOUR  # one-second buckets for the real hour
        self._spent: deque[list[int]] = deque()  # [bucket number, requests] in the rolling window
        self._spent_total = 0
        self._spread_share = spread_share
        self._in_flight = 0
        self._blocked_until: float | None = None  # set by a 429: nobody sends before it
        self._last_grant: float | None = None
        self._window_estimate = 0.0  # the longest time-to-reset seen: about the server's window length
        self._skew = 0.0  # server clock minus ours, when they disagree by more than SKEW_TOLERANCE
        self._observed_any = False
        self._lock = asyncio.Lock()
        self._changed = asyncio.Event()

    # -- public state -------------------------------------------------------------------------------------
    @property
    def in_flight(self) -> int:
        return self._in_flight

    def seconds_throttled(self) -> float:
        """How long from now nothing will be sent (0 when not throttled)."""
        until = self.throttled_until
        return max(0.0, until - self._clock()) if until is not None else 0.0

    # -- the protocol -------------------------------------------------------------------------------------
    async def acquire(self) -> None:
        """Wait until one more request may be sent now, then count it as in flight."""
        async with self._lock:
            while True:
                now = self._clock()
                wait, reason = self._wait_needed(now)
                if wait <= 0:
                    break
                if reason:
                    self._announce_throttle(now + wait, reason)
                await self._wait(wait)
            self._announce_resume()
            self._grant(now)

    def observe(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        """Learn from a response (every one, errors included)."""
        self._in_flight = max(0, self._in_flight - 1)
        self._observed_any = True
        now = self._clock()
        lowered = {key.lower(): value for key, value in headers.items()}
        self._learn_skew(lowered.get("date"), now)
        limit = _as_int(lowered.get("x-ratelimit-limit"))
        remaining = _as_int(lowered.get("x-ratelimit-remaining"))
        reset = _as_epoch(lowered.get("x-ratelimit-reset"), now, self._skew)
        if limit is not None:
            self.limit = limit
        if status == 429:
            self._throttle_after_429(now, lowered, reset, body)
        elif remaining is not None:
            self._learn_remaining(now, remaining, reset)
        self._changed.set()

    def abandon(self) -> None:
        """A request acquired earlier ended without a response (connection error, timeout, cancel)."""
        self._in_flight = max(0, self._in_flight - 1)
        self._changed.set()

    # -- deciding -----------------------------------------------------------------------------------------
    def _wait_needed(self, now: float) -> tuple[float, str | None]:
        """Seconds to wait before the next request, and a reason when it is a throttle worth announcing
        (None for short pacing waits and waits for in-flight answers)."""
        if self._blocked_until is not None:
            if now < self._blocked_until:
                return self._blocked_until - now, self.throttle_reason or "Outreach rate limit (429)"
            self._blocked_until = None
        self._roll_server_window(now)
        self._prune(now)
        if self._spent_total >= self.budget_per_hour:
            return self._budget_frees_at() - now, f"hourly budget of {self.budget_per_hour:,} requests spent"
        if not self._observed_any and self._in_flight > 0:
            return HOUR, None  # learn the server's limits from one answer before sending more
        if self.remaining is None:
            return 0.0, None
        available = self.remaining - self._in_flight
        if available <= 0:
            if self._in_flight > 0:  # their answers may show they were already counted
                return (self.reset_at - now if self.reset_at else HOUR), None
            if self.reset_at is None:
                return 0.0, None  # no reset known: probe with one request rather than wait forever
            return self.reset_at - now, "Outreach rate limit reached; waiting for the window to reset"
        return self._spread_wait(now, available), None

    def _spread_wait(self, now: float, available: int) -> float:
        """When only a few requests remain in the window, space them out: evenly until the reset, but never
        slower than the server's average rate (limit per window length), so that a run that only needs a few
        more requests is not held back for most of an hour."""
        if self.reset_at is None or not self.limit or self._last_grant is None:
            return 0.0
        if available > math.ceil(self.limit * self._spread_share):
            return 0.0
        even = (self.reset_at - self._last_grant) / (available + 1)
        average = self._window_estimate / self.limit
        return self._last_grant + min(even, average) - now

    def _roll_server_window(self, now: float) -> None:
        if self.reset_at is not None and now >= self.reset_at:
            self.reset_at = None
            self.remaining = self.limit  # a fresh window; requests in flight may land in it: subtracted

    def _budget_frees_at(self) -> float:
        oldest_bucket = self._spent[0][0]
        return (oldest_bucket + 1) * self._bucket + self._budget_window

    # -- learning -----------------------------------------------------------------------------------------
    def _learn_remaining(self, now: float, remaining: int, reset: float | None) -> None:
        if reset is None:
            self.remaining = remaining if self.remaining is None else min(self.remaining, remaining)
            return
        if reset <= now:
            return  # an answer from a window that has ended by our clock
        self._window_estimate = max(self._window_estimate, reset - now)  # from below, to the window length
        if self.reset_at is None or reset > self.reset_at + SAME_WINDOW:
            self.reset_at, self.remaining = reset, remaining  # a newer window
        elif reset >= self.reset_at - SAME_WINDOW:
            # the same window: answers arrive out of order, the lowest count is the latest truth
            self.remaining = remaining if self.remaining is None else min(self.remaining, remaining)

    def _learn_skew(self, date: str | None, now: float) -> None:
        """How far the server's clock is ahead of ours, from the Date header (whole seconds, so only a
        difference beyond SKEW_TOLERANCE counts); absolute times from the server are shifted by it."""
        if date is None:
            return
        try:
            server_now = parsedate_to_datetime(date).timestamp() + 0.5  # the header truncates to the second
        except (TypeError, ValueError, IndexError):
            return
        offset = server_now - now
        self._skew = offset if abs(offset) > SKEW_TOLERANCE else 0.0

    def _throttle_after_429(self, now: float, headers: Mapping[str, str], reset: float | None, body: bytes) -> None:
        candidates = [
            _retry_after(headers.get("retry-after"), now, self._skew),
            reset,
            _from_server_clock(_detail_timestamp(body), self._skew),
        ]
        known = [c for c in candidates if c is not None]
        until = max(known) if known else (self.reset_at if self.reset_at and self.reset_at > now else None)
        until = until if until is not None else now + DEFAULT_THROTTLE
        until = max(until, now + MIN_THROTTLE) if until <= now else until
        self.remaining, self.reset_at = 0, until  # the 429 is the latest word on when the window resets
        self._block(now, until, "Outreach rate limit (429)")

    def _block(self, now: float, until: float, reason: str) -> None:
        self._blocked_until = max(self._blocked_until or 0.0, until)
        self._announce_throttle(self._blocked_until, reason)

    # -- bookkeeping --------------------------------------------------------------------------------------
    def _grant(self, now: float) -> None:
        self._in_flight += 1
        self._last_grant = now
        bucket = int(now // self._bucket)
        if self._spent and self._spent[-1][0] == bucket:
            self._spent[-1][1] += 1
        else:
            self._spent.append([bucket, 1])
        self._spent_total += 1

    def _prune(self, now: float) -> None:
        while self._spent and (self._spent[0][0] + 1) * self._bucket + self._budget_window <= now:
            self._spent_total -= self._spent.popleft()[1]

    def _announce_throttle(self, until: float, reason: str) -> None:
        starting = self.throttled_until is None
        if starting or until > (self.throttled_until or 0.0):
            self.throttled_until = until
            self.throttle_reason = reason
        if starting and self.on_throttle is not None:
            _notify(self.on_throttle, until, reason)

    def _announce_resume(self) -> None:
        if self.throttled_until is None:
            return
        self.throttled_until = None
        self.throttle_reason = None
        if self.on_resume is not None:
            _notify(self.on_resume)

    async def _wait(self, seconds: float) -> None:
        """Sleep ``seconds`` or until an answer arrives that may change the decision, whichever is first."""
        self._changed.clear()
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waker = asyncio.ensure_future(self._changed.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
            for task in (sleeper, waker):
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def _notify(callback: Callable[..., None], *args: object) -> None:
    """A listener's bug must not fail the request that happened to trigger the event: log it instead."""
    try:
        callback(*args)
    except Exception:
        log.exception("rate limiter listener %r failed", callback)


# -- header parsing -----------------------------------------------------------------------------------------
def _as_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def _as_epoch(value: str | None, now: float, skew: float) -> float | None:
    """X-RateLimit-Reset in epoch seconds (Outreach); small values are read as seconds from now."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number - skew if number >= EPOCH_FLOOR else now + number


def _retry_after(value: str | None, now: float, skew: float) -> float | None:
    """Retry-After as seconds or as an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            return parsedate_to_datetime(value).timestamp() - skew
        except (TypeError, ValueError, IndexError):
            return None
    return now + seconds if math.isfinite(seconds) and seconds >= 0 else None


def _from_server_clock(moment: float | None, skew: float) -> float | None:
    return None if moment is None else moment - skew


def _detail_timestamp(body: bytes) -> float | None:
    """The reset inside Outreach's 429 detail: '...please try again at 2017-01-01T00:00:00.' (UTC)."""
    match = _DETAIL_TIMESTAMP.search(body[:4096])
    if match is None:
        return None
    stamp = match.group(1).decode().replace(" ", "T")
    zone = (match.group(2) or b"").decode()
    try:
        parsed = datetime.fromisoformat(stamp + ("+00:00" if zone in ("", "Z") else zone))
    except ValueError:
        return None
    return parsed.astimezone(UTC).timestamp()
