"""Helpers shared by the export tests (test_run_*.py, test_drills.py): profiles, records, running the runner
in-process and the headless command in a subprocess. No tests here."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from outreach_tui.export.connect import connector
from outreach_tui.export.events import Event, Finished
from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.outreach.credentials import StaticTokenSource, TokenSource
from outreach_tui.profile import load_profile
from outreach_tui.sandbox import Sandbox

SEGMENTS = (("seg-emea", "EMEA high intent", 4), ("seg-trial", "Trial started", 5))


def write_profile(directory: Path, api_base: str, *, source: str = "in.jsonl", name: str = "Test destination",
                  export: dict[str, Any] | None = None, alerts: dict[str, Any] | None = None,
                  mapping: Iterable[tuple[str, str]] = (("person.name.firstName", "firstName"),
                                                        ("person.jobTitle", "title"))) -> Path:
    lines = [
        "[destination]", f'name = "{name}"', "",
        "[outreach]", f'api_base = "{api_base}"',
        f'token_url = "{api_base.rsplit("/api/", 1)[0]}/oauth/token"',
        'client_id = "outreach-tui-sandbox"', "",
        "[source]", f'path = "{source}"', "",
    ]
    for xdm, target in mapping:
        lines += ["[[mapping]]", f'source = "{xdm}"', f'target = "{target}"', ""]
    for segment_id, label, mapping_id in SEGMENTS:
        lines += ["[[segments]]", f'id = "{segment_id}"', f'name = "{label}"', f"mapping_id = {mapping_id}", ""]
    settings = {"concurrency": 4, **(export or {})}
    lines += ["[export]", *(f"{key} = {json.dumps(value)}" for key, value in settings.items()), ""]
    if alerts:
        lines += ["[alerts]", *(f"{key} = {json.dumps(value)}" for key, value in alerts.items()), ""]
    path = directory / "profile.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def record(prospect_id: int | str, first: str | None = None, title: str | None = None,
           segments: dict[str, str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"identityMap": {"Oid": [{"id": str(prospect_id)}]}}
    person: dict[str, Any] = {}
    if first is not None:
        person["name"] = {"firstName": first}
    if title is not None:
        person["jobTitle"] = title
    if person:
        data["person"] = person
    if segments:
        data["segmentMembership"] = {"ups": {s: {"status": status} for s, status in segments.items()}}
    return data


def standard_records(count: int, version: str = "v1") -> list[dict[str, Any]]:
    """``count`` prospects 1..count, each with a first name, a title and a segment status."""
    statuses = ("realized", "existing", "exited")
    return [record(i, f"{version}-first-{i}", f"title-{i}", {"seg-emea": statuses[i % 3]})
            for i in range(1, count + 1)]


def expected_values(count: int, version: str = "v1") -> dict[int, dict[str, Any]]:
    statuses = ("realized", "existing", "exited")
    return {i: {"firstName": f"{version}-first-{i}", "title": f"title-{i}", "custom4": statuses[i % 3]}
            for i in range(1, count + 1)}


def write_records(path: Path, rows: Iterable[dict[str, Any] | str]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def token_for(sb: Sandbox) -> str:
    return str(sb.issue_token()["access_token"])


def run_export(profile_path: Path, tokens: TokenSource | None = None, sb: Sandbox | None = None,
               **options: Any) -> tuple[Finished, list[Event]]:
    """Run the export in this process; returns the Finished event and every event emitted."""
    if tokens is None and sb is not None:
        tokens = StaticTokenSource(token_for(sb))
    events: list[Event] = []
    options.setdefault("state_path", profile_path.parent / "state.sqlite3")
    profile = load_profile(profile_path)
    runner = ExportRunner(profile, RunOptions(**options), events.append, connect=connector(profile, tokens=tokens))
    finished = asyncio.run(runner.run())
    return finished, events


def cli_env(data_dir: Path, token: str | None = None, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("OUTREACH_")}
    env.update({"OUTREACH_TUI_DATA_DIR": str(data_dir), "OUTREACH_TUI_TOKEN_STORE": "file", **extra})
    if token is not None:
        env["OUTREACH_ACCESS_TOKEN"] = token
    return env


def cli_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "outreach_tui.commands.run", *map(str, args)]


def run_cli(*args: str | Path, env: dict[str, str], timeout: float = 60,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), env=env, capture_output=True, text=True, timeout=timeout,
                          input=stdin, check=False)


def read_report(path: Path) -> dict[str, Any]:
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    assert_adds_up(report)
    return report


def assert_adds_up(report: dict[str, Any]) -> None:
    records, prospects = report["records"], report["prospects"]
    assert records["read"] == records["planned"] + records["excluded"] + records["malformed"], records
    outcomes = ("activated", "unchanged", "failed", "pending", "planned")
    assert prospects["targeted"] == sum(prospects.get(key, 0) for key in outcomes), prospects
    assert report["failures_total"] == prospects["failed"]
