"""Benchmark the XDM readers: records/second and peak memory for JSON Lines, a JSON array, CSV, Parquet.

    python tests/bench/bench_readers.py                 # 1,000,000 records, 3 runs per format
    python tests/bench/bench_readers.py --n 200000 --repeat 5 --formats jsonl csv
    python tests/bench/bench_readers.py --n 100000 --formats jsonl parquet   # Parquet needs pyarrow

Generates N synthetic XDM profiles (5 attributes, 3 identities, 10 segments, ~900 bytes each in JSON) into a
temporary directory, then reads each file in a fresh child process that only counts records, so the peak
RSS printed is the reader's own (the baseline row is a child that imports the package and reads nothing).
Prints the median rate and the peak RSS of each format, and where the child imported outreach_tui from:
to measure another version side by side, run the bench from outside the worktree with
`PYTHONPATH=/path/to/other/checkout` (the children inherit it).
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

SEGMENTS = [f"seg-{i:02d}" for i in range(10)]
STATUSES = ("realized", "existing", "exited")
CSV_COLUMNS = ["identityMap.Oid", "identityMap.Email", "person.name.firstName", "person.name.lastName",
               "workEmail.address", "person.jobTitle", "workAddress.city"] + [
    f"segmentMembership.ups.{segment}.status" for segment in SEGMENTS]


def profile(number: int) -> dict[str, Any]:
    return {
        "identityMap": {"Oid": [{"id": str(number), "primary": True}],
                        "Email": [{"id": f"person{number}@mail.example"}],
                        "ECID": [{"id": f"{number:038d}"}]},
        "person": {"name": {"firstName": f"First{number % 997}", "lastName": f"Last{number % 991}"},
                   "jobTitle": "Head of RevOps"},
        "workEmail": {"address": f"person{number}@corp.example"},
        "workAddress": {"city": "Paris", "country": "France"},
        "segmentMembership": {"ups": {
            segment: {"status": STATUSES[(number + index) % 3],
                      "lastQualificationTime": "2026-11-20T13:15:49Z"}
            for index, segment in enumerate(SEGMENTS)}},
    }


def csv_row(number: int) -> list[str]:
    return [str(number), f"person{number}@mail.example", f"First{number % 997}", f"Last{number % 991}",
            f"person{number}@corp.example", "Head of RevOps", "Paris"] + [
        STATUSES[(number + index) % 3] for index in range(len(SEGMENTS))]


def generate(directory: Path, n: int, formats: list[str]) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    if "jsonl" in formats:
        paths["jsonl"] = directory / "profiles.jsonl"
        with paths["jsonl"].open("wb") as out:
            for number in range(1, n + 1):
                out.write(orjson.dumps(profile(number)) + b"\n")
    if "json" in formats:
        paths["json"] = directory / "profiles.json"
        with paths["json"].open("wb") as out:
            out.write(b"[\n")
            for number in range(1, n + 1):
                separator = b",\n" if number > 1 else b""
                out.write(separator + orjson.dumps(profile(number), option=orjson.OPT_INDENT_2))
            out.write(b"\n]\n")
    if "csv" in formats:
        paths["csv"] = directory / "profiles.csv"
        with paths["csv"].open("w", newline="", encoding="utf-8") as text:
            writer = csv.writer(text)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(csv_row(number) for number in range(1, n + 1))
    if "parquet" in formats:
        paths["parquet"] = directory / "profiles.parquet"
        # In a child: Linux keeps the peak RSS across fork and exec, so a parent grown while writing would
        # show up as every reading child's peak.
        subprocess.run([sys.executable, __file__, "--write-parquet", str(paths["parquet"]), str(n)], check=True)
    return paths


def write_parquet(path: Path, n: int, rows_per_group: int = 50_000) -> None:
    """The same profiles as the JSON files, one row group at a time (constant memory while generating)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Table.from_pylist([profile(1)]).schema
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(1, n + 1, rows_per_group):
            rows = [profile(number) for number in range(start, min(start + rows_per_group, n + 1))]
            writer.write_table(pa.Table.from_pylist(rows, schema=schema))


def child(fmt: str, path: str) -> None:
    """Runs in a fresh process: read every record, print one JSON line of figures."""
    import outreach_tui
    from outreach_tui.xdm import read_records

    records = malformed = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    if fmt != "none":
        for record in read_records(Path(path), fmt):  # type: ignore[arg-type]
            records += 1
            if record.data is None:
                malformed += 1
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(json.dumps({"records": records, "malformed": malformed, "seconds": seconds, "cpu_seconds": cpu_seconds,
                      "peak_rss_mb": peak_mb, "package": str(Path(outreach_tui.__file__).parent)}))


def run_child(fmt: str, path: Path | None) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", fmt, str(path or "")]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    figures: dict[str, Any] = json.loads(result.stdout)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1_000_000, help="records per file (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per format; the median is reported")
    parser.add_argument("--formats", nargs="+", default=["jsonl", "json", "csv", "parquet"],
                        choices=["jsonl", "json", "csv", "parquet"])
    parser.add_argument("--child", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--write-parquet", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_parquet:
        write_parquet(Path(args.write_parquet[0]), int(args.write_parquet[1]))
        return 0
    if args.child:
        child(*args.child)
        return 0

    print(f"command: python tests/bench/bench_readers.py --n {args.n} --repeat {args.repeat} "
          f"--formats {' '.join(args.formats)}")
    with tempfile.TemporaryDirectory(prefix="bench-readers-") as tmp:
        started = time.perf_counter()
        paths = generate(Path(tmp), args.n, args.formats)
        sizes = ", ".join(f"{fmt} {path.stat().st_size / 1e6:.0f} MB" for fmt, path in paths.items())
        print(f"generated {args.n:,} records in {time.perf_counter() - started:.1f} s ({sizes})")
        baseline = run_child("none", None)
        print(f"reading with outreach_tui from {baseline['package']}")
        print("records/s: wall clock and CPU time of the reading process (CPU time is the fair figure on a "
              "shared machine)")
        print(f"{'format':<8}{'wall (median)':>15}{'wall min..max':>22}{'CPU (median)':>14}{'peak RSS':>12}"
              f"{'over baseline':>15}")
        print(f"{'baseline':<8}{'':>15}{'':>22}{'':>14}{baseline['peak_rss_mb']:>9.1f} MB")
        for fmt, path in paths.items():
            runs = [run_child(fmt, path) for _ in range(args.repeat)]
            if any(run["records"] != args.n or run["malformed"] for run in runs):
                print(f"{fmt}: wrong count {runs[0]['records']:,} (malformed {runs[0]['malformed']:,})")
                return 1
            rates = [args.n / run["seconds"] for run in runs]
            cpu_rate = statistics.median(args.n / run["cpu_seconds"] for run in runs)
            peak = max(run["peak_rss_mb"] for run in runs)
            spread = f"{min(rates):,.0f}..{max(rates):,.0f}"
            print(f"{fmt:<8}{statistics.median(rates):>15,.0f}{spread:>22}{cpu_rate:>14,.0f}"
                  f"{peak:>9.1f} MB{peak - baseline['peak_rss_mb']:>12.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
