"""Benchmark the wizard's responsiveness during an export, and its cost against the headless runner.

    python tests/bench/bench_tui.py                    # 10,000 prospects, 2 rounds
    python tests/bench/bench_tui.py --n 2000 --rounds 1

The sandbox runs in its own process (unlimited rate, ``--n`` prospects), as Outreach would be remote. Each
round runs the same export twice, each time from an empty state store so that every prospect is sent:
(1) headless: ``ExportRunner.run()`` with a no-op event sink, as ``--run`` uses it; (2) in the Textual app
(headless terminal, 120x36) with the export panel watched; (3) in the app again, pressing F2/F3 (switching
between the Review and Export steps, focus on the nav bar) every ``--interval`` seconds until it ends. A
key's latency is the time from the key event entering the app (as the terminal driver delivers it) to the
step switch being executed by its binding. Targets: median and worst key latency <= 100 ms; TUI
export time <= 1.1x headless.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import orjson

from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.profile import Profile, profile_from_dict, save_profile

TARGET_LATENCY_MS = 100
TARGET_RATIO = 1.1


def serve_sandbox(prospects: int, conn: Connection) -> None:
    from outreach_tui.sandbox import SandboxConfig, start_sandbox

    config = SandboxConfig(port=0, prospects=prospects, rate_limit=0, mint_interval=0)
    with start_sandbox(config) as sandbox:
        conn.send((sandbox.api_base, sandbox.issue_token(ttl=36_000)["access_token"]))
        conn.recv()  # until the parent is done


def write_input(directory: Path, n: int) -> Path:
    path = directory / "profiles.jsonl"
    with path.open("wb") as handle:
        for prospect_id in range(1, n + 1):
            handle.write(orjson.dumps({
                "identityMap": {"Oid": [{"id": str(prospect_id)}]},
                "person": {"name": {"firstName": f"First{prospect_id}", "lastName": f"Last{prospect_id}"}},
                "segmentMembership": {"ups": {"seg-a": {"status": "realized"}}}}) + b"\n")
    return path


def make_profile(directory: Path, api_base: str) -> Profile:
    profile = profile_from_dict({
        "destination": {"name": "TUI bench"},
        "outreach": {"api_base": api_base, "client_id": "outreach-tui-sandbox"},
        "source": {"path": "profiles.jsonl", "format": "jsonl"},
        "mapping": [{"source": "person.name.firstName", "target": "firstName"},
                    {"source": "person.name.lastName", "target": "lastName"}],
        "segments": [{"id": "seg-a", "name": "A", "mapping_id": 4}],
        "export": {"budget_per_hour": 1_000_000, "concurrency": 4},
    })
    save_profile(profile, directory / "bench.toml")
    return profile


def fresh_data_dir(root: Path, name: str) -> None:
    os.environ["OUTREACH_TUI_DATA_DIR"] = str(root / name)  # an empty state store: everything is sent


async def headless(profile: Profile) -> tuple[float, int]:
    started = time.perf_counter()
    finished = await ExportRunner(profile, RunOptions(), emit=lambda event: None).run()
    return time.perf_counter() - started, finished.counts.activated


async def in_tui(profile: Profile, interval: float | None) -> tuple[float, int, list[float]]:
    """Export in the app; with ``interval``, press F2/F3 every ``interval`` seconds meanwhile."""
    from textual import events

    from outreach_tui.tui.app import WizardSettings, make_app
    from outreach_tui.tui.widgets.export_panel import ExportPanel

    app = make_app(WizardSettings(profile=profile))
    latencies: list[float] = []
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.wizard
        await pilot.pause()
        await app.workers.wait_for_complete()  # start-up discovery and sign-in check
        assert screen.go("export")
        panel = screen.query_one(ExportPanel)
        handled: list[float] = []
        original_show_step = screen.show_step

        def show_step(name: str) -> None:
            handled.append(time.perf_counter())
            original_show_step(name)

        screen.show_step = show_step  # type: ignore[method-assign]
        screen.query_one("#back").focus()  # a user moving between steps with F2/F3 from the nav bar
        await pilot.pause()
        started = time.perf_counter()
        screen.action_export("start")
        key = "f2"
        while panel.view.state != "finished":
            await asyncio.sleep(interval or 0.05)
            if interval is None:
                continue
            before = len(handled)
            event = events.Key(key, None)
            event.set_sender(app)
            sent = time.perf_counter()
            app._driver.send_message(event)  # type: ignore[union-attr]  # as the terminal driver does
            while len(handled) == before and panel.view.state != "finished":
                await asyncio.sleep(0.001)
            if len(handled) > before:
                latencies.append(handled[-1] - sent)
                key = "f3" if key == "f2" else "f2"
        elapsed = time.perf_counter() - started
        activated = panel.view.counts.activated
        await pilot.pause()  # let the last key press be handled before the app closes
    return elapsed, activated, latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=10_000, help="prospects to export (default 10,000)")
    parser.add_argument("--rounds", type=int, default=2, help="headless + TUI rounds (default 2)")
    parser.add_argument("--interval", type=float, default=0.2,
                        help="seconds between key presses during the export (default 0.2: 5 keys/s)")
    args = parser.parse_args()
    os.environ.pop("OUTREACH_REFRESH_TOKEN", None)
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.get_context("spawn").Process(target=serve_sandbox, args=(args.n, child), daemon=True)
    server.start()
    api_base, token = parent.recv()
    os.environ["OUTREACH_ACCESS_TOKEN"] = token
    headless_times: list[float] = []
    tui_times: list[float] = []
    typing_times: list[float] = []
    latencies: list[float] = []
    try:
        with tempfile.TemporaryDirectory() as scratch:
            root = Path(scratch)
            write_input(root, args.n)
            profile = make_profile(root, api_base)
            for round_number in range(1, args.rounds + 1):
                fresh_data_dir(root, f"headless-{round_number}")
                seconds, activated = asyncio.run(headless(profile))
                assert activated == args.n, f"headless activated {activated} of {args.n}"
                headless_times.append(seconds)
                fresh_data_dir(root, f"tui-{round_number}")
                seconds, activated, _ = asyncio.run(in_tui(profile, None))
                assert activated == args.n, f"TUI activated {activated} of {args.n}"
                tui_times.append(seconds)
                fresh_data_dir(root, f"typing-{round_number}")
                seconds, activated, keys = asyncio.run(in_tui(profile, args.interval))
                assert activated == args.n, f"TUI with keys activated {activated} of {args.n}"
                typing_times.append(seconds)
                latencies += keys
                print(f"round {round_number}: headless {headless_times[-1]:.2f} s, TUI {tui_times[-1]:.2f} s, "
                      f"TUI with keys {seconds:.2f} s ({len(keys)} key presses)", file=sys.stderr)
    finally:
        parent.send("stop")
        server.join(10)
    median_ms = statistics.median(latencies) * 1000
    worst_ms = max(latencies) * 1000
    ratio = statistics.median(tui_times) / statistics.median(headless_times)
    typing_ratio = statistics.median(typing_times) / statistics.median(headless_times)
    print(f"command: python tests/bench/bench_tui.py --n {args.n} --rounds {args.rounds} "
          f"--interval {args.interval}")
    print(f"prospects exported per run: {args.n:,}")
    print(f"headless export: median {statistics.median(headless_times):.2f} s "
          f"({args.n / statistics.median(headless_times):,.0f} prospects/s)")
    print(f"TUI export:      median {statistics.median(tui_times):.2f} s "
          f"({args.n / statistics.median(tui_times):,.0f} prospects/s)")
    print(f"TUI / headless:  {ratio:.3f}x (target <= {TARGET_RATIO}x; export panel watched, no keys)")
    print(f"TUI with keys / headless: {typing_ratio:.3f}x (F2/F3 step switches every {args.interval} s)")
    print(f"key latency during export: median {median_ms:.1f} ms, worst {worst_ms:.1f} ms over "
          f"{len(latencies)} presses (target <= {TARGET_LATENCY_MS} ms)")
    ok = median_ms <= TARGET_LATENCY_MS and worst_ms <= TARGET_LATENCY_MS and ratio <= TARGET_RATIO
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
