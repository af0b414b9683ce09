"""OAuth 2 authorization-code flow with PKCE and refresh rotation, the way Outreach behaves
(docs/DESIGN.md, "The sandbox").

The sign-in page has two steps like Outreach's: email (button ``#next``), then password (``#sign-in``).
The pending authorization request stays server-side, keyed by the hidden ``session`` form field.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from outreach_tui.sandbox.responses import oauth_error
from outreach_tui.sandbox.state import CODE_TTL, Grant, LoginSession, SandboxState

PAGE = Template(resources.files(__package__).joinpath("login.html").read_text(encoding="utf-8"))
EMAIL_FIELDS = (
    '<label for="email">Email</label><input id="email" name="email" type="email" value="$email" autofocus>'
    '<button id="next" type="submit">Next</button>'
)
PASSWORD_FIELDS = (
    "<p>Signing in as <strong>$email</strong></p>"
    '<label for="password">Password</label><input id="password" name="password" type="password" autofocus>'
    '<button id="sign-in" type="submit">Sign in</button>'
)


def redirect_allowed(uri: str, registered: list[str]) -> bool:
    """Only a URI registered on the app, compared exactly (Outreach has no port wildcard for loopback)."""
    return uri in registered


def requested_scopes(scope: str) -> frozenset[str]:
    """The authorize request's ``scope``: space-separated as documented; a literal ``+`` is accepted too."""
    return frozenset(scope.replace("+", " ").split())


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def with_query(uri: str, params: dict[str, str | None]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def error_page(status: int, message: str) -> HTMLResponse:
    body = (
        "<!doctype html><title>Sign-in error</title><h1>Sign-in error</h1>"
        f'<p class="error" id="error">{html.escape(message)}</p>'
    )
    return HTMLResponse(body, status_code=status)


def render(session_id: str, pending: LoginSession, error: str | None = None) -> HTMLResponse:
    email = html.escape(pending.email or "")
    fields = Template(PASSWORD_FIELDS if pending.email else EMAIL_FIELDS).substitute(email=email)
    page = PAGE.substitute(
        client_id=html.escape(pending.client_id),
        scope=html.escape(pending.scope),
        session=html.escape(session_id),
        fields=fields,
        error=f'<p class="error" id="error">{html.escape(error)}</p>' if error else "",
    )
    return HTMLResponse(page, status_code=200 if error is None else 401)


async def form_or_json(request: Request) -> dict[str, str]:
    raw = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))


