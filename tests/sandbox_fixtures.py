"""pytest fixtures for the Outreach sandbox (loaded by conftest via ``pytest_plugins``).

``sandbox``: a fresh, listening sandbox per test (free port, 50 blank prospects with ids 1..50, no mint
throttle). ``sandbox_factory(**SandboxConfig kwargs)``: more sandboxes, all stopped at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

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
