"""OAuth code flow, PKCE, refresh rotation and the mint throttle, through real HTTP against the sandbox."""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sandbox_fixtures import SandboxFactory

from outreach_tui.sandbox import Sandbox
from outreach_tui.sandbox.config import DEFAULT_REDIRECT_URI

REDIRECT = DEFAULT_REDIRECT_URI  # registered on the sandbox's app by default
SESSION_FIELD = re.compile(r'name="session" value="([^"]+)"')


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize_params(sb: Sandbox, **extra: str) -> dict[str, str]:
    params = {
        "client_id": sb.config.client_id,
        "redirect_uri": REDIRECT,
        "response_type": "code",
        "scope": "prospects.read prospects.write users.read",
        "state": "xyz-state",
    }
    return {**params, **extra}


def sign_in(sb: Sandbox, client: httpx.Client, password: str = "demo", **extra: str) -> httpx.Response:
    """Walk the two-step login page like a browser; returns the answer to the password form."""
    page = client.get(sb.authorize_url, params=authorize_params(sb, **extra))
    assert page.status_code == 200 and 'id="next"' in page.text and 'name="email"' in page.text
    session = SESSION_FIELD.search(page.text)
    assert session is not None
    step2 = client.post(sb.authorize_url, data={"session": session.group(1), "email": "demo@example.com"})
    assert step2.status_code == 200 and 'id="sign-in"' in step2.text and 'name="password"' in step2.text
    return client.post(sb.authorize_url, data={"session": session.group(1), "password": password})


def code_from(answer: httpx.Response) -> str:
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["xyz-state"]
    return query["code"][0]


def exchange(sb: Sandbox, client: httpx.Client, code: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": sb.config.client_id,
        "client_secret": sb.config.client_secret,
        "redirect_uri": REDIRECT,
        "code": code,
    }
    return client.post(sb.token_url, data={**form, **extra})


def refresh(sb: Sandbox, client: httpx.Client, token: str, secret: str | None = None) -> httpx.Response:
    form = {
        "grant_type": "refresh_token",
        "client_id": sb.config.client_id,
        "client_secret": secret or sb.config.client_secret,
        "refresh_token": token,
    }
    return client.post(sb.token_url, data=form)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(follow_redirects=False, timeout=5) as c:
        yield c


