"""Exit codes of a headless run when signing in is the problem (docs/DESIGN.md, "Command line")."""

from __future__ import annotations

import socket
from pathlib import Path

from test_run_support import cli_env, read_report, run_cli, standard_records, write_profile, write_records

from outreach_tui.sandbox import Sandbox


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_token_endpoint_exits_4_with_everything_pending(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    text = profile.read_text().replace(f"{sandbox.base_url}/oauth/token", f"http://127.0.0.1:{closed_port()}/oauth/token")
    profile.write_text(text)
    write_records(tmp_path / "in.jsonl", standard_records(3))
    env = cli_env(tmp_path / "data", OUTREACH_REFRESH_TOKEN="refresh-token-without-an-access-token",
                  OUTREACH_CLIENT_SECRET="sandbox-secret")
    done = run_cli(profile, "--report", tmp_path / "report.json", env=env)
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr and "refresh-token-without" not in done.stderr
    report = read_report(tmp_path / "report.json")
    assert report["prospects"]["pending"] == 3 and report["prospects"]["activated"] == 0


def test_rejected_refresh_token_exits_3_and_says_how_to_sign_in(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(2))
    env = cli_env(tmp_path / "data", OUTREACH_REFRESH_TOKEN="not-a-refresh-token-the-sandbox-issued",
                  OUTREACH_CLIENT_SECRET="sandbox-secret")
    done = run_cli(profile, env=env)
    assert done.returncode == 3, done.stderr
    assert "outreach-tui login" in done.stderr
    assert "not-a-refresh-token" not in done.stderr
