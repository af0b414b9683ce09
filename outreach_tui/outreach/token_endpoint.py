"""Outreach's OAuth token endpoint: the POSTs that mint tokens (waiting out the once-a-minute mint
throttle), whether a token is accepted, and where the client secret comes from.

Every HTTP client comes from ``http.py``. Secrets (client secret, codes, tokens) never appear in messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

import httpx

from outreach_tui.outreach.answers import retry_after_seconds
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, SignInError
from outreach_tui.outreach.http import DEFAULT_TIMEOUTS, make_client
from outreach_tui.outreach.settings import OutreachSettings, is_loopback_url

log = logging.getLogger(__name__)

MINT_INTERVAL = 60.0  # Outreach mints a token per user and app at most once a minute
THROTTLE_PATIENCE = 180.0  # give up waiting on "429 Retry later" after this long
SANDBOX_CLIENT_ID = "outreach-tui-sandbox"
SANDBOX_SECRET = "sandbox-secret"  # the sandbox's published demo credential (see sandbox/config.py)
KEYRING_SERVICE = "outreach-tui"


def oauth_client() -> httpx.AsyncClient:
    return make_client()


def client_secret_for(settings: OutreachSettings, explicit: str | None = None) -> str:
    """``explicit``, else ``OUTREACH_CLIENT_SECRET``, else the keyring, else (sandbox only) its secret."""
    secret = explicit or os.environ.get("OUTREACH_CLIENT_SECRET") or _keyring_client_secret(settings.client_id)
    if secret:
        return secret
    # The sandbox's secret is public (it guards nothing); defaulting to it keeps the demo zero-config.
    # Only for a loopback token endpoint with the sandbox's client id, so a real app never gets it.
    if settings.client_id == SANDBOX_CLIENT_ID and is_loopback_url(settings.token_url):
        return SANDBOX_SECRET
    raise AuthRequired(f"No OAuth client secret for client id '{settings.client_id}': set "
                       f"OUTREACH_CLIENT_SECRET or store it in the OS keyring (service '{KEYRING_SERVICE}', "
                       f"user 'client-secret:{settings.client_id}')")


def _keyring_client_secret(client_id: str) -> str | None:
    from outreach_tui.outreach.tokens import keyring_usable

    if not keyring_usable():
        return None
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, f"client-secret:{client_id}")
    except Exception:  # a locked or broken keyring: behave as if it held nothing
        return None


def scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


class _RetryLater(Exception):
    def __init__(self, retry_after: float | None) -> None:
        super().__init__("token endpoint throttled the request")
        self.retry_after = retry_after


async def post_token(client: httpx.AsyncClient, settings: OutreachSettings, form: dict[str, str],
                     login_hint: str) -> dict[str, Any]:
    """One POST to the token endpoint. Raises _RetryLater (429), AuthRequired (invalid_grant and other
    rejections) or AuthUnreachable (network); every message is free of the secrets in ``form``."""
    url = settings.token_url
    try:
        async with asyncio.timeout(DEFAULT_TIMEOUTS.total):
            response = await client.post(url, data=form, headers={"Accept": "application/json"})
    except (httpx.TransportError, TimeoutError) as exc:
        raise AuthUnreachable(f"Cannot reach the Outreach token endpoint {url}: "
                              f"{scrub(str(exc) or type(exc).__name__, *form.values())}") from None
    if response.status_code == 429:
        raise _RetryLater(retry_after_seconds(response) or None)
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
    what = scrub(what, *form.values())
    if error == "invalid_grant" and form.get("grant_type") == "refresh_token":
        raise AuthRequired(f"Outreach no longer accepts the saved sign-in ({what}); run: {login_hint}")
    if error == "invalid_client":
        raise SignInError(f"Outreach rejected the OAuth client credentials ({what}); check client_id in the "
                          "profile and OUTREACH_CLIENT_SECRET")
    raise SignInError(f"Outreach refused the token request ({what}); run: {login_hint}")


async def post_token_patiently(client: httpx.AsyncClient, settings: OutreachSettings, form: dict[str, str],
                               login_hint: str, earliest: float = 0.0) -> dict[str, Any]:
    """POST, waiting out "429 Retry later" (the mint throttle) with growing pauses instead of failing.
    ``earliest`` is the epoch time before which our own throttle bookkeeping says a mint would fail."""
    started = time.monotonic()
    attempt = 0
    while True:
        try:
            return await post_token(client, settings, form, login_hint)
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


# ----- is the token accepted -----------------------------------------------------------------------------

# Outreach documents no endpoint that says whose a token is (no /users/me; the body of GET /api/v2 is
# undocumented; GET /users lists the whole organisation). So a token is checked with the cheapest documented
# read every profile needs: one prospect's update time (no personal data).
PROBE_QUERY = {"page[size]": "1", "fields[prospect]": "updatedAt"}


async def probe_token(client: httpx.AsyncClient, settings: OutreachSettings, access_token: str,
                      login_hint: str) -> int:
    """``GET {api_base}/prospects?page[size]=1``: the HTTP status (200 accepted, 403 no prospects.read, ...).
    Raises AuthRequired on 401 and AuthUnreachable when Outreach does not answer."""
    url = f"{settings.api_base}/prospects"
    try:
        async with asyncio.timeout(DEFAULT_TIMEOUTS.total):
            response = await client.get(url, params=PROBE_QUERY,
                                        headers={"Authorization": f"Bearer {access_token}",
                                                 "Accept": "application/vnd.api+json"})
    except (httpx.TransportError, TimeoutError) as exc:
        raise AuthUnreachable(f"Cannot reach Outreach at {url}: {scrub(str(exc), access_token)}") from None
    if response.status_code == 401:
        raise AuthRequired(f"Outreach rejected the access token; run: {login_hint}")
    return response.status_code
