"""The headless scope check: --run compares the signed-in token's scopes with what the profile needs before
it reads the input, and exits 3 naming the missing scope and the real profile path for login."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from test_run_support import cli_env, read_report, run_cli, standard_records, write_profile, write_records

from outreach_tui.outreach.tokens import TokenRecord, default_store
from outreach_tui.profile import load_profile
from outreach_tui.sandbox import Sandbox


def sign_in(profile_path: Path, sb: Sandbox, scopes: tuple[str, ...]) -> None:
    """What outreach-tui login leaves in the token store: a token with the scopes Outreach granted."""
    answer = sb.issue_token(scopes=scopes)
    now = time.time()
    record = TokenRecord(access_token=str(answer["access_token"]), refresh_token=str(answer["refresh_token"]),
                         expires_at=now + 3600, minted_at=now, scopes=list(scopes), user="demo@example.com")
    default_store().save(load_profile(profile_path).token_place().key, record)


def api_requests(sb: Sandbox) -> int:
    return sum(count for (_, route, _), count in sb.stats.requests.items() if route.startswith("/api/v2"))


def test_a_token_without_the_write_scope_stops_before_anything_is_sent(
        tmp_path: Path, sandbox: Sandbox, signin_env: Path) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(4))
    sign_in(profile, sandbox, ("prospects.read", "users.read"))

    done = run_cli(profile, "--report", tmp_path / "r.json", env=cli_env(signin_env))

    assert done.returncode == 3, done.stderr
    assert "prospects.write" in done.stderr and f"outreach-tui login {profile.resolve()}" in done.stderr
    assert "PROFILE.toml" not in done.stderr
    assert api_requests(sandbox) == 0  # not even GET /types: the scopes were known from the sign-in
    report = read_report(tmp_path / "r.json")
    assert (report["exit_code"], report["prospects"]["pending"], report["requests"]["sent"]) == (3, 4, 0)


def test_the_scope_check_needs_no_input(tmp_path: Path, sandbox: Sandbox, signin_env: Path) -> None:
    """preflight is what --run calls before it opens the input: it reads nothing but the sign-in."""
    from outreach_tui.export.connect import ClientHooks, connect
    from outreach_tui.export.control import RunStopped
    from outreach_tui.export.preflight import preflight

    profile_path = write_profile(tmp_path, sandbox.api_base, source="never-written.jsonl")
    sign_in(profile_path, sandbox, ("prospects.write",))
    profile = load_profile(profile_path)
    hooks = ClientHooks(on_throttle=lambda *_: None, on_resume=lambda: None, on_retry=lambda *_: None)

    async def check() -> RunStopped | None:
        connection = connect(profile, hooks)
        try:
            await preflight(profile, connection)
        except RunStopped as stop:
            return stop
        finally:
            await connection.client.aclose()
        return None

    stop = asyncio.run(check())
    assert stop is not None and stop.exit_code == 3 and "prospects.read" in str(stop)
    assert not (tmp_path / "never-written.jsonl").exists() and api_requests(sandbox) == 0


def test_a_token_with_the_scopes_the_profile_needs_runs(tmp_path: Path, sandbox: Sandbox, signin_env: Path) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(3))
    sign_in(profile, sandbox, ("prospects.all",))  # .all covers read and write

    done = run_cli(profile, "--report", tmp_path / "r.json", env=cli_env(signin_env))

    assert done.returncode == 0, done.stderr
    assert read_report(tmp_path / "r.json")["prospects"]["activated"] == 3


def test_the_bulk_strategy_needs_the_import_scopes_too(tmp_path: Path, sandbox: Sandbox, signin_env: Path) -> None:
    profile = write_profile(tmp_path, sandbox.api_base, export={"strategy": "bulk"})
    text = profile.read_text().replace('client_id = "outreach-tui-sandbox"',
                                       'client_id = "outreach-tui-sandbox"\nscopes = ["prospects.read", '
                                       '"prospects.write", "imports.read", "imports.write"]')
    profile.write_text(text)
    write_records(tmp_path / "in.jsonl", standard_records(2))
    sign_in(profile, sandbox, ("prospects.read", "prospects.write"))

    done = run_cli(profile, env=cli_env(signin_env))

    assert done.returncode == 3, done.stderr
    assert "imports.read, imports.write" in done.stderr and api_requests(sandbox) == 0
