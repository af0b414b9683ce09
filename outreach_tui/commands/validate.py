"""`outreach-tui validate PROFILE.toml [--input FILE] [--json]`: check a profile and plan its input
without sending anything. Exit 0 when every planned prospect could be sent, 1 when some would fail
locally (bad values), 2 when the profile or the input cannot be used.

When the profile writes custom fields and a sign-in is available, Outreach's custom field types are read
(one ``GET /types``) and every ``customN`` target checked against them (``export/custom_types.py``): a
segment whose statuses a typed field refuses is a profile error (exit 2). Without a sign-in the check is
offline only, and says so."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from outreach_tui.exit_codes import ExitCode
from outreach_tui.export.custom_types import check_custom_fields
from outreach_tui.export.email_match import batches
from outreach_tui.export.plan import Planner
from outreach_tui.export.preflight import read_custom_field_types, writes_custom_fields
from outreach_tui.export.tally import LIST_CAP
from outreach_tui.outreach.client import OutreachRequestFailed, OutreachUnreachable
from outreach_tui.outreach.credentials import AuthRequired, AuthUnreachable, ScopeMissing
from outreach_tui.profile import Profile, ProfileError, capped, load_profile
from outreach_tui.xdm.records import InputError, detect_format, read_records

SHOWN = 10  # problems listed per kind on the terminal; the JSON output has up to the planner's limit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", type=Path, help="the TOML profile")
    parser.add_argument("--input", type=Path, help="plan this file instead of the profile's [source] path")
    parser.add_argument("--no-input", action="store_true", help="check the profile only")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    parser.add_argument("--offline", action="store_true",
                        help="ask Outreach nothing: custom field types are not checked, and records matched by "
                             "email are counted, not looked up")


def run(args: argparse.Namespace) -> int:
    try:
        profile = load_profile(args.profile)
    except ProfileError as exc:
        print(exc, file=sys.stderr)
        return ExitCode.USAGE
    custom = check_custom_types(profile, offline=args.offline)
    notes = [*(f"warning: {w}" for w in profile.warnings()), *_custom_lines(custom)]
    if custom["errors"]:
        print("\n".join(notes), file=sys.stderr)
        if args.json:
            sys.stdout.buffer.write(orjson.dumps({"custom_fields": custom}, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"{args.profile}: the profile writes custom fields Outreach would refuse; nothing can be sent",
              file=sys.stderr)
        return ExitCode.USAGE
    if not args.no_input:
        try:
            result = check_input(profile, args.input)
        except InputError as exc:  # the one thing to fix first: said alone
            print(f"input: {exc}", file=sys.stderr)
            return ExitCode.USAGE
    print("\n".join(notes), file=sys.stderr)
    if args.no_input:
        print(f"{args.profile}: profile OK ({len(profile.mapping)} attribute rows, "
              f"{len(profile.segments)} segments)", file=sys.stderr)
        return ExitCode.OK
    if args.json:
        result = {**result, "custom_fields": custom, "warnings": [str(w) for w in profile.warnings()]}
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
    _print_summary(args.profile, result)
    records = result["records"]
    if records["read"] and records["malformed"] == records["read"]:
        print(f"input: {result['input']}: every record is malformed ({records['read']:,}): is it the right file, "
              "in the right format?", file=sys.stderr)
        return ExitCode.USAGE
    return ExitCode.SOME_FAILED if result["prospects"]["would_fail"] else ExitCode.OK


def check_custom_types(profile: Profile, offline: bool = False) -> dict[str, Any]:
    """The profile's custom field targets against Outreach's types, when signed in and not ``offline``:
    ``{"checked": bool, "note": str, "errors": [...], "warnings": [...]}``."""
    result: dict[str, Any] = {"checked": False, "note": "", "errors": [], "warnings": []}
    if not writes_custom_fields(profile):
        result["note"] = "the profile writes no custom fields"
        return result
    if offline:
        result["note"] = "custom field types not checked (--offline)"
        return result
    try:
        types = asyncio.run(read_custom_field_types(profile))
    except (AuthUnreachable, OutreachUnreachable, OutreachRequestFailed, ScopeMissing) as exc:
        result["note"] = f"custom field types not checked: {exc}"
        return result
    except AuthRequired:
        result["note"] = ("custom field types not checked (offline: not signed in); sign in "
                          f"({profile.token_place().login_hint}) to check them against Outreach")
        return result
    errors, warnings = check_custom_fields(profile, types)
    result.update(checked=True, note="custom fields checked against Outreach's types (GET /types)",
                  errors=[str(e) for e in errors], warnings=[str(w) for w in warnings])
    return result


def _custom_lines(custom: dict[str, Any]) -> list[str]:
    return [*(f"error: {e}" for e in custom["errors"]), *(f"warning: {w}" for w in custom["warnings"]),
            custom["note"]]


def check_input(profile: Profile, input_path: Path | None) -> dict[str, Any]:
    path = input_path or profile.source_path()
    fmt = profile.source.format if input_path is None and profile.source.format else detect_format(path)
    would_fail = 0
    failures: list[dict[str, Any]] = []
    with Planner(profile) as planner:
        tally = planner.tally
        for record in read_records(path, fmt):
            planner.add(record)
        for prospect in planner.prospects():
            tally.segments.add(prospect.segments)
            if prospect.failures:
                would_fail += 1
                failures.extend(d.to_json() for d in prospect.failures[: LIST_CAP - len(failures)])
        segments = tally.segments.totals()
        emails = list(dict.fromkeys(email for _, email, _ in planner.awaiting_emails()))
        return {
            "input": str(path),
            "format": fmt,
            "records": {"read": tally.read, "planned": tally.planned, "excluded": tally.excluded,
                        "malformed": tally.malformed, "awaiting_lookup": tally.awaiting_lookup},
            # [identity] match = "email": records without an id, the distinct emails and the lookups they need
            "email_lookups": {"records": tally.awaiting_lookup, "emails": len(emails),
                              "requests": sum(1 for _ in batches(emails))},
            "prospects": {"targeted": planner.targeted, "would_fail": would_fail},
            "segments": [{"id": segment.id, "mapping_id": segment.mapping_id,
                          **{status: segments[segment.id][status] for status in ("realized", "existing", "exited")}}
                         for segment in profile.segments],
            "exclusions": [{"line": e.line, "reason": e.reason, "detail": e.detail} for e in tally.exclusions],
            "malformed": [{"line": e.line, "detail": e.detail} for e in tally.malformed_lines],
            "failures": failures,
        }


def _listed(lines: list[str], total: int) -> list[str]:
    """At most SHOWN lines, then "… and N more" (``capped()``), N counting past the JSON list's own cap."""
    rest = " (outreach-tui validate --json lists up to 1,000)"
    shown = capped(lines, SHOWN, rest=rest)
    if total > len(lines) >= SHOWN:  # the list itself was cut at LIST_CAP
        shown[SHOWN:] = [f"… and {total - SHOWN:,} more{rest}"]
    return ["  " + line if line.startswith("…") else line for line in shown]


