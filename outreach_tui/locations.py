"""Where outreach-tui keeps its files. ``OUTREACH_TUI_DATA_DIR`` moves all of them (tests, containers)."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "outreach-tui"
DATA_DIR_ENV = "OUTREACH_TUI_DATA_DIR"


def data_dir() -> Path:
    override = os.environ.get(DATA_DIR_ENV)
    return Path(override).expanduser() if override else Path(platformdirs.user_data_dir(APP_NAME))

