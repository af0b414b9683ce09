"""The crash drill with the bulk strategy: ``--run`` is killed with SIGKILL at seeded moments (at start-up,
after a number of imports were accepted, after a number of polls), then resumed. In the end every prospect
holds exactly the expected values, and no import is resent once its acceptance was recorded: after each
kill, no later import carries a prospect the state had accepted or an import the journal had an id for."""

from __future__ import annotations

import random
import signal
import sqlite3
from pathlib import Path

import orjson
import pytest
from test_bulk_export import IMPORT_SCOPES, bulk_profile
from test_run_cli import JsonLines, child
from test_run_support import cli_env, expected_values, read_report, run_cli, standard_records, write_records

from outreach_tui.sandbox import Sandbox

KILLS = 7
PROSPECTS = 400
CHUNK = 25  # records per import: 16 imports in all


def values_in(sb: Sandbox, count: int) -> dict[int, dict[str, object]]:
    fields = ("firstName", "title", "custom4")
    return {i: {f: (sb.prospect(i) or {}).get(f) for f in fields} for i in range(1, count + 1)}


def protected(state_path: Path, sb: Sandbox) -> set[int]:
    """Prospects that must never be imported again: accepted in the state, or carried by a journalled import
    (Outreach's acceptance recorded: the next run polls it)."""
    if not state_path.exists():  # killed before the state was created
        return set()
    db = sqlite3.connect(f"file:{state_path}?mode=ro", uri=True)
    try:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'accepted'").fetchone():
            return set()  # killed after the file was created, before its tables were
        accepted = {row[0] for row in db.execute("SELECT prospect_id FROM accepted")}
        has_journal = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'bulk_imports'").fetchone()
        rows = db.execute("SELECT import_id, items FROM bulk_imports WHERE import_id IS NOT NULL").fetchall() \
            if has_journal else []
    finally:
        db.close()
    journalled = set()
    for import_id, items in rows:
        job = sb.import_job(import_id)
        assert job is not None, import_id  # a journalled id is one Outreach gave
        assert sorted(job["recordIds"]) == sorted(pid for pid, _ in orjson.loads(items))
        journalled |= {pid for pid, _ in orjson.loads(items)}
    return accepted | journalled


@pytest.mark.slow
def test_bulk_crash_drill_sigkill_then_resume_ends_exact_without_resending_accepted_imports(
        tmp_path: Path, sandbox_factory) -> None:
    sb: Sandbox = sandbox_factory(prospects=PROSPECTS, import_delay=0.3)
    profile = bulk_profile(tmp_path, sb.api_base, {"strategy": "bulk", "bulk_max_records": CHUNK, "concurrency": 4,
                                                   "state_path": "state.sqlite3"})
    write_records(tmp_path / "in.jsonl", standard_records(PROSPECTS))
    env = cli_env(tmp_path / "d", str(sb.issue_token(scopes=IMPORT_SCOPES)["access_token"]))
    state_path = tmp_path / "state.sqlite3"
    rng = random.Random(20261130)
    kills = 0
    checks: list[tuple[int, set[int]]] = []  # (imports the sandbox had at a kill, prospects protected then)
    for attempt in range(3 * KILLS):
        if kills >= KILLS:
            break
        kind = "start" if attempt == 0 else rng.choice(("imports", "polls"))
        base_imports, base_polls = sb.stats.imports, sb.stats.count("GET", "/api/v2/imports/{id}", 200)
        delta = rng.randint(1, 2)

        def moment(event: dict[str, object], kind: str = kind, imports: int = base_imports + delta,
                   polls: int = base_polls + delta) -> bool:
            if event["event"] == "finished":
                return True
            if kind == "start":
                return event["event"] == "run_started"
            stats = sb.stats
            return stats.imports >= imports if kind == "imports" else \
                stats.count("GET", "/api/v2/imports/{id}", 200) >= polls

        with child(profile, "--json", env=env) as process:
            seen = JsonLines(process).wait_for(moment, timeout=60)
            if seen["event"] == "finished":
                break  # nothing left to kill: the run completed
            process.send_signal(signal.SIGKILL)
            assert process.wait(timeout=30) == -signal.SIGKILL
        kills += 1
        checks.append((len(sb.api.imports.jobs), protected(state_path, sb)))

    final = run_cli(profile, "--report", tmp_path / "r.json", env=env, timeout=180)

    assert final.returncode == 0, final.stderr
    assert kills >= 6, kills
    assert values_in(sb, PROSPECTS) == expected_values(PROSPECTS)
    report = read_report(tmp_path / "r.json")
    assert report["prospects"]["failed"] == 0 and report["prospects"]["pending"] == 0
    jobs = {job_id: set(sb.import_job(job_id)["recordIds"]) for job_id in sb.api.imports.jobs}  # type: ignore[index]
    for imports_then, guarded in checks:
        resent = {job_id: ids & guarded for job_id, ids in jobs.items() if job_id > imports_then and ids & guarded}
        assert not resent, resent
    duplicates = sb.stats.import_records - PROSPECTS
    print(f"bulk crash drill: {kills} kills, {len(jobs)} imports, {duplicates} records imported twice "
          "(chunks whose acceptance was never recorded)")
    again = run_cli(profile, "--report", tmp_path / "r2.json", env=env)
    assert again.returncode == 0 and read_report(tmp_path / "r2.json")["requests"]["sent"] == 0
