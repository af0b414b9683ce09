"""The facts behind ``outreach-tui status``, gathered without printing (the command and the wizard's Connect
step present them): who is signed in and with which scopes, the token's expiry, the hourly budget left, and
what the export state says (``status_state.py``).

Signed out, or with ``offline``, nothing touches the network. Otherwise one cheap request (``GET /types``)
goes through the same client, limiter, retry policy and error parser as a run, and the limiter reads
Outreach's ``X-RateLimit-*`` headers from its answer. Token strings never leave the token source: only the
user, the scopes, the expiry and whether a refresh token exists are reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from outreach_tui.exit_codes import ExitCode
from outreach_tui.export.state import state_path_for
from outreach_tui.export.status_state import StateFacts, read_state
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing
from outreach_tui.outreach.scopes import missing_scopes
from outreach_tui.outreach.tokens import STORE_ENV, TokenRecord, TokenStore, default_store, fingerprint
from outreach_tui.profile import Profile

# Environment variables that change how this profile signs in (their values are never read into a report).
OVERRIDES = ("OUTREACH_ACCESS_TOKEN", "OUTREACH_REFRESH_TOKEN", "OUTREACH_CLIENT_SECRET", STORE_ENV)
PROBE_ATTEMPTS = 2  # status answers quickly: one retry for a dropped connection, not a run's patience


@dataclass
class SignIn:
    """Who the profile's requests would act as. ``scopes`` None: unknown (a bare environment token)."""

    signed_in: bool
    via: str  # "store", "environment" (OUTREACH_ACCESS_TOKEN alone), "environment refresh token", "none"
    store: str  # where the profile's tokens are (or would be) kept: "OS keyring" or "file <path> (0600)"
    required_scopes: list[str]
    user: str | None = None
    scopes: list[str] | None = None
    expires_at: float | None = None
    refreshable: bool = False  # a refresh token is available (stored or in the environment)
    overrides: list[str] = field(default_factory=list)  # names of the OUTREACH_* variables set, never values
    problem: str | None = None  # why the user is not (usably) signed in

    @property
    def missing_scopes(self) -> list[str] | None:
        return None if self.scopes is None else missing_scopes(self.required_scopes, self.scopes)

    def to_json(self, now: float) -> dict[str, Any]:
        return {"signed_in": self.signed_in, "via": self.via, "store": self.store, "user": self.user,
                "scopes": self.scopes, "required_scopes": self.required_scopes,
                "missing_scopes": self.missing_scopes, "expires_at": iso(self.expires_at),
                "expires_in_seconds": None if self.expires_at is None else round(self.expires_at - now),
                "expired": None if self.expires_at is None else self.expires_at <= now,
                "refresh_token": self.refreshable, "environment": self.overrides, "problem": self.problem}


@dataclass
class Budget:
    """Outreach's hourly request budget for this user as its last answer told, and this profile's own cap."""

    budget_per_hour: int  # [export] budget_per_hour: what a run of this profile spends at most
    checked: bool = False
    skipped: str | None = None  # why no request was sent ("offline", "signed out", ...)
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    error: str | None = None  # the request failed: why (the headers may still have been read)

    def to_json(self, now: float) -> dict[str, Any]:
        return {"checked": self.checked, "skipped": self.skipped, "limit": self.limit, "remaining": self.remaining,
                "reset_at": iso(self.reset_at),
                "resets_in_seconds": None if self.reset_at is None else max(round(self.reset_at - now), 0),
                "budget_per_hour": self.budget_per_hour, "error": self.error}


@dataclass
class Status:
    profile: Profile
    sign_in: SignIn
    budget: Budget
    state: StateFacts
    exit_code: int
    next_step: str | None  # the command to run next (sign in, re-consent), if any
    now: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        outreach = self.profile.outreach
        return {"profile": str(self.profile.path) if self.profile.path else None,
                "destination": self.profile.destination.name, "api_base": outreach.api_base,
                "checked_at": iso(self.now), "sign_in": self.sign_in.to_json(self.now),
                "budget": self.budget.to_json(self.now), **self.state.to_json(),
                "next_step": self.next_step, "exit_code": self.exit_code}


def iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def overrides_in_effect() -> list[str]:
    return [name for name in OVERRIDES if os.environ.get(name)]


# ----- signed in? (never the network) -------------------------------------------------------------------------

def _safe_load(store: TokenStore, profile: Profile, account: str | None) -> tuple[TokenRecord | None, str | None]:
    """The stored record (from the draft key too: the wizard signs in before a profile has a file)."""
    place = profile.token_place()
    try:
        record = store.load(place.key, account)
        if record is None and account is None and place.draft_key is not None:
            record = store.load(place.draft_key)
    except Exception as exc:  # a locked or broken keyring: say so instead of failing the whole status
        return None, f"the token store cannot be read ({type(exc).__name__})"
    return record, None


