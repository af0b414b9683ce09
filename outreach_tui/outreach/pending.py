"""An authorization request in flight (OAuth 2 code + state + PKCE S256) and how its callback is checked.

authlib supplies the transport-free pieces (PKCE challenge, random tokens, URL building).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from outreach_tui.outreach.credentials import SignInError
from outreach_tui.outreach.settings import OutreachSettings


@dataclass
class PendingSignIn:
    """An authorization request in flight: what the callback must match and how to finish it."""

    authorize_url: str
    redirect_uri: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


def begin_sign_in(settings: OutreachSettings, redirect_uri: str | None = None) -> PendingSignIn:
    """A fresh state and PKCE verifier, and the authorize URL carrying them."""
    redirect = redirect_uri or settings.redirect_uri
    state = generate_token(32)
    verifier = generate_token(64)  # 64 chars from [A-Za-z0-9]: within RFC 7636's 43..128
    url = add_params_to_uri(settings.authorize_url, [
        ("response_type", "code"),
        ("client_id", settings.client_id),
        ("redirect_uri", redirect),
        ("scope", " ".join(settings.scopes)),
        ("state", state),
        ("code_challenge", create_s256_code_challenge(verifier)),
        ("code_challenge_method", "S256"),
    ])
    return PendingSignIn(authorize_url=url, redirect_uri=redirect, state=state, code_verifier=verifier)


def code_from_params(params: dict[str, str], pending: PendingSignIn) -> str:
    """The authorization code if the callback belongs to ``pending``; else SignInError saying why."""
    if not secrets.compare_digest(params.get("state", ""), pending.state):
        raise SignInError("The sign-in callback does not belong to this sign-in (state mismatch); "
                          "start again")
    if params.get("error"):
        described = params.get("error_description")
        reason = params["error"] + (f": {described}" if described else "")
        raise SignInError(f"Outreach did not grant access ({reason})")
    code = params.get("code")
    if not code:
        raise SignInError("The sign-in callback carried no authorization code; start again")
    return code


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