def _print_summary(profile_path: Path, result: dict[str, Any]) -> None:
    records, prospects = result["records"], result["prospects"]
    lines = [
        f"{profile_path}: profile OK",
        f"{result['input']} ({result['format']}): {records['read']:,} records read — {records['planned']:,} planned, "
        f"{records['excluded']:,} excluded, {records['malformed']:,} malformed",
        f"{prospects['targeted']:,} prospects targeted; {prospects['would_fail']:,} would fail before sending",
    ]
    lookups = result["email_lookups"]
    if lookups["records"]:
        requests = f"{lookups['requests']:,} lookup request" + ("s" if lookups["requests"] != 1 else "")
        lines.append(f"{lookups['records']:,} records would need an email lookup ({lookups['emails']:,} distinct "
                     f"emails: at most {requests}, fewer for emails already cached)")
    failures = result["failures"]
    lines += _listed([f"  line {item['line']}: excluded ({item['reason']}): {item['detail']}"
                      for item in result["exclusions"]], records["excluded"])
    lines += _listed([f"  line {item['line']}: malformed: {item['detail']}" for item in result["malformed"]],
                     records["malformed"])
    lines += _listed([f"  prospect {f['prospect_id']}: {f['detail']}" + (f" ({f['origin']})" if f["origin"] else "")
                      for f in failures], max(len(failures), prospects["would_fail"]))
    print("\n".join(lines), file=sys.stderr)