def sign_in_facts(profile: Profile, store: TokenStore | None = None, now: float | None = None) -> SignIn:
    """What the token store and the environment say, exactly as a run would choose its token source."""
    store = store or default_store()
    now = time.time() if now is None else now
    place = profile.token_place()
    facts = SignIn(False, "none", store.describe(place.key), list(profile.required_scopes()),
                   overrides=overrides_in_effect())
    refresh = os.environ.get("OUTREACH_REFRESH_TOKEN") or ""
    if os.environ.get("OUTREACH_ACCESS_TOKEN") and not refresh:
        facts.signed_in, facts.via = True, "environment"  # no refresh, and its scopes and expiry are unknown
        return facts
    account = f"env:{fingerprint(refresh)}" if refresh else None
    record, problem = _safe_load(store, profile, account)
    if refresh:  # the run refreshes from it; the store holds its continuation once one run used it
        facts.signed_in, facts.via, facts.refreshable = True, "environment refresh token", True
    elif record is None:
        facts.problem = problem or "no Outreach tokens are stored for this profile"
        return facts
    else:
        facts.via = "store"
        facts.refreshable = bool(record.refresh_token)
        expired = not record.access_token or record.expires_at <= now
        facts.signed_in = facts.refreshable or not expired
        if not facts.signed_in:
            facts.problem = "the access token expired and no refresh token is stored"
    if record is not None:
        facts.user, facts.scopes = record.user, list(record.scopes)
        facts.expires_at = record.expires_at if record.access_token else None
    return facts


# ----- the budget (one request) -------------------------------------------------------------------------------

async def probe_budget(profile: Profile, budget: Budget,
                       store: TokenStore | None = None) -> AuthRequired | ScopeMissing | None:
    """Send one cheap request and fill ``budget`` from what the limiter learnt. Returns the sign-in problem the
    answer revealed (the token refused and not refreshable, a scope missing), else None. Raises AuthUnreachable
    and OutreachUnreachable (no answer at all). A 429 ends the probe at once: the limiter would hold the
    request until the window resets (up to an hour), and "0 left, resets at ..." is the answer anyway."""
    # imported here: a signed-out or offline status never loads httpx and the client
    from outreach_tui.outreach.client import OutreachClient, OutreachRequestFailed
    from outreach_tui.outreach.ratelimit import RateLimiter
    from outreach_tui.outreach.retry import RetryPolicy
    from outreach_tui.outreach.token_source import token_source_for

    place = profile.token_place()
    limiter = RateLimiter(profile.export.budget_per_hour)
    throttled = asyncio.Event()
    limiter.on_throttle = lambda _until, _reason: throttled.set()
    client = OutreachClient(profile.outreach.api_base, token_source_for(profile.outreach, place, store=store),
                            limiter=limiter, retry=RetryPolicy(max_attempts=PROBE_ATTEMPTS), concurrency=1,
                            login_hint=place.login_hint)
    try:
        async with client:
            if not await _unless_throttled(client.custom_field_types(), throttled):
                budget.error = f"rate limited (HTTP 429): {limiter.throttle_reason or 'no requests left'}"
    except AuthUnreachable:  # a subclass of AuthRequired, but "cannot reach", not "sign in again"
        raise
    except (AuthRequired, ScopeMissing) as exc:
        budget.error = str(exc)
        return exc
    except OutreachRequestFailed as exc:
        budget.error = str(exc)  # an error answer still carries the budget headers
    finally:
        budget.checked = client.answers > 0
        budget.limit, budget.remaining, budget.reset_at = limiter.limit, limiter.remaining, limiter.reset_at
    return None


async def _unless_throttled(request: Coroutine[Any, Any, object], throttled: asyncio.Event) -> bool:
    """Await ``request`` unless ``throttled`` is set first (then cancel it). True when the request finished."""
    task = asyncio.ensure_future(request)
    waiter = asyncio.ensure_future(throttled.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task.done():
        task.result()  # its exception, if any, is the caller's to handle
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


# ----- all of it ------------------------------------------------------------------------------------------------

async def gather_status(profile: Profile, *, offline: bool = False, state_path: Path | None = None,
                        store: TokenStore | None = None) -> Status:
    """Every fact ``status`` shows, and its exit code: 0, 2 (the state cannot be read), 3 (sign-in needed:
    signed out, expired, scopes missing, token refused) or 4 (Outreach or its token endpoint unreachable)."""
    from outreach_tui.outreach.client import OutreachUnreachable

    store = store or default_store()
    sign_in = sign_in_facts(profile, store)
    budget = Budget(profile.export.budget_per_hour)
    exit_code = ExitCode.OK if sign_in.signed_in else ExitCode.AUTH
    if not sign_in.signed_in:
        budget.skipped = "signed out"
    elif offline:
        budget.skipped = "offline"
    else:
        try:
            refused = await probe_budget(profile, budget, store)
        except (AuthUnreachable, OutreachUnreachable) as exc:
            budget.error = str(exc)
            refused, exit_code = None, ExitCode.UNREACHABLE
        sign_in = sign_in_facts(profile, store)  # the request may have refreshed the token: show the new one
        if refused is not None:
            exit_code = ExitCode.AUTH
            sign_in.problem = str(refused)
            sign_in.signed_in = isinstance(refused, ScopeMissing)  # a refused token is as good as none
    if sign_in.missing_scopes:
        exit_code = ExitCode.AUTH
    state = read_state(profile, state_path_for(profile, state_path))
    if state.problem is not None and exit_code == ExitCode.OK:
        exit_code = ExitCode.USAGE
    next_step = profile.token_place().login_hint if exit_code == ExitCode.AUTH else None
    return Status(profile, sign_in, budget, state, int(exit_code), next_step)
