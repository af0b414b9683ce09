"""Checks of the profile that span keys (targets, list modes, scopes), and pydantic's errors told as
key path, message and fix. The same functions serve a whole profile and, when some sections fail to
validate, the sections that did: so a profile with errors in several sections reports all of them."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from outreach_tui.outreach import catalog
from outreach_tui.outreach.scopes import scope_covers
from outreach_tui.profile_base import Problem, cut, shown

if TYPE_CHECKING:
    from outreach_tui.profile import MappingRow, Segment

IDENTITY_TARGET: Literal["OutreachId"] = "OutreachId"
PROSPECT_SCOPES = ("prospects.read", "prospects.write")
IMPORT_SCOPES = ("imports.read", "imports.write")  # POST /imports/actions/bulkUpsert and GET /imports/{id}


def is_list_target(target: str) -> bool:
    """``emails``, ``tags`` and the ``*Phones``: Outreach replaces these lists whole on PATCH."""
    attribute = catalog.get(target)
    return attribute is not None and attribute.array and not attribute.read_only


def target_problem(target: str, source: str = "") -> str | None:
    """Why ``target`` cannot be written by a mapping row, or None. Shared by the profile and the wizard."""
    if target == IDENTITY_TARGET or source.startswith("identityMap"):
        return (f"{IDENTITY_TARGET} is the identity: set it in [identity] (namespace = \"...\"), "
                "not as a mapping row; a profile has exactly one identity row")
    number = catalog.custom_number(target)
    if number is not None and not catalog.CUSTOM_MIN <= number <= catalog.CUSTOM_MAX:
        return f"'{target}' does not exist: Outreach custom fields are custom1 … custom150"
    attribute = catalog.get(target)
    if attribute is None:
        suggestion = catalog.suggest(target)
        hint = f" — did you mean '{suggestion}'?" if suggestion else ""
        return f"unknown Outreach prospect attribute '{cut(target)}'{hint}"
    if attribute.read_only:
        return f"'{target}' is read-only in Outreach and cannot be written; map a writable attribute instead"
    return None


def target_problems(rows: Iterable[tuple[int, MappingRow]], segments: Iterable[tuple[int, Segment]]) -> list[Problem]:
    problems: list[Problem] = []
    seen_targets: dict[str, str] = {}
    for index, row in rows:
        key = f"mapping[{index}]"
        problem = target_problem(row.target, row.source)
        if problem:
            message, _, hint = problem.partition(" — ")
            problems.append(Problem(f"{key}.target", message, hint))
            continue
        if row.mode is not None and not is_list_target(row.target):
            problems.append(Problem(f"{key}.mode", f"'{row.target}' is not a list; mode applies only to "
                                    "emails, tags and the *Phones lists", "remove the mode key from this row"))
        if row.target in seen_targets:
            problems.append(Problem(f"{key}.target", f"'{row.target}' is already written by "
                                    f"{seen_targets[row.target]}; each target takes one row (remove one of them)"))
        seen_targets[row.target] = f"mapping row {index}"
    segment_ids: set[str] = set()
    for index, segment in segments:
        key = f"segments[{index}]"
        if segment.id in segment_ids:
            problems.append(Problem(f"{key}.id", f"segment '{segment.id}' is listed twice; keep one entry"))
        segment_ids.add(segment.id)
        if segment.target in seen_targets:
            problems.append(Problem(f"{key}.mapping_id", f"{segment.mapping_id} collides with "
                                    f"{seen_targets[segment.target]}, which already writes {segment.target}; "
                                    "pick a free mapping ID"))
        seen_targets[segment.target] = segment.label
    return problems


_LIST_ITEMS = {"emails": "addresses", "tags": "tags"}


def replace_warnings(rows: Iterable[tuple[int, MappingRow]]) -> list[Problem]:
    return [Problem(f"mapping[{index}].mode",
                    f"row {index} maps {row.target} with mode=replace: Outreach replaces the whole list, "
                    f"{_LIST_ITEMS.get(row.target, 'numbers')} not in your data will be removed",
                    "remove mode (merge is the default) to keep what prospects already have")
            for index, row in rows if row.mode == "replace" and is_list_target(row.target)]


def strategy_problems(strategy: str, scopes: Sequence[str], login: str) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) about [export] strategy and the scopes the sign-in asks for ([outreach] scopes)."""
    missing = [scope for scope in IMPORT_SCOPES if not scope_covers(list(scopes), scope)]
    if strategy == "patch" or not missing:
        return [], []
    names = ", ".join(missing)
    fix = f"add {names} to [outreach] scopes, then sign in again ({login})"
    if strategy == "bulk":
        return [Problem("export.strategy", f"the bulk strategy needs the scopes {names}", fix)], []
    return [], [Problem("export.strategy", f"strategy 'auto' will always use PATCH: [outreach] scopes lacks {names}",
                        fix)]


# ----- pydantic's errors as key path, message and fix ---------------------------------------------------

def location(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        else:
            name = cut(str(part))
            if "." in name or not name:
                name = f'"{name}"'  # a dotted key (governance.labels."person.birthDate")
            text += f".{name}" if text else name
    return text


def _known_keys(root: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys allowed at the table that holds ``loc``'s last part."""
    model: Any = root
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return []
    return list(model.model_fields)


def describe(root: type[BaseModel], error: Any, prefix: tuple[int | str, ...] = ()) -> Problem:
    """One pydantic error as a Problem; ``prefix`` locates a section validated on its own."""
    loc = prefix + tuple(error["loc"])
    where = location(loc)
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(root, loc), n=1)
        return Problem(where, "unknown key", f"did you mean '{close[0]}'?" if close else "")
    if kind == "missing":
        return Problem(where, "required key is missing")
    if loc and loc[-1] == "mapping_id":
        if isinstance(value, str):
            return Problem(where, f"must be a whole number 1..150, not the text {shown(value)} "
                           "(write it without quotes)")
        return Problem(where, f"must be a whole number 1..150 (got {shown(value)}); custom fields are "
                       "custom1 … custom150")
    message = error["msg"].removeprefix("Value error, ")
    if kind.endswith("_type"):
        return Problem(where, f"{message} (got {shown(value)})")
    return Problem(where, message)