class OAuthServer:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.config = state.config

    def routes(self) -> list[Route]:
        return [
            Route("/oauth/authorize", self.authorize, methods=["GET"]),
            Route("/oauth/authorize", self.sign_in, methods=["POST"]),
            Route("/oauth/token", self.token, methods=["POST"]),
        ]

    async def authorize(self, request: Request) -> Response:
        q = request.query_params
        if q.get("client_id") != self.config.client_id:
            return error_page(400, "Unknown client: this application is not registered.")
        redirect_uri = q.get("redirect_uri", "")
        if not redirect_allowed(redirect_uri, self.state.redirect_uris):
            return error_page(400, "The redirect uri included is not valid: it is not registered for this application.")
        state = q.get("state")
        if q.get("response_type") != "code":
            return RedirectResponse(with_query(redirect_uri, {"error": "unsupported_response_type", "state": state}))
        challenge = q.get("code_challenge")
        if challenge and q.get("code_challenge_method", "plain") != "S256":
            return RedirectResponse(with_query(redirect_uri, {"error": "invalid_request", "state": state}))
        session_id = secrets.token_urlsafe(24)
        pending = LoginSession(self.config.client_id, redirect_uri, q.get("scope", ""), state, challenge)
        with self.state.lock:
            self.state.sessions[session_id] = pending
        return render(session_id, pending)

    async def sign_in(self, request: Request) -> Response:
        form = await form_or_json(request)
        session_id = form.get("session", "")
        pending = self.state.sessions.get(session_id)
        if pending is None:
            return error_page(400, "This sign-in request has expired; start again from the application.")
        if "password" not in form:
            email = form.get("email", "").strip()
            if not email:
                return render(session_id, pending, "Enter your email address.")
            pending.email = email
            return render(session_id, pending)
        if pending.email is None or self.config.users.get(pending.email) != form["password"]:
            return render(session_id, pending, "Invalid email or password.")
        with self.state.lock:
            self.state.sessions.pop(session_id, None)
        code = secrets.token_urlsafe(24)
        grant = Grant(
            user=pending.email,
            client_id=pending.client_id,
            redirect_uri=pending.redirect_uri,
            scopes=requested_scopes(pending.scope),
            code_challenge=pending.code_challenge,
            expires_at=time.time() + CODE_TTL,
        )
        with self.state.lock:
            self.state.grants[code] = grant
        target = with_query(pending.redirect_uri, {"code": code, "state": pending.state})
        return RedirectResponse(target, status_code=302)

    async def token(self, request: Request) -> Response:
        form = await form_or_json(request)
        client_id, secret = self._client_credentials(request, form)
        if client_id != self.config.client_id or not secrets.compare_digest(secret, self.config.client_secret):
            return oauth_error(401, "invalid_client", "Client authentication failed.")
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._exchange_code(form)
        if grant_type == "refresh_token":
            return self._refresh(form)
        return oauth_error(400, "unsupported_grant_type", "Use authorization_code or refresh_token.")

    def _client_credentials(self, request: Request, form: dict[str, str]) -> tuple[str, str]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode("utf-8")
            except ValueError:
                return "", ""
            client_id, _, secret = decoded.partition(":")
            return client_id, secret
        return form.get("client_id", ""), form.get("client_secret", "")

    def _exchange_code(self, form: dict[str, str]) -> Response:
        code = form.get("code", "")
        grant = self.state.grants.get(code)
        if grant is None or grant.expires_at <= time.time() or grant.client_id != self.config.client_id:
            return oauth_error(400, "invalid_grant", "The authorization code is invalid, used or expired.")
        problem = self._grant_mismatch(grant, form)
        if problem is not None:
            with self.state.lock:
                self.state.grants.pop(code, None)  # a failed exchange burns the code
            return oauth_error(400, "invalid_grant", problem)
        if self.state.mint_throttled(grant.user, grant.client_id):
            return PlainTextResponse("Retry later", status_code=429)  # the code stays usable
        with self.state.lock:
            if self.state.grants.pop(code, None) is None:  # a concurrent exchange won
                return oauth_error(400, "invalid_grant", "The authorization code was already used.")
        return self._token_response(self.state.mint(grant.user, grant.client_id, grant.scopes))

    def _grant_mismatch(self, grant: Grant, form: dict[str, str]) -> str | None:
        if not redirect_allowed(form.get("redirect_uri", ""), self.state.redirect_uris):
            return "The redirect URI is not registered for this application."
        if form.get("redirect_uri") != grant.redirect_uri:
            return "The redirect URI does not match the authorization request."
        if grant.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            if not verifier or not secrets.compare_digest(pkce_s256(verifier), grant.code_challenge):
                return "The PKCE code verifier does not match the challenge."
        return None

    def _refresh(self, form: dict[str, str]) -> Response:
        token = form.get("refresh_token", "")
        record = self.state.refresh_tokens.get(token)
        if record is not None and self.state.mint_throttled(record.user, record.client_id):
            return PlainTextResponse("Retry later", status_code=429)
        taken = self.state.take_refresh_token(token, self.config.client_id)
        if taken is None:
            return oauth_error(400, "invalid_grant", "The refresh token is invalid, used or expired.")
        return self._token_response(self.state.mint(taken.user, taken.client_id, taken.scopes))

    @staticmethod
    def _token_response(body: dict[str, Any]) -> Response:
        return Response(
            orjson.dumps(body),
            media_type="application/json",
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )
