"""A Parquet export plans exactly like the JSON Lines it was written from: the headless dry run's report
(records, exclusions, prospects, segments, the PATCH bodies it would send) through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from conftest import DEMO
from test_xdm_records import write_twins

RUN_ONLY = ("started_at", "finished_at", "input", "state_path")  # what differs between two runs of one plan


def dry_run_report(directory: Path, source: Path, fmt: str) -> dict[str, Any]:
    profile = directory / f"{fmt}.toml"
    profile.write_text((DEMO / "demo.toml").read_text().replace(
        'path = "profiles.jsonl"\nformat = "jsonl"', f'path = "{source}"\nformat = "{fmt}"'), encoding="utf-8")
    report = directory / f"{fmt}-report.json"
    done = subprocess.run([sys.executable, "-m", "outreach_tui", "--run", str(profile), "--dry-run", "--quiet",
                           "--report", str(report), "--state", str(directory / f"{fmt}.sqlite3")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return {key: value for key, value in json.loads(report.read_text()).items() if key not in RUN_ONLY}


def test_parquet_from_the_demo_data_plans_to_the_same_report_as_json_lines(tmp_path: Path) -> None:
    jsonl, parquet = write_twins(tmp_path)  # the demo's records, Oid ids as text (one Parquet column, one type)

    from_jsonl = dry_run_report(tmp_path, jsonl, "jsonl")
    from_parquet = dry_run_report(tmp_path, parquet, "parquet")

    assert from_parquet == from_jsonl
    assert from_jsonl["records"]["planned"] > 200 and from_jsonl["exclusions_total"] > 0
    assert from_jsonl["prospects"]["planned"] > 200 and len(from_jsonl["planned_updates_sample"]) == 5
    # and the demo file itself (numeric and text ids, two malformed lines) plans the same prospects
    demo = dry_run_report(tmp_path, DEMO / "profiles.jsonl", "jsonl")
    for key in ("prospects", "segments", "planned_updates_sample", "identities", "exclusions_total"):
        assert demo[key] == from_parquet[key], key
    assert demo["records"]["malformed"] == 2
