"""The one retry policy: what is retried, and the backoff (exponential, capped, jittered, seedable)."""

from __future__ import annotations

import random

import pytest

from outreach_tui.outreach.retry import RetryPolicy


@pytest.mark.parametrize("status", [None, 408, 429, 500, 502, 503, 504, 599])
def test_transient_answers_are_retried(status: int | None) -> None:
    assert RetryPolicy().is_retryable(status)


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 409, 415, 422, 301, 418])
def test_other_answers_are_not(status: int) -> None:
    assert not RetryPolicy().is_retryable(status)


def test_backoff_without_jitter_doubles_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.delay(10_000) == 3.0  # no overflow on absurd attempt numbers


def test_jitter_stays_within_its_share_and_varies() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, jitter=0.2, rng=random.Random(7))
    delays = [policy.delay(3) for _ in range(200)]  # ceiling 4 s
    assert all(3.2 <= d <= 4.0 for d in delays)
    assert len(set(delays)) > 150


def test_full_jitter() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=30.0, jitter=1.0, rng=random.Random(1))
    delays = [policy.delay(2) for _ in range(500)]
    assert all(0.0 <= d <= 2.0 for d in delays)
    assert min(delays) < 0.2 and max(delays) > 1.8


def test_seeded_rng_repeats() -> None:
    first = RetryPolicy(rng=random.Random(42))
    second = RetryPolicy(rng=random.Random(42))
    assert [first.delay(n) for n in range(1, 6)] == [second.delay(n) for n in range(1, 6)]


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert [policy.has_attempts_left(n) for n in range(1, 5)] == [True, True, False, False]


@pytest.mark.parametrize(
    "settings", [{"max_attempts": 0}, {"base_delay": -1.0}, {"max_delay": -1.0}, {"jitter": 1.5}, {"jitter": -0.1}]
)
def test_invalid_settings(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**settings)  # type: ignore[arg-type]
