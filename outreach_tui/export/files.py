"""The files a run touches must be distinct: the report and the state are written, and writing either over
the profile, the input or each other would destroy it. A face calls ``file_clash`` before starting a run."""

from __future__ import annotations

import os
from pathlib import Path

from outreach_tui.export.control import RunOptions
from outreach_tui.export.inputs import STDIN, input_path
from outreach_tui.export.state import state_path_for
from outreach_tui.profile import Profile


def _same(a: Path, b: Path) -> bool:
    """The same file: one resolved path, or (both existing) one inode, so a hard link counts too."""
    try:
        if os.path.samefile(a, b):
            return True
    except OSError:  # one of them does not exist yet
        pass
    return a.resolve() == b.resolve()


def run_files(profile: Profile, options: RunOptions) -> list[tuple[str, Path, bool]]:
    """(how the user named it, path, written by the run) for the profile, the input, the state, the report."""
    files: list[tuple[str, Path, bool]] = []
    if profile.path is not None:
        files.append(("the profile", profile.path, False))
    source = input_path(profile, options)
    if source != STDIN:
        files.append(("--input" if options.input_path is not None else "[source] path", source, False))
    state_name = ("--state" if options.state_path is not None
                  else "[export] state_path" if profile.export.state_path else "the default state file")
    files.append((state_name, state_path_for(profile, options.state_path), True))
    if options.report_path is not None:
        files.append(("--report", options.report_path, True))
    return files


def file_clash(profile: Profile, options: RunOptions) -> str | None:
    """A message naming both when the run would write one of its files over another; None when all differ."""
    files = run_files(profile, options)
    for index, (name, path, written) in enumerate(files):
        for other_name, other, other_written in files[index + 1:]:
            if (written or other_written) and _same(path, other):
                target = other_name if other_written else name
                return (f"{name} and {other_name} are the same file ({path}); the run would overwrite it: "
                        f"choose another file for {target}")
    return None
