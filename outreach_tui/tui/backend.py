"""The wizard's one door to the engine and core layers: profile checks, sign-in, discovery, /types, the
runner, alerts and the sandbox. Every call the wizard makes below the faces goes through this module, so a
change in those layers is adapted here only. Nothing here touches widgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from outreach_tui.export import events
from outreach_tui.export.alerts import AlertSender
from outreach_tui.export.cleanup import PendingCleanup
from outreach_tui.export.cleanup import pending_cleanup as find_pending_cleanup
from outreach_tui.export.custom_types import Types, check_custom_fields
from outreach_tui.export.preflight import read_custom_field_types
from outreach_tui.export.runner import ExportRunner, RunOptions
from outreach_tui.export.state import StateError as StateError  # the wizard shows it as an error modal
from outreach_tui.export.status import gather_status
from outreach_tui.outreach import auth
from outreach_tui.outreach.catalog import custom_number
from outreach_tui.outreach.scopes import missing_scopes, scope_covers
from outreach_tui.outreach.settings import OutreachSettings
from outreach_tui.outreach.tokens import StoreKey, default_store
from outreach_tui.profile import Profile, ProfileError, Source, profile_from_dict
from outreach_tui.profile_base import Problem as ModelProblem
from outreach_tui.profile_checks import IMPORT_SCOPES
from outreach_tui.sandbox import Sandbox, SandboxConfig, start_sandbox
from outreach_tui.sandbox.config import DEFAULT_CLIENT_ID
from outreach_tui.xdm.discover import Discovery, discover
from outreach_tui.xdm.records import Format

Emit = Callable[[events.Event], None]
ProfileData = dict[str, Any]  # a profile as TOML holds it: checked by the profile model, never by widgets


# ----- checking a profile ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One problem of a profile: the key path it concerns (``destination.name``, ``mapping[3].target``;
    empty for the file as a whole) and what to do about it. A warning does not block saving or exporting."""

    key: str
    message: str
    warning: bool = False
    outreach: bool = False  # found against Outreach's custom field types, not in the profile alone

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


@dataclass(frozen=True)
class Checked:
    profile: Profile | None  # None while any problem remains in the model itself
    problems: list[Problem]
    warnings: list[Problem] = field(default_factory=list)  # allowed, worth a word (Profile.warnings())


_KEY_PATH = re.compile(r"^[A-Za-z_][\w-]*(\[\d+\])?(\.[\w-]+(\[\d+\])?)*$")
_READABLE = {"String should have at least 1 character": "required",
             "required key is missing": "required"}


def _problem(text: str) -> Problem:
    key, separator, message = text.partition(": ")
    if not separator or not _KEY_PATH.match(key):
        return Problem("", text)
    return Problem(key, _READABLE.get(message, message))


def _warning(problem: ModelProblem) -> Problem:
    return Problem(problem.key, f"{problem.message} — {problem.hint}" if problem.hint else problem.message,
                   warning=True)


def _warnings_of(data: ProfileData) -> list[Problem]:
    """The warnings of a draft whose model validates even though a check across keys (a governance
    violation, a target written twice) refuses it: the user sees both while fixing the draft."""
    try:
        model = Profile.model_validate(copy.deepcopy(data))
    except ValidationError:
        return []
    return [_warning(problem) for problem in model.warnings()]


def check(data: ProfileData, path: Path | None) -> Checked:
    """Validate ``data`` with the profile model; every problem at once, each with its key path. A source
    file that does not exist is a problem too (the export could not start)."""
    try:
        profile = profile_from_dict(data, path)
    except ProfileError as error:
        return Checked(None, [_problem(text) for text in error.problems] + _source_problems(data, path),
                       _warnings_of(data))
    profile._path = path
    return Checked(profile, _source_problems(data, path), [_warning(problem) for problem in profile.warnings()])


def _source_problems(data: ProfileData, path: Path | None) -> list[Problem]:
    source = data.get("source")
    name = source.get("path") if isinstance(source, dict) else None
    if not isinstance(name, str) or not name.strip():
        return []
    file = Path(name.strip()).expanduser()
    if not file.is_absolute() and path is not None:
        file = path.parent / file
    return [] if file.is_file() else [Problem("source.path", f"file not found: {file}")]


