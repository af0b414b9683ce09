"""A small profile and a file writer shared by the profile tests (no tests here)."""

from __future__ import annotations

from pathlib import Path

BASE = """\
[destination]
name = "Outreach EMEA"

[source]
path = "profiles.jsonl"

[[mapping]]
source = "person.name.firstName"
target = "firstName"

[[segments]]
id = "seg-emea"
mapping_id = 4
"""


def write(tmp_path: Path, text: str, name: str = "profile.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path
