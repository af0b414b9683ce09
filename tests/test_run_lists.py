"""List attributes (emails, tags) in merge mode, through real HTTP against the sandbox, which replaces lists
on PATCH as Outreach does: what a prospect already had is kept, only what this destination wrote and no
longer wants is removed, the current lists are read a page of 100 prospects at a time, and an unchanged
prospect costs no request."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from test_run_support import cli_env, run_export, write_profile, write_records

from outreach_tui.export.connect import connector
from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.profile import load_profile
from outreach_tui.sandbox import Sandbox

EMAILS_ROW = ("workEmail.address", "emails")
TAGS_ROW = ("interests", "tags")


def list_record(prospect_id: int, email: str | None = None, tags: list[str] | None = None,
                first: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"identityMap": {"Oid": [{"id": str(prospect_id)}]}}
    if email is not None:
        data["workEmail"] = {"address": email}
    if tags is not None:
        data["interests"] = tags
    if first is not None:
        data["person"] = {"name": {"firstName": first}}
    return data


def list_profile(directory: Path, sb: Sandbox, *, mode: str | None = None) -> Path:
    path = write_profile(directory, sb.api_base, mapping=(("person.name.firstName", "firstName"), EMAILS_ROW,
                                                          TAGS_ROW))
    if mode is not None:
        text = path.read_text().replace('target = "emails"\n', f'target = "emails"\nmode = "{mode}"\n')
        path.write_text(text)
    return path


def reads_of_prospects(sb: Sandbox) -> int:
    return sum(count for (method, route, _), count in sb.stats.requests.items()
               if method == "GET" and route == "/api/v2/prospects")


def test_emails_keep_what_the_prospect_had_and_drop_only_what_this_destination_wrote(
        tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.add_prospects({1: {"emails": ["a@x.com", "b@x.com"]}})
    profile = list_profile(tmp_path, sandbox)

    write_records(tmp_path / "in.jsonl", [list_record(1, "c@x.com")])
    first, _ = run_export(profile, sb=sandbox)
    assert first.exit_code == 0, first.message
    assert (sandbox.prospect(1) or {})["emails"] == ["a@x.com", "b@x.com", "c@x.com"]
    assert first.report["requests"]["reads"] >= 1 and reads_of_prospects(sandbox) == 1

    write_records(tmp_path / "in.jsonl", [list_record(1, "d@x.com")])
    second, _ = run_export(profile, sb=sandbox)
    assert second.exit_code == 0, second.message
    assert (sandbox.prospect(1) or {})["emails"] == ["a@x.com", "b@x.com", "d@x.com"]  # c was ours: removed

    # someone adds e in Outreach between runs; the record still says d: nothing to send, nothing read
    sandbox.add_prospects({1: {"emails": ["a@x.com", "b@x.com", "d@x.com", "e@x.com"]}})
    sandbox.reset_stats()
    unchanged, _ = run_export(profile, sb=sandbox)
    assert (unchanged.counts.unchanged, unchanged.counts.sent) == (1, 0)
    assert reads_of_prospects(sandbox) == 0 and sandbox.stats.patch_count == 0

    # the record moves to f: d (ours) goes, e (someone else's) stays
    write_records(tmp_path / "in.jsonl", [list_record(1, "F@x.com")])
    moved, _ = run_export(profile, sb=sandbox)
    assert moved.exit_code == 0, moved.message
    assert (sandbox.prospect(1) or {})["emails"] == ["a@x.com", "b@x.com", "e@x.com", "F@x.com"]


def test_an_address_the_prospect_had_is_kept_even_when_this_destination_stops_wanting_it(
        tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.add_prospects({2: {"emails": ["a@x.com"]}})
    profile = list_profile(tmp_path, sandbox)
    write_records(tmp_path / "in.jsonl", [list_record(2, "A@X.com")])  # already there (any case): not repeated
    run_export(profile, sb=sandbox)
    assert (sandbox.prospect(2) or {})["emails"] == ["a@x.com"]
    write_records(tmp_path / "in.jsonl", [list_record(2, "z@x.com")])
    finished, _ = run_export(profile, sb=sandbox)
    assert finished.exit_code == 0, finished.message
    # a@x.com was the prospect's before this destination wanted it: never ours, so never removed
    assert (sandbox.prospect(2) or {})["emails"] == ["a@x.com", "z@x.com"]
    write_records(tmp_path / "in.jsonl", [list_record(2, "y@x.com")])
    run_export(profile, sb=sandbox)
    assert (sandbox.prospect(2) or {})["emails"] == ["a@x.com", "y@x.com"]  # z was ours: replaced by y


def test_tags_are_merged_too(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.add_prospects({3: {"tags": ["vip", "partner"]}})
    profile = list_profile(tmp_path, sandbox)
    write_records(tmp_path / "in.jsonl", [list_record(3, tags=["webinar", "trial"])])
    run_export(profile, sb=sandbox)
    assert (sandbox.prospect(3) or {})["tags"] == ["vip", "partner", "webinar", "trial"]

    sandbox.add_prospects({3: {"tags": ["vip", "partner", "webinar", "trial", "added-by-a-rep"]}})
    write_records(tmp_path / "in.jsonl", [list_record(3, tags=["trial", "customer"])])
    finished, _ = run_export(profile, sb=sandbox)
    assert finished.exit_code == 0, finished.message
    assert (sandbox.prospect(3) or {})["tags"] == ["vip", "partner", "trial", "added-by-a-rep", "customer"]


def test_replace_mode_sends_the_list_as_is(tmp_path: Path, sandbox: Sandbox) -> None:
    sandbox.add_prospects({4: {"emails": ["a@x.com", "b@x.com"]}})
    profile = list_profile(tmp_path, sandbox, mode="replace")
    write_records(tmp_path / "in.jsonl", [list_record(4, "c@x.com")])
    finished, _ = run_export(profile, sb=sandbox)
    assert finished.exit_code == 0, finished.message
    assert (sandbox.prospect(4) or {})["emails"] == ["c@x.com"]
    assert reads_of_prospects(sandbox) == 0


def test_current_lists_are_read_a_page_of_100_prospects_at_a_time_and_counted_as_reads(
        tmp_path: Path, sandbox_factory: Any) -> None:
    sb = sandbox_factory(prospects=250)
    sb.add_prospects({i: {"emails": [f"own-{i}@x.com"]} for i in range(1, 251)})
    profile = list_profile(tmp_path, sb)
    # 230 prospects change their emails; 20 only their first name (no read needed for those)
    rows = [list_record(i, f"ours-{i}@x.com") for i in range(1, 231)]
    rows += [list_record(i, first=f"first-{i}") for i in range(231, 251)]
    write_records(tmp_path / "in.jsonl", rows)

    finished, _ = run_export(profile, sb=sb)

    assert finished.exit_code == 0, finished.message
    assert reads_of_prospects(sb) == 3  # 100 + 100 + 30
    assert finished.report["requests"]["sent"] == 250 == sb.stats.patch_count
    assert finished.report["requests"]["reads"] == 3 + 1  # and the one GET /types
    assert all((sb.prospect(i) or {})["emails"] == [f"own-{i}@x.com", f"ours-{i}@x.com"] for i in range(1, 231))
    assert all((sb.prospect(i) or {})["emails"] == [f"own-{i}@x.com"] for i in range(231, 251))


def test_validate_warns_about_replace_mode(tmp_path: Path, sandbox: Sandbox) -> None:
    path = list_profile(tmp_path, sandbox, mode="replace")
    done = subprocess.run([sys.executable, "-m", "outreach_tui", "validate", str(path), "--no-input"],
                          env=cli_env(tmp_path / "data"), capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "warning: mapping[2].mode: row 2 maps emails with mode=replace" in done.stderr


class _ListsUnreadable(ThreadingHTTPServer):
    """An Outreach whose GET /prospects always fails (500) while PATCH works: records every PATCH body."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ListsUnreadableHandler)
        self.patches: list[dict[str, Any]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v2"


class _ListsUnreadableHandler(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.api+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.startswith("/api/v2/types"):
            self._answer(200, {"data": []})
        else:
            self._answer(500, {"errors": [{"id": "internalError", "title": "Internal Error", "detail": "boom"}]})

    def do_PATCH(self) -> None:
        assert isinstance(self.server, _ListsUnreadable)
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
        self.server.patches.append(body)
        data = body["data"]
        self._answer(200, {"data": {"type": "prospect", "id": data["id"], "attributes": data["attributes"]}})

    def log_message(self, *_: Any) -> None:
        pass


def test_a_list_that_cannot_be_read_is_never_sent(tmp_path: Path) -> None:
    server = _ListsUnreadable()
    try:
        profile_path = write_profile(tmp_path, server.api_base, mapping=(("person.name.firstName", "firstName"),
                                                                         EMAILS_ROW))
        write_records(tmp_path / "in.jsonl", [list_record(1, "a@x.com", first="Ada"), list_record(2, first="Bo")])
        profile = load_profile(profile_path)
        runner = ExportRunner(profile, RunOptions(state_path=tmp_path / "s.sqlite3"),
                              connect=connector(profile, tokens=StaticTokenSource("token"),
                                                retry=RetryPolicy(max_attempts=2, base_delay=0.01)))
        finished = asyncio.run(runner.run())
    finally:
        server.shutdown()
        server.server_close()

    assert finished.exit_code == 1, finished.message
    assert (finished.counts.activated, finished.counts.failed) == (1, 1)
    assert [body["data"]["id"] for body in server.patches] == [2]  # no PATCH carried a list it could not merge
    failure = finished.report["failures"][0]
    assert (failure["prospect_id"], failure["field"], failure["error_id"]) == (1, "emails", "listReadFailed")
