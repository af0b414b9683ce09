"""Where the wizard keeps its own files: the user data dir (``OUTREACH_TUI_DATA_DIR`` overrides it) and the
recent-profiles list."""

from __future__ import annotations

import json
import os
from pathlib import Path

from outreach_tui.locations import data_dir as shared_data_dir

RECENT_LIMIT = 10


def data_dir() -> Path:
    path = shared_data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def _recent_file() -> Path:
    return data_dir() / "recent-profiles.json"


def recent_profiles() -> list[Path]:
    """Most recent first; entries whose file has gone are dropped."""
    try:
        raw = json.loads(_recent_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    paths = [Path(item) for item in raw if isinstance(item, str)] if isinstance(raw, list) else []
    return [path for path in paths if path.is_file()]


def remember_profile(path: Path) -> None:
    resolved = path.resolve()
    entries = [resolved, *(p for p in recent_profiles() if p != resolved)][:RECENT_LIMIT]
    target = _recent_file()
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_text(json.dumps([str(p) for p in entries], indent=1), encoding="utf-8")
    os.replace(temporary, target)


def demo_dir() -> Path:
    path = data_dir() / "demo"
    path.mkdir(parents=True, exist_ok=True)
    return path
