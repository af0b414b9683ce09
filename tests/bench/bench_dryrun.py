"""Benchmark ``outreach-tui --run PROFILE --dry-run`` end to end: records/second and peak memory.

    python tests/bench/bench_dryrun.py                  # 1,000,000 synthetic profiles, median of 3 runs
    python tests/bench/bench_dryrun.py --n 200000 --repeat 5
    git archive HEAD~3 outreach_tui | tar -x -C /tmp/before
    python tests/bench/bench_dryrun.py --baseline /tmp/before   # before/after, runs interleaved

Generates N XDM profiles (JSON Lines; 5 mapped attributes, 10 mapped segments, distinct prospect ids) and a
profile TOML, then runs the headless dry run in a subprocess, as a user would (read, plan, diff against an
empty state, report). Figures: records/s over the subprocess's wall time (start-up included), over its CPU
time (user + system: what the process itself spent, less sensitive to other load on a shared machine), and
its peak RSS. Floors on one core: >= 40,000 records/s, <= 300 MB. Each variant's package is byte-compiled
first, as an installed package is: a shell with PYTHONDONTWRITEBYTECODE set would otherwise compile every
module from source on every run (about half a second, paid by neither a user nor the other variant alike).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

TARGET_RATE = 40_000
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


@dataclass(frozen=True)
class RunFigures:
    wall: float  # seconds, start-up included
    cpu: float  # user + system seconds of the child
    peak_mb: float


def one_run(profile: Path, report: Path, env: dict[str, str]) -> RunFigures:
    """Wall time, CPU time and peak RSS of one ``--dry-run`` subprocess (``wait4``: this child's own rusage)."""
    command = [sys.executable, "-m", "outreach_tui.commands.run", str(profile), "--dry-run", "--quiet",
               "--report", str(report)]
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        # cwd: `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH; run from the
        # checkout, a baseline would silently import the checkout's code instead of its own.
        child = subprocess.Popen(command, env=env, cwd=profile.parent, stdout=subprocess.DEVNULL, stderr=errors)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"dry run failed ({child.returncode}): {errors.read().decode(errors='replace')}")
    return RunFigures(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)


def package_location(directory: Path, env: dict[str, str]) -> str:
    """Where a variant's ``outreach_tui`` comes from, imported exactly as the runs import it."""
    command = [sys.executable, "-c", "import outreach_tui; print(outreach_tui.__path__[0])"]
    return subprocess.run(command, env=env, cwd=directory, capture_output=True, text=True, check=True).stdout.strip()


def summarise(label: str, n: int, runs: list[RunFigures]) -> tuple[float, float, float]:
    wall = n / statistics.median(run.wall for run in runs)
    cpu = n / statistics.median(run.cpu for run in runs)
    peak = max(run.peak_mb for run in runs)
    print(f"{label}: median of {len(runs)} run(s) of {n:,}: {wall:,.0f} records/s wall, {cpu:,.0f} records/s CPU "
          f"(user+sys); peak RSS {peak:,.0f} MB")
    return wall, cpu, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic profiles (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the medians are reported (default 3)")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="a source tree holding another outreach_tui/ (e.g. from git archive) to run "
                             "interleaved with this one, for before/after figures from the same minutes")
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
        variants = {"current": env}
        if args.baseline is not None:
            variants["baseline"] = {**env, "PYTHONPATH": str(args.baseline.resolve())}
        runs: dict[str, list[RunFigures]] = {label: [] for label in variants}
        locations = {label: package_location(directory, variant_env) for label, variant_env in variants.items()}
        for label, location in locations.items():
            print(f"{label}: outreach_tui from {location}", flush=True)
        if len(set(locations.values())) < len(locations):
            raise SystemExit("the variants import the same outreach_tui: nothing would be compared")
        for location in locations.values():
            subprocess.run([sys.executable, "-m", "compileall", "-q", location], check=True)
        for run in range(1, args.repeat + 1):
            order = list(variants.items())
            for label, variant_env in order if run % 2 else reversed(order):  # alternate who goes first
                figures = one_run(profile, directory / f"report-{label}.json", variant_env)
                runs[label].append(figures)
                print(f"run {run} {label}: {args.n / figures.wall:,.0f} records/s wall ({figures.wall:.1f} s), "
                      f"{args.n / figures.cpu:,.0f} records/s CPU ({figures.cpu:.1f} s), "
                      f"peak RSS {figures.peak_mb:,.0f} MB", flush=True)
        report = json.loads((directory / "report-current.json").read_text())
    wall, cpu, peak = summarise("dry run", args.n, runs["current"])
    if "baseline" in runs:
        base_wall, base_cpu, _ = summarise("baseline", args.n, runs["baseline"])
        pairs = list(zip(runs["current"], runs["baseline"], strict=True))  # neighbours in time: less drift
        print(f"  current / baseline: {wall / base_wall:.2f}x wall, {cpu / base_cpu:.2f}x CPU; median of "
              f"the {len(pairs)} run pairs: {statistics.median(b.cpu / c.cpu for c, b in pairs):.2f}x CPU")
    print(f"  report: {report['records']} prospects {report['prospects']}")
    print(f"  floors >= {TARGET_RATE:,} records/s: wall {'met' if wall >= TARGET_RATE else 'NOT met'}, "
          f"CPU {'met' if cpu >= TARGET_RATE else 'NOT met'}; <= {TARGET_RSS_MB} MB: "
          f"{'met' if peak <= TARGET_RSS_MB else 'NOT met'}")
    print("  command: python " + " ".join(sys.argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
