"""Signing in to Outreach: the browser flow over a loopback redirect, the ``--no-browser`` paste flow,
who is signed in, and signing out. Callers pass the ``[outreach]`` settings and where the profile's tokens
live (a ``TokenPlace``, decided by the caller); nothing here knows about profiles.

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
from outreach_tui.outreach.settings import OutreachSettings
from outreach_tui.outreach.token_endpoint import client_secret_for, oauth_client, post_token_patiently, token_info
from outreach_tui.outreach.token_source import OAuthTokenSource, token_source_for
from outreach_tui.outreach.tokens import TokenPlace, TokenRecord, TokenStore, default_store

__all__ = [
    "CallbackServer", "PendingSignIn", "SignInError", "SignInResult", "SignInTimeout", "begin_paste_sign_in",
    "begin_sign_in", "client_secret_for", "complete_sign_in_from_redirect", "logout", "sign_in", "whoami",
]


@dataclass
class SignInResult:
    user: str | None
    scopes: list[str]
    missing_scopes: list[str]
    store_location: str
    notice: str | None = None  # e.g. the one-time "tokens are kept in a 0600 file" sentence


def _redirect_with_port(redirect_uri: str, port: int) -> str:
    parts = urlsplit(redirect_uri)
    host = parts.hostname or LOOPBACK
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def _redirect_port(settings: OutreachSettings) -> int:
    parts = urlsplit(settings.redirect_uri)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
        raise SignInError("outreach.redirect_uri must be a loopback address like "
                          f"http://127.0.0.1:8400/callback (got {settings.redirect_uri})")
    return parts.port or 0


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
        info = await token_info(client, settings, record.access_token, place.login_hint)
    record.user = info.get("user")
    record.redirect_uri = pending.redirect_uri
    if not record.scopes and info.get("scopes"):
        record.scopes = list(info["scopes"])
    store.save(place.key, record)
    return SignInResult(user=record.user, scopes=list(record.scopes),
                        missing_scopes=missing_scopes(settings.scopes, record.scopes),
                        store_location=store.describe(place.key), notice=store.first_use_notice())


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
            raise SignInError(f"Cannot listen on {LOOPBACK}:{port} for the sign-in callback "
                              f"({exc.strerror}); free the port or change outreach.redirect_uri") from None
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
    """Who the stored (or env) token belongs to and its scopes: ``{"user": ..., "scopes": [...]}``."""
    source = token_source_for(settings, place, store=store)
    token = await source.access_token()
    async with oauth_client() as client:
        try:
            info = await token_info(client, settings, token, place.login_hint)
        except AuthUnreachable:
            raise
        except AuthRequired:
            token = await source.refresh_after_401(token)  # one refresh, then the user must sign in
            info = await token_info(client, settings, token, place.login_hint)
    if info.get("scopes") is None and isinstance(source, OAuthTokenSource):
        info["scopes"] = source.scopes
    return info


def logout(place: TokenPlace, *, store: TokenStore | None = None) -> bool:
    """Forget the profile's tokens (and a draft's, if any). True when there was something to forget."""
    store = store or default_store()
    forgot_draft = store.forget(place.draft_key) if place.draft_key is not None else False
    return store.forget(place.key) or forgot_draft
