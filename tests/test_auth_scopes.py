"""The headless scope check a run makes before reading its input (``missing_run_scope``), against tokens the
sandbox granted over real HTTP: scopes come from the token answer kept in the token record, never from the
API root; an ``OUTREACH_ACCESS_TOKEN`` has unknown scopes and is not checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
from test_auth_support import make_profile, redirect_after_login, settings_and_place, source_for

from outreach_tui.outreach import auth
from outreach_tui.outreach.credentials import AuthRequired
from outreach_tui.outreach.token_source import missing_run_scope
from outreach_tui.profile import Profile
from outreach_tui.sandbox import Sandbox


async def _sign_in(profile: Profile) -> auth.SignInResult:
    """The --no-browser sign-in through the sandbox's pages: the token answer sets the stored scopes."""
    pending = auth.begin_paste_sign_in(profile.outreach)
    location = await redirect_after_login(pending.authorize_url)
    return await auth.complete_sign_in_from_redirect(*settings_and_place(profile), location, pending)


async def test_a_stored_token_without_prospects_write_is_named_with_the_real_login_command(
        tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox, scopes=["prospects.read", "users.read"])
    assert (await _sign_in(profile)).scopes == ["prospects.read", "users.read"]  # from "prospects.read+users.read"
    auth_sandbox.reset_stats()

    problem = await missing_run_scope(source_for(profile), profile.required_scopes(), profile.token_place().login_hint)

    assert problem is not None and problem.scope == "prospects.write"
    message = str(problem)
    assert "prospects.write" in message and f"outreach-tui login {tmp_path / 'profile.toml'}" in message
    assert "PROFILE.toml" not in message
    assert auth_sandbox.stats.count() == 0  # known from the token record: nothing was asked of Outreach
    # and the check is right: Outreach (the sandbox) refuses this token's PATCH for exactly that scope
    token = await source_for(profile).access_token()
    async with httpx.AsyncClient() as client:
        refused = await client.patch(f"{auth_sandbox.api_base}/prospects/1", content=orjson.dumps(
            {"data": {"type": "prospect", "id": 1, "attributes": {"firstName": "Ada"}}}),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"})
    assert refused.status_code == 403 and "prospects.write" in refused.text


async def test_covered_scopes_pass_and_prospects_all_covers_read_and_write(
        tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    await _sign_in(profile)
    hint = profile.token_place().login_hint
    assert await missing_run_scope(source_for(profile), profile.required_scopes(), hint) is None
    bulk = await missing_run_scope(source_for(profile), (*profile.required_scopes(), "imports.write"), hint)
    assert bulk is not None and bulk.scope == "imports.write"

    everything = make_profile(tmp_path / "all", auth_sandbox, scopes=["prospects.all"])
    await _sign_in(everything)
    assert await missing_run_scope(source_for(everything), everything.required_scopes(),
                                   everything.token_place().login_hint) is None


async def test_space_joined_scopes_are_read_too(tmp_path: Path, sandbox_factory: Callable[..., Sandbox],
                                                signin_env: Path) -> None:
    sandbox = sandbox_factory(prospects=1, scope_separator=" ")
    profile = make_profile(tmp_path, sandbox, scopes=["prospects.write"])
    await _sign_in(profile)
    problem = await missing_run_scope(source_for(profile), profile.required_scopes(), "outreach-tui login x.toml")
    assert problem is not None and problem.scope == "prospects.read"  # write does not imply read


async def test_an_env_access_token_has_unknown_scopes_and_is_not_checked(
        tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    monkeypatch.setenv("OUTREACH_ACCESS_TOKEN", auth_sandbox.issue_token(scopes=("prospects.read",))["access_token"])
    assert await missing_run_scope(source_for(profile), profile.required_scopes(),
                                   profile.token_place().login_hint) is None
    assert await auth.whoami(*settings_and_place(profile)) == {"user": None, "scopes": None, "expires_at": None}


async def test_not_signed_in_is_auth_required_naming_the_profile(tmp_path: Path, auth_sandbox: Sandbox,
                                                                 signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    with pytest.raises(AuthRequired, match=f"outreach-tui login {tmp_path / 'profile.toml'}"):
        await missing_run_scope(source_for(profile), profile.required_scopes(), profile.token_place().login_hint)


async def test_an_env_access_and_refresh_token_pair_is_not_checked_until_a_refresh_names_its_scopes(
        tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    body = auth_sandbox.issue_token(scopes=("prospects.read",))
    monkeypatch.setenv("OUTREACH_ACCESS_TOKEN", body["access_token"])
    monkeypatch.setenv("OUTREACH_REFRESH_TOKEN", body["refresh_token"])
    hint = profile.token_place().login_hint
    assert await missing_run_scope(source_for(profile), profile.required_scopes(), hint) is None  # unknown yet
    assert await auth.whoami(*settings_and_place(profile)) == {"user": None, "scopes": None, "expires_at": None}

    source = source_for(profile, mint_interval=0)
    await source.refresh_after_401(body["access_token"])  # the token answer names the scopes from now on
    problem = await missing_run_scope(source, profile.required_scopes(), hint)
    assert problem is not None and problem.scope == "prospects.write"
