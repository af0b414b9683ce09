"""Keeping the user signed in: tokens from the store (or the environment), refreshed ahead of expiry and
after a 401, one refresh at a time for every worker of the process (and, through the store's lock file,
for every process)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence

from outreach_tui.outreach.credentials import (
    AuthRequired,
    AuthUnreachable,
    ScopeMissing,
    StaticTokenSource,
    TokenSource,
    env_access_token,
)
from outreach_tui.outreach.scopes import missing_scopes
from outreach_tui.outreach.settings import OutreachSettings
from outreach_tui.outreach.token_endpoint import MINT_INTERVAL, client_secret_for, oauth_client, post_token_patiently
from outreach_tui.outreach.tokens import TokenPlace, TokenRecord, TokenStore, default_store, fingerprint

log = logging.getLogger(__name__)

REFRESH_MARGIN = 300.0  # refresh this long before expiry (capped at a tenth of a short token's life)


class OAuthTokenSource:
    """Tokens of one profile from the store, refreshed ahead of expiry and after a 401.

    A refresh takes an in-process lock, then the store's cross-process lock, re-reads the store (another
    process may have refreshed meanwhile), respects the mint throttle, and saves the rotated refresh
    token before handing out the new access token. A refresh token Outreach refused is never sent again by
    this source: every other worker waiting on the lock gets the same "sign in again" at once.
    """

    def __init__(self, settings: OutreachSettings, place: TokenPlace, store: TokenStore, *,
                 mint_interval: float = MINT_INTERVAL, seed: TokenRecord | None = None) -> None:
        self.settings = settings
        self.place = place
        self.store = store
        self.key = place.key
        self.mint_interval = mint_interval
        self._seed = seed  # from OUTREACH_REFRESH_TOKEN: used until the store holds its continuation
        # An env-seeded chain is kept under its own account so it never replaces a signed-in user's tokens.
        self._account = f"env:{seed.seeded_from}" if seed is not None else None
        self._record: TokenRecord | None = None
        self._lock = asyncio.Lock()
        self._refused: tuple[str, AuthRequired] | None = None  # (fingerprint of a refused refresh token, why)

    def __repr__(self) -> str:
        return f"OAuthTokenSource(profile={self.key.label!r})"

    @property
    def scopes(self) -> list[str]:
        """The scopes of the token in hand (empty before the first ``access_token()``)."""
        return list(self._record.scopes) if self._record is not None else []

    @property
    def user(self) -> str | None:
        """Whose token this is, when a record says so (Outreach's token answer does not)."""
        return self._record.user if self._record is not None else None

    @property
    def expires_at(self) -> float | None:
        """When the token in hand expires (epoch seconds); None before the first ``access_token()`` and for an
        ``OUTREACH_ACCESS_TOKEN`` seed, whose expiry is a guess (it was not minted here)."""
        record = self._record
        return record.expires_at if record is not None and record.minted_at and record.expires_at else None

    def _load(self) -> TokenRecord | None:
        record = self.store.load(self.key, self._account)
        if record is None and self._seed is None and self.place.draft_key is not None:
            # tokens stored while the profile had no file yet: move them under the file's key
            record = self.store.adopt(self.place.draft_key, self.key)
        if self._seed is None or record is not None:
            return record
        return self._seed

    def _not_signed_in(self) -> AuthRequired:
        return AuthRequired(f"Not signed in to Outreach for {self.key.label}; run: {self.place.login_hint}")

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
                                   f"refreshed; run: {self.place.login_hint}")
            if self._refused is not None and self._refused[0] == fingerprint(record.refresh_token):
                raise self._refused[1]  # refused already: sending it again would only be refused again
            earliest = record.minted_at + self.mint_interval
            if earliest > now:
                log.info("waiting %.1f s for Outreach's token mint throttle", earliest - now)
                await asyncio.sleep(earliest - now)
            try:
                new = await self._mint(record)
            except AuthUnreachable:
                raise  # the endpoint did not answer: the refresh token may still be good
            except AuthRequired as refused:
                self._refused = (fingerprint(record.refresh_token), refused)
                raise
            # Persist the rotated refresh token BEFORE the new access token is used.
            self.store.save(self.key, new, account=self._account, make_current=self._account is None)
            self._record = new
            return new

    async def _mint(self, record: TokenRecord) -> TokenRecord:
        # Outreach's token endpoint documents these five fields for a refresh
        form = {"grant_type": "refresh_token", "refresh_token": record.refresh_token or "",
                "client_id": self.settings.client_id, "client_secret": client_secret_for(self.settings),
                "redirect_uri": record.redirect_uri or self.settings.redirect_uri}
        async with oauth_client() as client:
            earliest = record.minted_at + self.mint_interval
            body = await post_token_patiently(client, self.settings, form, self.place.login_hint, earliest)
        new = TokenRecord.from_token_response(body, user=record.user)
        new.seeded_from = record.seeded_from
        new.redirect_uri = record.redirect_uri
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


def token_source_for(settings: OutreachSettings, place: TokenPlace, *, store: TokenStore | None = None,
                     mint_interval: float = MINT_INTERVAL) -> TokenSource:
    """How the client gets tokens for the profile whose tokens live at ``place``.

    ``OUTREACH_ACCESS_TOKEN`` alone: that token, no refresh. ``OUTREACH_REFRESH_TOKEN`` (with or without an
    access token): refreshed from it, the rotated chain kept in the store so the next run continues it.
    Otherwise the token store filled by ``outreach-tui login``.
    """
    refresh = os.environ.get("OUTREACH_REFRESH_TOKEN") or None
    access = env_access_token()
    if access and not refresh:
        return StaticTokenSource(access, place.login_hint)
    seed = _env_seed(refresh, access) if refresh else None
    return OAuthTokenSource(settings, place, store or default_store(), mint_interval=mint_interval, seed=seed)


async def missing_run_scope(source: TokenSource, needed: Sequence[str], login_hint: str) -> ScopeMissing | None:
    """For the start of a run, before any input is read: the first scope of ``needed`` (the profile's
    ``required_scopes()``) that the token lacks, as a ScopeMissing naming it and the ``login`` command, or None.

    The scopes are those Outreach's token answer granted, kept in the token record. A bare
    ``OUTREACH_ACCESS_TOKEN`` (or any token whose answer named no scopes) has unknown scopes: no check, and
    Outreach's 403 names the scope later. Raises AuthRequired when there is no usable token at all."""
    if not isinstance(source, OAuthTokenSource):
        return None
    await source.access_token()  # loads (or refreshes) the record that holds the scopes
    granted = source.scopes
    if not granted:
        return None
    missing = missing_scopes(list(needed), granted)
    if not missing:
        return None
    names, plural = ", ".join(missing), "s" if len(missing) > 1 else ""
    return ScopeMissing(f"The Outreach sign-in lacks the scope{plural} {names}, which this run needs (granted: "
                        f"{' '.join(granted)}). Make sure the Outreach app allows {names} and the profile's "
                        f"outreach.scopes lists {'them' if plural else 'it'}, then run: {login_hint}",
                        scope=missing[0])
