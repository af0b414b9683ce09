"""The TOML profile (DESIGN.md section 5): pydantic models, load, save, validation.

A profile holds everything needed to run an export except secrets: those live in the environment or the
token store. Loading then saving a profile gives an equal profile.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictInt, ValidationError, field_validator

from outreach_tui.outreach import catalog
from outreach_tui.outreach.settings import OutreachSettings
from outreach_tui.outreach.tokens import TokenPlace, key_for

SourceFormat = Literal["jsonl", "json", "csv"]
IDENTITY_TARGET: Literal["OutreachId"] = "OutreachId"
STATUSES = ("realized", "existing", "exited")


class ProfileError(Exception):
    """A profile that cannot be used. Each problem names the key path and, where possible, a fix."""

    def __init__(self, path: Path | None, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        where = str(path) if path else "profile"
        super().__init__(f"{where}: " + "; ".join(problems) if len(problems) == 1 else
                         f"{where}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True, str_strip_whitespace=True)


class Destination(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""


class Source(_Strict):
    path: str = Field(min_length=1)
    format: SourceFormat | None = None  # None: detected from the file


class Identity(_Strict):
    namespace: str = Field(default="Oid", min_length=1)
    target: Literal["OutreachId"] = IDENTITY_TARGET


class MappingRow(_Strict):
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)

    @field_validator("source")
    @classmethod
    def _dotted_path(cls, value: str) -> str:
        if any(part == "" for part in value.split(".")):
            raise ValueError(f"{value!r} is not a dotted XDM path (e.g. person.name.firstName)")
        return value


class Segment(_Strict):
    id: str = Field(min_length=1)
    name: str = ""
    mapping_id: StrictInt = Field(ge=1, le=150)

    @property
    def label(self) -> str:
        return f"segment '{self.name or self.id}' (mapping ID {self.mapping_id})"

    @property
    def target(self) -> str:
        return f"custom{self.mapping_id}"


class StatusValues(_Strict):
    # Written to customN, which holds at most 32,000 characters.
    realized: str = Field(default="realized", max_length=32000)
    existing: str = Field(default="existing", max_length=32000)
    exited: str = Field(default="exited", max_length=32000)


class ExportSettings(_Strict):
    budget_per_hour: StrictInt = Field(default=10000, ge=1, le=1_000_000)
    concurrency: StrictInt = Field(default=4, ge=1, le=64)
    strategy: Literal["patch"] = "patch"
    state_path: str | None = None  # default: the user data directory
    follow_window: float = Field(default=2.0, gt=0, le=3600)


class Alerts(_Strict):
    on_failure: bool = True
    on_throttle: bool = True
    on_complete: bool = False
    webhook: str | None = None

    @field_validator("webhook")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value or None


class Profile(_Strict):
    destination: Destination
    outreach: OutreachSettings = Field(default_factory=OutreachSettings)
    source: Source
    identity: Identity = Field(default_factory=Identity)
    mapping: list[MappingRow] = Field(default_factory=list)
    segments: list[Segment] = Field(default_factory=list)
    status_values: StatusValues = Field(default_factory=StatusValues)
    export: ExportSettings = Field(default_factory=ExportSettings)
    alerts: Alerts = Field(default_factory=Alerts)

    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        """Where the profile was loaded from or last saved to."""
        return self._path

    def source_path(self) -> Path:
        """The input file; a relative path is relative to the profile file."""
        source = Path(os.path.expanduser(self.source.path))
        if not source.is_absolute() and self._path is not None:
            source = self._path.parent / source
        return source

    def token_place(self) -> TokenPlace:
        """Where this profile's tokens are stored, and the ``login`` command that fills them (for messages)."""
        draft = key_for(None, self.destination.name) if self._path is not None else None
        hint = f"outreach-tui login {self._path if self._path is not None else 'PROFILE.toml'}"
        return TokenPlace(key_for(self._path, self.destination.name), hint, draft)

    def field_origin(self, target: str) -> str | None:
        """Which mapping row or segment writes ``target``: for diagnostics and hints."""
        for index, row in enumerate(self.mapping, start=1):
            if row.target == target:
                return f"mapping row {index} ({row.source} → {row.target})"
        for segment in self.segments:
            if segment.target == target:
                return segment.label
        return None

    def problems(self) -> list[str]:
        """Cross-field checks of DESIGN.md section 3 "Targets are validated"; empty when fine."""
        return _target_problems(self)

    def to_toml(self) -> str:
        """TOML in the order of DESIGN.md section 5, arrays of tables as ``[[mapping]]`` blocks."""
        data = self.model_dump(mode="json", exclude_none=True)
        blocks: list[str] = []
        for key, value in data.items():
            if isinstance(value, list):
                blocks.extend(f"[[{key}]]\n" + tomli_w.dumps(item) for item in value)
            else:
                blocks.append(tomli_w.dumps({key: value}))
        return "\n".join(block.strip("\n") + "\n" for block in blocks)


