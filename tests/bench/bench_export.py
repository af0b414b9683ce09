"""Benchmark the export runner end to end against the sandbox running in its own process.

    python tests/bench/bench_export.py                 # everything (the rate part takes about a minute)
    python tests/bench/bench_export.py --skip-rate     # (a), (c), (d) only
    python tests/bench/bench_export.py --n 20000 --concurrency 8 --latencies 0 20

Figures:
(a) requests per changed prospect (target 1.0) and per unchanged prospect (target 0): the sandbox's PATCH
    count over a first run (every prospect changed) and a second run (nothing changed);
(b) rate-limit utilisation (target >= 0.97): the rate-drill setup (100 requests per 10 s window, 600
    prospects), achieved requests/s over allowed requests/s, and the share of each full window used;
(c) end-to-end prospects/s for ``--n`` changed prospects (records read, planned, diffed, sent, recorded),
    sandbox unlimited, with 0 and 20 ms of sandbox latency, against a naive sequential loop of httpx PATCH
    calls (targets >= 800/s and >= 3x the naive loop at 20 ms); after each run, in the same minutes, a bare
    ``httpx.AsyncClient`` from the product's client factory sends the same number of PATCHes with the same
    concurrency: the ceiling the stock HTTP stack sets on this machine at that moment;
(d) CPU milliseconds per request: this process's CPU time over the run / requests sent.

Each run uses a fresh state file. The runner runs in this process, as ``outreach-tui --run`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bench_client import bare_httpx, run_loop

from outreach_tui.commands.run import execute
from outreach_tui.export.connect import connector
from outreach_tui.export.events import Finished
from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.profile import load_profile

STATUSES = ("realized", "existing", "exited")


class SandboxProcess:
    def __init__(self, prospects: int, latency_ms: float = 0, rate_limit: int = 0, window: float = 3600) -> None:
        cmd = [sys.executable, "-m", "outreach_tui", "sandbox", "--port", "0", "--rate-limit", str(rate_limit),
               "--window", str(window), "--prospects", str(prospects), "--mint-interval", "0",
               "--latency-ms", str(latency_ms)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.proc.stdout or ()], daemon=True).start()
        first = lines.get(timeout=60)
        if not first.startswith("Outreach sandbox listening on "):
            raise SystemExit(f"unexpected sandbox output: {first!r}")
        self.base = first.rsplit(" ", 1)[1].strip()
        self.api_base = self.base + "/api/v2"
        self.token = httpx.post(self.base + "/_sandbox/tokens", json={"scopes": ["prospects.all"]}).json()[
            "access_token"]

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(self.base + "/_sandbox/stats").json())

    def patches(self) -> int:
        return int(self.stats()["patchCount"])

    def faults(self, latency_ms: float) -> None:
        httpx.post(self.base + "/_sandbox/faults", json={"latency_ms": latency_ms}).raise_for_status()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def write_inputs(directory: Path, api_base: str, n: int, concurrency: int, version: str) -> Path:
    profile = directory / "bench.toml"
    profile.write_text(
        f'[destination]\nname = "bench"\n[outreach]\napi_base = "{api_base}"\n[source]\npath = "in.jsonl"\n'
        '[[mapping]]\nsource = "person.name.firstName"\ntarget = "firstName"\n'
        '[[mapping]]\nsource = "person.jobTitle"\ntarget = "title"\n'
        '[[segments]]\nid = "seg-a"\nmapping_id = 4\n'
        f"[export]\nconcurrency = {concurrency}\nbudget_per_hour = 1000000\n", encoding="utf-8")
    with (directory / "in.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(1, n + 1):
            handle.write(json.dumps({"identityMap": {"Oid": [{"id": str(i)}]},
                                     "person": {"name": {"firstName": f"{version}-{i}"}, "jobTitle": f"t{i}"},
                                     "segmentMembership": {"ups": {"seg-a": {"status": STATUSES[i % 3]}}}}) + "\n")
    return profile


def export(profile: Path, state: Path, token: str) -> tuple[Finished, float, float]:
    loaded = load_profile(profile)
    runner = ExportRunner(loaded, RunOptions(state_path=state),
                          connect=connector(loaded, tokens=StaticTokenSource(token)))
    cpu, wall = time.process_time(), time.perf_counter()
    finished = execute(runner)  # the event loop `outreach-tui --run` uses
    return finished, time.perf_counter() - wall, time.process_time() - cpu


def naive_loop(api_base: str, token: str, n: int) -> float:
    """The baseline: one synchronous httpx client, one PATCH after another (keep-alive), same bodies."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"}
    with httpx.Client(headers=headers, timeout=30) as client:
        started = time.perf_counter()
        for i in range(1, n + 1):
            body = {"data": {"type": "prospect", "id": i, "attributes": {
                "firstName": f"naive-{i}", "title": f"t{i}", "custom4": STATUSES[i % 3]}}}
            client.patch(f"{api_base}/prospects/{i}", json=body).raise_for_status()
        return n / (time.perf_counter() - started)


