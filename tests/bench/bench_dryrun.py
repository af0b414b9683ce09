"""Benchmark ``outreach-tui --run PROFILE --dry-run`` end to end: records/second and peak memory.

    python tests/bench/bench_dryrun.py                  # 1,000,000 synthetic profiles, 1 run
    python tests/bench/bench_dryrun.py --n 200000 --repeat 3

Generates N XDM profiles (JSON Lines; 5 mapped attributes, 10 mapped segments, distinct prospect ids) and a
profile TOML, then runs the headless dry run in a subprocess, as a user would (read, plan, diff against an
empty state, report). Figures: records/s over the subprocess's wall time (start-up included) and its peak
RSS (``getrusage`` of the child). Targets on one core: >= 50,000 records/s, <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

TARGET_RATE = 50_000
TARGET_RSS_MB = 300
STATUSES = ("realized", "existing", "exited")
SEGMENTS = [f"seg-{n}" for n in range(10)]


def write_profile(directory: Path) -> Path:
    mapping = [("person.name.firstName", "firstName"), ("person.name.lastName", "lastName"),
               ("workEmail.address", "emails"), ("person.jobTitle", "title"), ("workAddress.city", "addressCity")]
    lines = ['[destination]', 'name = "dry-run bench"', '[source]', 'path = "profiles.jsonl"', 'format = "jsonl"']
    for source, target in mapping:
        lines += ["[[mapping]]", f'source = "{source}"', f'target = "{target}"']
    for index, segment in enumerate(SEGMENTS, start=1):
        lines += ["[[segments]]", f'id = "{segment}"', f"mapping_id = {index}"]
    path = directory / "bench.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_records(path: Path, n: int) -> None:
    dumps = orjson.dumps
    with path.open("wb") as handle:
        batch: list[bytes] = []
        for i in range(1, n + 1):
            ups = {segment: {"status": STATUSES[(i + k) % 3], "lastQualificationTime": "2026-11-20T13:15:49Z"}
                   for k, segment in enumerate(SEGMENTS) if (i + k) % 4}
            batch.append(dumps({
                "identityMap": {"Oid": [{"id": str(i), "primary": True}], "Email": [{"id": f"p{i}@mail.example"}]},
                "person": {"name": {"firstName": f"First{i}", "lastName": f"Last{i}"}, "jobTitle": "Engineer"},
                "workEmail": {"address": f"p{i}@corp.example"},
                "workAddress": {"city": "Paris", "country": "France"},
                "segmentMembership": {"ups": ups},
            }))
            if len(batch) == 10_000:
                handle.write(b"\n".join(batch) + b"\n")
                batch = []
        if batch:
            handle.write(b"\n".join(batch) + b"\n")


def one_run(profile: Path, report: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one ``--dry-run`` subprocess."""
    command = [sys.executable, "-m", "outreach_tui.commands.run", str(profile), "--dry-run", "--quiet",
               "--report", str(report)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"dry run failed ({result.returncode}): {result.stderr}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kb < before:
        peak_kb = before
    return wall, peak_kb / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic profiles (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the median is reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dryrun-") as tmp:
        directory = Path(tmp)
        profile = write_profile(directory)
        started = time.perf_counter()
        write_records(directory / "profiles.jsonl", args.n)
        size_mb = (directory / "profiles.jsonl").stat().st_size / 1e6
        print(f"generated {args.n:,} profiles ({size_mb:,.0f} MB) in {time.perf_counter() - started:.1f} s",
              flush=True)
        env = {**os.environ, "OUTREACH_TUI_DATA_DIR": str(directory / "data")}
        rates, peaks = [], []
        for run in range(1, args.repeat + 1):
            wall, peak = one_run(profile, directory / "report.json", env)
            rates.append(args.n / wall)
            peaks.append(peak)
            print(f"run {run}: {args.n / wall:,.0f} records/s ({wall:.1f} s), peak RSS {peak:,.0f} MB", flush=True)
        report = json.loads((directory / "report.json").read_text())
    rate, peak = statistics.median(rates), max(peaks)
    print(f"dry run: median {rate:,.0f} records/s over {args.repeat} run(s) of {args.n:,}; peak RSS {peak:,.0f} MB")
    print(f"  report: {report['records']} prospects {report['prospects']}")
    print(f"  targets >= {TARGET_RATE:,} records/s: {'met' if rate >= TARGET_RATE else 'NOT met'}; "
          f"<= {TARGET_RSS_MB} MB: {'met' if peak <= TARGET_RSS_MB else 'NOT met'}")
    print("  command: python " + " ".join(sys.argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
