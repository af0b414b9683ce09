"""Signing in to Outreach (OAuth 2 authorization code + state + PKCE S256 over a loopback redirect) and
keeping the user signed in (refresh with rotation, the 60-second mint throttle, env overrides).

authlib supplies the transport-free pieces (PKCE challenge, random tokens, URL building); the HTTP calls
are our own ``httpx`` ones, because authlib's httpx integration now targets a package named ``httpx2`` and
warns otherwise. TLS verification is httpx's default and is never turned off.

Secrets (client secret, access and refresh tokens) never appear in messages, logs or ``repr``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from outreach_tui.outreach.credentials import (
    AuthRequired,
    AuthUnreachable,
    StaticTokenSource,
    TokenSource,
    env_access_token,
)
from outreach_tui.outreach.http import make_client
from outreach_tui.outreach.tokens import (
    StoreKey,
    TokenRecord,
    TokenStore,
    default_store,
    fingerprint,
    key_for,
)
from outreach_tui.profile import Profile

log = logging.getLogger(__name__)

MINT_INTERVAL = 60.0  # Outreach mints a token per user and app at most once a minute (API-NOTES)
REFRESH_MARGIN = 300.0  # refresh this long before expiry (capped at a tenth of a short token's life)
THROTTLE_PATIENCE = 180.0  # give up waiting on "429 Retry later" after this long
SANDBOX_CLIENT_ID = "outreach-tui-sandbox"
SANDBOX_SECRET = "sandbox-secret"  # the sandbox's published demo credential (see sandbox/config.py)
KEYRING_SERVICE = "outreach-tui"
LOOPBACK = "127.0.0.1"


class SignInError(AuthRequired):
    """Sign-in did not complete (denied, state mismatch, bad code, ...). The message says why."""


class SignInTimeout(SignInError, TimeoutError):
    """Nobody completed the browser sign-in in time."""


@dataclass
class SignInResult:
    user: str | None
    scopes: list[str]
    missing_scopes: list[str]
    store_location: str
    notice: str | None = None  # e.g. the one-time "tokens are kept in a 0600 file" sentence


@dataclass
class PendingSignIn:
    """An authorization request in flight: what the callback must match and how to finish it."""

    authorize_url: str
    redirect_uri: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


# ----- small helpers --------------------------------------------------------------------------------------

def login_hint(profile: Profile) -> str:
    return f"outreach-tui login {profile.path if profile.path is not None else 'PROFILE.toml'}"


def store_key(profile: Profile) -> StoreKey:
    return key_for(profile.path, profile.destination.name)


def _unsaved_key(profile: Profile) -> StoreKey | None:
    """Where tokens went if the wizard signed in before the profile had a file (None: same key)."""
    return key_for(None, profile.destination.name) if profile.path is not None else None


def _is_loopback_url(url: str) -> bool:
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


def client_secret_for(profile: Profile, explicit: str | None = None) -> str:
    """``explicit``, else ``OUTREACH_CLIENT_SECRET``, else the keyring, else (sandbox only) its secret."""
    secret = explicit or os.environ.get("OUTREACH_CLIENT_SECRET") or _keyring_client_secret(profile)
    if secret:
        return secret
    settings = profile.outreach
    # The sandbox's secret is public (it guards nothing); defaulting to it keeps the demo zero-config.
    # Only for a loopback token endpoint with the sandbox's client id, so a real app never gets it.
    if settings.client_id == SANDBOX_CLIENT_ID and _is_loopback_url(settings.token_url):
        return SANDBOX_SECRET
    raise AuthRequired(f"No OAuth client secret for client id '{settings.client_id}': set "
                       f"OUTREACH_CLIENT_SECRET or store it in the OS keyring (service '{KEYRING_SERVICE}', "
                       f"user 'client-secret:{settings.client_id}')")


def _keyring_client_secret(profile: Profile) -> str | None:
    from outreach_tui.outreach.tokens import keyring_usable

    if not keyring_usable():
        return None
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, f"client-secret:{profile.outreach.client_id}")
    except Exception:  # a locked or broken keyring: behave as if it held nothing
        return None


def scope_covers(granted: list[str], needed: str) -> bool:
    """``prospects.all`` covers ``prospects.read``/``write``/``delete``; ``write`` does not imply ``read``."""
    resource = needed.split(".", 1)[0]
    return needed in granted or f"{resource}.all" in granted


def missing_scopes(profile: Profile, granted: list[str]) -> list[str]:
    return [scope for scope in profile.outreach.scopes if not scope_covers(granted, scope)]


def _scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def _client() -> httpx.AsyncClient:
    return make_client()


# ----- the token endpoint ---------------------------------------------------------------------------------

class _RetryLater(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__("token endpoint throttled the request")
        self.retry_after = retry_after


async def _post_token(client: httpx.AsyncClient, profile: Profile, form: dict[str, str]) -> dict[str, Any]:
    """One POST to the token endpoint. Raises _RetryLater (429), AuthRequired (invalid_grant and other
    rejections) or AuthUnreachable (network); every message is free of the secrets in ``form``."""
    url = profile.outreach.token_url
    try:
        response = await client.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        raise AuthUnreachable(f"Cannot reach the Outreach token endpoint {url}: "
                              f"{_scrub(str(exc) or type(exc).__name__, *form.values())}") from None
    if response.status_code == 429:
        return_after = response.headers.get("retry-after", "")
        raise _RetryLater(float(return_after) if return_after.replace(".", "", 1).isdigit() else None)
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
        return body
    error = body.get("error") if isinstance(body, dict) else None
    detail = body.get("error_description") if isinstance(body, dict) else None
    if response.status_code >= 500:
        raise AuthUnreachable(f"The Outreach token endpoint failed (HTTP {response.status_code}); "
                              "try again later")
    what = f"{error}: {detail}" if error and detail else str(error or f"HTTP {response.status_code}")
    what = _scrub(what, *form.values())
    if error == "invalid_grant" and form.get("grant_type") == "refresh_token":
        raise AuthRequired(f"Outreach no longer accepts the saved sign-in ({what}); "
                           f"run: {login_hint(profile)}")
    if error == "invalid_client":
        raise SignInError(f"Outreach rejected the OAuth client credentials ({what}); check client_id in the "
                          "profile and OUTREACH_CLIENT_SECRET")
    raise SignInError(f"Outreach refused the token request ({what}); run: {login_hint(profile)}")


async def _post_token_patiently(client: httpx.AsyncClient, profile: Profile, form: dict[str, str],
                                earliest: float = 0.0) -> dict[str, Any]:
    """POST, waiting out "429 Retry later" (the mint throttle) with growing pauses instead of failing.
    ``earliest`` is the epoch time before which our own throttle bookkeeping says a mint would fail."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return await _post_token(client, profile, form)
        except _RetryLater as throttled:
            remaining = earliest - time.time()
            backoff = max(remaining, 0.5 * 2**attempt)
            pause = throttled.retry_after if throttled.retry_after is not None else backoff
            pause = min(max(pause, 0.1), MINT_INTERVAL)
            if time.monotonic() - started + pause > THROTTLE_PATIENCE:
                raise AuthUnreachable("Outreach keeps answering 'Retry later' to token requests; "
                                      "try again in a few minutes") from None
            log.info("token endpoint asked to retry later; waiting %.1f s", pause)
            await asyncio.sleep(pause)
            attempt += 1