def throughput_part(args: argparse.Namespace, workdir: Path) -> None:
    sandbox = SandboxProcess(args.n)
    try:
        for latency in args.latencies:
            sandbox.faults(latency)
            rates, cpu_per_request, bare_rates = [], [], []
            for repeat in range(args.repeat):
                run_dir = Path(tempfile.mkdtemp(dir=workdir))
                profile = write_inputs(run_dir, sandbox.api_base, args.n, args.concurrency, f"r{latency}-{repeat}")
                before = sandbox.patches()
                finished, wall, cpu = export(profile, run_dir / "state.sqlite3", sandbox.token)
                sent = sandbox.patches() - before
                assert finished.counts.activated == args.n, finished.message
                rates.append(args.n / wall)
                cpu_per_request.append(1000 * cpu / max(finished.counts.sent, 1))
                bare_rates.append(run_loop("uvloop", bare_httpx(sandbox.api_base, sandbox.token, args.n,
                                                                args.concurrency))[1])
                if repeat == 0 and latency == args.latencies[0]:
                    again_before = sandbox.patches()
                    again, _, _ = export(profile, run_dir / "state.sqlite3", sandbox.token)
                    unchanged_sent = sandbox.patches() - again_before
                    print(f"(a) requests per changed prospect: {sent / args.n:.3f} ({sent:,} PATCHes for "
                          f"{args.n:,} changed); per unchanged prospect: "
                          f"{unchanged_sent / max(again.counts.unchanged, 1):.3f} ({unchanged_sent} PATCHes for "
                          f"{again.counts.unchanged:,} unchanged)", flush=True)
                print(f"    latency {latency} ms, run {repeat + 1}: {args.n / wall:,.0f} prospects/s, "
                      f"{cpu_per_request[-1]:.3f} CPU ms/request; bare httpx right after: "
                      f"{bare_rates[-1]:,.0f} requests/s", flush=True)
            naive = naive_loop(sandbox.api_base, sandbox.token, args.naive_n)
            median = statistics.median(rates)
            print(f"(c) latency {latency} ms: median {median:,.0f} prospects/s end to end over {args.repeat} runs "
                  f"of {args.n:,} (concurrency {args.concurrency}); naive sequential httpx loop "
                  f"{naive:,.0f}/s ({args.naive_n:,} PATCHes); ratio {median / naive:.1f}x", flush=True)
            print(f"    the same minutes, bare httpx.AsyncClient ({args.concurrency} connections, {args.n:,} PATCHes): "
                  f"median {statistics.median(bare_rates):,.0f} requests/s; export / bare: "
                  f"{statistics.median(r / b for r, b in zip(rates, bare_rates, strict=True)):.2f}x "
                  "(median of the run pairs)", flush=True)
            print(f"(d) latency {latency} ms: median {statistics.median(cpu_per_request):.3f} CPU ms per request "
                  "(runner process: read, plan, diff, send, record)", flush=True)
    finally:
        sandbox.close()


def rate_part(workdir: Path, concurrency: int) -> None:
    limit, window, count = 100, 10.0, 600
    sandbox = SandboxProcess(count, rate_limit=limit, window=window)
    try:
        run_dir = Path(tempfile.mkdtemp(dir=workdir))
        profile = write_inputs(run_dir, sandbox.api_base, count, concurrency, "rate")
        finished, wall, _ = export(profile, run_dir / "state.sqlite3", sandbox.token)
        stats = sandbox.stats()
    finally:
        sandbox.close()
    windows = sorted((int(start), used) for per_user in stats["windows"].values()
                     for start, used in per_user.items())
    achieved = finished.counts.activated / wall
    allowed = limit / window
    middle = [used / limit for _, used in windows[1:-1]]
    utilisation = statistics.mean(middle) if middle else float("nan")
    print(f"(b) rate-limit utilisation: {utilisation:.3f} (mean share of each full {window:.0f} s window's "
          f"{limit} requests used: {', '.join(f'{share:.2f}' for share in middle)}); {count} prospects in "
          f"{wall:.1f} s = {achieved:.2f} req/s against {allowed:.2f} allowed (the first window is partial, so "
          f"this can exceed 1); 429s: {stats['rateLimited']} over {len(windows)} windows", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="changed prospects per run (default 20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per latency; the median is reported")
    # The product's default: Outreach allows about 2.8 requests/s per user, so more connections only add
    # work (httpcore's pool scans every connection for each queued request).
    parser.add_argument("--concurrency", type=int, default=4, help="[export] concurrency (default 4, the profile's)")
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.0, 20.0], help="sandbox latency ms")
    parser.add_argument("--naive-n", type=int, default=1000, help="PATCHes in the naive loop (default 1,000)")
    parser.add_argument("--skip-rate", action="store_true", help="skip (b), the one-minute rate-limit part")
    args = parser.parse_args()
    os.environ.setdefault("OUTREACH_TUI_DATA_DIR", tempfile.mkdtemp(prefix="bench-export-data-"))
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        workdir = Path(tmp)
        throughput_part(args, workdir)
        if not args.skip_rate:
            rate_part(workdir, concurrency=4)
    print("command: python " + " ".join(sys.argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
