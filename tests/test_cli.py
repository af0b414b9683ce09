"""The command line itself, run as users run it (a subprocess): the last-resort handler for a bug of ours,
and the messages for mistyped commands and option values."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from outreach_tui.exit_codes import ExitCode

TOKEN = "tok-3b1f9c0d5e7a42a8"  # a made-up access token: it must never be printed or saved

# A real bug stand-in: the logout command raises (with the token in its message) when the CLI runs it.
CRASHING_CLI = """
import os, sys
from outreach_tui.commands import login
def crash(args):
    raise RuntimeError("bug while holding " + os.environ["OUTREACH_ACCESS_TOKEN"])
login.run_logout = crash
from outreach_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


def cli(*args: str, code: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "outreach_tui", *args]
    return subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
                          check=False)


def test_an_unexpected_error_exits_70_with_one_line_and_a_saved_traceback(isolated_environment: Path) -> None:
    done = cli("logout", "profile.toml", code=CRASHING_CLI, OUTREACH_ACCESS_TOKEN=TOKEN)

    assert done.returncode == ExitCode.INTERNAL == 70
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("outreach-tui: internal error (RuntimeError); the traceback is saved in ")
    assert "Traceback" not in done.stderr and TOKEN not in done.stderr + done.stdout
    saved = Path(re.search(r"saved in (.+)\. Please report it\.$", lines[0]).group(1))  # type: ignore[union-attr]
    assert saved.parent == isolated_environment / "crashes"
    text = saved.read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in text and "RuntimeError: bug while holding" in text
    assert TOKEN not in text and "<OUTREACH_ACCESS_TOKEN>" in text
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


def test_an_unexpected_error_still_says_one_line_when_the_traceback_cannot_be_saved(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("", encoding="utf-8")

    done = cli("logout", "profile.toml", code=CRASHING_CLI, OUTREACH_ACCESS_TOKEN=TOKEN,
               OUTREACH_TUI_DATA_DIR=str(not_a_folder / "data"))

    assert done.returncode == 70
    assert done.stderr.count("\n") == 1
    assert "internal error (RuntimeError); its traceback could not be saved" in done.stderr
    assert "Traceback" not in done.stderr and TOKEN not in done.stderr


def test_saved_tracebacks_are_capped(isolated_environment: Path) -> None:
    crashes = isolated_environment / "crashes"
    crashes.mkdir()
    for n in range(25):
        (crashes / f"crash-20000101-0000{n:02d}-1.txt").write_text("old", encoding="utf-8")

    assert cli("logout", "profile.toml", code=CRASHING_CLI, OUTREACH_ACCESS_TOKEN=TOKEN).returncode == 70

    kept = sorted(path.name for path in crashes.iterdir())
    assert len(kept) == 20 and kept[0] == "crash-20000101-000006-1.txt"  # the newest 19 old ones and the new one


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["valdiate", "p.toml"], "unknown command 'valdiate'; did you mean 'validate'?"),
        (["lgoin", "p.toml"], "unknown command 'lgoin'; did you mean 'login'?"),
        (["sandbx"], "unknown command 'sandbx'; did you mean 'sandbox'?"),
        (["frobnicate"], "unknown command 'frobnicate'; commands: validate, login, logout, sandbox, demo, status"),
        (["validate", "p.toml", "--jsno"], "unrecognized arguments: --jsno; did you mean --json?"),
        (["login", "p.toml", "--no-browsr"], "did you mean --no-browser?"),
        (["--run", "p.toml", "--dryrun"], "did you mean --dry-run?"),
        (["--rnu", "p.toml"], "did you mean --run?"),
        (["sandbox", "--rate-limt", "5"], "did you mean --rate-limit?"),
    ],
)
def test_a_mistyped_command_or_option_gets_did_you_mean_and_exit_2(args: list[str], expected: str) -> None:
    done = cli(*args)

    assert done.returncode == ExitCode.USAGE, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["login", "p.toml", "--timeout", "-1"], "--timeout"),
        (["login", "p.toml", "--timeout", "soon"], "--timeout"),
        (["sandbox", "--port", "70000"], "--port"),
        (["sandbox", "--rate-limit", "-5"], "--rate-limit"),
        (["sandbox", "--window", "0"], "--window"),
        (["sandbox", "--latency-ms", "-1"], "--latency-ms"),
        (["demo", "--port", "-2"], "--port"),
    ],
)
def test_a_bad_option_value_exits_2_naming_the_option(args: list[str], option: str) -> None:
    done = cli(*args)

    assert done.returncode == ExitCode.USAGE, done.stderr
    assert done.stderr.count("\n") == 1 and f": argument {option}: must be " in done.stderr, done.stderr