# ----- who is signed in -----------------------------------------------------------------------------------

def _find_email(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, item in value.items():
            if "email" in str(key).lower() and isinstance(item, str) and "@" in item:
                return item
        for item in value.values():
            found = _find_email(item)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = _find_email(item)
            if found:
                return found
    return None


def _find_scopes(value: Any) -> list[str] | None:
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in ("scopes", "scope"):
                if isinstance(item, str):
                    return item.split()
                if isinstance(item, list):
                    return [str(s) for s in item]
        for item in value.values():
            found = _find_scopes(item)
            if found is not None:
                return found
    return None


async def _token_info(client: httpx.AsyncClient, profile: Profile, access_token: str) -> dict[str, Any]:
    """``GET {api_base}``: Outreach's token information (shape unconfirmed, so read it leniently)."""
    url = profile.outreach.api_base
    try:
        response = await client.get(url, headers={"Authorization": f"Bearer {access_token}",
                                                  "Accept": "application/vnd.api+json"})
    except httpx.TransportError as exc:
        raise AuthUnreachable(f"Cannot reach Outreach at {url}: {_scrub(str(exc), access_token)}") from None
    if response.status_code == 401:
        raise AuthRequired(f"Outreach rejected the access token; run: {login_hint(profile)}")
    if response.status_code != 200:
        return {"user": None, "scopes": None, "status": response.status_code}
    body: Any = None
    with contextlib.suppress(ValueError):
        body = response.json()
    return {"user": _find_email(body), "scopes": _find_scopes(body)}


# ----- the token source -----------------------------------------------------------------------------------

class OAuthTokenSource:
    """Tokens of one profile from the store, refreshed ahead of expiry and after a 401.

    A refresh takes an in-process lock, then the store's cross-process lock, re-reads the store (another
    process may have refreshed meanwhile), respects the mint throttle, and saves the rotated refresh
    token before handing out the new access token.
    """

    def __init__(self, profile: Profile, store: TokenStore, *, mint_interval: float = MINT_INTERVAL,
                 seed: TokenRecord | None = None) -> None:
        self.profile = profile
        self.store = store
        self.key = store_key(profile)
        self.mint_interval = mint_interval
        self._seed = seed  # from OUTREACH_REFRESH_TOKEN: used until the store holds its continuation
        # An env-seeded chain is kept under its own account so it never replaces a signed-in user's tokens.
        self._account = f"env:{seed.seeded_from}" if seed is not None else None
        self._record: TokenRecord | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0  # how many mints this source performed (diagnostics and tests)

    def __repr__(self) -> str:
        return f"OAuthTokenSource(profile={self.key.label!r})"

    def _load(self) -> TokenRecord | None:
        record = self.store.load(self.key, self._account)
        if record is None and self._seed is None:
            record = self._adopt_unsaved()
        if self._seed is None or record is not None:
            return record
        return self._seed

    def _adopt_unsaved(self) -> TokenRecord | None:
        """Tokens stored while the profile had no file yet: move them under the file's key."""
        unsaved = _unsaved_key(self.profile)
        return self.store.adopt(unsaved, self.key) if unsaved is not None else None

    def _not_signed_in(self) -> AuthRequired:
        return AuthRequired(f"Not signed in to Outreach for {self.key.label}; "
                            f"run: {login_hint(self.profile)}")

    def _margin(self, record: TokenRecord) -> float:
        return min(REFRESH_MARGIN, record.lifetime / 10) if record.lifetime else REFRESH_MARGIN

    def _fresh(self, record: TokenRecord, now: float) -> bool:
        return bool(record.access_token) and record.expires_at - self._margin(record) > now

    async def access_token(self) -> str:
        async with self._lock:
            record = self._record or self._load()
            if record is None:
                raise self._not_signed_in()
            self._record = record
            now = time.time()
            if self._fresh(record, now):
                return record.access_token
            throttled = now < record.minted_at + self.mint_interval
            if record.access_token and record.expires_at > now and throttled:
                return record.access_token  # expiring soon but still valid: refresh later, not too often
            return (await self._refresh(stale=record.access_token)).access_token

    async def refresh_after_401(self, rejected: str) -> str:
        async with self._lock:
            return (await self._refresh(stale=rejected, rejected=True)).access_token

    async def _refresh(self, stale: str, rejected: bool = False) -> TokenRecord:
        async with self.store.refresh_lock(self.key):
            record = self._load()
            if record is None:
                raise self._not_signed_in()
            now = time.time()
            if record.access_token and record.access_token != stale and record.expires_at > now:
                self._record = record  # another process (or an earlier call) already refreshed
                return record
            if not rejected and self._fresh(record, now):
                self._record = record
                return record
            if not record.refresh_token:
                raise AuthRequired("The Outreach access token expired or was rejected and cannot be "
                                   f"refreshed; run: {login_hint(self.profile)}")
            earliest = record.minted_at + self.mint_interval
            if earliest > now:
                log.info("waiting %.1f s for Outreach's token mint throttle", earliest - now)
                await asyncio.sleep(earliest - now)
            new = await self._mint(record)
            # Persist the rotated refresh token BEFORE the new access token is used.
            self.store.save(self.key, new, account=self._account, make_current=self._account is None)
            self._record = new
            self.refreshes += 1
            return new

    async def _mint(self, record: TokenRecord) -> TokenRecord:
        secret = client_secret_for(self.profile)
        form = {"grant_type": "refresh_token", "refresh_token": record.refresh_token or "",
                "client_id": self.profile.outreach.client_id, "client_secret": secret}
        async with _client() as client:
            earliest = record.minted_at + self.mint_interval
            body = await _post_token_patiently(client, self.profile, form, earliest)
        new = TokenRecord.from_token_response(body, user=record.user)
        new.seeded_from = record.seeded_from
        if not new.scopes:
            new.scopes = list(record.scopes)
        if not new.refresh_token:  # a server that does not rotate: keep using the old refresh token
            new.refresh_token = record.refresh_token
        return new


def _env_seed(refresh_token: str, access_token: str | None) -> TokenRecord:
    now = time.time()
    return TokenRecord(
        access_token=access_token or "",
        refresh_token=refresh_token,
        expires_at=now + 3600 if access_token else 0.0,  # lifetime unknown: trust it until a 401
        minted_at=0.0,  # unknown: the throttle is handled by waiting on 429
        seeded_from=fingerprint(refresh_token),
    )


def token_source_for(profile: Profile, *, store: TokenStore | None = None,
                     mint_interval: float = MINT_INTERVAL) -> TokenSource:
    """How the client gets tokens for ``profile``.

    ``OUTREACH_ACCESS_TOKEN`` alone: that token, no refresh. ``OUTREACH_REFRESH_TOKEN`` (with or without an
    access token): refreshed from it, the rotated chain kept in the store so the next run continues it.
    Otherwise the token store filled by ``outreach-tui login``.
    """
    refresh = os.environ.get("OUTREACH_REFRESH_TOKEN") or None
    access = env_access_token()
    if access and not refresh:
        return StaticTokenSource(access, login_hint(profile))
    seed = _env_seed(refresh, access) if refresh else None
    return OAuthTokenSource(profile, store or default_store(), mint_interval=mint_interval, seed=seed)


# ----- sign-in --------------------------------------------------------------------------------------------

def _redirect_with_port(redirect_uri: str, port: int) -> str:
    parts = urlsplit(redirect_uri)
    host = parts.hostname or LOOPBACK
    return urlunsplit(parts._replace(netloc=f"{host}:{port}"))


def _redirect_port(profile: Profile) -> int:
    parts = urlsplit(profile.outreach.redirect_uri)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost"):
        raise SignInError("outreach.redirect_uri must be a loopback address like "
                          f"http://127.0.0.1:8400/callback (got {profile.outreach.redirect_uri})")
    return parts.port or 0


def begin_sign_in(profile: Profile, redirect_uri: str | None = None) -> PendingSignIn:
    """A fresh state and PKCE verifier, and the authorize URL carrying them."""
    redirect = redirect_uri or profile.outreach.redirect_uri
    state = generate_token(32)
    verifier = generate_token(64)  # 64 chars from [A-Za-z0-9]: within RFC 7636's 43..128
    url = add_params_to_uri(profile.outreach.authorize_url, [
        ("response_type", "code"),
        ("client_id", profile.outreach.client_id),
        ("redirect_uri", redirect),
        ("scope", " ".join(profile.outreach.scopes)),
        ("state", state),
        ("code_challenge", create_s256_code_challenge(verifier)),
        ("code_challenge_method", "S256"),
    ])
    return PendingSignIn(authorize_url=url, redirect_uri=redirect, state=state, code_verifier=verifier)


def begin_paste_sign_in(profile: Profile) -> PendingSignIn:
    """For ``--no-browser``: a concrete redirect URI (a free port when the profile says 0) and its URL."""
    port = _redirect_port(profile)
    if port == 0:
        with socket.socket() as probe:
            probe.bind((LOOPBACK, 0))
            port = probe.getsockname()[1]
    return begin_sign_in(profile, _redirect_with_port(profile.outreach.redirect_uri, port))


def _code_from_params(params: dict[str, str], pending: PendingSignIn) -> str:
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


def _query(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


async def _finish(profile: Profile, pending: PendingSignIn, code: str, client_secret: str | None,
                  store: TokenStore | None) -> SignInResult:
    """Exchange the code (waiting out the mint throttle), find the user, store the tokens."""
    store = store or default_store()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri,
            "client_id": profile.outreach.client_id,
            "client_secret": client_secret_for(profile, client_secret),
            "code_verifier": pending.code_verifier}
    async with _client() as client:
        body = await _post_token_patiently(client, profile, form)
        record = TokenRecord.from_token_response(body)
        info = await _token_info(client, profile, record.access_token)
    record.user = info.get("user")
    if not record.scopes and info.get("scopes"):
        record.scopes = list(info["scopes"])
    key = store_key(profile)
    store.save(key, record)
    return SignInResult(user=record.user, scopes=list(record.scopes),
                        missing_scopes=missing_scopes(profile, record.scopes),
                        store_location=store.describe(key), notice=store.first_use_notice())


async def complete_sign_in_from_redirect(profile: Profile, pasted_url: str, pending: PendingSignIn, *,
                                         client_secret: str | None = None,
                                         store: TokenStore | None = None) -> SignInResult:
    """``--no-browser``: finish with the redirect URL the user copied from the browser's address bar."""
    code = _code_from_params(_query(pasted_url.strip()), pending)
    return await _finish(profile, pending, code, client_secret, store)


class CallbackServer:
    """A one-shot HTTP server on 127.0.0.1 that waits for the redirect matching ``pending``."""

    def __init__(self, path: str) -> None:
        self.path = path or "/"
        self.pending: PendingSignIn | None = None
        self.result: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.server: asyncio.Server | None = None
        self.bound_address: tuple[str, int] = ("", 0)  # what the listening socket is bound to (for tests)
        self.socket_families: list[int] = []

    async def start(self, port: int) -> int:
        self.server = await asyncio.start_server(self._handle, host=LOOPBACK, port=port, reuse_address=True)
        sockets = self.server.sockets
        self.socket_families = [int(s.family) for s in sockets]
        host, bound = sockets[0].getsockname()[:2]
        self.bound_address = (str(host), int(bound))
        return int(bound)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 10.0)
            while (await asyncio.wait_for(reader.readline(), 10.0)) not in (b"\r\n", b"\n", b""):
                pass  # headers: not needed
            status, page = self._answer(request_line.decode("latin-1"))
            body = page.encode()
            head = (f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _answer(self, request_line: str) -> tuple[str, str]:
        parts = request_line.split()
        if len(parts) < 2 or parts[0] != "GET" or urlsplit(parts[1]).path != self.path:
            return "404 Not Found", _page("Not found", "This address only receives the Outreach sign-in.")
        if self.result.done() or self.pending is None:
            return "409 Conflict", _page("Already done", "Sign-in already finished. You can close this tab.")
        try:
            code = _code_from_params(_query(parts[1]), self.pending)
        except SignInError as exc:
            if "state mismatch" in str(exc):  # not our callback: reject it and keep waiting for the real one
                return "400 Bad Request", _page("Sign-in failed", str(exc))
            self.result.set_exception(exc)
            return "400 Bad Request", _page("Sign-in failed", f"{exc}. You can close this tab.")
        self.result.set_result(code)
        return "200 OK", _page("Signed in", "outreach-tui received the sign-in. You can close this tab.")


def _page(title: str, message: str) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title></head>"
            f"<body style='font-family:sans-serif;margin:3em'><h1>{escape(title)}</h1>"
            f"<p id=message>{escape(message)}</p></body></html>")


