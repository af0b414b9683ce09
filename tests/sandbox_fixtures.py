"""pytest fixtures for the Outreach sandbox and signing in to it (loaded by conftest via ``pytest_plugins``,
so test files use them by name and import nothing for them).

``sandbox``: a fresh, listening sandbox per test (free port, 50 blank prospects with ids 1..50, no mint
throttle). ``sandbox_factory(**SandboxConfig kwargs)``: more sandboxes, all stopped at teardown.
``auth_sandbox``: a sandbox with 3 prospects for the sign-in and token tests. ``signin_env``: the token
store in a temp data dir (returned) and the file store forced (a developer's real keyring is never
touched); conftest's ``isolated_environment`` has already cleared the OUTREACH_* overrides.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from outreach_tui.locations import DATA_DIR_ENV
from outreach_tui.outreach.tokens import STORE_ENV
from outreach_tui.sandbox import Sandbox, SandboxConfig

SandboxFactory = Callable[..., Sandbox]
FIXTURE_DEFAULTS: dict[str, Any] = {"port": 0, "prospects": 50, "mint_interval": 0.0}


@pytest.fixture
def sandbox_factory() -> Iterator[SandboxFactory]:
    started: list[Sandbox] = []

    def make(**settings: Any) -> Sandbox:
        sandbox = Sandbox(SandboxConfig(**{**FIXTURE_DEFAULTS, **settings}))
        sandbox.start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory()


@pytest.fixture
def auth_sandbox(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(prospects=3)


@pytest.fixture
def signin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    monkeypatch.setenv(STORE_ENV, "file")
    for name in ("OUTREACH_ACCESS_TOKEN", "OUTREACH_REFRESH_TOKEN", "OUTREACH_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return data