def read_profile_data(path: Path) -> tuple[ProfileData, str | None]:
    """The profile's TOML as data, however broken its values are (the wizard shows them and their problems);
    an error text instead when the file is not readable TOML at all."""
    try:
        return tomllib.loads(path.read_bytes().decode("utf-8-sig")), None
    except OSError as error:
        return {}, f"{path}: cannot read the file: {error.strerror}"
    except UnicodeDecodeError:
        return {}, f"{path}: not UTF-8 text; save the profile as UTF-8"
    except tomllib.TOMLDecodeError as error:
        return {}, f"{path}: not valid TOML: {error}"


# ----- input file -----------------------------------------------------------------------------------------

def source_file(data: ProfileData, path: Path | None) -> tuple[Path, Format | None] | None:
    """The draft's input file and format when its ``[source]`` table is valid and the file exists, even while
    other tables have problems (the pick lists and segment counts help fixing them)."""
    section = data.get("source")
    try:
        source = Source.model_validate(section if isinstance(section, dict) else {})
    except ValidationError:
        return None
    file = Path(source.path).expanduser()
    if not file.is_absolute() and path is not None:
        file = path.parent / file
    return (file, source.format) if file.is_file() else None


def discover_source(path: Path, fmt: Format | None) -> Discovery:
    """Sample the input file (blocking: call from a thread worker)."""
    return discover(path, fmt=fmt)


# ----- signing in -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SignedInUser:
    """What the wizard can say about a sign-in: Outreach's token answer names no user, and an environment
    token (``OUTREACH_ACCESS_TOKEN``) does not say its scopes either, so both may be unknown (None)."""

    user: str | None
    scopes: list[str] | None
    missing_scopes: list[str]


async def sign_in(profile: Profile, open_browser: Callable[[str], object],
                  on_url: Callable[[str], None]) -> SignedInUser:
    result = await auth.sign_in(profile.outreach, profile.token_place(), open_browser=open_browser,
                                on_url=on_url, timeout=300)
    return SignedInUser(result.user, list(result.scopes), list(result.missing_scopes))


async def whoami(profile: Profile) -> SignedInUser:
    info = await auth.whoami(profile.outreach, profile.token_place())
    scopes = info.get("scopes")
    granted = [str(scope) for scope in scopes] if scopes is not None else None
    return SignedInUser(info.get("user"), granted,
                        missing_scopes(profile.outreach.scopes, granted) if granted is not None else [])


def redirect_uri_advice(profile: Profile) -> str:
    """Which redirect URI must be registered on the Outreach app (shown on the Connect step)."""
    return auth.redirect_uri_advice(profile.outreach)


def redirect_uri_advice_for(data: ProfileData) -> str | None:
    """The same advice from a draft's ``[outreach]`` table alone (the rest of the draft may still be
    incomplete before the sign-in); None while that table itself has a problem."""
    section = data.get("outreach")
    try:
        settings = OutreachSettings.model_validate(section if isinstance(section, dict) else {})
    except ValidationError:
        return None
    return auth.redirect_uri_advice(settings)


@dataclass(frozen=True)
class ConnectionStatus:
    """What ``outreach-tui status --offline`` knows about a profile, for the Connect step: a few facts for
    its summary line and the command's full text (``details``) for the Details dialog."""

    signed_in: bool
    scopes: list[str] | None  # None: not recorded for this token
    missing_scopes: list[str]
    expires_in: float | None  # seconds (negative: expired); None: unknown
    refreshable: bool
    last_run: str | None  # "run #3, exit 0 (all activated or unchanged)"; None: no run recorded
    dead_letters: int
    cleanup_fields: dict[str, int]  # field -> prospects holding a value this destination no longer maps
    state_problem: str | None
    details: list[str]


