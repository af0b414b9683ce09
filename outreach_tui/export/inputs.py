"""Where a run's records come from: the profile's [source], ``--input FILE`` or standard input, in which
format; and for ``--follow``, a growing JSON Lines file or standard input."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from outreach_tui.export.control import EXIT_USAGE, RunOptions, RunStopped
from outreach_tui.profile import Profile
from outreach_tui.xdm.records import InputError, Record, detect_format, read_records

STDIN = Path("-")
KNOWN_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")

Records = Iterator[Record] | AsyncIterator[list[Record]]  # a file's records, or standard input's in batches


def input_path(profile: Profile, options: RunOptions) -> Path:
    return options.input_path if options.input_path is not None else profile.source_path()


def open_records(profile: Profile, options: RunOptions) -> Records:
    path = input_path(profile, options)
    if path == STDIN:
        from outreach_tui.export.follow import stdin_records

        return stdin_records()
    try:
        fmt = profile.source.format
        if options.input_path is not None or fmt is None:
            # a recognised suffix decides; otherwise the profile's format, or a look at the content
            fmt = detect_format(path) if path.suffix.lower() in KNOWN_SUFFIXES else (fmt or detect_format(path))
        return read_records(path, fmt)
    except InputError as exc:
        raise RunStopped(EXIT_USAGE, str(exc)) from None


def follow_path(profile: Profile, options: RunOptions) -> Path:
    """The file (or ``-``) ``--follow`` tails: JSON Lines only, and it must exist."""
    path = input_path(profile, options)
    if path != STDIN:
        fmt = profile.source.format or "jsonl"
        if path.suffix.lower() == ".csv" or (fmt != "jsonl" and options.input_path is None):
            raise RunStopped(EXIT_USAGE, f"{path}: --follow reads JSON Lines only (one object per line); "
                                         "use a .jsonl file or --input -")
        if not path.exists():
            raise RunStopped(EXIT_USAGE, f"{path}: file not found; --follow waits for new lines in an "
                                         "existing file (create it first, or use --input -)")
    return path
