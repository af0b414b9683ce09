"""Browser sign-in through the loopback callback against the sandbox (real HTTP; no browser needed here:
``tests/test_login_browser.py`` does the same in headless Chromium)."""

from __future__ import annotations

import asyncio
import logging
import socket
import stat
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import httpx
import pytest
from test_auth_support import (
    make_profile,
    redirect_after_login,
    registered_redirect_uri,
    settings_and_place,
    sign_in_over_http,
    source_for,
    token_file,
)

from outreach_tui.outreach import auth
from outreach_tui.outreach.auth import CallbackServer, SignInError, SignInTimeout
from outreach_tui.outreach.credentials import AuthRequired
from outreach_tui.outreach.scopes import missing_scopes
from outreach_tui.outreach.settings import DEFAULT_REDIRECT_URI, OutreachSettings
from outreach_tui.outreach.token_endpoint import oauth_client
from outreach_tui.outreach.tokens import default_store
from outreach_tui.profile import Profile
from outreach_tui.sandbox import Sandbox
from outreach_tui.sandbox.config import DEFAULT_REDIRECT_URI as SANDBOX_REGISTERED_URI

Bound = list[tuple[str, int, int]]  # (host, port, address family) of each listening socket


def listening(into: Bound) -> Callable[[CallbackServer], None]:
    """An ``on_server`` hook noting where the callback server listens, while it listens."""
    def note(server: CallbackServer) -> None:
        assert server.server is not None
        into.extend((str(s.getsockname()[0]), int(s.getsockname()[1]), int(s.family)) for s in server.server.sockets)
    return note


async def _signed_in(profile: Profile, bound: Bound | None = None) -> auth.SignInResult:
    """Run sign_in and complete it over HTTP as soon as the URL is known."""
    url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(auth.sign_in(*settings_and_place(profile), open_browser=url.set_result, timeout=10,
                                            on_server=listening(bound) if bound is not None else None))
    callback = await sign_in_over_http(await asyncio.wait_for(url, 5))
    assert callback.status_code == 200 and "You can close this tab" in callback.text
    return await asyncio.wait_for(task, 10)


