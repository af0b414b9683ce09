"""Shared test set-up. Every test gets its own data directory and a clean environment, so nothing reads
or writes the developer's real tokens, state or recent-profiles list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["sandbox_fixtures"]

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "outreach_tui" / "demo"
SECRET_ENV = ("OUTREACH_ACCESS_TOKEN", "OUTREACH_REFRESH_TOKEN", "OUTREACH_CLIENT_SECRET")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    data = tmp_path_factory.mktemp("data")
    monkeypatch.setenv("OUTREACH_TUI_DATA_DIR", str(data))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(data / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(data / "xdg-data"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)
    yield data
