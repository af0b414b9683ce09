"""Exit codes (docs/DESIGN.md, "Command line"), one place for every face."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every target activated or unchanged
    SOME_FAILED = 1  # some prospects failed (diagnostics in the report)
    USAGE = 2  # bad profile, input or command line
    AUTH = 3  # sign-in needed: run `outreach-tui login PROFILE.toml`
    UNREACHABLE = 4  # Outreach (or the sandbox) cannot be reached
    INTERNAL = 70  # a bug of ours: one line on stderr, the traceback saved under the data dir (sysexits' EX_SOFTWARE)
    INTERRUPTED = 130  # Ctrl-C / SIGTERM: state saved, the rest pending
