"""How the wizard is started: by the ``outreach-tui`` command, the tests and the screenshot script."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from outreach_tui.profile import Profile
from outreach_tui.sandbox import Sandbox
from outreach_tui.tui.locations import data_dir


@dataclass
class WizardSettings:
    profile_path: Path | None = None
    profile: Profile | None = None  # a profile already loaded (wins over profile_path)
    clock: Callable[[], float] = time.time
    sandbox: Sandbox | None = None  # a running sandbox the wizard may use (the demo starts one)
    path_aliases: dict[str, str] = field(default_factory=dict)  # prefix -> shown as (snapshots, privacy)

    def _aliases(self) -> dict[str, str]:
        return {**self.path_aliases, str(data_dir()): "$DATA", str(Path.home()): "~"}

    def show_paths_in(self, text: str) -> str:
        """``show_path`` for every path inside a text (the status details)."""
        for prefix, alias in self._aliases().items():
            text = text.replace(prefix, alias)
        return text

    def show_path(self, path: str) -> str:
        """Paths as the user should read them: the data dir and home folder shortened."""
        for prefix, alias in self._aliases().items():
            if path.startswith(prefix):
                return alias + path[len(prefix):]
        return path
