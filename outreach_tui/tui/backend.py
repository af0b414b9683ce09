"""The wizard's one door to the engine and core layers (sign-in, discovery, /types, runner, sandbox).

Imports are lazy so that the app starts fast and a module still being written elsewhere shows up as one
clear error in a modal instead of an import crash.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from outreach_tui.export import events
from outreach_tui.profile import Profile
from outreach_tui.xdm.records import Format

Emit = Callable[[events.Event], None]


def discover_source(path: Path, fmt: Format | None) -> Any:
    """Sample the input file (blocking: call from a thread worker)."""
    from outreach_tui.xdm.discover import discover

    return discover(path, fmt=fmt)


async def sign_in(profile: Profile, open_browser: Callable[[str], Any], on_url: Callable[[str], Any]) -> Any:
    from outreach_tui.outreach import auth

    return await auth.sign_in(profile.outreach, profile.token_place(), open_browser=open_browser, on_url=on_url,
                              timeout=300)


async def whoami(profile: Profile) -> Any:
    from outreach_tui.outreach import auth

    return await auth.whoami(profile.outreach, profile.token_place())


def token_source(profile: Profile) -> Any:
    from outreach_tui.outreach.token_source import token_source_for

    return token_source_for(profile.outreach, profile.token_place())


async def custom_field_types(profile: Profile) -> dict[int, str | None]:
    """``GET /types`` through the one Outreach client (limiter, retries, token refresh): which custom
    fields the Outreach admin configured, by number, with their labels."""
    from outreach_tui.outreach.catalog import custom_number
    from outreach_tui.outreach.client import OutreachClient
    from outreach_tui.outreach.ratelimit import RateLimiter
    from outreach_tui.outreach.retry import RetryPolicy

    client = OutreachClient(profile.outreach.api_base, token_source(profile),
                            limiter=RateLimiter(profile.export.budget_per_hour), retry=RetryPolicy(), concurrency=1)
    try:
        fields = await client.custom_field_types()
    finally:
        await client.aclose()
    return {number: rule.get("label") or None for name, rule in fields.items()
            if (number := custom_number(name)) is not None}


def make_runner(profile: Profile, emit: Emit, *, dry_run: bool = False, report_path: Path | None = None) -> Any:
    """The same runner as ``--run``; it finds its tokens itself (token store or environment)."""
    from outreach_tui.export.runner import ExportRunner, RunOptions

    return ExportRunner(profile, RunOptions(dry_run=dry_run, report_path=report_path), emit=emit)


async def call(method: Callable[[], Any]) -> None:
    """Runner controls may be plain or async methods; accept both."""
    result = method()
    if inspect.isawaitable(result):
        await result


@contextlib.contextmanager
def sandbox() -> Iterator[Any]:
    from outreach_tui.sandbox import SandboxConfig, start_sandbox

    with start_sandbox(SandboxConfig(port=0, seed="demo")) as running:
        yield running


def use_sandbox(profile: Profile, running: Any) -> None:
    """Point the profile's Outreach settings at a running sandbox (its client secret is public)."""
    from outreach_tui.sandbox.config import DEFAULT_CLIENT_ID

    profile.outreach.api_base = running.api_base
    profile.outreach.authorize_url = running.authorize_url
    profile.outreach.token_url = running.token_url
    profile.outreach.client_id = DEFAULT_CLIENT_ID


def token_key(profile: Profile) -> Any:
    return profile.token_place().key


def carry_tokens(old_key: Any, profile: Profile) -> Any:
    """Tokens are stored per profile (its path, or its destination name before the first save). The wizard
    signs in before either is final, so the sign-in follows the draft: moved from an unsaved draft's key,
    copied from a saved profile's. Returns the profile's key."""
    from outreach_tui.outreach.tokens import default_store

    new_key = token_key(profile)
    if old_key is not None:
        default_store().adopt(old_key, new_key)
    return new_key
