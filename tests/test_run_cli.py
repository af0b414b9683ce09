"""The headless command in a subprocess: exit codes, --json events, --quiet, signals, --follow, stdin,
alerts to a local webhook receiver, and the promise that `--run` never imports Textual."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from test_run_support import (
    cli_command,
    cli_env,
    expected_values,
    read_report,
    record,
    run_cli,
    standard_records,
    token_for,
    write_profile,
    write_records,
)

from outreach_tui.export.state import StateStore
from outreach_tui.sandbox import Sandbox

WAIT = 30.0  # seconds: an upper bound for conditions that normally hold within a second


def test_run_path_never_imports_textual() -> None:
    code = (
        "import sys\n"
        "import outreach_tui.commands.run, outreach_tui.export.runner, outreach_tui.export.follow\n"
        "import outreach_tui.export.alerts, outreach_tui.outreach.client, outreach_tui.outreach.auth\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


def test_success_prints_json_events_and_writes_the_report(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [*standard_records(12), "{oops"])
    report_path = tmp_path / "out" / "report.json"

    result = run_cli(profile, "--json", "--report", report_path, env=cli_env(tmp_path / "data", token_for(sandbox)))

    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "finished"
    assert events[-1]["exit_code"] == 0 and events[-1]["counts"]["activated"] == 12
    assert any(event["event"] == "excluded" and event["reason"] == "malformed" for event in events)
    report = read_report(report_path)
    assert report["prospects"]["activated"] == 12 and report["records"]["malformed"] == 1
    assert "12 activated" in result.stderr and "Traceback" not in result.stderr
    assert (sandbox.prospect(12) or {}).get("firstName") == "v1-first-12"
    # the default state lives in the data dir: a second run there changes nothing
    again = run_cli(profile, "--quiet", env=cli_env(tmp_path / "data", token_for(sandbox)))
    assert again.returncode == 0 and again.stderr == "" and again.stdout == ""
    assert sandbox.stats.patch_count == 12
    assert list((tmp_path / "data" / "state").glob("*.sqlite3"))


def test_some_failed_exits_1_and_prints_the_diagnostic(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", [record(1, "Ann"), record(999, "Ghost")])

    result = run_cli(profile, "--report", tmp_path / "r.json", env=cli_env(tmp_path / "d", token_for(sandbox)))

    assert result.returncode == 1
    assert "prospect 999" in result.stderr and "404" in result.stderr
    assert read_report(tmp_path / "r.json")["failures"][0]["prospect_id"] == 999


def test_bad_profile_exits_2_naming_the_key(tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text('[destination]\nname = "x"\n[source]\npath = "in.jsonl"\n[export]\nconcurrancy = 4\n')

    result = run_cli(profile, env=cli_env(tmp_path / "d"))

    assert result.returncode == 2
    assert "export.concurrancy" in result.stderr and "concurrency" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_profile_and_missing_input_exit_2(tmp_path: Path, sandbox: Sandbox) -> None:
    assert run_cli(tmp_path / "nope.toml", env=cli_env(tmp_path / "d")).returncode == 2
    profile = write_profile(tmp_path, sandbox.api_base)
    result = run_cli(profile, "--input", tmp_path / "absent.jsonl", "--report", tmp_path / "r.json",
                     env=cli_env(tmp_path / "d", "t"))
    assert result.returncode == 2 and "absent.jsonl" in result.stderr and "Traceback" not in result.stderr
    assert read_report(tmp_path / "r.json")["exit_code"] == 2


def test_no_credentials_exits_3_and_says_how_to_sign_in(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(3))

    result = run_cli(profile, "--report", tmp_path / "r.json", env=cli_env(tmp_path / "d"))

    assert result.returncode == 3, result.stderr
    assert "login" in result.stderr and "Traceback" not in result.stderr
    assert read_report(tmp_path / "r.json")["prospects"]["pending"] == 3


def test_dry_run_needs_no_credentials(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(6))

    result = run_cli(profile, "--dry-run", "--report", tmp_path / "r.json", env=cli_env(tmp_path / "d"))

    assert result.returncode == 0, result.stderr
    report = read_report(tmp_path / "r.json")
    assert report["prospects"]["planned"] == 6 and len(report["planned_updates_sample"]) == 5
    assert "dry run" in result.stderr and sandbox.stats.count(method="PATCH") == 0


def test_input_from_stdin(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    lines = "".join(json.dumps(row) + "\n" for row in standard_records(5))

    result = run_cli(profile, "--input", "-", env=cli_env(tmp_path / "d", token_for(sandbox)), stdin=lines)

    assert result.returncode == 0, result.stderr
    assert (sandbox.prospect(5) or {}).get("firstName") == "v1-first-5"


class JsonLines:
    """Reads a child's stdout JSON lines in a thread so a test can wait for an event without sleeping."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(target=self._pump, args=(stdout,), daemon=True).start()

    def _pump(self, stdout: Any) -> None:
        for line in stdout:
            self.events.put(json.loads(line))

    def wait_for(self, condition: Callable[[dict[str, Any]], bool], timeout: float = WAIT) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            self.seen.append(event)
            if condition(event):
                return event


