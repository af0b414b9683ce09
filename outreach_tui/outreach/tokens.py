"""Where OAuth tokens live between runs: the OS keyring when a usable backend exists, else a 0600 JSON file.

One document per profile (its resolved path, or its destination name when it has no file). The document
holds one record per Outreach user plus which user is current, so signing in as someone else never
overwrites another user's tokens silently. A lock file next to the document serialises refreshes across
processes (``fcntl.flock``): whoever takes the lock second re-reads the store and finds the fresh token.

Token strings never appear in ``repr``, log lines or exception messages from this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from outreach_tui.filelock import try_lock as _try_lock
from outreach_tui.filelock import unlock as _unlock
from outreach_tui.locations import data_dir
from outreach_tui.outreach.scopes import parse_scopes

log = logging.getLogger(__name__)

KEYRING_SERVICE = "outreach-tui"
STORE_ENV = "OUTREACH_TUI_TOKEN_STORE"  # "file" forces the file store (e.g. a keyring that prompts)
_DOC_VERSION = 1


@dataclass
class TokenRecord:
    """One user's tokens. ``minted_at`` is when Outreach issued the access token (drives the throttle)."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: float
    minted_at: float
    scopes: list[str] = field(default_factory=list)
    user: str | None = None
    seeded_from: str | None = None  # fingerprint of an OUTREACH_REFRESH_TOKEN this chain started from
    redirect_uri: str | None = None  # the one the sign-in used: Outreach's refresh request carries it again

    @property
    def lifetime(self) -> float:
        return max(self.expires_at - self.minted_at, 0.0)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenRecord:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=data.get("refresh_token") or None,
            expires_at=float(data["expires_at"]),
            minted_at=float(data.get("minted_at", 0.0)),
            scopes=[str(s) for s in data.get("scopes") or []],
            user=data.get("user") or None,
            seeded_from=data.get("seeded_from") or None,
            redirect_uri=data.get("redirect_uri") or None,
        )

    @classmethod
    def from_token_response(cls, body: dict[str, Any], user: str | None = None,
                            now: float | None = None) -> TokenRecord:
        """Build a record from an ``/oauth/token`` answer received at ``now``.

        ``minted_at`` is the time of receipt, not Outreach's ``created_at``: that is whole seconds (up to a
        second early) and from another clock; receipt is never before the mint, so the throttle holds."""
        now = time.time() if now is None else now
        expires_in = float(body.get("expires_in") or 7200)
        scopes = parse_scopes(body.get("scope"))
        return cls(access_token=str(body["access_token"]), refresh_token=body.get("refresh_token") or None,
                   expires_at=now + expires_in, minted_at=now, scopes=scopes, user=user)


def fingerprint(secret: str) -> str:
    """A short one-way name for a token (safe to store and compare; never reversible)."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class StoreKey:
    """Identifies a profile's token document. ``label`` is human readable, ``slug`` is file-name safe."""

    label: str

    @property
    def is_draft(self) -> bool:
        """The key of a profile not saved to a file yet (named by its destination)."""
        return self.label.startswith("destination:")

    @property
    def slug(self) -> str:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(self.label).stem if "/" in self.label else self.label)
        return f"{stem.strip('-.')[:40] or 'profile'}-{hashlib.sha256(self.label.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class TokenPlace:
    """Where one profile's tokens are kept, as its caller (a face or the engine) decides: the store key, the
    ``login`` command to name in messages, and the key a draft signed in under before it had a file."""

    key: StoreKey
    login_hint: str
    draft_key: StoreKey | None = None


def key_for(profile_path: Path | None, destination: str) -> StoreKey:
    # "destination:" marks a draft's key (StoreKey.is_draft)
    return StoreKey(str(profile_path.resolve()) if profile_path is not None else f"destination:{destination}")


def tokens_dir() -> Path:
    return data_dir() / "tokens"


# ----- backends -------------------------------------------------------------------------------------------

class _Backend(Protocol):
    def read(self, key: StoreKey) -> str | None: ...
    def write(self, key: StoreKey, text: str) -> None: ...
    def delete(self, key: StoreKey) -> bool: ...
    def describe(self, key: StoreKey) -> str: ...


