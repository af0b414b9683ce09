"""The headless run never loads Textual: a real ``python -m outreach_tui --run`` export against the sandbox,
with every import of that process traced (``python -X importtime``), so an import done at call time on the
run path is caught too. The static side of the same rule is an import-linter contract (pyproject.toml)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sandbox_fixtures import SandboxFactory

from outreach_tui.commands.wizard import write_demo_profile
from outreach_tui.sandbox import Sandbox

IMPORT_TIME = "import time:"


def imported_modules(stderr: str) -> list[str]:
    """Module names from ``-X importtime`` lines: ``import time: self [us] | cumulative | <indent>name``."""
    return [line.rsplit("|", 1)[1].strip() for line in stderr.splitlines() if line.startswith(IMPORT_TIME)][1:]


def run_traced(profile: Path, report: Path, sandbox: Sandbox, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OUTREACH_")}
    env.update(OUTREACH_TUI_DATA_DIR=str(data_dir), OUTREACH_ACCESS_TOKEN=sandbox.issue_token()["access_token"])
    command = [sys.executable, "-X", "importtime", "-m", "outreach_tui", "--run", str(profile), "--report",
               str(report), "--quiet"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_a_real_headless_export_loads_no_textual_module(tmp_path: Path, sandbox_factory: SandboxFactory) -> None:
    sandbox = sandbox_factory(seed="demo", prospects=0, rate_limit=0)
    profile = write_demo_profile(tmp_path / "demo", sandbox)
    report_path = tmp_path / "report.json"

    done = run_traced(profile, report_path, sandbox, tmp_path / "data")

    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    assert report["prospects"]["activated"] > 200, report["prospects"]  # a real export, not an early exit
    assert (sandbox.prospect(1001) or {}).get("title") == "Head of RevOps"  # the value arrived over HTTP
    modules = imported_modules(done.stderr)
    # The trace is read right: the run path's own modules are in it, loaded at call time or not.
    assert {"outreach_tui.cli", "outreach_tui.commands.run", "outreach_tui.export.runner", "httpx"} <= set(modules)
    textual = sorted(name for name in modules if name.split(".")[0] == "textual")
    assert textual == [], f"--run loaded Textual: {textual[:5]}"