async def sign_in(profile: Profile, *, open_browser: Callable[[str], object] | None = None,
                  on_url: Callable[[str], None] | None = None, timeout: float = 300.0,
                  client_secret: str | None = None, store: TokenStore | None = None,
                  on_server: Callable[[CallbackServer], None] | None = None) -> SignInResult:
    """The whole browser sign-in. Cancel the awaiting task to abort; the callback server always closes."""
    client_secret_for(profile, client_secret)  # fail before opening a browser if there is no secret
    port = _redirect_port(profile)
    server = CallbackServer(urlsplit(profile.outreach.redirect_uri).path)
    try:
        try:
            bound = await server.start(port)
        except OSError as exc:
            raise SignInError(f"Cannot listen on {LOOPBACK}:{port} for the sign-in callback "
                              f"({exc.strerror}); free the port or change outreach.redirect_uri") from None
        pending = begin_sign_in(profile, _redirect_with_port(profile.outreach.redirect_uri, bound))
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
    return await _finish(profile, pending, code, client_secret, store)


def _seconds(timeout: float) -> str:
    return f"{math.ceil(timeout)} s" if timeout < 120 else f"{timeout / 60:.0f} minutes"


async def whoami(profile: Profile, *, store: TokenStore | None = None) -> dict[str, Any]:
    """Who the stored (or env) token belongs to and its scopes: ``{"user": ..., "scopes": [...]}``."""
    source = token_source_for(profile, store=store)
    token = await source.access_token()
    async with _client() as client:
        try:
            info = await _token_info(client, profile, token)
        except AuthUnreachable:
            raise
        except AuthRequired:
            token = await source.refresh_after_401(token)  # one refresh, then the user must sign in
            info = await _token_info(client, profile, token)
    if info.get("scopes") is None and isinstance(source, OAuthTokenSource) and source._record is not None:
        info["scopes"] = list(source._record.scopes)
    return info


def logout(profile: Profile, *, store: TokenStore | None = None) -> bool:
    """Forget the profile's tokens. True when there was something to forget."""
    store = store or default_store()
    unsaved = _unsaved_key(profile)
    forgot_unsaved = store.forget(unsaved) if unsaved is not None else False
    return store.forget(store_key(profile)) or forgot_unsaved
