"""The sandbox's records: tokens, grants, sign-in sessions, rate decisions and the counters' snapshot."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_second_cache: tuple[int, str] = (-1, "")


def iso_now(now: float | None = None) -> str:
    """``2026-11-28T16:46:05.176Z``; the seconds part is cached (PATCH stamps updatedAt on every call)."""
    global _second_cache
    moment = time.time() if now is None else now
    second = int(moment)
    cached_second, prefix = _second_cache
    if second != cached_second:
        prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _second_cache = (second, prefix)
    return f"{prefix}{int((moment - second) * 1000):03d}Z"


@dataclass(slots=True)
class AccessToken:
    user: str
    client_id: str
    scopes: frozenset[str]
    created_at: float
    expires_at: float


@dataclass(slots=True)
class RefreshToken:
    user: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass(slots=True)
class Grant:
    """A pending authorization code (single use)."""

    user: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    code_challenge: str | None
    expires_at: float


@dataclass(slots=True)
class LoginSession:
    """An /oauth/authorize request waiting for the user to sign in (keyed by a hidden form field)."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str | None
    email: str | None = None


@dataclass(frozen=True)
class SandboxStats:
    """A snapshot of the counters. ``requests`` maps (method, route template, status) to a count."""

    requests: dict[tuple[str, str, int], int]
    patch_count: int  # PATCH /prospects/{id} answered 200
    rate_limited: int  # 429 rateLimitExceeded answers
    peak_concurrency: int  # most requests in flight at once (Outreach and OAuth paths)
    token_mints: int  # access tokens issued (code, refresh and issue_token)
    dropped: int  # connections dropped by the drop_rate fault
    faults: int  # 5xx answers injected by the error_rate fault
    windows: dict[str, dict[int, int]] = field(default_factory=dict)  # user -> window start -> requests
    imports: int = 0  # bulkUpsert imports accepted (200)
    import_records: int = 0  # records carried by those imports
    import_failures: int = 0  # records of finished imports that failed
    batch_modified: int = 0  # prospects changed by prospectsBulkModify

    def count(self, method: str | None = None, route: str | None = None, status: int | None = None) -> int:
        return sum(
            n
            for (m, r, s), n in self.requests.items()
            if (method is None or m == method) and (route is None or r == route) and (status is None or s == status)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": [
                {"method": m, "route": r, "status": s, "count": n} for (m, r, s), n in sorted(self.requests.items())
            ],
            "patchCount": self.patch_count,
            "rateLimited": self.rate_limited,
            "peakConcurrency": self.peak_concurrency,
            "tokenMints": self.token_mints,
            "dropped": self.dropped,
            "faults": self.faults,
            "imports": self.imports,
            "importRecords": self.import_records,
            "importFailures": self.import_failures,
            "batchModified": self.batch_modified,
            "windows": {user: {str(k): v for k, v in w.items()} for user, w in self.windows.items()},
        }


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: float  # epoch seconds when the current window ends
