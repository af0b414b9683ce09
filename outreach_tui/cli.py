"""The command line (docs/DESIGN.md, "Command line"). It only parses and dispatches: each command lives in
``outreach_tui/commands/``, imported when chosen, so ``--run`` never loads Textual."""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from outreach_tui import __version__
from outreach_tui.exit_codes import ExitCode
from outreach_tui.locations import data_dir

UNRECOGNIZED = "unrecognized arguments: "
CRASHES_KEPT = 20  # saved tracebacks; older ones are deleted
SECRET_ENV = ("OUTREACH_ACCESS_TOKEN", "OUTREACH_REFRESH_TOKEN", "OUTREACH_CLIENT_SECRET")

USAGE = """\
outreach-tui                           the wizard (opens the last profile, if any)
outreach-tui PROFILE.toml              the wizard on that profile
outreach-tui --run PROFILE.toml        headless export [--input FILE] [--dry-run] [--full-resync]
                                       [--follow] [--report FILE.json] [--json] [--quiet]
outreach-tui validate PROFILE.toml     check a profile (and its input) without sending anything
outreach-tui login PROFILE.toml        sign in to Outreach in the browser [--no-browser]
outreach-tui logout PROFILE.toml       forget the stored tokens
outreach-tui sandbox                   run the local Outreach sandbox [--port N] [--rate-limit N] ...
outreach-tui demo                      sandbox + demo data + wizard, nothing to configure
outreach-tui status PROFILE.toml       who is signed in, scopes, token expiry, budget left, last run,
                                       dead letters, fields pending cleanup [--json] [--offline]

Exit codes: 0 ok, 1 some prospects failed, 2 bad profile/input/usage, 3 sign-in needed,
4 Outreach unreachable, 70 internal error (traceback saved), 130 interrupted.
Add --help after a command for its options."""


@dataclass(frozen=True)
class Command:
    module: str  # under outreach_tui.commands
    add_arguments: str
    run: str
    help: str


COMMANDS: dict[str, Command] = {
    "validate": Command("validate", "add_arguments", "run", "check a profile and its input without sending"),
    "login": Command("login", "add_login_arguments", "run_login", "sign in to Outreach in the browser"),
    "logout": Command("login", "add_logout_arguments", "run_logout", "forget the stored tokens"),
    "sandbox": Command("sandbox", "add_arguments", "run", "run the local Outreach sandbox"),
    "demo": Command("wizard", "add_demo_arguments", "run_demo", "sandbox + demo data + wizard"),
    "status": Command("status", "add_arguments", "run", "who is signed in, token expiry, budget left, last run, "
                                                      "dead letters, fields pending cleanup"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line naming the problem (with "did you mean" for a mistyped
    option) and exit 2, instead of a wall of usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(ExitCode.USAGE, f"{self.prog}: {message}{self._suggestion(message)} (see {self.prog} --help)\n")

    def _suggestion(self, message: str) -> str:
        if not message.startswith(UNRECOGNIZED):
            return ""
        options = [option for action in self._actions for option in action.option_strings]
        for word in message.removeprefix(UNRECOGNIZED).split():
            close = difflib.get_close_matches(word.split("=")[0], options, n=1) if word.startswith("--") else []
            if close:
                return f"; did you mean {close[0]}?"
        return ""


def _unknown_command(word: str) -> str | None:
    """The message for a first argument that is neither a command nor a profile file, else None."""
    if word.startswith("-") or word.endswith(".toml") or os.sep in word or Path(word).exists():
        return None
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'?" if close else f"commands: {', '.join(COMMANDS)}; or give a PROFILE.toml"
    return f"outreach-tui: unknown command '{word}'; {hint} (see outreach-tui --help)"


def _command_parser(name: str, command: Command) -> tuple[argparse.ArgumentParser, Callable[..., int]]:
    module = importlib.import_module(f"outreach_tui.commands.{command.module}")
    parser = _Parser(prog=f"outreach-tui {name}", description=command.help)
    getattr(module, command.add_arguments)(parser)
    return parser, getattr(module, command.run)


def _run_parser() -> tuple[argparse.ArgumentParser, Callable[..., int]]:
    from outreach_tui.commands import run as run_command

    parser = _Parser(prog="outreach-tui --run", description="headless export of a profile")
    run_command.add_arguments(parser)
    return parser, run_command.run


def _dispatch(argv: list[str]) -> int:
    if not argv or (argv[0] not in COMMANDS and "--run" not in argv):
        if argv and (unknown := _unknown_command(argv[0])):
            print(unknown, file=sys.stderr)
            return ExitCode.USAGE
        return _wizard(argv)
    if argv[0] in COMMANDS:
        parser, handler = _command_parser(argv[0], COMMANDS[argv[0]])
        return handler(parser.parse_args(argv[1:]))
    parser, handler = _run_parser()
    if "-h" in argv or "--help" in argv:  # `--run --help` would otherwise read --help as the profile
        parser.print_help()
        return ExitCode.OK
    return handler(parser.parse_args(argv))


def _wizard(argv: list[str]) -> int:
    parser = _Parser(prog="outreach-tui", usage=USAGE, add_help=False)
    parser.add_argument("profile", nargs="?", type=Path)
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("--run", help=argparse.SUPPRESS)  # never reached (_dispatch routes it): for "did you mean"
    args = parser.parse_args(argv)
    if args.help:
        print(f"outreach-tui {__version__}: export segment membership and attributes into Outreach.\n")
        print(USAGE)
        return ExitCode.OK
    if args.version:
        print(f"outreach-tui {__version__}")
        return ExitCode.OK
    from outreach_tui.commands.wizard import run_wizard

    return run_wizard(args.profile)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(_dispatch(arguments))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:  # `outreach-tui --run ... --json | head`: not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except Exception as exc:  # the last net: a bug of ours
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    """A bug of ours: one line naming it and where its traceback is saved; never the traceback on screen
    (it may hold profile values), never a secret (known secret values are blanked in the saved file)."""
    try:
        where = f"the traceback is saved in {save_traceback(exc)}"
    except OSError as error:
        where = f"its traceback could not be saved ({error.strerror or type(error).__name__})"
    print(f"outreach-tui: internal error ({type(exc).__name__}); {where}. Please report it.", file=sys.stderr)
    return ExitCode.INTERNAL


def save_traceback(exc: BaseException) -> Path:
    """Write ``exc``'s traceback to a new private file under ``<data dir>/crashes`` (the newest
    CRASHES_KEPT are kept) and return its path."""
    folder = data_dir() / "crashes"
    folder.mkdir(parents=True, exist_ok=True)
    for old in sorted(folder.glob("crash-*.txt"))[: 1 - CRASHES_KEPT]:  # room for the new one
        old.unlink(missing_ok=True)
    text = f"outreach-tui {__version__}, Python {sys.version.split()[0]}, {sys.platform}\n"
    text += "".join(traceback.format_exception(exc))
    for name in SECRET_ENV:
        if len(secret := os.environ.get(name, "")) >= 4:
            text = text.replace(secret, f"<{name}>")
    path = folder / f"crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(descriptor, "w", encoding="utf-8", errors="backslashreplace") as handle:
        handle.write(text)
    return path


if __name__ == "__main__":
    raise SystemExit(main())
