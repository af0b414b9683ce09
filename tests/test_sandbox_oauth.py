"""OAuth code flow, PKCE, refresh rotation and the mint throttle, through real HTTP against the sandbox."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sandbox_fixtures import SandboxFactory

from outreach_tui.sandbox import Sandbox

REDIRECT = "http://127.0.0.1:53682/callback"
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
    assert body["scope"].split() == ["prospects.read", "prospects.write", "users.read"]
    me = client.get(sandbox.api_base, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["data"]["attributes"]["userEmail"] == "demo@example.com"


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
        ("http://127.0.0.1:1234/cb", True),
        ("http://localhost:40000/any/path", True),
        ("https://evil.example/cb", False),
        ("http://192.168.1.5:8000/cb", False),
    ],
)
def test_redirect_uri_must_be_registered(sandbox: Sandbox, client: httpx.Client, uri: str, accepted: bool) -> None:
    answer = client.get(sandbox.authorize_url, params=authorize_params(sandbox, redirect_uri=uri))
    assert (answer.status_code == 200) is accepted
    if not accepted:
        assert answer.status_code == 400


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
    assert client.get(sandbox.api_base, headers=headers).status_code == 200
    sandbox.expire_all_tokens()
    expired = client.get(sandbox.api_base, headers=headers)
    assert expired.status_code == 401 and expired.json()["error"] == "Invalid JWT token."
    renewed = refresh(sandbox, client, token["refresh_token"])
    assert renewed.status_code == 200
    fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert client.get(sandbox.api_base, headers=fresh).status_code == 200
