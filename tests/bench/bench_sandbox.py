"""Benchmark the Outreach sandbox: PATCH /prospects/{id} requests per second with the rate limit off.

    python tests/bench/bench_sandbox.py                          # 20,000 PATCHes, 3 runs, median
    python tests/bench/bench_sandbox.py --client httpx --clients 2 --concurrency 16

The sandbox runs in its own process (``python -m outreach_tui sandbox``), as it does for users. Client
processes wait on a start signal (their start-up is not timed), then keep ``--concurrency`` keep-alive
connections busy each; every answer must be a 200. Two clients: ``raw`` (default) writes HTTP/1.1 on
asyncio streams and costs little CPU, so the server is what is measured; ``httpx`` is the product's own
client library (it costs several times more CPU per request than the server, so on a small machine it
measures itself). Two figures per run:
  - wall: PATCHes / elapsed seconds (clients and server share the machine's cores);
  - server capacity: PATCHes / CPU seconds the server process used (psutil), i.e. what one free core
    serves; it holds on a busy machine where the wall figure depends on the neighbours.
Target: >= 1,500 PATCH/s.

``--bulk-records N`` then sends N records through ``POST /imports/actions/bulkUpsert`` (``--per-import``
records each, import delay 0), polls every import to ``finished``, checks that no record failed and that a
sample of prospects holds the values sent, and prints records/s and the requests used (imports + polls).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from multiprocessing.synchronize import Event

import httpx
import psutil

TARGET = 1500.0


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    for line in proc.stdout or ():
        lines.put(line)


def start_server(prospects: int) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "outreach_tui", "sandbox", "--port", "0", "--rate-limit", "0"]
    cmd += ["--prospects", str(prospects), "--mint-interval", "0", "--import-delay", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
    first = lines.get(timeout=30)
    if not first.startswith("Outreach sandbox listening on "):
        raise SystemExit(f"unexpected sandbox output: {first!r}")
    return proc, first.rsplit(" ", 1)[1].strip()


def patch_body(prospect_id: int) -> bytes:
    return b'{"data":{"type":"prospect","id":%d,"attributes":{"custom4":"realized","firstName":"N%d"}}}' % (
        prospect_id,
        prospect_id,
    )


async def drive_httpx(base: str, token: str, ids: list[int], concurrency: int) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    failures = 0
    pending = iter(ids)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal failures
        for prospect_id in pending:
            answer = await client.patch(f"/api/v2/prospects/{prospect_id}", content=patch_body(prospect_id))
            failures += answer.status_code != 200

    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return failures


async def drive_raw(base: str, token: str, ids: list[int], concurrency: int) -> int:
    """HTTP/1.1 keep-alive by hand: one request in flight per connection, answers read by Content-Length."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    pending = iter(ids)

    async def connection() -> int:
        reader, writer = await asyncio.open_connection(host, int(port))
        failures = 0
        for prospect_id in pending:
            body = patch_body(prospect_id)
            writer.write(
                b"PATCH /api/v2/prospects/%d HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                b"Content-Type: application/vnd.api+json\r\nContent-Length: %d\r\n\r\n%s"
                % (prospect_id, host.encode(), token.encode(), len(body), body)
            )
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line[15:]) for line in head.split(b"\r\n") if line[:15].lower() == b"content-length:")
            await reader.readexactly(length)
            failures += head[9:12] != b"200"
        writer.close()
        return failures

    return sum(await asyncio.gather(*(connection() for _ in range(concurrency))))


def client_process(
    kind: str,
    base: str,
    token: str,
    ids: list[int],
    concurrency: int,
    go: Event,
    out: mp.Queue[int],
) -> None:
    drive = drive_raw if kind == "raw" else drive_httpx
    go.wait()
    out.put(asyncio.run(drive(base, token, ids, concurrency)))


def one_run(server: psutil.Process, base: str, token: str, args: argparse.Namespace) -> tuple[float, float]:
    """(wall PATCH/s, PATCHes per server CPU second) for one run of ``args.n`` PATCHes."""
    ids = [(i % args.prospects) + 1 for i in range(args.n)]
    go = mp.Event()
    out: mp.Queue[int] = mp.Queue()
    procs = [
        mp.Process(
            target=client_process, args=(args.client, base, token, ids[c :: args.clients], args.concurrency, go, out)
        )
        for c in range(args.clients)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.0)  # let the clients import and wait on the signal
    cpu_before = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    go.set()
    failures = sum(out.get(timeout=600) for _ in procs)
    elapsed = time.perf_counter() - started
    cpu = sum(server.cpu_times()[:2]) - cpu_before
    for proc in procs:
        proc.join()
    if failures:
        raise SystemExit(f"{failures} PATCHes were not answered 200")
    return args.n / elapsed, args.n / cpu