class FileBackend:
    """A JSON file per profile, written atomically with mode 0600 in a 0700 directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, key: StoreKey) -> Path:
        return self.directory / f"{key.slug}.json"

    def read(self, key: StoreKey) -> str | None:
        try:
            return self.path(key).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def write(self, key: StoreKey, text: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target = self.path(key)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temporary, 0o600)  # O_CREAT's mode does not apply to a leftover file
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def delete(self, key: StoreKey) -> bool:
        try:
            self.path(key).unlink()
            return True
        except FileNotFoundError:
            return False

    def describe(self, key: StoreKey) -> str:
        path = str(self.path(key))
        home = str(Path.home())
        if path.startswith(home + os.sep):
            path = "~" + path[len(home):]
        return f"file {path} (0600)"


class KeyringBackend:
    """The OS credential store; one entry per profile holding the same JSON document as the file store."""

    def read(self, key: StoreKey) -> str | None:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, f"tokens:{key.slug}")

    def write(self, key: StoreKey, text: str) -> None:
        import keyring

        keyring.set_password(KEYRING_SERVICE, f"tokens:{key.slug}", text)

    def delete(self, key: StoreKey) -> bool:
        import keyring
        import keyring.errors

        try:
            keyring.delete_password(KEYRING_SERVICE, f"tokens:{key.slug}")
            return True
        except keyring.errors.PasswordDeleteError:
            return False

    def describe(self, key: StoreKey) -> str:
        return "OS keyring"


def keyring_usable() -> bool:
    """True when keyring has a real backend (not the fail or null backend, and not a chainer of none)."""
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
    except Exception:  # a broken keyring installation must not stop sign-in: fall back to the file
        return False
    if isinstance(backend, fail.Keyring) or type(backend).__module__.endswith(".null"):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends)
    return float(getattr(backend, "priority", 0) or 0) > 0


# ----- the store ------------------------------------------------------------------------------------------

_notices_given: set[Path] = set()  # token directories this process already told the user about


class TokenStore:
    """Load, save and forget a profile's tokens; serialise refreshes with a cross-process lock."""

    def __init__(self, backend: _Backend, directory: Path) -> None:
        self.backend = backend
        self.directory = directory

    @property
    def uses_file(self) -> bool:
        return isinstance(self.backend, FileBackend)

    def describe(self, key: StoreKey) -> str:
        return self.backend.describe(key)

    def _document(self, key: StoreKey) -> dict[str, Any]:
        text = self.backend.read(key)
        if not text:
            return {}
        try:
            document = json.loads(text)
        except ValueError:
            log.warning("token store entry for %s is unreadable; sign in again", key.label)
            return {}
        return document if isinstance(document, dict) else {}

    def load(self, key: StoreKey, user: str | None = None) -> TokenRecord | None:
        """The record of ``user``, or of the profile's current user when ``user`` is None."""
        document = self._document(key)
        accounts = document.get("accounts") or {}
        name = user if user is not None else document.get("current_user")
        entry = accounts.get(name or "") if isinstance(accounts, dict) else None
        if not isinstance(entry, dict):
            return None
        try:
            return TokenRecord.from_json(entry)
        except (KeyError, TypeError, ValueError):
            log.warning("token store entry for %s is incomplete; sign in again", key.label)
            return None

    def save(self, key: StoreKey, record: TokenRecord, account: str | None = None,
             make_current: bool = True) -> None:
        """Store ``record`` under ``account`` (default: its user) atomically; usually as the current one."""
        document = self._document(key)
        accounts = document.get("accounts")
        accounts = accounts if isinstance(accounts, dict) else {}
        name = account or record.user or "default"
        accounts[name] = record.to_json()
        document.update(version=_DOC_VERSION, profile=key.label, accounts=accounts)
        if make_current or not document.get("current_user"):
            document["current_user"] = name
        self.backend.write(key, json.dumps(document, indent=1, sort_keys=True))

    def adopt(self, source: StoreKey, target: StoreKey) -> TokenRecord | None:
        """Tokens signed in under ``source`` (a profile's key before its file or name was final), now under
        ``target`` too, unless ``target`` holds tokens already. A draft's key is then forgotten: its refresh
        token would soon be stale, and a secret is kept in one place only. The record adopted, or None."""
        if source == target or self.load(target) is not None:
            return None
        record = self.load(source)
        if record is None:
            return None
        self.save(target, record)
        if source.is_draft:
            self.forget(source)
        return record

    def forget(self, key: StoreKey) -> bool:
        """Logout: drop every token of the profile. True when something was stored."""
        return self.backend.delete(key)

    def first_use_notice(self) -> str | None:
        """A once-per-machine sentence telling the user that tokens go to a file (no keyring available)."""
        if not self.uses_file or self.directory in _notices_given:
            return None
        _notices_given.add(self.directory)
        marker = self.directory / ".file-store-notice"
        if marker.exists():
            return None
        with contextlib.suppress(OSError):
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            marker.touch()
        return (f"No OS keyring is available, so tokens are kept in files under {self.directory} "
                "readable only by you (mode 0600).")

    @contextlib.asynccontextmanager
    async def refresh_lock(self, key: StoreKey, poll: float = 0.02) -> AsyncIterator[None]:
        """Hold an exclusive lock on the profile's lock file; polls so that cancellation is immediate."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(self.directory / f"{key.slug}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            delay = poll
            while not _try_lock(descriptor):
                await asyncio.sleep(delay)
                delay = min(delay * 1.5, 0.25)
            try:
                yield
            finally:
                _unlock(descriptor)
        finally:
            os.close(descriptor)


def default_store() -> TokenStore:
    """The keyring when usable (and not overridden by OUTREACH_TUI_TOKEN_STORE=file), else the file store."""
    directory = tokens_dir()
    if os.environ.get(STORE_ENV, "").lower() != "file" and keyring_usable():
        return TokenStore(KeyringBackend(), directory)
    return TokenStore(FileBackend(directory), directory)
