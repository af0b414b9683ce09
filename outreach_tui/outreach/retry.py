"""The one retry policy: which answers are worth another attempt, and how long to wait before it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Answers that say "this request is wrong": sending it again gives the same answer and wastes budget.
NEVER_RETRY = frozenset({400, 401, 403, 404, 409, 415, 422})


@dataclass
class RetryPolicy:
    """Exponential backoff with jitter and a bounded number of attempts.

    ``jitter`` is the share of each delay that is random: 0 waits exactly ``base_delay * 2**(n-1)``
    (capped at ``max_delay``), 1 is "full jitter" (uniform between 0 and that), 0.2 waits 80-100 % of it.
    Jitter keeps many concurrent tasks that failed together from retrying together.
    """

    max_attempts: int = 5  # attempts in total, the first one included
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("delays must not be negative")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be between 0 and 1")

    def is_retryable(self, status: int | None) -> bool:
        """None is a connection error or timeout; 408, 429 and 5xx are transient; everything else is not."""
        if status is None:
            return True
        if status in NEVER_RETRY:
            return False
        return status in (408, 429) or 500 <= status <= 599

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 = the first) before the next one."""
        exponent = min(max(attempt, 1) - 1, 62)  # bounded: 2**62 * base is already far beyond max_delay
        ceiling = min(self.max_delay, self.base_delay * (2.0**exponent))
        return ceiling * (1.0 - self.jitter * self.rng.random())

    def has_attempts_left(self, attempts_made: int) -> bool:
        return attempts_made < self.max_attempts
