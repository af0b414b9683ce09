"""Signing in to Outreach: the browser flow over a loopback redirect, the ``--no-browser`` paste flow,
who is signed in, and signing out. Callers pass the ``[outreach]`` settings and where the profile's tokens
live (a ``TokenPlace``, decided by the caller); nothing here knows about profiles.

Outreach accepts only the redirect URIs registered on the OAuth app, compared exactly, so the callback
listens on exactly the port of ``outreach.redirect_uri`` (default ``http://127.0.0.1:8976/callback``). Port 0
(a random port) is only for an authorization server that lets the caller register it first, like the sandbox
in tests: a random port can never be registered on a real Outreach app in advance.

Outreach documents no way to learn whose a token is (no ``/users/me``; ``GET /api/v2``'s body is
undocumented; ``GET /users`` lists the whole organisation), so "who is signed in" is what the token
answer said: its scopes and expiry. The user stays unknown unless a record from elsewhere names one.

TLS verification is on for every call (``http.py``). Secrets never appear in messages, logs or ``repr``.
"""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from outreach_tui.outreach.callback import LOOPBACK, CallbackServer
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, SignInError, SignInTimeout
from outreach_tui.outreach.pending import PendingSignIn, begin_sign_in, code_from_params, query_of
from outreach_tui.outreach.scopes import missing_scopes
from outreach_tui.outreach.settings import DEFAULT_REDIRECT_URI, OutreachSettings
from outreach_tui.outreach.token_endpoint import client_secret_for, oauth_client, post_token_patiently, probe_token
from outreach_tui.outreach.token_source import OAuthTokenSource, token_source_for
from outreach_tui.outreach.tokens import TokenPlace, TokenRecord, TokenStore, default_store

__all__ = [
    "CallbackServer", "PendingSignIn", "SignInError", "SignInResult", "SignInTimeout", "begin_paste_sign_in",
    "begin_sign_in", "client_secret_for", "complete_sign_in_from_redirect", "logout", "redirect_uri_advice",
    "sign_in", "whoami",
]


@dataclass
class SignInResult:
    user: str | None
    scopes: list[str]
    missing_scopes: list[str]
    store_location: str
    notice: str | None = None  # e.g. the one-time "tokens are kept in a 0600 file" sentence
    redirect_uri: str = ""  # the one this sign-in used (it must be registered on the Outreach app)
    expires_at: float | None = None  # when the access token expires (epoch seconds)


def _redirect_with_port(redirect_uri: str, port: int) -> str:
    parts = urlsplit(redirect_uri)
    host = parts.hostname or LOOPBACK
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def _redirect_port(settings: OutreachSettings) -> int:
    """The port of ``outreach.redirect_uri``: 0 only when the profile asks for a random one (``:0``)."""
    parts = urlsplit(settings.redirect_uri)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
        raise SignInError(f"outreach.redirect_uri must be a loopback address like {DEFAULT_REDIRECT_URI} "
                          f"(got {settings.redirect_uri})")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        raise SignInError(f"outreach.redirect_uri must name its port, like {DEFAULT_REDIRECT_URI} "
                          f"(got {settings.redirect_uri})")
    return port


def redirect_uri_advice(settings: OutreachSettings) -> str:
    """What to register on the Outreach app, for ``login`` and the wizard to show before the sign-in."""
    app = f"the Outreach app (client id '{settings.client_id}')"
    if _redirect_port(settings) == 0:
        return (f"outreach.redirect_uri ({settings.redirect_uri}) asks for a random port: Outreach accepts only "
                f"redirect URIs registered on {app}, matched exactly, and a random port cannot be registered "
                f"in advance. Set outreach.redirect_uri to a fixed one, e.g. {DEFAULT_REDIRECT_URI}, and "
                "register that.")
    return f"This redirect URI must be registered on {app}, exactly: {settings.redirect_uri}"


def begin_paste_sign_in(settings: OutreachSettings) -> PendingSignIn:
    """For ``--no-browser``: a concrete redirect URI (a free port when the settings say 0) and its URL."""
    port = _redirect_port(settings)
    if port == 0:
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = probe.getsockname()[1]
    return begin_sign_in(settings, _redirect_with_port(settings.redirect_uri, port))


