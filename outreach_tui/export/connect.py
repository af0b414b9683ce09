"""Connecting to Outreach for a run: the one place that builds the token source, the rate limiter and the
client from a profile. The runner receives a ``Connector`` and calls it when it first has something to send
(a dry run never does), handing over the hooks through which the client reports throttling and retries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from outreach_tui.outreach.client import OutreachClient, RetryCallback
from outreach_tui.outreach.credentials import TokenSource
from outreach_tui.outreach.ratelimit import RateLimiter
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.profile import Profile


@dataclass(frozen=True, slots=True)
class ClientHooks:
    """What the runner wants to hear from the limiter and the client."""

    on_throttle: Callable[[float, str], None]  # nothing is sent until (epoch seconds), why
    on_resume: Callable[[], None]
    on_retry: RetryCallback


@dataclass(frozen=True, slots=True)
class Connection:
    """One client for every worker: one limiter, one retry policy, one token source, one pool."""

    client: OutreachClient
    limiter: RateLimiter
    tokens: TokenSource


Connector = Callable[[ClientHooks], Connection]


def connect(profile: Profile, hooks: ClientHooks, *, tokens: TokenSource | None = None,
            retry: RetryPolicy | None = None) -> Connection:
    """Build the connection for ``profile``. Without ``tokens``, the profile's sign-in (environment tokens or
    the token store) provides them; raises ``AuthRequired`` when there is none."""
    if tokens is None:
        from outreach_tui.outreach.token_source import token_source_for

        tokens = token_source_for(profile.outreach, profile.token_place())
    limiter = RateLimiter(profile.export.budget_per_hour)
    limiter.on_throttle = hooks.on_throttle
    limiter.on_resume = hooks.on_resume
    client = OutreachClient(profile.outreach.api_base, tokens, limiter=limiter, retry=retry or RetryPolicy(),
                            concurrency=profile.export.concurrency, on_retry=hooks.on_retry,
                            login_hint=profile.token_place().login_hint)
    return Connection(client, limiter, tokens)


def connector(profile: Profile, *, tokens: TokenSource | None = None, retry: RetryPolicy | None = None) -> Connector:
    """``connect`` for ``profile``, waiting for the runner's hooks (tests pass their own tokens and policy)."""
    return lambda hooks: connect(profile, hooks, tokens=tokens, retry=retry)
