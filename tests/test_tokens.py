"""The token store (0600 file, keyring) and the refreshing token source against the sandbox: rotation
persisted, one mint across processes, the mint throttle, invalid_grant, env overrides, no secret leaks."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import keyring
import pytest
from keyring.backend import KeyringBackend
from test_auth_support import (
    make_profile,
    source_for,
    start,
    token_file,
)

from outreach_tui.outreach import auth, tokens
from outreach_tui.outreach.credentials import AuthRequired, StaticTokenSource
from outreach_tui.outreach.token_source import OAuthTokenSource
from outreach_tui.outreach.tokens import TokenRecord, default_store
from outreach_tui.profile import Profile
from outreach_tui.sandbox import Sandbox

USER = "demo@example.com"


def seed(profile: Profile, sandbox: Sandbox, **issue: Any) -> dict[str, Any]:
    """Store a freshly issued sandbox token for the profile, as `login` would."""
    body = sandbox.issue_token(**issue)
    default_store().save(profile.token_place().key, TokenRecord.from_token_response(body, user=USER))
    return body


async def accepted(sandbox: Sandbox, token: str) -> bool:
    """Outreach serves a documented read with this token (prospect 1 exists in every auth sandbox)."""
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{sandbox.api_base}/prospects/1", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code == 200


async def refresh_with(sandbox: Sandbox, refresh_token: str) -> int:
    async with httpx.AsyncClient() as client:
        answer = await client.post(sandbox.token_url, data={
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": "outreach-tui-sandbox", "client_secret": "sandbox-secret"})
    return answer.status_code


# ----- the store ------------------------------------------------------------------------------------------

def test_file_store_is_0600_atomic_and_keyed_by_profile_and_user(tmp_path: Path, signin_env: Path) -> None:
    store = default_store()
    assert store.uses_file and not tokens.keyring_usable()
    key = tokens.key_for(tmp_path / "a.toml", "A")
    first = TokenRecord("access-1", "refresh-1", time.time() + 100, time.time(), ["prospects.read"], "a@x.io")
    store.save(key, first)
    store.save(key, TokenRecord("access-2", "refresh-2", time.time() + 100, time.time(), [], "b@x.io"))
    path = token_file(signin_env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert store.load(key).access_token == "access-2"  # type: ignore[union-attr]
    assert store.load(key, "a@x.io") == first  # the other user's tokens are kept
    assert store.load(tokens.key_for(tmp_path / "b.toml", "A")) is None  # another profile: nothing
    assert "access-1" not in repr(first) and "refresh-1" not in repr(first)
    assert store.forget(key) and store.load(key) is None


def test_file_store_notice_is_given_once(signin_env: Path) -> None:
    assert "0600" in (default_store().first_use_notice() or "")
    assert default_store().first_use_notice() is None
    tokens._notices_given.clear()  # as in a new process: the marker file remembers
    assert default_store().first_use_notice() is None


class MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


def test_keyring_is_preferred_when_a_backend_exists(tmp_path: Path, signin_env: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        monkeypatch.delenv(tokens.STORE_ENV)
        store = default_store()
        assert not store.uses_file
        key = tokens.key_for(tmp_path / "p.toml", "P")
        store.save(key, TokenRecord("access-k", "refresh-k", time.time() + 60, time.time(), [], USER))
        assert store.load(key).refresh_token == "refresh-k"  # type: ignore[union-attr]
        assert store.describe(key) == "OS keyring" and len(memory.entries) == 1
        assert not (signin_env / "tokens").exists() or not list((signin_env / "tokens").glob("*.json"))
        assert store.forget(key) and memory.entries == {}
        monkeypatch.setenv(tokens.STORE_ENV, "file")
        assert default_store().uses_file
    finally:
        keyring.set_keyring(previous)


# ----- refreshing -----------------------------------------------------------------------------------------

async def test_stored_token_is_used_without_minting(tmp_path: Path, auth_sandbox: Sandbox,
                                                    signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    body = seed(profile, auth_sandbox)
    mints = auth_sandbox.stats.token_mints
    assert await source_for(profile).access_token() == body["access_token"]
    assert auth_sandbox.stats.token_mints == mints


async def test_refresh_rotation_is_persisted_and_the_old_refresh_token_never_reused(
        tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    first = seed(profile, auth_sandbox)
    auth_sandbox.expire_all_tokens()
    source = source_for(profile, mint_interval=0)
    second = await source.refresh_after_401(first["access_token"])
    assert second != first["access_token"] and await accepted(auth_sandbox, second)
    stored = default_store().load(profile.token_place().key)
    assert stored is not None and stored.access_token == second
    assert stored.refresh_token not in (None, first["refresh_token"])
    assert first["refresh_token"] not in token_file(signin_env).read_text()

    auth_sandbox.expire_all_tokens()  # the next refresh uses the rotated token: the sandbox accepts it
    third = await source.refresh_after_401(second)
    assert third not in (first["access_token"], second) and await accepted(auth_sandbox, third)
    assert auth_sandbox.stats.count("POST", "/oauth/token", 400) == 0  # the old one was never sent
    assert await refresh_with(auth_sandbox, first["refresh_token"]) == 400  # and it is dead anyway


async def test_expiring_token_is_refreshed_ahead_of_time(tmp_path: Path, auth_sandbox: Sandbox,
                                                         signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    body = seed(profile, auth_sandbox, ttl=5)  # within the refresh margin (a tenth of its life is left)
    store = default_store()
    record = store.load(profile.token_place().key)
    assert record is not None
    record.minted_at -= 100  # minted long ago, expires in ~0.4 s: the margin has been reached
    record.expires_at = time.time() + 0.4
    store.save(profile.token_place().key, record)
    token = await source_for(profile, mint_interval=0).access_token()
    assert token != body["access_token"] and await accepted(auth_sandbox, token)


async def test_the_mint_throttle_is_respected_locally(tmp_path: Path, auth_sandbox: Sandbox,
                                                      signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    body = seed(profile, auth_sandbox, ttl=5)
    mints = auth_sandbox.stats.token_mints
    # Inside the refresh margin but minted less than 60 s ago: keep using the valid token, mint nothing.
    assert await source_for(profile).access_token() == body["access_token"]
    # After a 401, the refresh waits for the (here 0.3 s) throttle instead of minting at once.
    source = source_for(profile, mint_interval=0.3)
    started = time.monotonic()
    await source.refresh_after_401(body["access_token"])
    assert time.monotonic() - started >= 0.25 and auth_sandbox.stats.token_mints == mints + 1


async def test_429_retry_later_waits_then_succeeds(tmp_path: Path, signin_env: Path) -> None:
    sandbox = start(mint_interval=1)
    try:
        profile = make_profile(tmp_path, sandbox)
        first = seed(profile, sandbox)
        source = source_for(profile, mint_interval=0)  # our bookkeeping lets the 2nd mint go early
        second = await source.refresh_after_401(first["access_token"])
        third = await source.refresh_after_401(second)  # the sandbox answers 429 "Retry later" first
        assert sandbox.stats.count("POST", "/oauth/token", 429) >= 1
        assert sandbox.stats.count("POST", "/oauth/token", 200) == 2
        assert await accepted(sandbox, third)
    finally:
        sandbox.stop()


async def test_invalid_grant_requires_login_and_leaks_no_token(tmp_path: Path, auth_sandbox: Sandbox,
                                                               signin_env: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    profile = make_profile(tmp_path, auth_sandbox)
    body = seed(profile, auth_sandbox)
    assert await refresh_with(auth_sandbox, body["refresh_token"]) == 200  # someone used it: now dead
    auth_sandbox.expire_all_tokens()
    with pytest.raises(AuthRequired, match=r"run: outreach-tui login .*profile\.toml") as caught:
        await source_for(profile, mint_interval=0).refresh_after_401(body["access_token"])
    for secret in (body["access_token"], body["refresh_token"], "sandbox-secret"):
        assert secret not in str(caught.value) and secret not in repr(caught.value)
        assert secret not in caplog.text


async def test_two_processes_refreshing_at_once_mint_one_token(tmp_path: Path, auth_sandbox: Sandbox,
                                                               signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    body = seed(profile, auth_sandbox)
    auth_sandbox.expire_all_tokens()
    script = textwrap.dedent("""
        import asyncio, hashlib, sys
        from outreach_tui.outreach.token_source import token_source_for
        from outreach_tui.profile import load_profile
        profile = load_profile(sys.argv[1])
        source = token_source_for(profile.outreach, profile.token_place(), mint_interval=0)
        print("ready", flush=True)
        sys.stdin.readline()  # start together
        token = asyncio.run(source.refresh_after_401(sys.argv[2]))
        print(hashlib.sha256(token.encode()).hexdigest(), flush=True)
    """)
    mints = auth_sandbox.stats.token_mints
    command = [sys.executable, "-c", script, str(profile.path), body["access_token"]]
    processes = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  env=os.environ.copy()) for _ in range(2)]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    outputs = [process.communicate(timeout=30)[0].strip() for process in processes]
    assert [p.returncode for p in processes] == [0, 0]
    assert outputs[0] == outputs[1] and len(outputs[0]) == 64  # both use the same new token
    assert auth_sandbox.stats.token_mints == mints + 1


# ----- environment overrides ------------------------------------------------------------------------------

async def test_env_access_token_alone_is_static(tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTREACH_ACCESS_TOKEN", "env-access")
    source = source_for(make_profile(tmp_path, auth_sandbox))
    assert isinstance(source, StaticTokenSource) and await source.access_token() == "env-access"
    with pytest.raises(AuthRequired, match="outreach-tui login") as caught:
        await source.refresh_after_401("env-access")
    assert "env-access" not in str(caught.value)


async def test_env_refresh_token_chain_continues_across_runs(tmp_path: Path, auth_sandbox: Sandbox,
                                                             signin_env: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    body = auth_sandbox.issue_token()
    monkeypatch.setenv("OUTREACH_REFRESH_TOKEN", body["refresh_token"])
    first_run = source_for(profile, mint_interval=0)
    assert isinstance(first_run, OAuthTokenSource)
    token = await first_run.access_token()  # no env access token: refresh at once
    assert await accepted(auth_sandbox, token)
    auth_sandbox.expire_all_tokens()
    second_run = source_for(profile, mint_interval=0)  # same (now spent) env refresh token
    fresh = await second_run.refresh_after_401(token)
    assert fresh != token and await accepted(auth_sandbox, fresh)
    assert body["refresh_token"] not in token_file(signin_env).read_text()
    document = json.loads(token_file(signin_env).read_text())
    assert list(document["accounts"]) == [f"env:{tokens.fingerprint(body['refresh_token'])}"]


async def test_env_client_secret_is_used(tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    body = seed(profile, auth_sandbox)
    auth_sandbox.expire_all_tokens()
    monkeypatch.setenv("OUTREACH_CLIENT_SECRET", "wrong-secret")
    source = source_for(profile, mint_interval=0)
    with pytest.raises(AuthRequired, match="client credentials") as caught:
        await source.refresh_after_401(body["access_token"])
    assert "wrong-secret" not in str(caught.value)


async def test_concurrent_refreshes_in_one_process_mint_once(tmp_path: Path, auth_sandbox: Sandbox,
                                                             signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    body = seed(profile, auth_sandbox)
    auth_sandbox.expire_all_tokens()
    mints = auth_sandbox.stats.token_mints
    sources = [source_for(profile, mint_interval=0) for _ in range(2)]
    fresh = await asyncio.gather(*(sources[i % 2].refresh_after_401(body["access_token"]) for i in range(6)))
    assert len(set(fresh)) == 1 and auth_sandbox.stats.token_mints == mints + 1


async def test_env_refresh_chain_never_replaces_the_signed_in_user(tmp_path: Path, auth_sandbox: Sandbox,
                                                                   signin_env: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    signed_in = seed(profile, auth_sandbox)
    monkeypatch.setenv("OUTREACH_REFRESH_TOKEN", auth_sandbox.issue_token()["refresh_token"])
    env_token = await source_for(profile, mint_interval=0).access_token()
    monkeypatch.delenv("OUTREACH_REFRESH_TOKEN")
    assert env_token != signed_in["access_token"]
    assert await source_for(profile).access_token() == signed_in["access_token"]


async def test_tokens_from_before_the_profile_was_saved_are_found(tmp_path: Path, auth_sandbox: Sandbox,
                                                                  signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    body = auth_sandbox.issue_token()
    unsaved = tokens.key_for(None, profile.destination.name)  # the wizard signs in, then saves the file
    default_store().save(unsaved, TokenRecord.from_token_response(body, user=USER))
    assert await source_for(profile).access_token() == body["access_token"]
    assert default_store().load(profile.token_place().key) is not None
    assert default_store().load(unsaved) is None  # moved, not copied: a secret is kept in one place
    assert auth.logout(profile.token_place())


def test_adopting_tokens_never_overwrites_and_moves_only_from_a_draft(tmp_path: Path, signin_env: Path) -> None:
    store = default_store()
    draft, saved, other = tokens.key_for(None, "EMEA"), tokens.key_for(tmp_path / "a.toml", "EMEA"), \
        tokens.key_for(tmp_path / "b.toml", "EMEA")
    first = TokenRecord("access-1", "refresh-1", expires_at=2e9, minted_at=1e9, user=USER)
    second = TokenRecord("access-2", "refresh-2", expires_at=2e9, minted_at=1e9, user=USER)
    store.save(draft, first)
    store.save(other, second)
    assert store.adopt(draft, other) is None and store.load(other) == second  # never overwrites
    assert store.adopt(draft, saved) == first and store.load(draft) is None  # a draft's tokens move
    assert store.adopt(saved, other) is None
    store.forget(other)
    assert store.adopt(saved, other) == first and store.load(saved) == first  # a saved profile's are copied
