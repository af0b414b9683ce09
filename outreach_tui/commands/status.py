"""``outreach-tui status PROFILE.toml [--json] [--offline] [--state FILE]``: who is signed in, with which scopes
and until when, the hourly budget left, the last run, the dead letters waiting and the fields pending cleanup.

The status is this command's data, so it goes to stdout (text for people, or one JSON object with ``--json``);
only a profile that cannot be loaded is reported on stderr. Signed out (or with ``--offline``) it sends nothing.
Exit codes: 0 fine, 2 bad profile or unreadable state, 3 sign-in needed (signed out, expired, a scope missing,
the token refused; the output names the ``login`` command), 4 Outreach or its token endpoint unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path

import orjson

from outreach_tui.exit_codes import ExitCode
from outreach_tui.export.status import Budget, SignIn, Status, gather_status
from outreach_tui.export.status_state import LastRun, StateFacts
from outreach_tui.profile import ProfileError, load_profile

DETAIL_SHOWN = 100  # characters of a dead letter's error detail on the terminal (--json has all of it)
LABEL_WIDTH = 17
EXIT_MEANINGS = {0: "all activated or unchanged", 1: "some prospects failed", 2: "bad profile or input",
                 3: "sign-in needed", 4: "Outreach unreachable", 70: "internal error", 130: "interrupted"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", metavar="PROFILE.toml", help="the profile to report on")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--offline", action="store_true",
                        help="send nothing: skip the request that reads the hourly budget left")
    parser.add_argument("--state", metavar="FILE", help="state database to read instead of the default")


def run(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(Path(args.profile))
    except ProfileError as exc:
        print(exc, file=sys.stderr)
        return ExitCode.USAGE
    status = asyncio.run(gather_status(profile, offline=args.offline,
                                       state_path=Path(args.state) if args.state else None))
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(status.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        sys.stdout.write("\n".join(render(status)) + "\n")
    sys.stdout.flush()
    return status.exit_code


# ----- text for people --------------------------------------------------------------------------------------

def render(status: Status) -> list[str]:
    profile = status.profile
    lines = [_row("Profile", f"{profile.path} (destination \"{profile.destination.name}\", "
                             f"{profile.outreach.api_base})")]
    lines += _sign_in(status.sign_in, status.now)
    lines += _budget(status.budget, status.now)
    lines += _state(status.state)
    if status.next_step:
        lines.append(_row("Next", f"sign in: {status.next_step}"))
    elif status.exit_code == ExitCode.UNREACHABLE:
        lines.append(_row("Next", "check the network and [outreach] api_base / token_url, then run status again"))
    return lines


def _row(label: str, text: str, *more: str) -> str:
    indent = "\n" + " " * LABEL_WIDTH
    return f"{label + ':':<{LABEL_WIDTH}}{text}" + "".join(indent + line for line in more)


def local_time(moment: float) -> str:
    return datetime.fromtimestamp(moment).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def duration(seconds: float) -> str:
    """``45 s``, ``12 min``, ``1 h 12 min``, ``3 d 4 h``."""
    seconds = int(abs(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours = seconds // 60, seconds // 3600
    if hours == 0:
        return f"{minutes} min"
    if hours < 48:
        return f"{hours} h {minutes % 60} min"
    return f"{hours // 24} d {hours % 24} h"


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def relative(moment: float, now: float) -> str:
    return f"in {duration(moment - now)}" if moment > now else f"{duration(now - moment)} ago"


def _sign_in(facts: SignIn, now: float) -> list[str]:
    if facts.via == "environment":
        who = "yes, with OUTREACH_ACCESS_TOKEN from the environment (not refreshable)"
    elif facts.signed_in:
        who = f"yes, as {facts.user or 'an Outreach user (the token does not say which)'}"
        if facts.via == "environment refresh token":
            who += ", refreshed from OUTREACH_REFRESH_TOKEN in the environment"
    else:
        who = f"no: {facts.problem or 'not signed in'}"
    lines = [_row("Signed in", who, *([f"problem: {facts.problem}"] if facts.signed_in and facts.problem else [])),
             _row("Tokens kept in", facts.store + (" (not used while OUTREACH_ACCESS_TOKEN is set)"
                                                   if facts.via == "environment" else ""))]
    needed = " ".join(facts.required_scopes)
    if facts.scopes is None and facts.via == "none":
        lines.append(_row("Scopes", f"none granted (not signed in); this profile needs {needed}"))
    elif facts.scopes is None:
        lines.append(_row("Scopes", f"unknown (not recorded for this token); this profile needs {needed}"))
    else:
        missing = facts.missing_scopes or []
        cover = (f"MISSING {' '.join(missing)} (needed: {needed})" if missing
                 else "cover what this profile needs")
        lines.append(_row("Scopes", f"{' '.join(facts.scopes) or '(none recorded)'}: {cover}"))
    if facts.expires_at is not None:
        state = ("expired " if facts.expires_at <= now else "") + relative(facts.expires_at, now)
        refresh = ("a refresh token is stored: the next request renews it" if facts.refreshable
                   else "no refresh token: sign in again when it expires")
        lines.append(_row("Token expires", f"{local_time(facts.expires_at)} ({state}); {refresh}"))
    if facts.overrides:
        lines.append(_row("Environment", f"{', '.join(facts.overrides)} set (values not shown)"))
    return lines


def _budget(budget: Budget, now: float) -> list[str]:
    own = f"this profile spends at most {budget.budget_per_hour:,} an hour"
    if budget.skipped:
        return [_row("Budget left", f"not checked ({budget.skipped}); {own}")]
    if budget.remaining is None or budget.limit is None:
        return [_row("Budget left", f"unknown: {budget.error or 'Outreach sent no X-RateLimit headers'}", own)]
    reset = f", resets {local_time(budget.reset_at)} ({relative(budget.reset_at, now)})" if budget.reset_at else ""
    error = [f"the request failed: {budget.error}"] if budget.error else []
    return [_row("Budget left", f"{budget.remaining:,} of {budget.limit:,} requests this hour{reset}", own, *error)]


def _state(state: StateFacts) -> list[str]:
    lines = [_row("State", str(state.path) + ("" if state.exists else " (no export has run yet)"))]
    if state.problem:
        return [*lines, _row("State problem", state.problem)]
    lines.append(_last_run(state.last_run))
    letters = state.dead_letters
    if letters.count == 0:
        lines.append(_row("Dead letters", "none"))
    else:
        shown = [f"prospect {letter.prospect_id}: HTTP {letter.status or 'no answer'} {letter.error_id}: "
                 f"{_cut(letter.detail)}" for letter in letters.first]
        if letters.more:
            shown.append(f"and {letters.more:,} more")
        lines.append(_row("Dead letters", f"{letters.count:,} waiting (the next run sends them again)", *shown))
    cleanup = state.cleanup
    if not cleanup.tracked:
        lines.append(_row("Pending cleanup", "not tracked (this state does not record the fields it wrote)"))
    elif not cleanup.prospects_per_field:
        lines.append(_row("Pending cleanup", "none"))
    else:
        setting = f"[export] clear_on_unmap = {'true' if cleanup.clear_on_unmap else 'false'}"
        fields = [f"{name}: {plural(count, 'prospect')}" for name, count in cleanup.prospects_per_field.items()]
        lines.append(_row("Pending cleanup", f"{plural(len(fields), 'field')} this destination wrote and no longer "
                                             f"maps ({setting})", *fields))
    return lines


def _last_run(run: LastRun | None) -> str:
    if run is None:
        return _row("Last run", "none recorded")
    kind = "dry run" if run.dry_run else ("full resync" if run.full_resync else "run")
    when = _when(run.started_at)
    if run.finished_at is None or run.exit_code is None:
        return _row("Last run", f"{kind} #{run.id} started {when}: did not finish (still running, or stopped "
                                "before it could record its end)")
    meaning = EXIT_MEANINGS.get(run.exit_code, "unknown")
    head = f"{kind} #{run.id}, {when}, exit {run.exit_code} ({meaning})"
    report = run.report or {}
    more: list[str] = []
    prospects, records = report.get("prospects"), report.get("records")
    if isinstance(prospects, dict):
        more.append(", ".join(f"{prospects.get(key, 0):,} {key}" for key in
                              ("targeted", "activated", "unchanged", "failed", "pending")))
    if isinstance(records, dict):
        more.append("records: " + ", ".join(f"{records.get(key, 0):,} {key}" for key in
                                            ("read", "excluded", "malformed")))
    if report.get("message"):
        more.append(str(report["message"]))
    more.append(f"report: {run.report_path or 'not recorded in the state'}")
    return _row("Last run", head, *more)


def _when(stamp: str) -> str:
    try:
        return local_time(datetime.fromisoformat(stamp).timestamp())
    except ValueError:
        return stamp


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_SHOWN else text[: DETAIL_SHOWN - 1] + "…"