@contextmanager
def child(*args: str | Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(cli_command(*args), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=WAIT)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def activated_at_least(count: int) -> Callable[[dict[str, Any]], bool]:
    return lambda event: event["event"] == "progress" and event["counts"]["activated"] >= count


def test_sigint_and_sigterm_drain_save_and_exit_130(tmp_path: Path, sandbox_factory) -> None:
    sb = sandbox_factory(prospects=200, latency_ms=15)
    profile = write_profile(tmp_path, sb.api_base, export={"concurrency": 2})
    write_records(tmp_path / "in.jsonl", standard_records(200))
    env = cli_env(tmp_path / "d", token_for(sb))
    report_path = tmp_path / "r.json"

    for signum in (signal.SIGINT, signal.SIGTERM):
        with child(profile, "--json", "--report", report_path, env=env) as process:
            JsonLines(process).wait_for(activated_at_least(5))
            process.send_signal(signum)
            assert process.wait(timeout=WAIT) == 130
        report = read_report(report_path)
        assert report["prospects"]["pending"] > 0 and report["exit_code"] == 130

    finish = run_cli(profile, "--report", report_path, env=env)
    assert finish.returncode == 0
    report = read_report(report_path)
    assert report["prospects"]["activated"] + report["prospects"]["unchanged"] == 200
    assert sb.stats.patch_count == 200  # nothing was sent twice: every answered PATCH had been recorded


def test_follow_sends_lines_as_the_file_grows_until_interrupted(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base, export={"follow_window": 0.2})
    source = write_records(tmp_path / "in.jsonl", standard_records(3))
    report_path = tmp_path / "r.json"

    with child(profile, "--follow", "--json", "--report", report_path,
               env=cli_env(tmp_path / "d", token_for(sandbox))) as process:
        lines = JsonLines(process)
        lines.wait_for(activated_at_least(3))
        with source.open("a", encoding="utf-8") as handle:  # a later update to 2 and a new prospect 4
            handle.write(json.dumps(record(2, "second-v2")) + "\n" + json.dumps(record(4, "fourth")))
            handle.flush()
            lines.wait_for(lambda event: event["event"] == "progress" and event["counts"]["read"] == 4)
            handle.write("\n")  # the last line counts once it is complete
        lines.wait_for(activated_at_least(5))
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=WAIT) == 130

    assert (sandbox.prospect(2) or {}).get("firstName") == "second-v2"
    assert (sandbox.prospect(4) or {}).get("firstName") == "fourth"
    report = read_report(report_path)
    assert report["follow"] is True and report["records"]["read"] == 5
    assert report["prospects"]["activated"] == 5


class Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.bodies: list[dict[str, Any]] = []
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"


class _ReceiverHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        assert isinstance(self.server, Receiver)
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


