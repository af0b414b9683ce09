"""The wizard's draft: the profile as data (what the TOML holds, however broken), checked by the profile
model after every edit. Steps read and write it by key path; nothing else holds a copy of a field's value,
so a field can never show one thing while the draft holds another."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import tomli_w

from outreach_tui.tui.backend import Checked, Problem, ProfileData, check


def new_profile_data() -> ProfileData:
    return {"destination": {"name": "Outreach"}, "source": {"path": "profiles.jsonl"}}


class Draft:
    def __init__(self, data: ProfileData, path: Path | None) -> None:
        self.data = copy.deepcopy(data)
        self.path = path
        self._checked: Checked | None = None
        self._saved = self._fingerprint()

    # ----- values ----------------------------------------------------------------------------------------

    def section(self, name: str) -> dict[str, Any]:
        """A ``[table]`` of the draft, created when missing (a table holding something else is replaced)."""
        value = self.data.get(name)
        if not isinstance(value, dict):
            value = self.data[name] = {}
        return value

    def rows(self, name: str) -> list[dict[str, Any]]:
        """An ``[[array]]`` of tables (``mapping``, ``segments``)."""
        value = self.data.get(name)
        if not isinstance(value, list):
            value = self.data[name] = []
        for index, row in enumerate(value):
            if not isinstance(row, dict):
                value[index] = {}
        return value

    def text(self, section: str, key: str, default: str = "") -> str:
        """A value as a field shows it (a number or a list shown as typed in TOML, never dropped)."""
        table = self.data.get(section)
        value = table.get(key, default) if isinstance(table, dict) else default
        return display(value)

    def set(self, section: str, key: str, value: Any) -> None:
        """An edit from a widget. An emptied optional field removes the key, so the model's default applies."""
        table = self.section(section)
        if value in ("", None):
            table.pop(key, None)
        else:
            table[key] = value
        self.changed()

    def changed(self) -> None:
        self._checked = None

    # ----- checks ----------------------------------------------------------------------------------------

    def check(self) -> Checked:
        if self._checked is None:
            self._checked = check(self.data, self.path)
        return self._checked

    @property
    def problems(self) -> list[Problem]:
        return self.check().problems

    @property
    def warnings(self) -> list[Problem]:
        """Allowed but worth a word (a list replaced instead of merged, ...): shown muted, never blocking."""
        return self.check().warnings

    def to_toml(self) -> str:
        """The profile as it would be saved; a broken draft as its raw data (it cannot be saved yet)."""
        profile = self.check().profile
        return profile.to_toml() if profile is not None else tomli_w.dumps(_without_empty(self.data))

    # ----- saved or not ----------------------------------------------------------------------------------

    def _fingerprint(self) -> str:
        profile = self.check().profile
        return profile.to_toml() if profile is not None else json.dumps(_without_empty(self.data), sort_keys=True,
                                                                          default=str)

    def is_dirty(self) -> bool:
        return self._fingerprint() != self._saved

    def saved(self, path: Path) -> None:
        """The draft was written to ``path``: that is now the unchanged state."""
        self.path = path
        profile = self.check().profile
        if profile is not None:
            self.data = profile.model_dump(mode="json", exclude_none=True)
        self.changed()
        self._saved = self._fingerprint()


def display(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return tomli_w.dumps({"v": value}).removeprefix("v = ").strip()


def _without_empty(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_empty(v) for k, v in value.items() if v not in ("", None, {}, [])}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value