def bulk_run(base: str, records: int, per_import: int) -> None:
    """Records through bulkUpsert and polls, timed from the first import to the last one finished."""
    scopes = ["imports.read", "imports.write"]
    token = httpx.post(base + "/_sandbox/tokens", json={"scopes": scopes}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/vnd.api+json"}
    bodies = []
    for start in range(0, records, per_import):
        chunk = [
            {"type": "prospect", "id": i + 1, "attributes": {"custom4": "bulk", "firstName": f"B{i + 1}"}}
            for i in range(start, min(start + per_import, records))
        ]
        bodies.append(json.dumps({"data": {"type": "import", "attributes": {
            "records": chunk, "dupeMethod": "overwriteNoCreate"}}}).encode())  # fmt: skip
    imports = polls = 0
    started = time.perf_counter()
    with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
        ids = []
        for body in bodies:
            answer = client.post("/api/v2/imports/actions/bulkUpsert", content=body)
            if answer.status_code != 200:
                raise SystemExit(f"bulkUpsert answered {answer.status_code}: {answer.text[:200]}")
            ids.append(answer.json()["data"]["id"])
            imports += 1
        failures = 0
        for import_id in ids:
            for _ in range(10_000):  # bounded: 10,000 polls of 10 ms at most per import
                polls += 1
                attributes = client.get(f"/api/v2/imports/{import_id}").json()["data"]["attributes"]
                if attributes["state"] == "finished":
                    failures += attributes["failures"]
                    break
                time.sleep(0.01)
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{failures} imported records failed")
    for prospect_id in {1, records // 2 + 1, records}:
        held = httpx.get(f"{base}/_sandbox/prospects/{prospect_id}").json()["attributes"]
        if held.get("firstName") != f"B{prospect_id}" or held.get("custom4") != "bulk":
            raise SystemExit(f"prospect {prospect_id} does not hold the imported values: {held}")
    print(f"bulkUpsert: {records:,} records in {elapsed:.1f} s = {records / elapsed:,.0f} records/s, "
          f"{imports} imports of up to {per_import:,} records + {polls} polls, "
          f"{max(len(b) for b in bodies):,} bytes per import at most")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="PATCH requests per run (default 20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the median is reported")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw", help="client implementation")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--concurrency", type=int, default=16, help="keep-alive connections per client process")
    parser.add_argument("--prospects", type=int, default=10_000, help="prospects in the sandbox")
    parser.add_argument("--bulk-records", type=int, default=0, help="also time N records through bulkUpsert")
    parser.add_argument("--per-import", type=int, default=5_000, help="records per bulkUpsert import")
    args = parser.parse_args()
    if args.bulk_records > args.prospects:
        parser.error("--bulk-records must not exceed --prospects (overwriteNoCreate never creates)")

    server, base = start_server(args.prospects)
    try:
        token = httpx.post(base + "/_sandbox/tokens", json={"scopes": ["prospects.all"]}).json()["access_token"]
        walls, capacities = [], []
        for run in range(1, args.repeat + 1):
            wall, capacity = one_run(psutil.Process(server.pid), base, token, args)
            walls.append(wall)
            capacities.append(capacity)
            print(f"run {run}: wall {wall:,.0f} PATCH/s, server capacity {capacity:,.0f} PATCH per CPU-second")
        stats = httpx.get(base + "/_sandbox/stats").json()
        if args.bulk_records:
            bulk_run(base, args.bulk_records, args.per_import)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=10)
    wall, capacity = statistics.median(walls), statistics.median(capacities)
    total = args.clients * args.concurrency
    print(f"sandbox PATCH throughput, median of {args.repeat} runs of {args.n:,} PATCHes ({args.client} client,")
    print(f"  {args.clients} process(es) x {args.concurrency} keep-alive connections = {total} in flight):")
    print(f"  wall: {wall:,.0f} PATCH/s   server capacity: {capacity:,.0f} PATCH per server CPU-second")
    print(f"  server counted {stats['patchCount']:,} PATCH 200s, peak concurrency {stats['peakConcurrency']}")
    print(f"  load average during the runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  target >= {TARGET:,.0f}/s: wall {'met' if wall >= TARGET else 'NOT met'}", end="")
    print(f", capacity {'met' if capacity >= TARGET else 'NOT met'}")
    print("  command: python " + " ".join(sys.argv))
    return 0 if max(wall, capacity) >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
