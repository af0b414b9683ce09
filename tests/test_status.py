"""``outreach-tui status PROFILE.toml``: through the command line, against the sandbox on loopback (and, for
"sends nothing", a listener that counts every connection made to it)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_auth_support import sign_in_over_http
from test_run_support import SEGMENTS, record, write_profile, write_records

from outreach_tui.cli import main
from outreach_tui.outreach import auth
from outreach_tui.outreach.tokens import TokenRecord, default_store
from outreach_tui.profile import load_profile
from outreach_tui.sandbox import Sandbox

USER = "demo@example.com"


def status(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real entry point in a child process (inherits the test's data dir and cleared OUTREACH_* vars)."""
    return subprocess.run([sys.executable, "-m", "outreach_tui", "status", *map(str, args)], capture_output=True,
                          text=True, timeout=60, check=False, env=env)


def status_json(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    done = status(*args, "--json", env=env)
    return done.returncode, json.loads(done.stdout)


class ConnectionCounter:
    """A TCP listener on loopback that accepts and closes every connection, counting them."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port = int(self.socket.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.socket.close()


@pytest.fixture
def listener() -> Iterator[ConnectionCounter]:
    counter = ConnectionCounter()
    yield counter
    counter.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sign_in(profile_path: Path, sandbox: Sandbox) -> None:
    """A real browser-style sign-in: the loopback callback, the sandbox's login pages, the token stored."""
    profile = load_profile(profile_path)

    async def go() -> None:
        url: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(auth.sign_in(profile.outreach, profile.token_place(),
                                                open_browser=url.set_result, timeout=10))
        callback = await sign_in_over_http(await asyncio.wait_for(url, 5))
        assert callback.status_code == 200
        await asyncio.wait_for(task, 10)

    asyncio.run(go())


def signed_in_profile(directory: Path, sandbox: Sandbox, **export: Any) -> Path:
    redirect = f"http://127.0.0.1:{free_port()}/callback"
    sandbox.register_redirect_uri(redirect)
    path = write_profile(directory, sandbox.api_base, export=export or None)
    text = path.read_text().replace('client_id = "outreach-tui-sandbox"',
                                    'client_id = "outreach-tui-sandbox"\n'
                                    f'authorize_url = "{sandbox.authorize_url}"\n'
                                    f'redirect_uri = "{redirect}"\n'
                                    'scopes = ["prospects.read", "prospects.write", "users.read"]')
    path.write_text(text)
    sign_in(path, sandbox)
    return path


def stored_secrets(data_dir: Path) -> list[str]:
    document = json.loads(next((data_dir / "tokens").glob("*.json")).read_text())
    secrets = [value for account in document["accounts"].values()
               for key, value in account.items() if key in ("access_token", "refresh_token") and value]
    assert len(secrets) >= 2
    return secrets


def stored_user(data_dir: Path) -> str | None:
    document = json.loads(next((data_dir / "tokens").glob("*.json")).read_text())
    user: str | None = document["accounts"][document["current_user"]].get("user")
    return user


def window_spent(sandbox: Sandbox, user: str = USER) -> int:
    windows = sandbox.stats.windows.get(user, {})
    return windows[max(windows)] if windows else 0


# ----- signed out -------------------------------------------------------------------------------------------

def test_signed_out_answers_without_any_network_and_names_the_login_command(
        tmp_path: Path, listener: ConnectionCounter) -> None:
    api_base = f"http://127.0.0.1:{listener.port}/api/v2"
    profile = write_profile(tmp_path, api_base)

    done = status(profile)
    code, body = status_json(profile)

    assert listener.connections == 0  # neither the API nor the token endpoint was contacted
    assert done.returncode == 3 and code == 3, done.stdout + done.stderr
    assert f"outreach-tui login {profile}" in done.stdout
    assert "Signed in:       no: no Outreach tokens are stored" in done.stdout
    assert "not checked (signed out)" in done.stdout
    assert body["sign_in"]["signed_in"] is False and body["sign_in"]["via"] == "none"
    assert body["budget"] == {**body["budget"], "checked": False, "skipped": "signed out", "remaining": None}
    assert body["next_step"] == f"outreach-tui login {profile}"
    assert body["last_run"] is None and body["dead_letters"]["count"] == 0


def test_an_expired_token_without_a_refresh_token_is_signed_out_offline(
        tmp_path: Path, listener: ConnectionCounter, isolated_environment: Path) -> None:
    profile_path = write_profile(tmp_path, f"http://127.0.0.1:{listener.port}/api/v2")
    profile = load_profile(profile_path)
    secret = "expired-access-token-value-1234"
    default_store().save(profile.token_place().key, TokenRecord(
        access_token=secret, refresh_token=None, expires_at=time.time() - 120, minted_at=time.time() - 7320,
        scopes=["prospects.read", "prospects.write"], user=USER))

    done = status(profile_path)

    assert listener.connections == 0
    assert done.returncode == 3
    assert "the access token expired and no refresh token is stored" in done.stdout
    assert "expired 2 min ago" in done.stdout and f"outreach-tui login {profile_path}" in done.stdout
    assert secret not in done.stdout + done.stderr


def test_a_bad_profile_exits_2_naming_its_problems(tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text('[destination]\nname = "x"\n[source]\npath = "in.jsonl"\n[[segments]]\nid = "s"\n'
                       "mapping_id = 999\n")
    done = status(profile)
    assert done.returncode == 2 and done.stdout == ""
    assert "mapping_id" in done.stderr and "150" in done.stderr


# ----- signed in -----------------------------------------------------------------------------------------

def test_signed_in_shows_user_scopes_expiry_and_the_budget_outreach_reports(
        tmp_path: Path, sandbox_factory: Any, isolated_environment: Path) -> None:
    sandbox = sandbox_factory(rate_limit=40, token_ttl=3600)
    profile = signed_in_profile(tmp_path, sandbox)
    secrets = stored_secrets(isolated_environment)

    code, body = status_json(profile)
    spent = window_spent(sandbox)
    done = status(profile)

    assert code == 0 and done.returncode == 0, done.stdout + done.stderr
    sign_in_facts = body["sign_in"]
    assert sign_in_facts["signed_in"] is True and sign_in_facts["via"] == "store"
    # who signed in, as sign-in recorded it (the sandbox does not serve Outreach's token information yet)
    assert sign_in_facts["user"] == stored_user(isolated_environment) and sign_in_facts["user"] in (USER, None)
    assert set(sign_in_facts["scopes"]) == {"prospects.read", "prospects.write", "users.read"}
    assert sign_in_facts["missing_scopes"] == [] and sign_in_facts["refresh_token"] is True
    assert 3500 <= sign_in_facts["expires_in_seconds"] <= 3600 and sign_in_facts["expired"] is False
    assert sign_in_facts["store"].startswith("file ") and sign_in_facts["store"].endswith("(0600)")
    budget = body["budget"]
    assert budget["checked"] is True and budget["limit"] == 40
    assert budget["remaining"] == 40 - spent  # what the sandbox counted, our one request included
    assert 0 < budget["resets_in_seconds"] <= 3600
    # the human text: the same facts, and the second status spent one more request
    assert f"as {sign_in_facts['user'] or 'an Outreach user'}" in done.stdout
    assert "cover what this profile needs" in done.stdout
    assert "a refresh token is stored" in done.stdout and "(in 59 min)" in done.stdout
    assert f"{40 - spent - 1:,} of 40 requests this hour" in done.stdout
    for secret in secrets:
        assert secret not in done.stdout + done.stderr and secret not in json.dumps(body)


def test_offline_sends_nothing_even_when_signed_in(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = signed_in_profile(tmp_path, sandbox)
    before = window_spent(sandbox)
    code, body = status_json(profile, "--offline")
    assert code == 0
    assert window_spent(sandbox) == before
    assert body["budget"]["skipped"] == "offline" and body["sign_in"]["signed_in"] is True


def test_a_token_without_a_needed_scope_exits_3_naming_it(tmp_path: Path, sandbox: Sandbox) -> None:
    profile_path = write_profile(tmp_path, sandbox.api_base)
    minted = sandbox.issue_token(scopes=("prospects.read",))
    default_store().save(load_profile(profile_path).token_place().key,
                         TokenRecord.from_token_response(minted, user=USER))
    done = status(profile_path)
    assert done.returncode == 3
    assert "MISSING prospects.write" in done.stdout and f"outreach-tui login {profile_path}" in done.stdout


def test_an_environment_token_is_named_never_shown_and_used_for_the_budget(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    token = str(sandbox.issue_token()["access_token"])
    env = {**_child_env(), "OUTREACH_ACCESS_TOKEN": token}
    done = status(profile, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OUTREACH_ACCESS_TOKEN from the environment" in done.stdout
    assert "Environment:     OUTREACH_ACCESS_TOKEN set (values not shown)" in done.stdout
    assert f"{10_000 - window_spent(sandbox):,} of 10,000 requests" in done.stdout
    assert token not in done.stdout + done.stderr


def test_unreachable_outreach_exits_4_and_still_reports_what_is_known(
        tmp_path: Path, sandbox: Sandbox) -> None:
    profile = signed_in_profile(tmp_path, sandbox)
    sandbox.stop()
    code, body = status_json(profile)
    assert code == 4
    assert body["sign_in"]["signed_in"] is True and body["budget"]["checked"] is False
    assert "cannot connect" in body["budget"]["error"]
    assert "Next:            check the network and [outreach] api_base" in status(profile).stdout


# ----- after runs -------------------------------------------------------------------------------------------

def _child_env(**extra: str) -> dict[str, str]:
    import os

    return {**os.environ, **extra}


def _run_export(profile: Path, records: Path, token: str, report: Path | None = None) -> int:
    args = ["--run", str(profile), "--input", str(records), "--quiet"]
    if report is not None:
        args += ["--report", str(report)]
    done = subprocess.run([sys.executable, "-m", "outreach_tui", *args], capture_output=True, text=True,
                          timeout=120, check=False, env=_child_env(OUTREACH_ACCESS_TOKEN=token))
    return done.returncode


def test_after_a_run_with_failures_shows_the_last_run_and_the_dead_letters(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    missing = list(range(901, 909))  # eight prospects that do not exist: 404 each
    rows = [record(i, f"first-{i}", f"title-{i}", {"seg-emea": "realized"}) for i in (1, 2, 3)]
    rows += [record(i, f"first-{i}") for i in missing]
    records = write_records(tmp_path / "in.jsonl", rows)
    token = str(sandbox.issue_token()["access_token"])
    assert _run_export(profile, records, token, tmp_path / "report.json") == 1
    report = json.loads((tmp_path / "report.json").read_text())

    code, body = status_json(profile, env=_child_env(OUTREACH_ACCESS_TOKEN=token))
    done = status(profile, "--offline", env=_child_env(OUTREACH_ACCESS_TOKEN=token))

    assert code == 0 and done.returncode == 0, done.stdout + done.stderr
    last = body["last_run"]
    assert last["exit_code"] == 1 and last["dry_run"] is False and last["finished_at"]
    assert last["prospects"] == report["prospects"]
    assert last["prospects"]["activated"] == 3 and last["prospects"]["failed"] == report["failures_total"] == 8
    assert {(f["prospect_id"], f["status"]) for f in report["failures"]} == {(i, 404) for i in missing}
    letters = body["dead_letters"]
    assert letters["count"] == 8 and len(letters["first"]) == 5 and letters["more"] == 3
    shown = {letter["prospect_id"] for letter in letters["first"]}
    assert shown <= set(missing)
    assert all(letter["status"] == 404 for letter in letters["first"])
    assert "exit 1 (some prospects failed)" in done.stdout
    assert f"{report['prospects']['targeted']:,} targeted, 3 activated" in done.stdout
    assert f"Dead letters:    {letters['count']} waiting" in done.stdout
    assert "and 3 more" in done.stdout
    for letter in letters["first"]:
        assert f"prospect {letter['prospect_id']}: HTTP {letter['status']} {letter['error_id']}" in done.stdout
    expected_report = last["report_path"] or "not recorded"
    assert f"report: {expected_report}" in done.stdout
    assert token not in done.stdout + json.dumps(body)


def test_fields_no_longer_mapped_are_counted_for_cleanup(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    statuses = ("realized", "existing", "exited")
    rows = [record(i, f"first-{i}", f"title-{i}", {"seg-emea": statuses[i % 3]}) for i in range(1, 7)]
    rows += [record(i, f"first-{i}", None, {"seg-trial": "realized"}) for i in (7, 8)]
    records = write_records(tmp_path / "in.jsonl", rows)
    token = str(sandbox.issue_token()["access_token"])
    assert _run_export(profile, records, token) == 0

    code, before = status_json(profile, "--offline")
    assert code == 3  # nothing stored: offline status of a signed-out profile still reads the state
    assert before["pending_cleanup"] == {"tracked": True, "fields": {}, "clear_on_unmap": True}

    # drop the title row and the seg-emea segment; move seg-trial from custom5 to custom9
    emea, trial = SEGMENTS
    text = profile.read_text()
    text = text.replace('[[mapping]]\nsource = "person.jobTitle"\ntarget = "title"\n', "")
    text = text.replace(f'[[segments]]\nid = "{emea[0]}"\nname = "{emea[1]}"\nmapping_id = {emea[2]}\n', "")
    text = text.replace(f"mapping_id = {trial[2]}", "mapping_id = 9")
    text = text.replace("[export]\n", "[export]\nclear_on_unmap = false\n", 1)
    profile.write_text(text)

    code, after = status_json(profile, "--offline")
    done = status(profile, "--offline")
    assert code == 3
    assert after["pending_cleanup"] == {"tracked": True, "fields": {"custom4": 6, "custom5": 2, "title": 6},
                                        "clear_on_unmap": False}
    assert "3 fields this destination wrote and no longer maps ([export] clear_on_unmap = false)" in done.stdout
    assert "custom4: 6 prospects" in done.stdout and "title: 6 prospects" in done.stdout
    assert "clear_on_unmap = false" in done.stdout


def test_in_process_main_matches_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = write_profile(tmp_path, "http://127.0.0.1:9/api/v2")
    assert main(["status", str(profile), "--offline"]) == 3
    out = capsys.readouterr().out
    assert out.startswith("Profile:") and "Next:            sign in: outreach-tui login" in out


def test_an_expired_token_is_renewed_by_the_status_request_and_the_new_expiry_shown(
        tmp_path: Path, sandbox: Sandbox) -> None:
    profile_path = write_profile(tmp_path, sandbox.api_base)
    key = load_profile(profile_path).token_place().key
    # minted two minutes ago with two minutes to live (so Outreach's once-a-minute mint throttle is no wait)
    minted = TokenRecord.from_token_response(sandbox.issue_token(), user=USER, now=time.time() - 120)
    minted.expires_at = minted.minted_at + 119
    default_store().save(key, minted)

    code, offline = status_json(profile_path, "--offline")
    assert code == 0  # expired, but a refresh token is stored: still signed in
    assert offline["sign_in"]["expired"] is True and offline["sign_in"]["refresh_token"] is True
    mints = sandbox.stats.token_mints

    code, online = status_json(profile_path)
    assert code == 0
    assert sandbox.stats.token_mints == mints + 1  # the one request refreshed the token first
    assert online["sign_in"]["expired"] is False and online["sign_in"]["expires_in_seconds"] > 60
    assert online["budget"]["checked"] is True


def test_a_run_that_did_not_finish_is_shown_as_such(tmp_path: Path) -> None:
    from outreach_tui.export.state import StateStore

    profile = write_profile(tmp_path, "http://127.0.0.1:9/api/v2")
    state = tmp_path / "state.sqlite3"
    with StateStore.open(state) as store:
        store.start_run("2026-01-02T03:04:05.000Z", dry_run=False, full_resync=True)
    code, body = status_json(profile, "--offline", "--state", state)
    done = status(profile, "--offline", "--state", state)
    assert code == 3  # signed out; the state is still read
    assert body["last_run"]["finished_at"] is None and body["last_run"]["full_resync"] is True
    assert "full resync #1 started" in done.stdout and "did not finish" in done.stdout


def test_an_unreadable_state_exits_2_naming_the_file(tmp_path: Path, sandbox: Sandbox) -> None:
    profile_path = write_profile(tmp_path, sandbox.api_base)
    default_store().save(load_profile(profile_path).token_place().key,
                         TokenRecord.from_token_response(sandbox.issue_token(), user=USER))
    state = tmp_path / "state.sqlite3"
    state.write_bytes(b"this is not a database" * 100)
    done = status(profile_path, "--offline", "--state", state)
    assert done.returncode == 2
    assert f"State problem:   {state}" in done.stdout
    assert "left untouched" in done.stdout and "--state NEW_FILE" in done.stdout


def test_a_spent_budget_is_reported_at_once_not_waited_out(tmp_path: Path, sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(rate_limit=1, window=600)
    profile_path = write_profile(tmp_path, sandbox.api_base)
    default_store().save(load_profile(profile_path).token_place().key,
                         TokenRecord.from_token_response(sandbox.issue_token(), user=USER))
    code, first = status_json(profile_path)
    assert code == 0 and (first["budget"]["limit"], first["budget"]["remaining"]) == (1, 0)

    started = time.monotonic()
    code, second = status_json(profile_path)  # Outreach answers 429: the limiter would wait 10 minutes
    assert time.monotonic() - started < 30
    assert code == 0 and sandbox.stats.rate_limited == 1
    assert second["budget"]["remaining"] == 0 and 0 < second["budget"]["resets_in_seconds"] <= 600
    assert "rate limited (HTTP 429)" in second["budget"]["error"]
