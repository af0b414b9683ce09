"""End to end in a real browser: headless Chromium (Debian's ``chromium``) signs in on the sandbox's login
page (email, Next, password, Sign in), lands on the loopback callback, and the token is stored where
``token_source_for`` finds it. Also ``outreach-tui login --no-browser`` as a process (paste the URL)."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_auth_support import (
    make_profile,
    redirect_after_login,
    settings_and_place,
    source_for,
    token_file,
)

from outreach_tui.outreach import auth
from outreach_tui.profile import MappingRow, Profile, save_profile
from outreach_tui.sandbox import Sandbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTREACH_TUI = [sys.executable, "-m", "outreach_tui"]


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium "
                                                  "(apt-get install chromium; .ci/run does)")
async def test_sign_in_in_headless_chromium_stores_the_token(tmp_path: Path, auth_sandbox: Sandbox,
                                                             signin_env: Path) -> None:
    from playwright.async_api import async_playwright

    profile = make_profile(tmp_path, auth_sandbox)
    opened: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    sign_in = asyncio.create_task(auth.sign_in(*settings_and_place(profile), open_browser=opened.set_result,
                                               timeout=60))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(await asyncio.wait_for(opened, 10))
            await page.fill("input[name=email]", "demo@example.com")
            await page.click("#next")
            await page.fill("input[name=password]", "demo")
            await page.click("#sign-in")
            await page.wait_for_url("http://127.0.0.1:*/callback?**", timeout=15_000)
            assert "You can close this tab" in await page.inner_text("body")
        finally:
            await browser.close()
    result = await asyncio.wait_for(sign_in, 15)

    assert result.missing_scopes == [] and result.redirect_uri == profile.outreach.redirect_uri
    path = token_file(signin_env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = await source_for(profile).access_token()  # what a following --run uses
    assert token in path.read_text()
    async with httpx.AsyncClient() as client:
        info = await client.get(f"{auth_sandbox.api_base}/prospects/1", headers={"Authorization": f"Bearer {token}"})
    assert info.status_code == 200
    stored = path.read_text()
    _following_run_exports_without_asking(tmp_path, profile, auth_sandbox, secrets=_token_strings(stored))


def _token_strings(stored: str) -> list[str]:
    """Every access and refresh token in the token file."""
    import json

    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("access_token", "refresh_token") and isinstance(value, str):
                    found.append(value)
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(json.loads(stored))
    assert found, "no tokens found in the token file"
    return found


def _following_run_exports_without_asking(tmp_path: Path, profile: Profile, sandbox: Sandbox,
                                          secrets: list[str]) -> None:
    """A headless run after sign-in uses the stored token (no prompt, no env token) and leaks it nowhere:
    not in stdout, stderr, the --json events, the report, the profile or the state database."""
    (tmp_path / "people.jsonl").write_text(
        '{"identityMap": {"Oid": [{"id": 1}]}, "person": {"name": {"firstName": "Zoë"}}}\n', encoding="utf-8")
    profile.mapping = [MappingRow(source="person.name.firstName", target="firstName")]
    save_profile(profile)
    report = tmp_path / "report.json"
    run = subprocess.run([sys.executable, "-m", "outreach_tui", "--run", str(profile.path), "--json",
                          "--report", str(report)], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                         env=os.environ.copy(), timeout=60)
    assert run.returncode == 0, run.stderr
    assert (sandbox.prospect(1) or {}).get("firstName") == "Zoë"
    outputs = {"stdout": run.stdout, "stderr": run.stderr, "report": report.read_text(),
               "profile": Path(str(profile.path)).read_text()}
    data_dir = Path(os.environ["OUTREACH_TUI_DATA_DIR"])
    for state_file in (data_dir / "state").glob("*"):
        outputs[state_file.name] = state_file.read_bytes().decode("utf-8", "replace")
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"a token leaked into {name}"


def _login_process(profile: Path, *extra: str) -> subprocess.Popen[str]:
    command = [*OUTREACH_TUI, "login", str(profile), *extra]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=os.environ.copy())


def _printed_url(process: subprocess.Popen[str], before: list[str] | None = None) -> str:
    """The sign-in address login prints; the lines printed before it go to ``before``."""
    assert process.stderr is not None
    for line in process.stderr:
        if before is not None:
            before.append(line)
        if line.strip().startswith("http"):
            return line.strip()
    raise AssertionError("login printed no URL")


async def test_no_browser_login_reads_the_pasted_redirect(tmp_path: Path, auth_sandbox: Sandbox,
                                                          signin_env: Path) -> None:
    profile = make_profile(tmp_path, auth_sandbox)
    process = _login_process(profile.path, "--no-browser")  # type: ignore[arg-type]
    printed: list[str] = []
    location = await redirect_after_login(_printed_url(process, printed))
    _, err = process.communicate(location + "\n", timeout=30)
    err = "".join(printed) + err
    assert process.returncode == 0, err
    assert f"must be registered on the Outreach app (client id 'outreach-tui-sandbox'), exactly: " \
           f"{profile.outreach.redirect_uri}" in err
    assert "Signed in to Outreach" in err and "prospects.write" in err and "(0600)" in err
    assert "demo@example.com" not in err  # nothing says whose the token is: no user is invented
    token = await source_for(profile).access_token()
    assert token not in err
    logout = subprocess.run([*OUTREACH_TUI, "logout", str(profile.path)], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=30)
    assert logout.returncode == 0 and "forgot" in logout.stderr
    assert not list((signin_env / "tokens").glob("*.json"))


async def test_login_exit_codes(tmp_path: Path, auth_sandbox: Sandbox, signin_env: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[destination]\n")
    process = _login_process(bad, "--no-browser")
    _, err = process.communicate("", timeout=30)
    assert process.returncode == 2 and "destination.name" in err

    profile = make_profile(tmp_path, auth_sandbox)
    process = _login_process(profile.path, "--no-browser")  # type: ignore[arg-type]
    assert "state=" in _printed_url(process)
    forged = "http://127.0.0.1:1/callback?code=x&state=forged"
    _, err = process.communicate(forged + "\n", timeout=30)
    assert process.returncode == 3 and "state mismatch" in err

    unreachable = make_profile(tmp_path, auth_sandbox, token_url="http://127.0.0.1:9/oauth/token")
    process = _login_process(unreachable.path, "--no-browser")  # type: ignore[arg-type]
    location = await redirect_after_login(_printed_url(process))
    _, err = process.communicate(location + "\n", timeout=30)
    assert process.returncode == 4 and "Cannot reach the Outreach token endpoint" in err
    assert "Traceback" not in err
