"""What a run checks before it reads its input: the sign-in, the token's scopes and the custom field types.

``preflight`` gets the access token (exit 3 when there is none, 4 when the token endpoint cannot be
reached), compares the token's scopes with ``Profile.required_scopes()`` (exit 3 naming the missing scope
and the ``login`` command with the real profile path), and, when the profile writes any ``customN``, reads
``GET /types`` once and checks every custom target (``custom_types.py``): a segment whose statuses the
field's type refuses is a profile error (exit 2) before anything is sent. A dry run skips all of it: it
sends nothing and needs no sign-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from outreach_tui.export.connect import Connection
from outreach_tui.export.control import EXIT_AUTH, EXIT_UNREACHABLE, EXIT_USAGE, RunControl, RunStopped
from outreach_tui.export.custom_types import Types, check_custom_fields, is_typed, value_problem
from outreach_tui.export.tally import Tally
from outreach_tui.outreach import catalog
from outreach_tui.outreach.client import OutreachRequestFailed, OutreachUnreachable
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing, TokenSource
from outreach_tui.outreach.token_source import missing_run_scope
from outreach_tui.profile import Profile


@dataclass
class Checked:
    """What the checks found that the run goes on with."""

    warnings: list[str] = field(default_factory=list)
    typed: Types = field(default_factory=dict)  # attribute rows' customN targets with a typed validation

    def value_problem(self, target: str, value: Any) -> str | None:
        """Why Outreach would refuse ``value`` for ``target`` (a typed custom field), or None."""
        rule = self.typed.get(target)
        return None if rule is None else value_problem(rule, value)


def writes_custom_fields(profile: Profile) -> bool:
    return bool(profile.segments) or any(catalog.custom_number(row.target) is not None for row in profile.mapping)


async def preflight(profile: Profile, connection: Connection) -> Checked:
    """Raises RunStopped when the run cannot go on; else the warnings and the typed fields."""
    try:
        missing = await missing_run_scope(connection.tokens, profile.required_scopes(),
                                          profile.token_place().login_hint)
    except AuthUnreachable as exc:
        raise RunStopped(EXIT_UNREACHABLE, str(exc)) from None
    except AuthRequired as exc:
        raise RunStopped(EXIT_AUTH, str(exc)) from None
    if missing is not None:
        raise RunStopped(EXIT_AUTH, str(missing))
    checked = Checked()
    if not writes_custom_fields(profile):
        return checked
    try:
        types = await connection.client.custom_field_types()
    except (AuthUnreachable, OutreachUnreachable) as exc:
        raise RunStopped(EXIT_UNREACHABLE, str(exc)) from None
    except AuthRequired as exc:
        raise RunStopped(EXIT_AUTH, str(exc)) from None
    except (ScopeMissing, OutreachRequestFailed) as exc:  # a safeguard (Outreach documents /types as needing a
        # valid token only): without the types the run goes on, and Outreach's 422s name a refused field
        checked.warnings.append(f"custom field types not checked: {exc}")
        return checked
    errors, warnings = check_custom_fields(profile, types)
    if errors:
        where = profile.path or "profile"
        raise RunStopped(EXIT_USAGE, "\n".join(f"{where}: {problem}" for problem in errors)
                         + "\nnothing was sent")
    checked.warnings += warnings
    checked.typed = {row.target: types[row.target] for row in profile.mapping
                     if row.target in types and is_typed(types[row.target])}
    return checked


async def run_preflight(profile: Profile, connection: Connection | None, control: RunControl,
                        tally: Tally) -> Checked | None:
    """``preflight`` for the runner: a run that cannot go on is stopped (it then plans its input and counts
    every prospect pending, as for any stop); the warnings go to the report. None without a connection
    (no sign-in: the run is stopped already)."""
    if connection is None:
        return None
    try:
        checked = await preflight(profile, connection)
    except RunStopped as stop:
        control.stop_with(stop)
        return None
    tally.warnings += checked.warnings
    return checked


async def read_custom_field_types(profile: Profile, tokens: TokenSource | None = None) -> Types:
    """One ``GET /types`` with the profile's sign-in (for ``validate`` and the wizard). Raises AuthRequired
    when not signed in (nothing was sent), AuthUnreachable / OutreachUnreachable / OutreachRequestFailed
    when it cannot be read."""
    from outreach_tui.export.connect import ClientHooks, connect
    from outreach_tui.outreach.retry import RetryPolicy

    hooks = ClientHooks(on_throttle=lambda until, why: None, on_resume=lambda: None,
                        on_retry=lambda prospect_id, attempt, delay, why: None)
    # a check someone waits for: two attempts, not a run's patience
    connection = connect(profile, hooks, tokens=tokens, retry=RetryPolicy(max_attempts=2, max_delay=2.0))
    try:
        await connection.tokens.access_token()  # not signed in: AuthRequired before any request
        return await connection.client.custom_field_types()
    finally:
        await connection.client.aclose()
