"""Where outreach-tui keeps its files. ``OUTREACH_TUI_DATA_DIR`` moves all of them (tests, containers)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import platformdirs

APP_NAME = "outreach-tui"
DATA_DIR_ENV = "OUTREACH_TUI_DATA_DIR"


def data_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_NAME))


def profile_key(profile_path: Path | None, destination: str) -> str:
    """A stable, file-name-safe key for per-profile files (state, tokens)."""
    basis = str(profile_path.resolve()) if profile_path else destination
    digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:12]
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in (profile_path.stem if profile_path else destination))
    return f"{stem[:40]}-{digest}"