def _target_problems(profile: Profile) -> list[str]:
    problems: list[str] = []
    seen_targets: dict[str, str] = {}
    for index, row in enumerate(profile.mapping, start=1):
        key = f"mapping[{index}].target"
        problem = target_problem(row.target, row.source)
        if problem:
            problems.append(f"{key}: {problem}")
            continue
        if row.target in seen_targets:
            problems.append(f"{key}: '{row.target}' is already written by {seen_targets[row.target]}; "
                            "each target takes one row (remove one of them)")
        seen_targets[row.target] = f"mapping row {index}"
    segment_ids: set[str] = set()
    for index, segment in enumerate(profile.segments, start=1):
        key = f"segments[{index}]"
        if segment.id in segment_ids:
            problems.append(f"{key}.id: segment '{segment.id}' is listed twice; keep one entry")
        segment_ids.add(segment.id)
        if segment.target in seen_targets:
            problems.append(f"{key}.mapping_id: {segment.mapping_id} collides with {seen_targets[segment.target]}, "
                            f"which already writes {segment.target}; pick a free mapping ID")
        seen_targets[segment.target] = segment.label
    return problems


def target_problem(target: str, source: str = "") -> str | None:
    """Why ``target`` cannot be written by a mapping row, or None. Shared by the profile and the wizard."""
    if target == IDENTITY_TARGET or source.startswith("identityMap"):
        return (f"{IDENTITY_TARGET} is the identity: set it in [identity] (namespace = \"...\"), "
                "not as a mapping row; a profile has exactly one identity row")
    number = catalog.custom_number(target)
    if number is not None and not 1 <= number <= 150:
        return f"'{target}' does not exist: Outreach custom fields are custom1 … custom150"
    attribute = catalog.get(target)
    if attribute is None:
        suggestion = catalog.suggest(target)
        hint = f" — did you mean '{suggestion}'?" if suggestion else ""
        return f"unknown Outreach prospect attribute '{target}'{hint}"
    if attribute.read_only:
        return f"'{target}' is read-only in Outreach and cannot be written; map a writable attribute instead"
    return None


# ----- loading and saving -------------------------------------------------------------------------------

def load_profile(path: Path | str) -> Profile:
    """Read, validate and return a profile, or raise ProfileError naming every problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProfileError(path, ["file not found; check the path, or create one with the wizard "
                                  "(outreach-tui) or from the demo (outreach-tui demo)"]) from None
    except OSError as exc:
        raise ProfileError(path, [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ProfileError(path, ["not UTF-8 text; save the profile as UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(path, [f"not valid TOML: {exc}"]) from None
    profile = profile_from_dict(data, path)
    profile._path = path.resolve()
    return profile


def profile_from_dict(data: dict[str, Any], path: Path | None = None) -> Profile:
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        raise ProfileError(path, [_describe(error) for error in exc.errors()]) from None
    problems = profile.problems()
    if problems:
        raise ProfileError(path, problems)
    return profile


def save_profile(profile: Profile, path: Path | str | None = None) -> Path:
    """Write the profile atomically (a crash never leaves half a file) and remember where it lives."""
    target = Path(path) if path is not None else profile.path
    if target is None:
        raise ProfileError(None, ["no file name given; choose where to save the profile"])
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(profile.to_toml(), encoding="utf-8")
    os.replace(temporary, target)
    profile._path = target
    return target


# ----- error messages ------------------------------------------------------------------------------------

def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed at the table that holds ``loc``'s last part."""
    model: Any = Profile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (annotation,))[0]
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else annotation
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields)


def _describe(error: Any) -> str:
    loc = tuple(error["loc"])
    where = _location(loc)
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), _known_keys(loc), n=1)
        hint = f" — did you mean '{close[0]}'?" if close else ""
        return f"{where}: unknown key{hint}"
    if kind == "missing":
        return f"{where}: required key is missing"
    if loc and loc[-1] == "mapping_id":
        if isinstance(value, str):
            return f"{where}: must be a whole number 1..150, not the text {value!r} (write it without quotes)"
        return f"{where}: must be a whole number 1..150 (got {value!r}); custom fields are custom1 … custom150"
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message} (got {value!r})" if kind.endswith("_type") else f"{where}: {message}"
