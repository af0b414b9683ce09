"""The one place that builds an HTTP client: the Outreach API client, the OAuth token calls and the alerts
webhook all get their ``httpx.AsyncClient`` here, so timeouts, TLS and proxies are decided once.

- TLS verification is always on (httpx's default, never switched off here or by a caller);
- proxies come from the environment (``HTTPS_PROXY``, ``NO_PROXY`` ...), as httpx reads them (``trust_env``);
- redirects are never followed: a redirect would carry the bearer token (or a client secret) to wherever
  the answer points, so a 3xx is an answer like any other;
- cookies are neither kept nor sent: every call authenticates with a bearer token or the client's
  credentials, and a cookie set by a server (or a load balancer) would be state carried between requests
  that nothing here needs (reading ``Set-Cookie`` also cost ~40 µs of every answer, ~4% of a request);
- every wait is bounded per phase (connect, each read, each write); the whole-request deadline
  (``Timeouts.total``) is applied by the caller around one request, since httpx has no such setting;
- ``transport`` is a seam for tests only; the product always uses httpx's own transport.
"""

from __future__ import annotations

from dataclasses import dataclass
from http.cookiejar import CookieJar
from importlib import metadata
from typing import Any

import httpx

KEEPALIVE_EXPIRY = 20.0  # seconds an idle connection is kept (servers and load balancers close them later)


@dataclass(frozen=True)
class Timeouts:
    """Seconds. ``read`` bounds the wait for each chunk of an answer, not the whole answer; ``total`` bounds
    one request from the first byte sent to the last byte read (a server that trickles bytes forever)."""

    connect: float = 10.0
    read: float = 30.0
    write: float = 30.0
    total: float = 60.0

    def for_httpx(self) -> httpx.Timeout:
        # pool: None. Callers keep at most ``concurrency`` requests in flight, so a free connection is a
        # short wait; the whole-request deadline still bounds it.
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=None)


DEFAULT_TIMEOUTS = Timeouts()


class _NoCookies(CookieJar):
    """A cookie jar that keeps nothing, so no request ever carries a cookie."""

    def extract_cookies(self, response: Any, request: Any) -> None:
        return None

    def set_cookie(self, cookie: Any) -> None:
        return None


def make_client(
    *,
    concurrency: int = 1,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    headers: dict[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with at most ``concurrency`` connections (all kept alive between requests)."""
    size = max(1, concurrency)
    return httpx.AsyncClient(
        timeout=timeouts.for_httpx(),
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size, keepalive_expiry=KEEPALIVE_EXPIRY),
        headers={"User-Agent": user_agent(), **(headers or {})},
        cookies=_NoCookies(),
        verify=True,
        trust_env=True,
        follow_redirects=False,
        transport=transport,
    )


def user_agent() -> str:
    try:
        return f"outreach-tui/{metadata.version('outreach-tui')}"
    except metadata.PackageNotFoundError:
        return "outreach-tui"