def connection_status(profile: Profile) -> ConnectionStatus:
    """``gather_status(offline=True)``: the token store and the export state, never the network. Blocking
    (it reads the SQLite state): call it from a thread worker."""
    from outreach_tui.commands.status import EXIT_MEANINGS, render  # the CLI's own wording for the details

    status = asyncio.run(gather_status(profile, offline=True))
    sign_in, state = status.sign_in, status.state
    run = state.last_run
    last_run = None
    if run is not None:
        kind = "dry run" if run.dry_run else "run"
        last_run = (f"{kind} #{run.id} did not finish" if run.exit_code is None else
                    f"{kind} #{run.id}, exit {run.exit_code} ({EXIT_MEANINGS.get(run.exit_code, 'unknown')})")
    return ConnectionStatus(
        signed_in=sign_in.signed_in, scopes=sign_in.scopes, missing_scopes=sign_in.missing_scopes or [],
        expires_in=None if sign_in.expires_at is None else sign_in.expires_at - status.now,
        refreshable=sign_in.refreshable, last_run=last_run, dead_letters=state.dead_letters.count,
        cleanup_fields=dict(state.cleanup.prospects_per_field), state_problem=state.problem,
        details=render(status))


def asks_import_scopes(profile: Profile) -> bool:
    """True when ``[outreach] scopes`` covers the bulk strategy's import scopes."""
    return all(scope_covers(profile.outreach.scopes, scope) for scope in IMPORT_SCOPES)


def token_key(profile: Profile) -> StoreKey:
    return profile.token_place().key


def carry_tokens(old_key: StoreKey | None, profile: Profile) -> StoreKey:
    """Tokens are stored per profile (its path, or its destination name before the first save). The wizard
    signs in before either is final, so the sign-in follows the draft: moved from an unsaved draft's key,
    copied from a saved profile's. Returns the profile's key."""
    new_key = token_key(profile)
    if old_key is not None:
        default_store().adopt(old_key, new_key)
    return new_key


# ----- Outreach -------------------------------------------------------------------------------------------

async def custom_field_types(profile: Profile) -> Types:
    """``GET /types`` with the profile's sign-in, as the engine reads it before a run: custom field name ->
    its rule (type, label)."""
    return await read_custom_field_types(profile)


def configured_fields(types: Types) -> dict[int, str | None]:
    """The custom fields the Outreach admin configured, by number, with their labels (None: no label)."""
    return {number: rule.get("label") or None for name, rule in types.items()
            if (number := custom_number(name)) is not None}


def custom_field_problems(profile: Profile, types: Types) -> tuple[list[Problem], list[Problem]]:
    """The engine's one rule for typed custom fields (what ``--run`` refuses): (errors, warnings), keyed at the
    profile entry (``segments[2].mapping_id``)."""
    errors, warnings = check_custom_fields(profile, types)
    return ([Problem(p.key, f"{p.message} — {p.hint}" if p.hint else p.message, outreach=True) for p in errors],
            [dataclasses.replace(_warning(p), outreach=True) for p in warnings])


def pending_cleanup(profile: Profile) -> PendingCleanup:
    """What the next run would clear (from the export state alone; nothing is sent). Raises StateError for a
    state file that cannot be read."""
    return find_pending_cleanup(profile)


def make_runner(profile: Profile, emit: Emit, *, dry_run: bool = False, report_path: Path | None = None,
                keep_unmapped: bool = False) -> ExportRunner:
    """The same runner as ``--run``; it finds its tokens itself (token store or environment).
    ``keep_unmapped``: the user chose to keep the values of fields the profile no longer maps; they stay in
    Outreach and the state forgets them, so no later export asks again."""
    options = RunOptions(dry_run=dry_run, report_path=report_path, keep_unmapped=keep_unmapped)
    return ExportRunner(profile, options, emit=emit)


async def dry_run(profile: Profile) -> dict[str, Any]:
    """The dry-run report (what would be sent), without sending anything."""
    finished = await make_runner(profile, lambda event: None, dry_run=True).run()
    return finished.report


async def send_test_alert(profile: Profile) -> bool:
    """One test message to the profile's alert webhook; True when the webhook accepted it."""
    return await AlertSender(profile).send_test()


# ----- the sandbox ----------------------------------------------------------------------------------------

@contextlib.contextmanager
def sandbox() -> Iterator[Sandbox]:
    with start_sandbox(SandboxConfig(port=0, seed="demo")) as running:
        yield running


def sandbox_settings(running: Sandbox) -> dict[str, str]:
    """The ``[outreach]`` values that point a profile at a running sandbox (its client secret is public)."""
    return {"api_base": running.api_base, "authorize_url": running.authorize_url,
            "token_url": running.token_url, "client_id": DEFAULT_CLIENT_ID}
