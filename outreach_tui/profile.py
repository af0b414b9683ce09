"""The TOML profile: pydantic models, load, save, validation (``outreach_tui/demo/demo.toml`` is an example).

A profile holds everything needed to run an export except secrets: those live in the environment or the
token store. Loading then saving a profile gives an equal profile. Problems come back structured
(``Problem``: key path, message, hint), every section's at once; governance violations are problems too
(``Profile.violations()`` gives them with their parts); ``Profile.warnings()`` lists what is allowed but
worth a word.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar

import tomli_w
from pydantic import BaseModel, Field, PrivateAttr, StrictInt, ValidationError, field_validator, model_validator

from outreach_tui.governance import Governance, Violation, find_violations, governance_warnings
from outreach_tui.outreach.settings import OutreachSettings
from outreach_tui.outreach.tokens import TokenPlace, key_for
from outreach_tui.profile_base import Problem, ProfileError, StrictModel, capped, secret_problems
from outreach_tui.profile_checks import (
    IDENTITY_TARGET,
    IMPORT_SCOPES,
    PROSPECT_SCOPES,
    describe,
    is_list_target,
    replace_warnings,
    strategy_problems,
    target_problem,
    target_problems,
)

__all__ = ["IDENTITY_TARGET", "STATUSES", "Alerts", "Destination", "ExportSettings", "Governance", "Identity",
           "MappingRow", "OutreachSettings", "Problem", "Profile", "ProfileError", "Segment", "Source",
           "StatusValues", "Violation", "capped", "is_list_target", "load_draft", "load_profile",
           "profile_from_dict", "save_profile", "target_problem"]

SourceFormat = Literal["jsonl", "json", "csv", "parquet"]
STATUSES = ("realized", "existing", "exited")
_Strict = StrictModel


def _dotted_path(value: str | None) -> str | None:
    if value is not None and any(part == "" for part in value.split(".")):
        raise ValueError(f"{value!r} is not a dotted XDM path (e.g. person.name.firstName)")
    return value


class Destination(_Strict):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""


class Source(_Strict):
    path: str = Field(min_length=1)
    format: SourceFormat | None = None  # None: detected from the file


class Identity(_Strict):
    """Which record identity is the prospect id. ``match = "email"``: a record without a valid id in
    ``namespace`` is matched by its email, read from ``identityMap.<email_namespace>`` or, when
    ``email_path`` is set instead, from that dotted path (one or the other, never both)."""

    namespace: str = Field(default="Oid", min_length=1)
    target: Literal["OutreachId"] = IDENTITY_TARGET
    match: Literal["outreach_id", "email"] = "outreach_id"
    email_namespace: str | None = Field(default=None, min_length=1)  # None: "Email" unless email_path is set
    email_path: str | None = Field(default=None, min_length=1)

    @field_validator("email_path")
    @classmethod
    def _email_path_is_dotted(cls, value: str | None) -> str | None:
        return _dotted_path(value)

    @model_validator(mode="after")
    def _one_email_source(self) -> Identity:
        if self.email_namespace is not None and self.email_path is not None:
            raise ValueError("set email_namespace or email_path, not both: email_path reads the email from a "
                             "field of the record, email_namespace from identityMap")
        return self

    @property
    def email_identity_namespace(self) -> str | None:
        """The identityMap namespace that holds emails, or None when ``email_path`` is used instead."""
        return None if self.email_path is not None else self.email_namespace or "Email"


class MappingRow(_Strict):
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    # Lists only (emails, tags, *Phones). None means merge: keep what the prospect has, add ours, and remove
    # only values this destination wrote before. "replace" sends our list as the whole list.
    mode: Literal["merge", "replace"] | None = None

    @field_validator("source")
    @classmethod
    def _source_is_dotted(cls, value: str) -> str:
        return _dotted_path(value) or value

    @property
    def merges(self) -> bool:
        """True when the target is a list and its current values are kept (the default)."""
        return is_list_target(self.target) and self.mode != "replace"


class Segment(_Strict):
    id: str = Field(min_length=1)
    name: str = ""
    mapping_id: StrictInt = Field(ge=1, le=150)
    labels: list[str] = Field(default_factory=list)  # data-usage labels, see [governance]

    @property
    def label(self) -> str:
        """The segment as people read it; not to be confused with ``labels`` (data-usage labels)."""
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
    # patch: one PATCH per prospect. bulk: imports/actions/bulkUpsert. auto: bulk from bulk_threshold changed
    # prospects when the token has the import scopes, else patch.
    strategy: Literal["patch", "bulk", "auto"] = "patch"
    bulk_threshold: StrictInt = Field(default=1000, ge=1)
    # Records per import; an import is also capped at 2 MB, which usually binds first (a few thousand records).
    bulk_max_records: StrictInt = Field(default=10_000, ge=1, le=100_000)
    clear_on_unmap: bool = True  # clear fields this destination wrote when their row or segment goes
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
    governance: Governance = Field(default_factory=Governance)

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

    def problems(self) -> list[Problem]:
        """Checks across keys (targets, list modes, strategy and scopes, governance); empty when fine.
        Each item is a ``Problem`` (a str: "key: message — hint") with ``key``, ``message``, ``hint``."""
        return _cross_problems(self._login_hint(), enumerate(self.mapping, start=1),
                               enumerate(self.segments, start=1), self.export, self.outreach, self.governance)

    def violations(self) -> list[Violation]:
        """Mapping rows and segments whose data-usage labels a policy denies for this destination's marketing
        actions. Also in ``problems()``: a profile with a violation does not load."""
        return find_violations(self.governance, enumerate(self.mapping, start=1), enumerate(self.segments, start=1))

    def warnings(self) -> list[Problem]:
        """Allowed, but worth telling the user before a run (``validate`` and the wizard show them)."""
        notes = replace_warnings(enumerate(self.mapping, start=1))
        notes += strategy_problems(self.export.strategy, self.outreach.scopes, self._login_hint())[1]
        notes += governance_warnings(self.governance)
        identity = self.identity
        for key in ("email_namespace", "email_path"):
            if identity.match != "email" and getattr(identity, key) is not None:
                notes.append(Problem(f"identity.{key}", "is used only when match = \"email\"",
                                     "set match = \"email\" to match records without an id by their email, "
                                     f"or remove {key}"))
        return notes

    def required_scopes(self) -> tuple[str, ...]:
        """Scopes without which a run cannot start: prospects.read and prospects.write, plus imports.read and
        imports.write for the bulk strategy."""
        return PROSPECT_SCOPES + (IMPORT_SCOPES if self.export.strategy == "bulk" else ())

    def optional_scopes(self) -> tuple[str, ...]:
        """Scopes a run uses when the token has them: the import scopes for the auto strategy."""
        return IMPORT_SCOPES if self.export.strategy == "auto" else ()

    def _login_hint(self) -> str:
        return _login_hint(self._path)

    def to_toml(self) -> str:
        """TOML in the documented order, arrays of tables as ``[[mapping]]`` blocks. The keys added for list
        modes, bulk, email matching and governance are written only when set, so a profile that does not
        use them saves exactly as before."""
        data = self.model_dump(mode="json", exclude_none=True)
        for table, keys in _QUIET_DEFAULTS.items():
            model = getattr(self, table)
            for key in keys:
                if getattr(model, key) == type(model).model_fields[key].default:
                    del data[table][key]
        for segment in data["segments"]:
            if not segment["labels"]:
                del segment["labels"]
        if self.governance.is_empty():
            del data["governance"]
        blocks: list[str] = []
        for key, value in data.items():
            if isinstance(value, list):
                blocks.extend(f"[[{key}]]\n" + tomli_w.dumps(item) for item in value)
            else:
                blocks.append(tomli_w.dumps({key: value}))
        return "\n".join(block.strip("\n") + "\n" for block in blocks)


_QUIET_DEFAULTS = {"identity": ("match",), "export": ("bulk_threshold", "bulk_max_records", "clear_on_unmap")}


def _login_hint(path: Path | None) -> str:
    return f"outreach-tui login {path}" if path else "outreach-tui login PROFILE.toml"


def _cross_problems(login: str, numbered_rows: Iterable[tuple[int, MappingRow]],
                    numbered_segments: Iterable[tuple[int, Segment]], export: ExportSettings | None,
                    outreach: OutreachSettings | None, governance: Governance | None) -> list[Problem]:
    """The checks across keys; a section given as None failed to validate and is skipped."""
    rows, segments = list(numbered_rows), list(numbered_segments)
    problems = target_problems(rows, segments)
    if export is not None and outreach is not None:
        problems += strategy_problems(export.strategy, outreach.scopes, login)[0]
    if governance is not None:
        problems += [violation.problem() for violation in find_violations(governance, rows, segments)]
    return problems


# ----- loading and saving -------------------------------------------------------------------------------

def load_profile(path: Path | str) -> Profile:
    """Read, validate and return a profile, or raise ProfileError naming every problem."""
    profile, problems = load_draft(path)
    if problems:
        raise ProfileError(profile.path, problems)
    return profile


def load_draft(path: Path | str) -> tuple[Profile, list[Problem]]:
    """A profile and its cross-key problems (targets, violations, ...), for a face that shows them at their
    fields (the wizard opening a broken profile). Raises ProfileError only when no profile can be built."""
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
    except RecursionError:
        raise ProfileError(path, ["tables or arrays nested too deeply to be a profile"]) from None
    profile = _build(data, path)
    profile._path = path.resolve()
    return profile, profile.problems()


def profile_from_dict(data: dict[str, Any], path: Path | None = None) -> Profile:
    """Validate parsed TOML; raise ProfileError naming every problem in every section."""
    profile = _build(data, path)
    problems = profile.problems()
    if problems:
        raise ProfileError(path, problems)
    return profile


def _build(data: dict[str, Any], path: Path | None) -> Profile:
    data = copy.deepcopy(data)  # secret_problems removes keys, and the caller's dict stays as it was
    problems = secret_problems(data, path)
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems += [describe(Profile, error) for error in exc.errors()]
        problems += _problems_of_valid_parts(data, path)
        raise ProfileError(path, problems) from None
    if problems:
        raise ProfileError(path, problems + profile.problems())
    return profile


_Model = TypeVar("_Model", bound=BaseModel)


def _problems_of_valid_parts(data: dict[str, Any], path: Path | None) -> list[Problem]:
    """The cross-key checks on the sections (and list items) that validate on their own: so an unknown key
    in [export] does not hide a wrong mapping target."""
    def valid(model: type[_Model], value: Any) -> _Model | None:
        try:
            return model.model_validate(value if value is not None else {})
        except ValidationError:
            return None

    def valid_items(model: type[_Model], value: Any) -> list[tuple[int, _Model]]:
        items = value if isinstance(value, list) else []
        return [(index, item) for index, item in ((i, valid(model, v)) for i, v in enumerate(items, start=1))
                if item is not None]

    return _cross_problems(_login_hint(path), valid_items(MappingRow, data.get("mapping")),
                           valid_items(Segment, data.get("segments")), valid(ExportSettings, data.get("export")),
                           valid(OutreachSettings, data.get("outreach")), valid(Governance, data.get("governance")))


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
