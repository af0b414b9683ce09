"""``outreach-tui --run PROFILE.toml``: the headless export (for cron, CI and containers).

Never imports Textual. Human messages go to stderr (a progress line only when stderr is a terminal),
``--json`` writes every event as one JSON line to stdout, ``--report FILE.json`` writes the report.
SIGINT/SIGTERM drain the requests in flight, save state and write the report (exit 130); a second signal
stops without waiting for the drain.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import signal
import sys
import time
from pathlib import Path
from typing import TextIO

import orjson

from outreach_tui.export.control import EXIT_USAGE, RunOptions
from outreach_tui.export.events import CleanupAnnounced, Event, Finished, Progress, ProspectFailed, Resumed, Throttled
from outreach_tui.export.files import file_clash
from outreach_tui.export.runner import ExportRunner
from outreach_tui.profile import ProfileError, load_profile

FAILURES_SHOWN = 20  # diagnostics printed to stderr; the report has the rest


def add_arguments(parser: argparse.ArgumentParser, *, include_run: bool = True) -> None:
    """The headless options. ``include_run=False`` when the caller defines ``--run`` itself (dest ``run``)."""
    if include_run:
        parser.add_argument("--run", metavar="PROFILE.toml", help="export headless with this profile")
    group = parser.add_argument_group("headless export (--run)")
    group.add_argument("--input", metavar="FILE",
                       help="records to export instead of [source] path ('-': stdin, JSON Lines)")
    group.add_argument("--dry-run", action="store_true", help="plan and diff, send nothing")
    group.add_argument("--full-resync", action="store_true",
                       help="ignore what was sent before; send every value")
    group.add_argument("--follow", action="store_true",
                       help="keep reading a growing JSON Lines file (or stdin) until interrupted")
    group.add_argument("--report", metavar="FILE.json", help="write the run report (JSON) to this file")
    group.add_argument("--json", action="store_true", help="print every event as a JSON line on stdout")
    group.add_argument("--quiet", action="store_true", help="no progress or summary on stderr (errors still)")
    group.add_argument("--state", metavar="FILE", help="state database to use instead of the default")


def options_from_args(args: argparse.Namespace) -> RunOptions:
    return RunOptions(
        input_path=Path(args.input) if args.input else None,
        dry_run=bool(args.dry_run),
        full_resync=bool(args.full_resync),
        follow=bool(args.follow),
        report_path=Path(args.report) if args.report else None,
        state_path=Path(args.state) if args.state else None,
    )


class _Console:
    """Turns events into stderr text and (with --json) stdout JSON lines."""

    def __init__(self, as_json: bool, quiet: bool,
                 err: TextIO | None = None, out: TextIO | None = None) -> None:
        self.as_json = as_json
        self.quiet = quiet
        self.err = err or sys.stderr
        self.out = out or sys.stdout
        self.live = not quiet and self.err.isatty()
        self._line_shown = False
        self._failures_shown = 0

    def __call__(self, event: Event) -> None:
        if self.as_json:
            try:
                self.out.write(orjson.dumps(event.to_json(), default=str).decode() + "\n")
                self.out.flush()
            except (BrokenPipeError, ValueError):  # the reader went away (| head): keep exporting
                self.as_json = False
        if isinstance(event, Progress):
            if self.live:
                self._status(_progress_text(event))
            return
        if self.quiet:
            return
        if isinstance(event, ProspectFailed):
            self._failures_shown += 1
            if self._failures_shown <= FAILURES_SHOWN:  # the rest is counted, then summed up by finish()
                self._print(event.diagnostic.summary())
        elif isinstance(event, CleanupAnnounced):
            self._print(event.text)
        elif isinstance(event, Throttled):
            until = time.strftime("%H:%M:%S", time.localtime(event.until))
            self._print(f"throttled until {until}: {event.reason}")
        elif isinstance(event, Resumed) and self.live:
            self._print("resumed")

    def _status(self, text: str) -> None:
        self.err.write("\r\x1b[2K" + text)
        self.err.flush()
        self._line_shown = True

    def _print(self, text: str) -> None:
        if self._line_shown:
            self.err.write("\r\x1b[2K")
            self._line_shown = False
        self.err.write(text + "\n")
        self.err.flush()

    def finish(self, finished: Finished) -> None:
        if self._line_shown:
            self.err.write("\n")
            self._line_shown = False
        hidden = self._failures_shown - FAILURES_SHOWN
        if hidden > 0 and not self.quiet:
            where = f": {finished.report_path}" if finished.report_path else " (--report FILE.json)"
            # capped()'s wording; the failures arrive one at a time, so only their number is kept
            self._print(f"… and {hidden:,} more failures; the report lists them{where}")
        cleared = finished.report.get("cleared") or {}
        if not self.quiet and (cleared.get("fields") or cleared.get("skipped") or cleared.get("failed")):
            self._print(f"cleanup: {cleared['fields']:,} fields cleared on {cleared['prospects']:,} prospects, "
                        f"{cleared['skipped']:,} left as changed in Outreach since, {cleared['failed']:,} failed "
                        "(tried again next run)")
        lines = finished.message.splitlines()
        problem, summary = lines[:-1], lines[-1:]
        for line in problem:  # the reason a run stopped is shown even with --quiet
            self.err.write(f"outreach-tui: {line}\n")
        if not self.quiet:
            for line in summary:
                self.err.write(line + "\n")
        self.err.flush()


def _progress_text(event: Progress) -> str:
    counts = event.counts
    if event.phase == "planning":
        return f"planning: {counts.read:,} records read"
    done = counts.activated + counts.unchanged + counts.failed + counts.dry_run_planned
    total = f"/{event.total:,}" if event.total is not None else ""
    budget = ""
    if event.budget_remaining is not None and event.budget_limit:
        budget = f"  budget {event.budget_remaining:,}/{event.budget_limit:,}"
    return (f"{event.phase}: {done:,}{total} prospects ({counts.activated:,} activated, "
            f"{counts.unchanged:,} unchanged, {counts.failed:,} failed)  "
            f"{event.requests_per_second:.1f} req/s{budget}")


def run(args: argparse.Namespace) -> int:
    """Run the headless export described by ``args`` (from ``add_arguments``); return the exit code."""
    try:
        profile = load_profile(Path(args.run))
    except ProfileError as exc:
        sys.stderr.write(f"outreach-tui: {exc}\n")
        return EXIT_USAGE
    options = options_from_args(args)
    clash = file_clash(profile, options)
    if clash is not None:
        sys.stderr.write(f"outreach-tui: {clash}\n")
        return EXIT_USAGE
    console = _Console(as_json=bool(args.json), quiet=bool(args.quiet))
    # Everything imported so far lives as long as the process: keep the garbage collector from rescanning
    # it on every collection during a multi-million-record run.
    gc.freeze()
    finished = execute(ExportRunner(profile, options, emit=console))
    console.finish(finished)
    return finished.exit_code


def execute(runner: ExportRunner) -> Finished:
    """Run to the end on a fresh event loop (uvloop when installed: less CPU per request), with SIGINT and
    SIGTERM asking the runner to stop gracefully."""
    try:
        import uvloop
    except ImportError:  # e.g. on Windows
        loop_runner = asyncio.Runner()
    else:
        loop_runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with loop_runner:
        return loop_runner.run(_run_with_signals(runner))


async def _run_with_signals(runner: ExportRunner) -> Finished:
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        # not on every platform: Ctrl-C then falls back to KeyboardInterrupt
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, runner.cancel)
    try:
        return await runner.run()
    finally:
        for signum in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="outreach-tui --run", description="headless Outreach export")
    parser.add_argument("run", metavar="PROFILE.toml")
    add_arguments(parser, include_run=False)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
