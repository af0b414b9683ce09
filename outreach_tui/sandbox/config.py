"""Start-up settings of the sandbox (validated once, at the edge)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_USERS = {"demo@example.com": "demo"}
DEFAULT_CLIENT_ID = "outreach-tui-sandbox"
DEFAULT_CLIENT_SECRET = "sandbox-secret"  # a public sandbox credential, not a secret of anyone
# The loopback redirect URI registered on the sandbox's OAuth app (and the one users register on theirs).
DEFAULT_REDIRECT_URI = "http://127.0.0.1:8976/callback"


class SandboxConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    rate_limit: int = Field(default=10_000, ge=0)  # requests per window per user; 0 = unlimited
    window: float = Field(default=3600.0, gt=0)
    prospects: int = Field(default=0, ge=0)  # blank prospects with ids 1..N
    seed: Path | Literal["demo"] | None = None
    types: Path | None = None  # a file holding a GET /types body
    users: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_USERS))
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    token_ttl: int = Field(default=7200, gt=0)
    mint_interval: float = Field(default=60.0, ge=0)  # 0 disables the mint throttle
    error_rate: float = Field(default=0.0, ge=0, le=1)
    drop_rate: float = Field(default=0.0, ge=0, le=1)
    latency_ms: float = Field(default=0.0, ge=0)
    fault_seed: int = 0
    # Redirect URIs registered on the OAuth app, matched exactly as Outreach does (no port wildcard); the
    # demo seed adds the demo profile's own.
    redirect_uris: list[str] = Field(default_factory=lambda: [DEFAULT_REDIRECT_URI])
    scope_separator: Literal["+", " "] = "+"  # how the token answer joins scopes; Outreach's sample uses "+"
    org_name: str = "Sandbox Org"
    # Longest request target (path + query) the front end accepts: 16 KiB, as common load balancers and
    # CDNs allow. Unconfirmed for Outreach, but some limit exists, so clients must batch filter values.
    max_url_bytes: int = Field(default=16384, gt=0)
    import_delay: float = Field(default=1.0, ge=0)  # seconds before a bulkUpsert import is processed
    # Fraction of import records counted as done but silently not applied: an Outreach whose bulk
    # semantics differ from the document, for the client's read-back check (0 = as documented).
    import_ignore_rate: float = Field(default=0.0, ge=0, le=1)
    # Outreach documents "about 2 MB" per request; the decimal reading is the stricter one, so a client that
    # passes here passes there whichever Outreach means.
    import_max_bytes: int = Field(default=2_000_000, gt=0)
