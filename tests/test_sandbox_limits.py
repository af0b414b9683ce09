"""Rate limit, faults, counters, the /_sandbox/ inspection API, seeding and the command, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from sandbox_fixtures import SandboxFactory

from outreach_tui.sandbox import Sandbox, SandboxConfig, SandboxError
from outreach_tui.sandbox.responses import rate_limit_exceeded

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def bearer(sb: Sandbox, user: str = "demo@example.com") -> dict[str, str]:
    return {"Authorization": f"Bearer {sb.issue_token(user=user)['access_token']}"}


# -- rate limit ------------------------------------------------------------------------------------------
def test_rate_limit_headers_count_down_then_429_with_exact_body(
    sandbox_factory: SandboxFactory, client: httpx.Client
) -> None:
    sb: Sandbox = sandbox_factory(rate_limit=3, window=3600)
    headers = bearer(sb)
    remaining = []
    for _ in range(3):
        answer = client.get(sb.api_base + "/prospects/1", headers=headers)
        assert answer.status_code == 200 and answer.headers["X-RateLimit-Limit"] == "3"
        remaining.append(answer.headers["X-RateLimit-Remaining"])
    assert remaining == ["2", "1", "0"]
    over = client.get(sb.api_base + "/prospects/1", headers=headers)
    assert over.status_code == 429
    reset = int(over.headers["X-RateLimit-Reset"])
    assert reset % 3600 == 0 and 0 < reset - time.time() <= 3600
    assert 1 <= int(over.headers["Retry-After"]) <= 3600
    when = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert over.json() == {
        "errors": [
            {
                "id": "rateLimitExceeded",
                "title": "Rate Limit Exceeded",
                "detail": f"You have exceeded your permitted rate limit of 3; please try again at {when}.",
            }
        ]
    }
    assert sb.stats.rate_limited == 1


def test_rate_limit_detail_uses_thousands_separators(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    sb: Sandbox = sandbox_factory(rate_limit=10_000)
    headers = bearer(sb)
    assert client.get(sb.api_base + "/prospects/1", headers=headers).headers["X-RateLimit-Remaining"] == "9999"
    start, _used = sb.state.windows["demo@example.com"]
    sb.state.windows["demo@example.com"] = (start, 10_000)  # as if 10,000 requests came before
    detail = client.get(sb.api_base + "/prospects/1", headers=headers).json()["errors"][0]["detail"]
    assert detail.startswith("You have exceeded your permitted rate limit of 10,000; please try again at ")
    assert rate_limit_exceeded(10_000, 1483228800)["errors"][0]["detail"] == (
        "You have exceeded your permitted rate limit of 10,000; please try again at 2017-01-01T00:00:00."
    )


def test_limit_is_per_user_and_a_new_window_starts_fresh(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    sb: Sandbox = sandbox_factory(rate_limit=1, window=60)
    ada, bob = bearer(sb, "ada@example.com"), bearer(sb, "bob@example.com")
    assert client.get(sb.api_base + "/prospects/1", headers=ada).status_code == 200
    assert client.get(sb.api_base + "/prospects/1", headers=ada).status_code == 429
    assert client.get(sb.api_base + "/prospects/1", headers=bob).status_code == 200
    start, used = sb.state.windows["ada@example.com"]
    sb.state.windows["ada@example.com"] = (start - 60, used)  # the window has rolled over
    assert client.get(sb.api_base + "/prospects/1", headers=ada).status_code == 200
    assert set(sb.stats.windows) == {"ada@example.com", "bob@example.com"}


def test_rate_limit_headers_on_every_api_answer(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    sb: Sandbox = sandbox_factory(rate_limit=5)
    headers = bearer(sb)
    answers = [
        client.get(sb.api_base + "/prospects/1", headers=headers),  # 200
        client.get(sb.api_base + "/prospects/404", headers=headers),  # 404
        client.patch(sb.api_base + "/prospects/1", headers=headers, json={}),  # 415
        client.get(sb.api_base + "/prospects/1"),  # 401
    ]
    for answer in answers:
        for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
            assert name in answer.headers, (answer, name)


def test_rate_limit_zero_means_unlimited(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    sb: Sandbox = sandbox_factory(rate_limit=0, window=1)
    headers = bearer(sb)
    statuses = {client.get(sb.api_base + "/prospects/1", headers=headers).status_code for _ in range(30)}
    assert statuses == {200}


# -- faults ----------------------------------------------------------------------------------------------
def test_error_rate_answers_5xx_and_503_is_maintenance(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    sb: Sandbox = sandbox_factory(error_rate=1.0)
    headers = bearer(sb)
    answers = [client.get(sb.api_base + "/prospects/1", headers=headers) for _ in range(30)]
    assert {a.status_code for a in answers} == {500, 502, 503}
    maintenance = next(a for a in answers if a.status_code == 503)
    assert maintenance.json()["errors"][0]["id"] == "scheduledServerMaintenance"
    retry_at = parsedate_to_datetime(maintenance.headers["Retry-After"])  # an HTTP date, as Outreach sends
    assert retry_at.tzinfo is not None and 0 < (retry_at - datetime.now(UTC)).total_seconds() <= 2.5
    assert sb.stats.faults == 30


def test_scheduled_maintenance_answers_503_with_an_http_date_until_it_ends(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    headers = bearer(sandbox)
    until = sandbox.start_maintenance(1.5)
    answer = client.get(sandbox.api_base + "/prospects/1", headers=headers)
    assert answer.status_code == 503 and answer.headers["content-type"] == "application/vnd.api+json"
    assert answer.json()["errors"][0]["id"] == "scheduledServerMaintenance"
    retry_at = parsedate_to_datetime(answer.headers["Retry-After"])
    assert retry_at.timestamp() == math.ceil(until)
    assert "X-RateLimit-Remaining" not in answer.headers  # the API is down: nothing was counted
    time.sleep(max(0.0, math.ceil(until) - time.time()) + 0.05)
    assert client.get(sandbox.api_base + "/prospects/1", headers=headers).status_code == 200


def test_maintenance_over_http(sandbox: Sandbox, client: httpx.Client) -> None:
    assert client.post(sandbox.base_url + "/_sandbox/maintenance", json={"seconds": 30}).status_code == 200
    assert client.get(sandbox.api_base + "/prospects/1", headers=bearer(sandbox)).status_code == 503


def test_faults_are_repeatable_with_the_same_seed(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    runs = []
    for _ in range(2):
        sb: Sandbox = sandbox_factory(error_rate=0.5, fault_seed=7)
        headers = bearer(sb)
        runs.append([client.get(sb.api_base + "/prospects/1", headers=headers).status_code for _ in range(20)])
    assert runs[0] == runs[1] and 200 in runs[0] and len(set(runs[0])) > 1


def test_drop_rate_drops_the_connection(sandbox: Sandbox, client: httpx.Client) -> None:
    headers = bearer(sandbox)
    sandbox.set_faults(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        client.get(sandbox.api_base + "/prospects/1", headers=headers)
    sandbox.set_faults(drop_rate=0.0)
    assert client.get(sandbox.api_base + "/prospects/1", headers=headers).status_code == 200
    assert sandbox.stats.dropped == 1


def test_latency_delays_api_answers(sandbox: Sandbox, client: httpx.Client) -> None:
    headers = bearer(sandbox)
    sandbox.set_faults(latency_ms=150)
    started = time.perf_counter()
    assert client.get(sandbox.api_base + "/prospects/1", headers=headers).status_code == 200
    assert time.perf_counter() - started >= 0.15


def test_faults_spare_oauth_and_inspection_paths(sandbox: Sandbox, client: httpx.Client) -> None:
    token = sandbox.issue_token()
    sandbox.set_faults(error_rate=1.0, drop_rate=1.0)
    form = {
        "grant_type": "refresh_token",
        "client_id": sandbox.config.client_id,
        "client_secret": sandbox.config.client_secret,
        "refresh_token": token["refresh_token"],
    }
    assert client.post(sandbox.token_url, data=form).status_code == 200
    assert client.get(sandbox.base_url + "/_sandbox/stats").status_code == 200


async def test_peak_concurrency_counts_requests_in_flight(sandbox: Sandbox) -> None:
    headers = bearer(sandbox)
    sandbox.set_faults(latency_ms=300)
    async with httpx.AsyncClient(timeout=5, limits=httpx.Limits(max_connections=8)) as client:
        url = sandbox.api_base + "/prospects/1"
        answers = await asyncio.gather(*(client.get(url, headers=headers) for _ in range(8)))
    assert {a.status_code for a in answers} == {200}
    stats = sandbox.stats
    assert stats.peak_concurrency == 8
    assert stats.requests[("GET", "/api/v2/prospects/{id}", 200)] == 8 and stats.count(status=200) == 8


# -- inspection API --------------------------------------------------------------------------------------
def test_inspection_api_over_http(sandbox: Sandbox, client: httpx.Client) -> None:
    base = sandbox.base_url + "/_sandbox"
    token = client.post(base + "/tokens", json={"scopes": ["prospects.all"]}).json()
    headers = {"Authorization": f"Bearer {token['access_token']}", "Content-Type": "application/vnd.api+json"}
    body = {"data": {"type": "prospect", "id": 4, "attributes": {"custom4": "x"}}}
    assert client.patch(sandbox.api_base + "/prospects/4", headers=headers, json=body).status_code == 200
    assert client.get(base + "/prospects/4").json()["attributes"]["custom4"] == "x"
    assert client.get(base + "/prospects/4040").status_code == 404
    stats = client.get(base + "/stats").json()
    assert stats["patchCount"] == 1 and stats["tokenMints"] == 1
    assert {"method": "PATCH", "route": "/api/v2/prospects/{id}", "status": 200, "count": 1} in stats["requests"]
    assert client.post(base + "/faults", json={"errorRate": 1.0}).json()["errorRate"] == 1.0
    assert client.get(sandbox.api_base + "/prospects/1", headers=headers).status_code >= 500
    assert client.post(base + "/faults", json={"errorRate": 5}).status_code == 400
    client.post(base + "/faults", json={"errorRate": 0})
    client.post(base + "/expire-tokens")
    assert client.get(sandbox.api_base + "/prospects/1", headers=headers).status_code == 401
    client.post(base + "/reset-stats")
    assert client.get(base + "/stats").json()["patchCount"] == 0


# -- seeding ---------------------------------------------------------------------------------------------
def test_seed_file_and_types_file(tmp_path: Path, sandbox_factory: SandboxFactory) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"prospects": [{"id": 77, "attributes": {"firstName": "Ada", "lastName": "L"}}]}))
    types = tmp_path / "types.json"
    validations = {"custom3": {"type": "numerical", "required": False, "label": "n", "definition": None}}
    types.write_text(json.dumps({"data": [{"type": "prospect", "meta": {"validations": validations}}]}))
    sb: Sandbox = sandbox_factory(prospects=2, seed=seed, types=types)
    assert sb.prospect(77) is not None and (sb.prospect(77) or {})["name"] == "Ada L"
    assert sb.prospect(2) is not None and sb.prospect(3) is None
    assert 3 in sb.state.validator.types


def test_demo_seed_loads_prospects_and_types(sandbox_factory: SandboxFactory) -> None:
    sb: Sandbox = sandbox_factory(prospects=0, seed="demo")
    demo = json.loads((REPO / "outreach_tui/demo/prospects.json").read_text())["prospects"][0]
    assert (sb.prospect(demo["id"]) or {}).get("firstName") == demo["attributes"].get("firstName")
    assert sb.state.types_body == json.loads((REPO / "outreach_tui/demo/types.json").read_text())


def test_bad_seed_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"prospects": [{"attributes": {}}]}')
    with pytest.raises(SandboxError, match="'id' must be an integer"):
        Sandbox(SandboxConfig(port=0, seed=bad))
    with pytest.raises(SandboxError, match="cannot read"):
        Sandbox(SandboxConfig(port=0, seed=tmp_path / "missing.json"))


# -- the command -----------------------------------------------------------------------------------------
def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    for line in proc.stdout or ():
        lines.put(line)


def _lines_until(proc: subprocess.Popen[str], last_prefix: str, timeout: float = 20) -> list[str]:
    """stdout lines up to one starting with ``last_prefix`` (read by a thread: the test never blocks)."""
    assert proc.stdout is not None
    found: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(proc, found), daemon=True).start()
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while not lines or not lines[-1].startswith(last_prefix):
        lines.append(found.get(timeout=max(0.01, deadline - time.monotonic())))
    return lines


def test_command_prints_profile_settings_and_stops_cleanly_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "outreach_tui", "sandbox", "--port", "0", "--prospects", "3"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = _lines_until(proc, "client_id = ")
        assert lines[0].startswith("Outreach sandbox listening on http://127.0.0.1:")
        base = lines[0].rsplit(" ", 1)[1].strip()
        assert f'api_base = "{base}/api/v2"\n' in lines and f'authorize_url = "{base}/oauth/authorize"\n' in lines
        assert f'token_url = "{base}/oauth/token"\n' in lines
        assert httpx.get(base + "/_sandbox/prospects/3", timeout=5).status_code == 200
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "--allow-remote"),
        (["--error-rate", "2"], "--error-rate"),
        (["--user", "x"], "--user"),
    ],
)
def test_command_refuses_bad_settings_with_exit_2(args: list[str], message: str) -> None:
    cmd = [sys.executable, "-m", "outreach_tui", "sandbox", "--port", "0", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_reset_is_a_whole_second(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = client.get(sandbox.api_base + "/prospects/1", headers=bearer(sandbox))
    reset = answer.headers["X-RateLimit-Reset"]
    assert reset.isdigit() and math.isclose(int(reset) % 3600, 0)
