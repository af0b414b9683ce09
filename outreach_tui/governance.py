"""Data-usage labels, marketing actions and policies: the profile's ``[governance]`` table.

A label names a kind of data (free-form, e.g. C1..C12, I1, S1). ``labels`` puts labels on source paths;
a label on a path also labels everything under it (``person`` labels ``person.birthDate``), and a row that
maps a whole object carries the labels of every field inside it. ``marketing_actions`` says what this
destination is used for; a policy denies labels for one action. A mapping row or segment carrying a
denied label, for an action this destination performs, is a violation: the profile is refused.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import Field, field_validator

from outreach_tui.profile_base import Problem, StrictModel

if TYPE_CHECKING:
    from outreach_tui.profile import MappingRow, Segment


def _label_names(values: list[str]) -> list[str]:
    if any(not value for value in values):
        raise ValueError("a label name cannot be empty (write e.g. \"S1\")")
    return values


class Policy(StrictModel):
    name: str = ""
    description: str = ""
    action: str = Field(min_length=1)
    deny_labels: list[str] = Field(min_length=1)

    @field_validator("deny_labels")
    @classmethod
    def _labels(cls, value: list[str]) -> list[str]:
        return _label_names(value)


class Governance(StrictModel):
    labels: dict[str, list[str]] = Field(default_factory=dict)
    marketing_actions: list[str] = Field(default_factory=list)
    policies: list[Policy] = Field(default_factory=list)

    @field_validator("labels")
    @classmethod
    def _labelled_paths(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for path, names in value.items():
            if any(part == "" for part in path.split(".")):
                raise ValueError(f"{path!r} is not a dotted source path (e.g. person.birthDate)")
            _label_names(names)
        return value

    @field_validator("marketing_actions")
    @classmethod
    def _actions(cls, value: list[str]) -> list[str]:
        if any(not action for action in value):
            raise ValueError("a marketing action cannot be empty (write e.g. \"email-targeting\")")
        return value

    def is_empty(self) -> bool:
        return not (self.labels or self.marketing_actions or self.policies)

    def labels_of(self, source: str) -> list[tuple[str, str]]:
        """(label, labelled path) pairs a source path carries: labels on the path, on any path above it,
        and on any path inside it (mapping ``person`` sends ``person.birthDate`` too)."""
        found: list[tuple[str, str]] = []
        for path, names in self.labels.items():
            if path == source or source.startswith(path + ".") or path.startswith(source + "."):
                found.extend((name, path) for name in names)
        return found

    def policy_name(self, index: int) -> str:
        policy = self.policies[index - 1]
        return f"policy '{policy.name}'" if policy.name else f"policy governance.policies[{index}]"


@dataclass(frozen=True, slots=True)
class Violation:
    """A mapping row or segment carrying a label that a policy denies for one of the destination's actions.

    ``row`` is the 1-based mapping row (None for a segment), ``segment_id`` the segment (None for a row)."""

    key: str  # "mapping[2].source" or "segments[1].labels"
    subject: str  # "mapping row 2 (person.birthDate → custom7)" or "segment 'EMEA' (mapping ID 4)"
    label: str
    labelled_path: str | None  # the [governance] labels key the label came from; None: the segment's own labels
    action: str
    policy: str  # "policy 'No sensitive data'" or "policy governance.policies[1]"
    row: int | None = None
    segment_id: str | None = None

    @property
    def message(self) -> str:
        origin = f" (labelled on '{self.labelled_path}')" if self.labelled_path else ""
        return (f"{self.subject} carries the label {self.label}{origin}, which {self.policy} denies "
                f"for the marketing action '{self.action}'")

    def problem(self) -> Problem:
        hint = ("remove the segment, or its label if it was wrong" if self.row is None else
                "remove the row, map a field without that label, or fix the label if it was wrong")
        return Problem(self.key, self.message, hint)

    def __str__(self) -> str:
        return str(self.problem())


def find_violations(governance: Governance, rows: Iterable[tuple[int, MappingRow]],
                    segments: Iterable[tuple[int, Segment]]) -> list[Violation]:
    """Every (row or segment, denied label, action, policy) combination, rows first; indexes are 1-based."""
    actions = set(governance.marketing_actions)
    denials = [(index, policy) for index, policy in enumerate(governance.policies, start=1)
               if policy.action in actions]
    if not denials:
        return []
    found: list[Violation] = []
    for index, row in rows:
        carried = governance.labels_of(row.source)
        for policy_index, policy in denials:
            found.extend(
                Violation(f"mapping[{index}].source", f"mapping row {index} ({row.source} → {row.target})", label,
                          path, policy.action, governance.policy_name(policy_index), row=index)
                for label, path in carried if label in policy.deny_labels)
    for index, segment in segments:
        for policy_index, policy in denials:
            found.extend(
                Violation(f"segments[{index}].labels", segment.label, label, None, policy.action,
                          governance.policy_name(policy_index), segment_id=segment.id)
                for label in segment.labels if label in policy.deny_labels)
    return found


def governance_warnings(governance: Governance) -> list[Problem]:
    """Policies that can never apply here, most likely a typo in the action."""
    warnings: list[Problem] = []
    for index, policy in enumerate(governance.policies, start=1):
        if policy.action in governance.marketing_actions:
            continue
        close = difflib.get_close_matches(policy.action, governance.marketing_actions, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "add it to marketing_actions if this destination does it"
        warnings.append(Problem(f"governance.policies[{index}].action",
                                f"'{policy.action}' is not one of this destination's marketing_actions, so "
                                f"{governance.policy_name(index)} never applies here", hint))
    return warnings
