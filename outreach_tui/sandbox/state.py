"""The sandbox's memory: prospects, OAuth grants and tokens, rate-limit windows, faults and counters.

Everything lives in dicts guarded by ONE ``threading.Lock``: the server's event loop and the test thread
(through ``Sandbox``) both touch it, and no code awaits while holding it, so it is never held for long.
"""

from __future__ import annotations

import math
import random
import secrets
import threading
import time
from collections import Counter
from typing import Any

from outreach_tui.sandbox.config import SandboxConfig
from outreach_tui.sandbox.records import (
    AccessToken,
    Grant,
    LoginSession,
    RateDecision,
    RefreshToken,
    SandboxStats,
    iso_now,
)
from outreach_tui.sandbox.validation import DUPLICATE_EMAIL, CustomType, Validator

CODE_TTL = 600.0  # authorization codes expire after 10 minutes
REFRESH_TTL = 14 * 24 * 3600.0  # Outreach refresh tokens live 14 days
UNLIMITED = 1_000_000_000  # the limit reported in X-RateLimit-* headers when rate_limit=0


class SandboxState:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.prospects: dict[int, dict[str, Any]] = {}
        self.email_owners: dict[str, set[int]] = {}  # lower-cased email -> prospect ids (seeds may repeat one)
        self.redirect_uris: list[str] = list(config.redirect_uris)  # registered on the sandbox's OAuth app
        self.maintenance_until = 0.0  # epoch seconds; every API request answers 503 until then
        self.validator = Validator()
        self.types_body: dict[str, Any] = {"data": []}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.grants: dict[str, Grant] = {}
        self.sessions: dict[str, LoginSession] = {}
        self.last_mint: dict[tuple[str, str], float] = {}
        self.windows: dict[str, tuple[float, int]] = {}  # user -> (window start, requests)
        self.window_history: dict[str, dict[int, int]] = {}
        self.error_rate = config.error_rate
        self.drop_rate = config.drop_rate
        self.latency_ms = config.latency_ms
        self.import_ignore_rate = config.import_ignore_rate
        self.rng = random.Random(config.fault_seed)
        self.reset_stats()

    # -- counters -------------------------------------------------------------------------------------
    def reset_stats(self) -> None:
        with self.lock:
            self.requests: Counter[tuple[str, str, int]] = Counter()
            self.patch_count = 0
            self.imports = 0
            self.import_records = 0
            self.import_failures = 0
            self.batch_modified = 0
            self.rate_limited = 0
            self.in_flight = 0
            self.peak_concurrency = 0
            self.token_mints = 0
            self.dropped = 0
            self.faults = 0
            self.window_history = {}

    def stats(self) -> SandboxStats:
        with self.lock:
            return SandboxStats(
                requests=dict(self.requests),
                patch_count=self.patch_count,
                imports=self.imports,
                import_records=self.import_records,
                import_failures=self.import_failures,
                batch_modified=self.batch_modified,
                rate_limited=self.rate_limited,
                peak_concurrency=self.peak_concurrency,
                token_mints=self.token_mints,
                dropped=self.dropped,
                faults=self.faults,
                windows={user: dict(w) for user, w in self.window_history.items()},
            )

    def enter(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.peak_concurrency = max(self.peak_concurrency, self.in_flight)

    def leave(self, method: str, route: str, status: int) -> None:
        with self.lock:
            self.in_flight -= 1
            self.requests[(method, route, status)] += 1

    # -- prospects ------------------------------------------------------------------------------------
    def add_prospects(self, prospects: dict[int, dict[str, Any]]) -> None:
        now = iso_now()
        with self.lock:
            for prospect_id, attrs in prospects.items():
                old = self.prospects.get(int(prospect_id))
                if old is not None:
                    self._forget_emails(int(prospect_id), old)
                record = {"createdAt": now, **attrs, "updatedAt": attrs.get("updatedAt", now)}
                record["name"] = full_name(record)
                self.prospects[int(prospect_id)] = record
                self._own_emails(int(prospect_id), record)

    def prospect(self, prospect_id: int) -> dict[str, Any] | None:
        with self.lock:
            record = self.prospects.get(prospect_id)
            return dict(record) if record is not None else None

    def delete(self, prospect_id: int) -> bool:
        """Remove a prospect (as a user deleting it in Outreach would); False when there was none."""
        with self.lock:
            record = self.prospects.pop(prospect_id, None)
            if record is not None:
                self._forget_emails(prospect_id, record)
        return record is not None

    def email_taken(self, prospect_id: int, emails: Any) -> bool:
        """True when any of ``emails`` belongs to another prospect (Outreach dedupes by email)."""
        if not isinstance(emails, list):
            return False
        owners = self.email_owners
        return any(owners.get(str(e).lower(), {prospect_id}) - {prospect_id} for e in emails)

    def write(
        self, prospect_id: int, attrs: dict[str, Any], *, patch: bool = False
    ) -> tuple[list[tuple[str, str]], dict[str, Any]]:
        """Validate and apply one prospect's attributes, as PATCH and every bulk import record do:
        ``(problems, {})`` when refused (nothing changes), else ``([], a copy of the updated record)``."""
        problems = self.validator.errors(attrs)
        if problems:
            return problems, {}
        with self.lock:
            if prospect_id not in self.prospects:
                return [("id", f"Could not find 'prospect' with ID '{prospect_id}'.")], {}
            if "emails" in attrs and self.email_taken(prospect_id, attrs["emails"]):
                return [("emails", DUPLICATE_EMAIL)], {}
            record = dict(self.update(prospect_id, attrs) or {})
            self.patch_count += patch
            return [], record

    def create(self, prospect_id: int | None, attrs: dict[str, Any]) -> tuple[list[tuple[str, str]], int | None]:
        """Validate and add a prospect (bulk imports that may create); its id, or the problems."""
        problems = self.validator.errors(attrs)
        if problems:
            return problems, None
        with self.lock:
            new_id = prospect_id if prospect_id is not None else max(self.prospects, default=0) + 1
            if "emails" in attrs and self.email_taken(new_id, attrs["emails"]):
                return [("emails", DUPLICATE_EMAIL)], None
            now = iso_now()
            record = {"createdAt": now, **attrs, "updatedAt": now}
            record["name"] = full_name(record)
            self.prospects[new_id] = record
            self._own_emails(new_id, record)
        return [], new_id

    def update(self, prospect_id: int, attrs: dict[str, Any]) -> dict[str, Any] | None:
        """Apply a validated PATCH (caller holds the lock). None: no such prospect."""
        record = self.prospects.get(prospect_id)
        if record is None:
            return None
        if "emails" in attrs:
            self._forget_emails(prospect_id, record)
        record.update(attrs)
        if "emails" in attrs:
            self._own_emails(prospect_id, record)
        if "firstName" in attrs or "lastName" in attrs or "middleName" in attrs:
            record["name"] = full_name(record)
        record["updatedAt"] = iso_now()
        return record

    def _own_emails(self, prospect_id: int, record: dict[str, Any]) -> None:
        for email in record.get("emails") or ():
            self.email_owners.setdefault(str(email).lower(), set()).add(prospect_id)

    def _forget_emails(self, prospect_id: int, record: dict[str, Any]) -> None:
        for email in record.get("emails") or ():
            owners = self.email_owners.get(str(email).lower())
            if owners is not None:
                owners.discard(prospect_id)
                if not owners:
                    del self.email_owners[str(email).lower()]

    def set_types(self, body: dict[str, Any], types: dict[int, CustomType]) -> None:
        validator = Validator(types)  # built outside the lock: it walks the whole catalog
        with self.lock:
            self.types_body = body
            self.validator = validator

    def user_id(self, user: str) -> int:
        """The sandbox's id of a sign-in user (its position in the config, from 1)."""
        users = list(self.config.users)
        return users.index(user) + 1 if user in users else 0

    # -- tokens ---------------------------------------------------------------------------------------
    def mint(self, user: str, client_id: str, scopes: frozenset[str], ttl: int | None = None) -> dict[str, Any]:
        """Issue an access + refresh token pair (caller checked the throttle); the /oauth/token body."""
        now = time.time()
        lifetime = ttl if ttl is not None else self.config.token_ttl
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.lock:
            self.access_tokens[access] = AccessToken(user, client_id, scopes, now, now + lifetime)
            self.refresh_tokens[refresh] = RefreshToken(user, client_id, scopes, now + REFRESH_TTL)
            self.token_mints += 1
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": lifetime,
            "refresh_token": refresh,
            "scope": self.config.scope_separator.join(sorted(scopes)),  # Outreach's sample joins with "+"
            "created_at": int(now),
        }

    def mint_throttled(self, user: str, client_id: str) -> bool:
        """Record a mint attempt; True when the same user+client minted within ``mint_interval``."""
        interval = self.config.mint_interval
        if interval <= 0:
            return False
        now = time.monotonic()
        with self.lock:
            last = self.last_mint.get((user, client_id))
            if last is not None and now - last < interval:
                return True
            self.last_mint[(user, client_id)] = now
            return False

    def access_token(self, token: str) -> AccessToken | None:
        record = self.access_tokens.get(token)
        if record is None or record.expires_at <= time.time():
            return None
        return record

    def expire_all_tokens(self) -> None:
        now = time.time()
        with self.lock:
            for record in self.access_tokens.values():
                record.expires_at = min(record.expires_at, now)

    def take_refresh_token(self, token: str, client_id: str) -> RefreshToken | None:
        """Rotation: a refresh token works once; it is gone whatever happens next."""
        with self.lock:
            record = self.refresh_tokens.pop(token, None)
        if record is None or record.client_id != client_id or record.expires_at <= time.time():
            return None
        return record

    # -- rate limit -----------------------------------------------------------------------------------
    def charge(self, user: str) -> RateDecision:
        """Count one request against the user's fixed window (aligned to multiples of ``window``)."""
        window, limit = self.config.window, self.config.rate_limit or UNLIMITED
        now = time.time()
        start = math.floor(now / window) * window
        with self.lock:
            current_start, used = self.windows.get(user, (start, 0))
            if current_start != start:
                used = 0
            if used >= limit:
                self.rate_limited += 1
                return RateDecision(False, limit, 0, start + window)
            used += 1
            self.windows[user] = (start, used)
            history = self.window_history.setdefault(user, {})
            history[int(start)] = history.get(int(start), 0) + 1
            return RateDecision(True, limit, limit - used, start + window)

    def peek(self, user: str | None) -> RateDecision:
        """The headers' view without counting (for answers that do not reach the limiter)."""
        window, limit = self.config.window, self.config.rate_limit or UNLIMITED
        start = math.floor(time.time() / window) * window
        with self.lock:
            current_start, used = self.windows.get(user or "", (start, 0))
        used = used if current_start == start else 0
        return RateDecision(True, limit, max(limit - used, 0), start + window)

    # -- faults ---------------------------------------------------------------------------------------
    def set_faults(
        self,
        error_rate: float | None,
        drop_rate: float | None,
        latency_ms: float | None,
        import_ignore_rate: float | None = None,
    ) -> None:
        with self.lock:
            if import_ignore_rate is not None:
                self.import_ignore_rate = import_ignore_rate
            if error_rate is not None:
                self.error_rate = error_rate
            if drop_rate is not None:
                self.drop_rate = drop_rate
            if latency_ms is not None:
                self.latency_ms = latency_ms

    def start_maintenance(self, seconds: float) -> float:
        """Scheduled maintenance from now for ``seconds``; returns when it ends (epoch seconds)."""
        with self.lock:
            self.maintenance_until = time.time() + seconds
            return self.maintenance_until

    def register_redirect_uri(self, uri: str) -> None:
        with self.lock:
            if uri not in self.redirect_uris:
                self.redirect_uris.append(uri)

    def roll_import_ignore(self) -> bool:
        """Whether to skip applying this import record while counting it done (seeded, repeatable)."""
        if not self.import_ignore_rate:
            return False
        with self.lock:
            return self.rng.random() < self.import_ignore_rate

    def roll_drop(self) -> bool:
        """Whether to drop this connection (seeded RNG, so a run is repeatable)."""
        if not self.drop_rate:
            return False
        with self.lock:
            if self.rng.random() < self.drop_rate:
                self.dropped += 1
                return True
        return False

    def roll_error(self) -> int | None:
        """A 5xx status to answer instead of the endpoint, or None."""
        if not self.error_rate:
            return None
        with self.lock:
            if self.rng.random() < self.error_rate:
                self.faults += 1
                return self.rng.choice((500, 502, 503))
        return None


def full_name(record: dict[str, Any]) -> str | None:
    parts = [record.get(k) for k in ("firstName", "middleName", "lastName")]
    name = " ".join(p for p in parts if isinstance(p, str) and p)
    return name or None
