"""Drills: the export survives SIGKILL at random moments, a faulty network with expiring tokens, and a tight
rate limit, against the sandbox over real HTTP.

- crash drill: kill `--run` with SIGKILL at >= 10 seeded random moments, rerun each time; in the end every
  prospect holds exactly the expected values and re-sent duplicates are at most `concurrency` per kill;
- fault drill: 10 % 5xx, 2 % dropped connections and every token expired mid-run (a refresh token is
  available): every prospect activated, none failed;
- rate drill: 100 requests per 10 s window, 600 prospects: at most one 429 per window and >= 95 % of the
  allowed rate achieved (about 60 s: the one long test of this suite).
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path

import pytest
from test_run_cli import JsonLines, child
from test_run_support import (
    cli_env,
    expected_values,
    read_report,
    run_cli,
    standard_records,
    token_for,
    write_profile,
    write_records,
)

from outreach_tui.export.connect import connector
from outreach_tui.export.events import Event, Progress, Retrying
from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.outreach.token_source import token_source_for
from outreach_tui.profile import load_profile
from outreach_tui.sandbox import Sandbox

KILLS = 10
CRASH_PROSPECTS = 400
CONCURRENCY = 4


def values_in(sb: Sandbox, count: int) -> dict[int, dict[str, object]]:
    fields = ("firstName", "title", "custom4")
    return {i: {f: (sb.prospect(i) or {}).get(f) for f in fields} for i in range(1, count + 1)}


@pytest.mark.slow
def test_crash_drill_sigkill_at_random_moments_loses_nothing(tmp_path: Path, sandbox_factory) -> None:
    sb = sandbox_factory(prospects=CRASH_PROSPECTS, latency_ms=1)
    profile = write_profile(tmp_path, sb.api_base, export={"concurrency": CONCURRENCY})
    write_records(tmp_path / "in.jsonl", standard_records(CRASH_PROSPECTS))
    env = cli_env(tmp_path / "d", token_for(sb))
    rng = random.Random(20261128)
    # kill points: a share of all PATCHes answered, or right at start-up (planning, before any request)
    targets = sorted(rng.uniform(0.02, 0.9) for _ in range(KILLS - 2))
    for _ in range(2):
        targets.insert(rng.randrange(len(targets) + 1), 0.0)
    kills = 0
    for target in targets:
        with child(profile, "--json", env=env) as process:
            lines = JsonLines(process)
            goal = int(target * CRASH_PROSPECTS)
            lines.wait_for(lambda event, goal=goal: event["event"] == "run_started" if goal == 0 else
                           event["event"] == "progress" and sb.stats.patch_count >= goal)
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
            kills += 1

    final = run_cli(profile, "--report", tmp_path / "r.json", env=env, timeout=120)

    assert final.returncode == 0, final.stderr
    assert kills >= 10
    assert values_in(sb, CRASH_PROSPECTS) == expected_values(CRASH_PROSPECTS)
    duplicates = sb.stats.patch_count - CRASH_PROSPECTS
    print(f"crash drill: {kills} kills, {duplicates} re-sent duplicates (bound {CONCURRENCY * kills})")
    assert 0 <= duplicates <= CONCURRENCY * kills, duplicates
    report = read_report(tmp_path / "r.json")
    assert report["prospects"]["failed"] == 0
    again = run_cli(profile, "--report", tmp_path / "r2.json", env=env)
    assert again.returncode == 0 and read_report(tmp_path / "r2.json")["requests"]["sent"] == 0


def test_fault_drill_5xx_drops_and_expired_tokens_still_activate_everything(
        tmp_path: Path, sandbox_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    count = 300
    sb = sandbox_factory(prospects=count, error_rate=0.10, drop_rate=0.02, fault_seed=7)
    profile_path = write_profile(tmp_path, sb.api_base, export={"concurrency": CONCURRENCY})
    write_records(tmp_path / "in.jsonl", standard_records(count))
    issued = sb.issue_token()
    monkeypatch.setenv("OUTREACH_ACCESS_TOKEN", issued["access_token"])
    monkeypatch.setenv("OUTREACH_REFRESH_TOKEN", issued["refresh_token"])
    monkeypatch.setenv("OUTREACH_CLIENT_SECRET", sb.config.client_secret)
    profile = load_profile(profile_path)
    expired = []
    retries: list[Retrying] = []

    def expire_midway(event: Event) -> None:
        if isinstance(event, Retrying):
            retries.append(event)
        if isinstance(event, Progress) and event.counts.activated >= count // 2 and not expired:
            sb.expire_all_tokens()
            expired.append(event.counts.activated)

    runner = ExportRunner(profile, RunOptions(state_path=tmp_path / "s.sqlite3"), expire_midway,
                          connect=connector(profile, tokens=token_source_for(profile.outreach, profile.token_place()),
                                            retry=RetryPolicy(base_delay=0.02, max_delay=0.5)))
    finished = asyncio.run(runner.run())

    assert expired, "the tokens were never expired"
    counts = finished.counts
    assert finished.exit_code == 0, finished.message
    assert (counts.activated, counts.failed, counts.pending) == (count, 0, 0)
    assert counts.retried > 0 and retries and {event.prospect_id for event in retries} <= set(range(1, count + 1))
    stats = sb.stats
    assert stats.faults > 0 and stats.dropped > 0 and stats.count(status=401) > 0
    assert values_in(sb, count) == expected_values(count)


@pytest.mark.slow
def test_rate_drill_paces_to_the_window_without_a_429_storm(tmp_path: Path, sandbox_factory) -> None:
    limit, window, count = 100, 10.0, 600
    sb: Sandbox = sandbox_factory(prospects=count, rate_limit=limit, window=window)
    profile = write_profile(tmp_path, sb.api_base, export={"concurrency": CONCURRENCY})
    write_records(tmp_path / "in.jsonl", standard_records(count))
    loaded = load_profile(profile)
    runner = ExportRunner(loaded, RunOptions(state_path=tmp_path / "s.sqlite3"),
                          connect=connector(loaded, tokens=StaticTokenSource(token_for(sb))))
    started = time.time()
    finished = asyncio.run(runner.run())
    elapsed = time.time() - started

    assert finished.exit_code == 0 and finished.counts.activated == count
    stats = sb.stats
    per_window = sorted(next(iter(stats.windows.values())).items())
    assert stats.rate_limited <= len(per_window), (stats.rate_limited, per_window)
    # every window between the first (partial) and the last (the tail of the work) was used to >= 95 %
    assert all(used >= 0.95 * limit for _, used in per_window[1:-1]), per_window
    achieved = count / elapsed
    print(f"rate drill: {achieved:.2f} req/s achieved of {limit / window:.2f} allowed, "
          f"{stats.rate_limited} x 429 over {len(per_window)} windows {per_window}")
    assert achieved >= 0.95 * limit / window, (achieved, per_window)