def test_full_code_flow_with_pkce_gives_a_working_token(sandbox: Sandbox, client: httpx.Client) -> None:
    verifier = "v" * 64
    answer = sign_in(sandbox, client, code_challenge=challenge_of(verifier), code_challenge_method="S256")
    assert answer.headers["location"].startswith(REDIRECT + "?")
    token = exchange(sandbox, client, code_from(answer), code_verifier=verifier)
    assert token.status_code == 200
    body = token.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope", "created_at"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 7200
    assert body["scope"].split("+") == ["prospects.read", "prospects.write", "users.read"]
    me = client.get(sandbox.api_base + "/prospects/1", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["data"]["id"] == 1


def test_wrong_pkce_verifier_is_invalid_grant_and_burns_the_code(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = sign_in(sandbox, client, code_challenge=challenge_of("right" * 10), code_challenge_method="S256")
    code = code_from(answer)
    bad = exchange(sandbox, client, code, code_verifier="wrong" * 10)
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_grant")
    assert exchange(sandbox, client, code, code_verifier="right" * 10).status_code == 400


def test_code_is_single_use(sandbox: Sandbox, client: httpx.Client) -> None:
    code = code_from(sign_in(sandbox, client))
    assert exchange(sandbox, client, code).status_code == 200
    again = exchange(sandbox, client, code)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")


def test_redirect_uri_must_match_at_exchange(sandbox: Sandbox, client: httpx.Client) -> None:
    code = code_from(sign_in(sandbox, client))
    answer = exchange(sandbox, client, code, redirect_uri="http://127.0.0.1:9/other")
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_wrong_password_shows_an_error_on_the_page(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = sign_in(sandbox, client, password="nope")
    assert answer.status_code != 302
    assert "Invalid email or password." in answer.text and 'id="sign-in"' in answer.text


def test_unknown_client_gets_a_400_page(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = client.get(sandbox.authorize_url, params=authorize_params(sandbox, client_id="intruder"))
    assert answer.status_code == 400 and "Unknown client" in answer.text


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        ("http://127.0.0.1:8976/callback", True),
        ("http://127.0.0.1:8977/callback", False),  # another port: Outreach has no loopback port wildcard
        ("http://localhost:8976/callback", False),  # another host spelling is another URI
        ("http://127.0.0.1:8976/callback/", False),
        ("http://127.0.0.1:1234/cb", False),
        ("https://evil.example/cb", False),
    ],
)
def test_redirect_uri_must_be_registered(sandbox: Sandbox, client: httpx.Client, uri: str, accepted: bool) -> None:
    answer = client.get(sandbox.authorize_url, params=authorize_params(sandbox, redirect_uri=uri))
    assert answer.status_code == (200 if accepted else 400)
    if not accepted:
        assert 'id="error"' in answer.text and "redirect uri" in answer.text and "location" not in answer.headers


def test_default_registered_redirect_uri_is_the_fixed_loopback_one(sandbox: Sandbox) -> None:
    assert sandbox.state.redirect_uris == ["http://127.0.0.1:8976/callback"]


def test_a_test_registers_its_own_redirect_uri_and_signs_in_with_it(sandbox: Sandbox, client: httpx.Client) -> None:
    mine = "http://127.0.0.1:40123/oauth/done"
    assert client.get(sandbox.authorize_url, params=authorize_params(sandbox, redirect_uri=mine)).status_code == 400
    sandbox.register_redirect_uri(mine)
    code = code_from(sign_in(sandbox, client, redirect_uri=mine))
    assert exchange(sandbox, client, code, redirect_uri=mine).status_code == 200


def test_redirect_uri_registered_over_http(sandbox: Sandbox, client: httpx.Client) -> None:
    mine = "http://127.0.0.1:40124/callback"
    answer = client.post(sandbox.base_url + "/_sandbox/redirect-uris", json={"uri": mine})
    assert answer.status_code == 200 and mine in answer.json()["registered"]
    assert client.get(sandbox.authorize_url, params=authorize_params(sandbox, redirect_uri=mine)).status_code == 200


def test_unregistered_redirect_uri_at_the_exchange_is_invalid_grant(sandbox: Sandbox, client: httpx.Client) -> None:
    code = code_from(sign_in(sandbox, client))
    answer = exchange(sandbox, client, code, redirect_uri="http://127.0.0.1:1/callback")
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
    assert "not registered" in answer.json()["error_description"]


def test_demo_seed_registers_the_demo_profiles_redirect_uri(sandbox_factory: SandboxFactory) -> None:
    demo = Path(__file__).resolve().parents[1] / "outreach_tui" / "demo" / "demo.toml"
    uri = tomllib.loads(demo.read_text())["outreach"]["redirect_uri"]
    sb = sandbox_factory(prospects=0, seed="demo")
    assert sb.state.redirect_uris == [DEFAULT_REDIRECT_URI, uri] or sb.state.redirect_uris == [uri]


@pytest.mark.parametrize(("separator", "scope"), [("+", "prospects.read+prospects.write+users.read"),
                                                  (" ", "prospects.read prospects.write users.read")])
def test_token_answer_joins_scopes_as_configured(
    sandbox_factory: SandboxFactory, client: httpx.Client, separator: str, scope: str
) -> None:
    sb = sandbox_factory(scope_separator=separator)
    body = exchange(sb, client, code_from(sign_in(sb, client))).json()
    assert body["scope"] == scope
    assert refresh(sb, client, body["refresh_token"]).json()["scope"] == scope


def test_scopes_are_joined_with_plus_by_default_like_outreachs_sample(sandbox: Sandbox) -> None:
    token = sandbox.issue_token(scopes=("prospects.write", "prospects.read"))
    assert token["scope"] == "prospects.read+prospects.write"


def test_extra_registered_redirect_uri_is_accepted(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    sb = sandbox_factory(redirect_uris=["https://app.example/cb"])
    answer = client.get(sb.authorize_url, params=authorize_params(sb, redirect_uri="https://app.example/cb"))
    assert answer.status_code == 200


def test_bad_client_secret_is_invalid_client(sandbox: Sandbox, client: httpx.Client) -> None:
    code = code_from(sign_in(sandbox, client))
    answer = exchange(sandbox, client, code, client_secret="wrong")
    assert answer.status_code == 401 and answer.json() == {
        "error": "invalid_client",
        "error_description": "Client authentication failed.",
    }


def test_refresh_rotates_and_the_old_refresh_token_dies(sandbox: Sandbox, client: httpx.Client) -> None:
    first = sandbox.issue_token()
    second = refresh(sandbox, client, first["refresh_token"])
    assert second.status_code == 200
    new = second.json()
    assert new["refresh_token"] != first["refresh_token"] and new["access_token"] != first["access_token"]
    reused = refresh(sandbox, client, first["refresh_token"])
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    assert refresh(sandbox, client, new["refresh_token"]).status_code == 200


def test_unknown_refresh_token_is_invalid_grant(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = refresh(sandbox, client, "not-a-token")
    assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant")


def test_token_endpoint_accepts_json(sandbox: Sandbox, client: httpx.Client) -> None:
    first = sandbox.issue_token()
    body = {
        "grant_type": "refresh_token",
        "client_id": sandbox.config.client_id,
        "client_secret": sandbox.config.client_secret,
        "refresh_token": first["refresh_token"],
    }
    assert client.post(sandbox.token_url, json=body).status_code == 200


def test_mint_throttle_answers_plain_text_429(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    sb = sandbox_factory(mint_interval=60.0, token_ttl=300)
    first = refresh(sb, client, sb.issue_token()["refresh_token"])
    assert first.status_code == 200 and first.json()["expires_in"] == 300
    second = refresh(sb, client, first.json()["refresh_token"])
    assert second.status_code == 429
    assert second.text == "Retry later" and second.headers["content-type"].startswith("text/plain")
    # the throttled refresh token was not consumed
    assert sb.state.refresh_tokens.get(first.json()["refresh_token"]) is not None


def test_expired_access_tokens_answer_401_but_refresh_still_works(sandbox: Sandbox, client: httpx.Client) -> None:
    token = sandbox.issue_token()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get(sandbox.api_base + "/prospects/1", headers=headers).status_code == 200
    sandbox.expire_all_tokens()
    expired = client.get(sandbox.api_base + "/prospects/1", headers=headers)
    assert expired.status_code == 401 and expired.json()["error"] == "Invalid JWT token."
    renewed = refresh(sandbox, client, token["refresh_token"])
    assert renewed.status_code == 200
    fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert client.get(sandbox.api_base + "/prospects/1", headers=fresh).status_code == 200
