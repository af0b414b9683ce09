"""What every part of the profile model shares: the strict base model, structured problems, ProfileError,
capped lists, and the refusal of secrets placed in a profile."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

SHOWN_PROBLEMS = 20  # problems printed by ProfileError; ProfileError.problems holds all of them
VALUE_SHOWN = 60  # characters of a bad value quoted in a message: a 10 MB value must not flood the terminal


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True, str_strip_whitespace=True)


class Problem(str):
    """One problem with a profile, structured so a face can show it next to the field it concerns.

    It *is* the text ``"key: message — hint"``, so code that joins, prints or compares problems as strings
    keeps working; ``key`` is the dotted key path (``mapping[2].target``, 1-based list indexes, ``""`` for
    the whole file), ``message`` what is wrong, ``hint`` how to fix it (may be empty).
    """

    key: str
    message: str
    hint: str

    def __new__(cls, key: str, message: str, hint: str = "") -> Problem:
        text = f"{key}: {message}" if key else message
        self = super().__new__(cls, f"{text} — {hint}" if hint else text)
        self.key, self.message, self.hint = key, message, hint
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Problem, (self.key, self.message, self.hint))

    @property
    def section(self) -> str:
        """The top-level table the problem is in (``mapping``, ``export``, ...), for grouping by wizard step."""
        return re.split(r"[.\[]", self.key, maxsplit=1)[0]


def capped(lines: Sequence[str], limit: int = SHOWN_PROBLEMS, *, rest: str = "") -> list[str]:
    """At most ``limit`` lines, then one "… and N more" line (``rest`` says where the full list is)."""
    if len(lines) <= limit:
        return list(lines)
    return [*lines[:limit], f"… and {len(lines) - limit:,} more{rest}"]


def cut(text: str, limit: int = VALUE_SHOWN) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(value: object) -> str:
    """``repr(value)`` cut to a readable length."""
    return repr(cut(value)) if isinstance(value, str) else cut(repr(value))


class ProfileError(Exception):
    """A profile that cannot be used. ``problems`` holds every problem found (all sections at once)."""

    def __init__(self, path: Path | None, problems: Sequence[str]) -> None:
        self.path = path
        self.problems: list[Problem] = [p if isinstance(p, Problem) else Problem("", p) for p in problems]
        where = str(path) if path else "profile"
        if len(self.problems) == 1:
            text = f"{where}: {self.problems[0]}"
        else:
            rest = f" (fix these, then check again: outreach-tui validate {path or 'PROFILE.toml'})"
            lines = capped([f"  - {p}" for p in self.problems], rest=rest)
            text = f"{where}: {len(self.problems):,} problems:\n" + "\n".join(lines)
        super().__init__(text)


# ----- secrets never belong in a profile ----------------------------------------------------------------

_SECRET_NAMES = {"secret", "password", "passwd", "passphrase", "token", "apikey", "api_key", "private_key"}
_SECRET_SUFFIXES = ("_secret", "_password", "_token", "_apikey", "_api_key")


def is_secret_key(name: str) -> bool:
    """``client_secret``, ``access_token``, ``refresh_token``, ``password``, ... (not ``token_url``)."""
    normal = name.strip().lower().replace("-", "_")
    return normal in _SECRET_NAMES or normal.endswith(_SECRET_SUFFIXES)


# Tables whose keys are data (source paths), not settings: a field may well be called "password".
_DATA_TABLES = {"governance.labels"}


def secret_problems(data: dict[str, Any], path: Path | None) -> list[Problem]:
    """One problem per secret-looking key, anywhere in the profile; removes those keys from ``data`` (which
    the caller must own: nested tables are changed) so they are not reported twice (as unknown keys).
    The secret's value is never quoted."""
    login = f"outreach-tui login {path}" if path else "outreach-tui login PROFILE.toml"
    return [Problem(key, "a secret does not belong in a profile (a plain file that gets copied and shared)",
                    "remove it: the client secret goes in OUTREACH_CLIENT_SECRET or the OS keyring, and tokens "
                    f"are kept by the sign-in ({login})")
            for key in _pop_secrets(data, "")]


def _pop_secrets(table: dict[str, Any], prefix: str) -> Iterator[str]:
    for name in list(table):
        value = table[name]
        where = f"{prefix}.{name}" if prefix else str(name)
        if is_secret_key(str(name)):
            del table[name]
            yield where
        elif isinstance(value, dict) and where not in _DATA_TABLES:
            yield from _pop_secrets(value, where)
        elif isinstance(value, list):
            for index, item in enumerate(value, start=1):
                if isinstance(item, dict):
                    yield from _pop_secrets(item, f"{where}[{index}]")