def test_alerts_post_to_the_webhook_on_completion_and_failure(tmp_path: Path, sandbox: Sandbox) -> None:
    receiver = Receiver()
    try:
        alerts = {"webhook": receiver.url, "on_complete": True, "on_failure": True}
        profile = write_profile(tmp_path, sandbox.api_base, alerts=alerts)
        write_records(tmp_path / "in.jsonl", standard_records(3))
        env = cli_env(tmp_path / "d", token_for(sandbox))
        assert run_cli(profile, env=env).returncode == 0
        write_records(tmp_path / "in.jsonl", [record(777, "Ghost")])
        assert run_cli(profile, env=env).returncode == 1
    finally:
        receiver.shutdown()
        receiver.server_close()
    complete, failure = receiver.bodies
    assert complete["kind"] == "complete" and "3 activated" in complete["text"]
    assert failure["kind"] == "failure" and failure["first_failures"][0]["prospect_id"] == 777
    assert all("token" not in json.dumps(body).lower() for body in receiver.bodies)


def test_an_unreachable_webhook_never_fails_the_run(tmp_path: Path, sandbox: Sandbox) -> None:
    receiver = Receiver()
    url = receiver.url
    receiver.shutdown()  # first: serve_forever on a closed socket would spin for the rest of the suite
    receiver.server_close()  # nothing listens there any more
    profile = write_profile(tmp_path, sandbox.api_base, alerts={"webhook": url, "on_complete": True})
    write_records(tmp_path / "in.jsonl", standard_records(2))

    result = run_cli(profile, env=cli_env(tmp_path / "d", token_for(sandbox)))

    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert expected_values(2)[2]["firstName"] == (sandbox.prospect(2) or {}).get("firstName")


def test_the_installed_entry_point_runs_headless(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(4))

    result = subprocess.run([sys.executable, "-m", "outreach_tui", "--run", str(profile), "--quiet"],
                            env=cli_env(tmp_path / "d", token_for(sandbox)), capture_output=True, text=True,
                            timeout=60, check=False)

    assert result.returncode == 0, result.stderr
    assert (sandbox.prospect(4) or {}).get("firstName") == "v1-first-4"


def test_follow_standard_input_until_it_ends(tmp_path: Path, sandbox: Sandbox) -> None:
    profile = write_profile(tmp_path, sandbox.api_base, export={"follow_window": 0.1})
    command = cli_command(profile, "--follow", "--input", "-", "--json", "--report", tmp_path / "r.json")
    process = subprocess.Popen(command, env=cli_env(tmp_path / "d", token_for(sandbox)), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdin is not None
        lines = JsonLines(process)
        process.stdin.write(json.dumps(record(1, "first")) + "\n")
        process.stdin.flush()
        lines.wait_for(activated_at_least(1))
        process.stdin.write(json.dumps(record(2, "second")) + "\n")
        process.stdin.close()  # the end of the stream ends the run normally
        assert process.wait(timeout=WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    report = read_report(tmp_path / "r.json")
    assert report["prospects"]["activated"] == 2 and report["records"]["read"] == 2
    assert (sandbox.prospect(2) or {}).get("firstName") == "second"


def test_a_second_export_of_one_destination_stops_while_the_first_runs(tmp_path: Path, sandbox: Sandbox) -> None:
    """Two exports of one destination at once would diff against the same state and send the same updates
    twice: the second stops at once (exit 2, naming the running one). A dry run is not held up, and once the
    first export ends the next one runs."""
    profile = write_profile(tmp_path, sandbox.api_base)
    write_records(tmp_path / "in.jsonl", standard_records(3))
    env = cli_env(tmp_path / "data", token_for(sandbox))
    state = tmp_path / "state.sqlite3"

    with StateStore.open(state):  # an export of this destination, running in this process
        blocked = run_cli(profile, "--state", state, env=env)
        dry = run_cli(profile, "--state", state, "--dry-run", env=env)
        assert sandbox.stats.patch_count == 0
    after = run_cli(profile, "--state", state, "--json", env=env)

    assert blocked.returncode == 2, blocked.stderr
    assert f"another export of this destination is running (process {os.getpid()}" in blocked.stderr
    assert "Traceback" not in blocked.stderr
    assert dry.returncode == 0, dry.stderr
    assert after.returncode == 0, after.stderr
    assert json.loads(after.stdout.splitlines()[-1])["counts"]["activated"] == 3
