"""Benchmark the bulk strategy: a backfill of N changed prospects (5 attributes, 10 segments) against the
sandbox in its own process (rate limit off, a small import delay), sent as imports.

    python tests/bench/bench_bulk.py                  # 1,000,000 prospects (targets: <= 500 requests, <= 10 min)
    python tests/bench/bench_bulk.py --n 100000 --check 5000

Figures: Outreach requests (imports, polls, read-backs: every /api/v2 request the sandbox answered), records
per import, wall time, and the same backfill by PATCH (one request per prospect) as hours of the hourly
budget (10,000 requests per hour per user), side by side. Correctness: ``--check`` prospects, spread evenly
over 1..N (0: all of them), are read from the sandbox and compared with the expected values; every prospect
must be activated in the run's counts.

The runner runs in this process with the default polling (first poll after 2 s, never more often per import).
"""

from __future__ import annotations

import argparse
import json
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from outreach_tui.commands.run import execute
from outreach_tui.export.connect import connector
from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.profile import load_profile

BUDGET_PER_HOUR = 10_000  # Outreach: requests per hour per user
STATUSES = ("realized", "existing", "exited")
ATTRIBUTES = (("person.name.firstName", "firstName"), ("person.name.lastName", "lastName"),
              ("person.jobTitle", "title"), ("person.occupation", "occupation"),
              ("homeAddress.city", "addressCity"))
SEGMENTS = 10  # seg-0..seg-9 -> custom1..custom10


class SandboxProcess:
    """The sandbox in its own process (so its work does not share this one's interpreter)."""

    def __init__(self, prospects: int, import_delay: float) -> None:
        cmd = [sys.executable, "-m", "outreach_tui", "sandbox", "--port", "0", "--rate-limit", "0",
               "--prospects", str(prospects), "--mint-interval", "0", "--import-delay", str(import_delay)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            for line in self.proc.stdout or ():
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        first = lines.get(timeout=300)
        if not first.startswith("Outreach sandbox listening on "):
            raise SystemExit(f"unexpected sandbox output: {first!r}")
        self.base = first.rsplit(" ", 1)[1].strip()
        self.api_base = self.base + "/api/v2"

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(self.base + "/_sandbox/stats", timeout=60).json())

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def expected(i: int) -> dict[str, Any]:
    values: dict[str, Any] = {"firstName": f"F{i}", "lastName": f"L{i}", "title": f"T{i}", "occupation": f"O{i}",
                              "addressCity": f"C{i % 1000}"}
    values.update({f"custom{s + 1}": STATUSES[(i + s) % 3] for s in range(SEGMENTS)})
    return values


def write_inputs(directory: Path, api_base: str, n: int) -> Path:
    lines = [f'[destination]\nname = "bulk bench"\n[outreach]\napi_base = "{api_base}"',
             'scopes = ["prospects.read", "prospects.write", "imports.read", "imports.write"]',
             '[source]\npath = "in.jsonl"']
    lines += [f'[[mapping]]\nsource = "{source}"\ntarget = "{target}"' for source, target in ATTRIBUTES]
    lines += [f'[[segments]]\nid = "seg-{s}"\nmapping_id = {s + 1}' for s in range(SEGMENTS)]
    lines += ['[export]\nstrategy = "bulk"\nconcurrency = 4\nbudget_per_hour = 1000000']
    profile = directory / "bench.toml"
    profile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with (directory / "in.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(1, n + 1):
            record = {"identityMap": {"Oid": [{"id": str(i)}]},
                      "person": {"name": {"firstName": f"F{i}", "lastName": f"L{i}"}, "jobTitle": f"T{i}",
                                 "occupation": f"O{i}"},
                      "homeAddress": {"city": f"C{i % 1000}"},
                      "segmentMembership": {"ups": {f"seg-{s}": {"status": STATUSES[(i + s) % 3]}
                                                    for s in range(SEGMENTS)}}}
            handle.write(json.dumps(record) + "\n")
    return profile


def api_requests(stats: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in stats["requests"]:
        if str(row["route"]).startswith("/api/v2"):
            key = f"{row['method']} {row['route']}"
            counts[key] = counts.get(key, 0) + int(row["count"])
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--import-delay", type=float, default=0.2)
    parser.add_argument("--check", type=int, default=5000, help="prospects read back to compare (0: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        directory = Path(workdir)
        sandbox = SandboxProcess(args.n, import_delay=args.import_delay)
        try:
            profile_path = write_inputs(directory, sandbox.api_base, args.n)
            token = httpx.post(sandbox.base + "/_sandbox/tokens", json={"scopes": [
                "prospects.read", "prospects.write", "imports.read", "imports.write"]}).json()["access_token"]
            profile = load_profile(profile_path)
            runner = ExportRunner(profile, RunOptions(state_path=directory / "state.sqlite3"),
                                  connect=connector(profile, tokens=StaticTokenSource(token)))
            started = time.perf_counter()
            finished = execute(runner)
            wall = time.perf_counter() - started
            requests = api_requests(sandbox.stats())
            checked, wrong = check(sandbox, args.n, args.check, token)
        finally:
            sandbox.close()
    total = sum(requests.values())
    report = finished.report["requests"]
    print(f"bulk backfill of {args.n:,} changed prospects (5 attributes, {SEGMENTS} segments), loaded machine")
    print(f"  exit {finished.exit_code}; activated {finished.counts.activated:,}, failed {finished.counts.failed:,}, "
          f"pending {finished.counts.pending:,}")
    print(f"  requests by route: {requests}")
    print(f"  {'':24}{'bulk':>16}{'patch (computed)':>20}")
    print(f"  {'Outreach requests':24}{total:>16,}{args.n:>20,}")
    print(f"  {'hours of budget':24}{total / BUDGET_PER_HOUR:>16.3f}{args.n / BUDGET_PER_HOUR:>20.1f}")
    print(f"  {'imports / polls':24}{report['imports']:>8,} / {report['polls']:<6,}{'-':>20}")
    print(f"  {'records per import':24}{report['records_per_import']:>16,}{'1':>20}")
    print(f"  {'wall time':24}{wall:>15.1f}s{'-':>20}")
    print(f"  checked {checked:,} prospects against the expected values: {wrong} wrong")
    ok = (finished.exit_code == 0 and finished.counts.activated == args.n and wrong == 0
          and total <= max(500, args.n // 2000) and wall <= 600)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


def check(sandbox: SandboxProcess, n: int, sample: int, token: str) -> tuple[int, int]:
    """Compare ``sample`` prospects spread over 1..n (0: every one) with the expected values, read through the
    API 1,000 at a time (``filter[id]``), after the measured run."""
    step = 1 if sample <= 0 else max(1, n // sample)
    ids = list(range(1, n + 1, step))
    wrong = checked = 0
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=60, headers=headers) as client:
        for start in range(0, len(ids), 1000):
            batch = ids[start:start + 1000]
            fields = sorted(expected(batch[0]))
            page = client.get(f"{sandbox.api_base}/prospects", params={
                "filter[id]": ",".join(map(str, batch)), "page[size]": "1000",
                "fields[prospect]": ",".join(fields)}).json()
            got = {int(item["id"]): item["attributes"] for item in page["data"]}
            for i in batch:
                checked += 1
                wrong += any(got.get(i, {}).get(k) != v for k, v in expected(i).items())
    return checked, wrong


if __name__ == "__main__":
    main()