async def _finish(settings: OutreachSettings, place: TokenPlace, pending: PendingSignIn, code: str,
                  client_secret: str | None, store: TokenStore | None) -> SignInResult:
    """Exchange the code (waiting out the mint throttle), find the user, store the tokens."""
    store = store or default_store()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri,
            "client_id": settings.client_id, "client_secret": client_secret_for(settings, client_secret),
            "code_verifier": pending.code_verifier}
    async with oauth_client() as client:
        body = await post_token_patiently(client, settings, form, place.login_hint)
    record = TokenRecord.from_token_response(body)
    if "scope" not in body:  # RFC 6749 5.1: a token answer leaves out scope only when it is what was asked
        record.scopes = list(settings.scopes)
    record.redirect_uri = pending.redirect_uri
    store.save(place.key, record)
    return SignInResult(user=record.user, scopes=list(record.scopes),
                        missing_scopes=missing_scopes(settings.scopes, record.scopes),
                        store_location=store.describe(place.key), notice=store.first_use_notice(),
                        redirect_uri=pending.redirect_uri, expires_at=record.expires_at)


async def complete_sign_in_from_redirect(settings: OutreachSettings, place: TokenPlace, pasted_url: str,
                                         pending: PendingSignIn, *, client_secret: str | None = None,
                                         store: TokenStore | None = None) -> SignInResult:
    """``--no-browser``: finish with the redirect URL the user copied from the browser's address bar."""
    code = code_from_params(query_of(pasted_url.strip()), pending)
    return await _finish(settings, place, pending, code, client_secret, store)


async def sign_in(settings: OutreachSettings, place: TokenPlace, *,
                  open_browser: Callable[[str], object] | None = None,
                  on_url: Callable[[str], None] | None = None, timeout: float = 300.0,
                  client_secret: str | None = None, store: TokenStore | None = None,
                  on_server: Callable[[CallbackServer], None] | None = None) -> SignInResult:
    """The whole browser sign-in. Cancel the awaiting task to abort; the callback server always closes."""
    client_secret_for(settings, client_secret)  # fail before opening a browser if there is no secret
    port = _redirect_port(settings)
    server = CallbackServer(urlsplit(settings.redirect_uri).path)
    try:
        try:
            bound = await server.start(port)
        except OSError as exc:
            raise SignInError(
                f"Cannot listen on {LOOPBACK}:{port} for the sign-in callback ({exc.strerror}): another program "
                f"uses port {port}. Free port {port}, or set [outreach] redirect_uri in the profile to another "
                "redirect URI registered on the Outreach app (Outreach accepts only registered ones)") from None
        pending = begin_sign_in(settings, _redirect_with_port(settings.redirect_uri, bound))
        server.pending = pending
        if on_server is not None:
            on_server(server)
        if on_url is not None:
            on_url(pending.authorize_url)
        if open_browser is not None:
            open_browser(pending.authorize_url)
        try:
            code = await asyncio.wait_for(asyncio.shield(server.result), timeout)
        except TimeoutError:
            raise SignInTimeout(f"No sign-in arrived within {_seconds(timeout)}; run the login again "
                                "(use --no-browser to paste the redirect URL instead)") from None
    finally:
        await server.close()
    return await _finish(settings, place, pending, code, client_secret, store)


def _seconds(timeout: float) -> str:
    return f"{math.ceil(timeout)} s" if timeout < 120 else f"{timeout / 60:.0f} minutes"


async def whoami(settings: OutreachSettings, place: TokenPlace, *,
                 store: TokenStore | None = None) -> dict[str, Any]:
    """What is known about the stored (or env) token, after checking Outreach accepts it (one request):
    ``{"user": None or a name, "scopes": [...] or None when unknown, "expires_at": epoch seconds or None}``.

    Raises AuthRequired when there is no usable token (after one refresh), AuthUnreachable when Outreach
    does not answer."""
    source = token_source_for(settings, place, store=store)
    token = await source.access_token()
    async with oauth_client() as client:
        try:
            await probe_token(client, settings, token, place.login_hint)
        except AuthUnreachable:
            raise
        except AuthRequired:
            token = await source.refresh_after_401(token)  # one refresh, then the user must sign in
            await probe_token(client, settings, token, place.login_hint)
    if not isinstance(source, OAuthTokenSource):  # OUTREACH_ACCESS_TOKEN: nothing is known but that it works
        return {"user": None, "scopes": None, "expires_at": None}
    return {"user": source.user, "scopes": source.scopes or None, "expires_at": source.expires_at}


def logout(place: TokenPlace, *, store: TokenStore | None = None) -> bool:
    """Forget the profile's tokens (and a draft's, if any). True when there was something to forget."""
    store = store or default_store()
    forgot_draft = store.forget(place.draft_key) if place.draft_key is not None else False
    return store.forget(place.key) or forgot_draft
