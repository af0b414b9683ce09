"""How the Outreach client gets a bearer token. The client depends on this protocol only; sign-in, the
token store and refresh live in ``auth.py`` and ``tokens.py``."""

from __future__ import annotations

import os
from typing import Protocol


class AuthRequired(Exception):
    """No usable token: the user must sign in again (exit code 3). The message says how."""


class ScopeMissing(Exception):
    """The token lacks a scope the export needs (403 unauthorizedOauthScope). The message says which;
    ``scope`` holds it when known."""

    def __init__(self, message: str, scope: str | None = None) -> None:
        super().__init__(message)
        self.scope = scope


class AuthUnreachable(AuthRequired):
    """The OAuth token endpoint cannot be reached or keeps refusing for now (exit code 4).

    A subclass of AuthRequired so that code which only knows AuthRequired still stops cleanly (exit 3);
    catch AuthUnreachable first to report exit 4."""


class SignInError(AuthRequired):
    """Sign-in did not complete (denied, state mismatch, bad code, ...). The message says why."""


class SignInTimeout(SignInError, TimeoutError):
    """Nobody completed the browser sign-in in time."""


class TokenSource(Protocol):
    async def access_token(self) -> str:
        """A token believed valid now (refreshed ahead of expiry when possible)."""
        ...

    async def refresh_after_401(self, rejected: str) -> str:
        """Outreach rejected ``rejected``: return a fresh token, or raise AuthRequired."""
        ...


class StaticTokenSource:
    """A fixed access token (``OUTREACH_ACCESS_TOKEN``): no refresh possible."""

    def __init__(self, token: str, login_hint: str = "outreach-tui login PROFILE.toml") -> None:
        self._token = token
        self._login_hint = login_hint

    async def access_token(self) -> str:
        return self._token

    async def refresh_after_401(self, rejected: str) -> str:
        raise AuthRequired("Outreach rejected the access token and it cannot be refreshed; "
                           f"run: {self._login_hint}")


def env_access_token() -> str | None:
    return os.environ.get("OUTREACH_ACCESS_TOKEN") or None