async def test_sign_in_stores_token_in_a_0600_file_and_token_source_returns_it(
        tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    result = await _signed_in(profile)

    assert result.user is None  # Outreach's token answer does not say whose it is: nothing is invented
    assert set(result.scopes) == {"prospects.read", "prospects.write", "users.read"}
    assert result.redirect_uri == profile.outreach.redirect_uri
    assert result.missing_scopes == []
    assert result.store_location.startswith("file ") and result.store_location.endswith("(0600)")
    assert result.notice and "0600" in result.notice
    path = token_file(signin_env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    token = await source_for(profile).access_token()
    assert token and token in path.read_text()
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{auth_sandbox.api_base}/prospects/1", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    auth_sandbox.reset_stats()
    assert await auth.whoami(*settings_and_place(profile)) == {
        "user": None, "scopes": ["prospects.read", "prospects.write", "users.read"], "expires_at": result.expires_at}
    # who is signed in comes from the token answer; the API root (undocumented body) is never asked
    assert auth_sandbox.stats.count(route="/api/v2") == 0 and auth_sandbox.stats.count("GET", "/api/v2/prospects") == 1
    assert auth.logout(profile.token_place()) is True
    assert not path.exists() and auth.logout(profile.token_place()) is False
    with pytest.raises(AuthRequired, match="outreach-tui login"):
        await source_for(profile).access_token()


async def test_callback_server_binds_loopback_only(tmp_path: Path, auth_sandbox: Sandbox,
                                                   signin_env: Path) -> None:
    bound: Bound = []
    await _signed_in(make_profile(tmp_path, auth_sandbox), bound)
    host, port, _ = bound[0]
    assert host == "127.0.0.1" and port > 0
    assert [family for _, _, family in bound] == [socket.AF_INET]
    # The address is closed once sign-in finished.
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


async def test_callback_server_unreachable_from_other_addresses(tmp_path: Path, auth_sandbox: Sandbox,
                                                                signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    bound: Bound = []
    task = asyncio.create_task(auth.sign_in(*settings_and_place(profile), timeout=10, on_server=listening(bound)))
    while not bound:
        await asyncio.sleep(0.01)
    port = bound[0][1]
    others = {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    others = {address for address in others if not address.startswith("127.")}
    others.add("127.0.0.2")  # reachable on Linux loopback; answers only if the server bound 0.0.0.0
    for address in others:  # the machine's other interfaces do not answer on the callback port
        with pytest.raises(OSError), socket.create_connection((address, port), timeout=1):
            pass
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_state_mismatch_is_rejected_and_the_real_callback_still_works(
        tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(auth.sign_in(*settings_and_place(profile), open_browser=url.set_result, timeout=10))
    location = await redirect_after_login(await asyncio.wait_for(url, 5))
    forged = location.replace("state=", "state=forged")
    async with httpx.AsyncClient() as client:
        rejected = await client.get(forged)
        assert rejected.status_code == 400 and "state mismatch" in rejected.text
        assert not task.done()
        assert (await client.get(location)).status_code == 200
    assert (await asyncio.wait_for(task, 10)).scopes == ["prospects.read", "prospects.write", "users.read"]


async def test_pasted_redirect_with_wrong_state_is_rejected(tmp_path: Path, auth_sandbox: Sandbox,
                                                            signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    pending = auth.begin_paste_sign_in(profile.outreach)
    location = await redirect_after_login(pending.authorize_url)
    with pytest.raises(SignInError, match="state mismatch"):
        forged = location.replace("state=", "state=x")
        await auth.complete_sign_in_from_redirect(*settings_and_place(profile), forged, pending)
    assert not (signin_env / "tokens").exists() or not list((signin_env / "tokens").glob("*.json"))
    result = await auth.complete_sign_in_from_redirect(*settings_and_place(profile), location, pending)
    assert result.missing_scopes == [] and default_store().load(profile.token_place().key) is not None


async def test_wrong_pkce_verifier_is_rejected_by_the_sandbox(tmp_path: Path, auth_sandbox: Sandbox,
                                                             signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    pending = auth.begin_paste_sign_in(profile.outreach)
    assert "code_challenge_method=S256" in pending.authorize_url
    location = await redirect_after_login(pending.authorize_url)
    verifier = pending.code_verifier
    pending.code_verifier = auth.begin_sign_in(profile.outreach).code_verifier  # someone else's verifier
    with pytest.raises(SignInError, match="PKCE") as caught:
        await auth.complete_sign_in_from_redirect(*settings_and_place(profile), location, pending)
    assert verifier not in str(caught.value) and pending.code_verifier not in str(caught.value)
    assert default_store().load(profile.token_place().key) is None
    assert auth_sandbox.stats.count("POST", "/oauth/token", 400) == 1


async def test_sign_in_times_out_with_a_clear_message(tmp_path: Path, auth_sandbox: Sandbox,
                                                      signin_env: Path) -> None:
    bound: Bound = []
    with pytest.raises(SignInTimeout, match="No sign-in arrived within 1 s"):
        profile = make_profile(tmp_path, auth_sandbox)
        await auth.sign_in(*settings_and_place(profile), timeout=0.2, on_server=listening(bound))
    port = bound[0][1]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


async def test_sign_in_is_cancellable(tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path) -> None:
    bound: Bound = []
    profile = make_profile(tmp_path, auth_sandbox)
    task = asyncio.create_task(auth.sign_in(*settings_and_place(profile), on_server=listening(bound)))
    while not bound:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    port = bound[0][1]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


async def test_fixed_redirect_port_from_the_profile_is_used(tmp_path: Path, auth_sandbox: Sandbox,
                                                            signin_env: Path) -> None:
    uri = registered_redirect_uri(auth_sandbox, "/oauth/done")
    profile = make_profile(tmp_path, auth_sandbox, redirect_uri=uri)
    bound: Bound = []
    result = await _signed_in(profile, bound)
    assert bound[0][:2] == ("127.0.0.1", int(uri.split(":")[2].split("/")[0]))
    assert result.redirect_uri == uri and result.missing_scopes == []


def test_default_redirect_uri_is_one_fixed_loopback_uri_the_sandbox_registers() -> None:
    assert OutreachSettings().redirect_uri == DEFAULT_REDIRECT_URI == "http://127.0.0.1:8976/callback"
    assert DEFAULT_REDIRECT_URI == SANDBOX_REGISTERED_URI
    demo = tomllib.loads(resources.files("outreach_tui").joinpath("demo", "demo.toml").read_text("utf-8"))
    assert demo["outreach"]["redirect_uri"] == DEFAULT_REDIRECT_URI  # the demo signs in on the fixed URI
    advice = auth.redirect_uri_advice(OutreachSettings(client_id="my-app"))
    assert "client id 'my-app'" in advice and advice.endswith("exactly: http://127.0.0.1:8976/callback")


async def test_unregistered_redirect_uri_is_refused_by_the_sandbox(tmp_path: Path, auth_sandbox: Sandbox,
                                                                   signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox, redirect_uri="http://127.0.0.1:8977/callback")
    pending = auth.begin_paste_sign_in(profile.outreach)
    async with httpx.AsyncClient() as client:
        page = await client.get(pending.authorize_url)
    assert page.status_code == 400 and "not registered" in page.text


async def test_a_busy_redirect_port_is_a_clear_error_naming_the_port_and_the_fix(
        tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        uri = f"http://127.0.0.1:{port}/callback"
        auth_sandbox.register_redirect_uri(uri)
        profile = make_profile(tmp_path, auth_sandbox, redirect_uri=uri)
        opened: list[str] = []
        with pytest.raises(SignInError) as caught:
            await auth.sign_in(*settings_and_place(profile), open_browser=opened.append, timeout=5)
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and f"Free port {port}" in message
    assert "[outreach] redirect_uri" in message and "registered" in message
    assert opened == []  # no browser is sent to a sign-in whose redirect could not arrive
    assert auth_sandbox.stats.count("POST", "/oauth/token") == 0


async def test_a_random_port_only_when_asked_and_registered_first(tmp_path: Path, auth_sandbox: Sandbox,
                                                                  signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox, redirect_uri="http://127.0.0.1:0/callback")
    assert "cannot be registered in advance" in auth.redirect_uri_advice(profile.outreach)
    bound: Bound = []

    def register_then_open(url: str) -> None:  # what only a test can do: register the random port first
        redirect = dict(httpx.URL(url).params)["redirect_uri"]
        auth_sandbox.register_redirect_uri(redirect)
        opened.set_result(url)

    opened: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(auth.sign_in(*settings_and_place(profile), open_browser=register_then_open,
                                            timeout=10, on_server=listening(bound)))
    assert (await sign_in_over_http(await asyncio.wait_for(opened, 5))).status_code == 200
    result = await asyncio.wait_for(task, 10)
    assert bound[0][1] > 0 and result.redirect_uri == f"http://127.0.0.1:{bound[0][1]}/callback"


def test_missing_scopes_reports_what_the_profile_needs(tmp_path: Path, auth_sandbox: Sandbox) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    assert missing_scopes(profile.outreach.scopes, ["prospects.write"]) == ["prospects.read", "users.read"]
    assert missing_scopes(profile.outreach.scopes, ["prospects.all", "users.read"]) == []


def test_non_loopback_redirect_uri_is_refused(tmp_path: Path, auth_sandbox: Sandbox) -> None:
    profile = make_profile(tmp_path, auth_sandbox, redirect_uri="http://0.0.0.0:8400/callback")
    with pytest.raises(SignInError, match="loopback"):
        auth.begin_paste_sign_in(profile.outreach)
    portless = make_profile(tmp_path, auth_sandbox, redirect_uri="http://127.0.0.1/callback")
    with pytest.raises(SignInError, match="must name its port"):  # not silently a random port
        auth.begin_paste_sign_in(portless.outreach)


async def test_no_token_in_logs_or_messages_over_a_whole_session(
        tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path,
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    profile = make_profile(tmp_path, auth_sandbox)
    result = await _signed_in(profile)
    messages = [repr(result)]
    store, key = default_store(), profile.token_place().key
    seen = [store.load(key)]
    auth_sandbox.expire_all_tokens()
    source = source_for(profile, mint_interval=0)
    await source.refresh_after_401(seen[0].access_token)  # type: ignore[union-attr]
    seen.append(store.load(key))
    messages.append(repr(source))
    messages.append(repr(await auth.whoami(*settings_and_place(profile))))
    auth_sandbox.expire_all_tokens()
    spent = seen[-1]
    assert spent is not None
    async with httpx.AsyncClient() as client:  # another party spends the refresh token: invalid_grant next
        await client.post(auth_sandbox.token_url, data={
            "grant_type": "refresh_token", "refresh_token": spent.refresh_token,
            "client_id": "outreach-tui-sandbox", "client_secret": "sandbox-secret"})
    with pytest.raises(AuthRequired) as caught:
        await source_for(profile, mint_interval=0).refresh_after_401(spent.access_token)
    messages.append(str(caught.value))
    monkeypatch.setenv("OUTREACH_ACCESS_TOKEN", spent.access_token)
    with pytest.raises(AuthRequired) as caught:
        await auth.whoami(*settings_and_place(profile))
    messages.append(str(caught.value))

    secrets = {t for record in seen if record for t in (record.access_token, record.refresh_token) if t}
    assert len(secrets) == 4
    for secret in secrets | {"sandbox-secret"}:
        assert secret not in caplog.text
        assert all(secret not in message for message in messages), messages


async def test_tls_verification_stays_on() -> None:
    import ssl

    async with oauth_client() as client:
        context = client._transport._pool._ssl_context  # type: ignore[attr-defined]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_login_says_where_to_sign_in_before_it_says_it_is_waiting(tmp_path: Path, auth_sandbox: Sandbox,
                                                                  signin_env: Path) -> None:
    """The browser login tells the user what to do (the URL), then that it waits for them: not the reverse."""
    import os
    import subprocess
    import sys

    profile = make_profile(tmp_path, auth_sandbox)
    env = {**os.environ, "BROWSER": "true"}  # the `true` command: no browser opens
    done = subprocess.run([sys.executable, "-m", "outreach_tui", "login", str(profile.path), "--timeout", "1"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 3, done.stderr  # nobody signed in: timed out
    told, waiting = done.stderr.find("Sign in to Outreach in your browser"), done.stderr.find("Waiting for the sign-in")
    assert 0 <= told < waiting, done.stderr
    assert profile.outreach.redirect_uri in done.stderr  # the URI to register on the Outreach app
