"""``outreach-tui demo`` in a real terminal (tmux, 80x24): every step walked with keys only, an export, and the
final counts and report path found on the screen. Skipped when tmux is not installed.

The test runs its own tmux server (``-L``), so it never touches the user's sessions."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (a real terminal "
                                                                       "is needed for this test)")
COLUMNS, ROWS = 80, 24


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True,
                              timeout=10).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "demo", key)
            time.sleep(0.15)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-t", "demo", "-p")

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if text in screen:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never appeared; the screen:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(f"outreach-tui-test-{uuid.uuid4().hex[:8]}")
    env = {"OUTREACH_TUI_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "OUTREACH_TUI_TOKEN_STORE": "file", "TERM": "xterm-256color", "BROWSER": "true",
           "PYTHONPATH": os.pathsep.join(sys.path)}
    command = (f"env {' '.join(f'{k}={shlex.quote(v)}' for k, v in env.items())} "
               f"{shlex.quote(sys.executable)} -m outreach_tui demo; echo EXITED $?; sleep 30")
    term.tmux("new-session", "-d", "-s", "demo", "-x", str(COLUMNS), "-y", str(ROWS), command)
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", term.socket, "kill-server"], capture_output=True, timeout=10)


def test_demo_walked_with_keys_only_then_exported(terminal: Terminal, tmp_path: Path) -> None:
    screen = terminal.wait_for("Signed in to Outreach")
    assert "1 Connect  2 Destination  3 Source  4 Mapping  5 Segments  6 Review  7 Export" in screen
    for marker in ("Name (required)", "Input file (XDM profiles", "Identity namespace", "records R/E/X",
                   "✓ The profile is valid.", "Start export (F5)"):
        terminal.keys("F3")
        screen = terminal.wait_for(marker)
    terminal.keys("F5")
    screen = terminal.wait_for("Report: $DATA/reports/", timeout=60)
    lines = screen.splitlines()
    assert len(lines) <= ROWS and all(len(line) <= COLUMNS for line in lines)
    report = json.loads((tmp_path / "data" / "reports" / "outreach-demo-sandbox.json").read_text())
    prospects, records = report["prospects"], report["records"]
    assert prospects["activated"] > 200
    counts = re.search(r"activated (\d+)\s+unchanged (\d+)\s+excluded (\d+)\s+failed (\d+)\s+pending (\d+)", screen)
    assert counts is not None, screen
    assert [int(n) for n in counts.groups()] == [prospects["activated"], prospects["unchanged"],
                                                records["excluded"], prospects["failed"], prospects["pending"]]
    assert "Report: $DATA/reports/outreach-demo-sandbox.json" in screen
    assert screen.index("Finished:") < screen.index("◀ Back")  # above the fold, no scrolling
    terminal.keys("C-q")
    terminal.wait_for("EXITED 0")
