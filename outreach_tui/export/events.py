"""What the runner reports while it works. Both faces consume these: the CLI prints them (text or JSON
lines), the TUI turns them into messages. Events carry no secrets."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export.tally import Tally

Counts = Tally  # what events carry: ``Tally.snapshot()``, the counts at one moment


@dataclass(frozen=True, slots=True)
class Event:
    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["event"] = EVENT_NAMES[type(self)]
        return data


@dataclass(frozen=True, slots=True)
class RunStarted(Event):
    destination: str
    input: str
    dry_run: bool
    full_resync: bool
    follow: bool


@dataclass(frozen=True, slots=True)
class Progress(Event):
    """Sent often (coalesce in the UI). total is None until planning has finished or while following."""

    counts: Counts
    total: int | None
    phase: str  # "planning" | "sending" | "following"
    requests_per_second: float = 0.0
    budget_limit: int | None = None  # from X-RateLimit-Limit, else the profile's budget
    budget_remaining: int | None = None
    budget_reset_at: float | None = None  # epoch seconds
    segments: dict[str, dict[str, int]] = field(default_factory=dict)  # id -> {realized, existing, exited}


@dataclass(frozen=True, slots=True)
class Throttled(Event):
    """Nothing is sent until ``until`` (epoch seconds): a 429, or the hourly budget is spent."""

    until: float
    reason: str


@dataclass(frozen=True, slots=True)
class Resumed(Event):
    pass


@dataclass(frozen=True, slots=True)
class Retrying(Event):
    prospect_id: int
    attempt: int
    delay: float
    reason: str


@dataclass(frozen=True, slots=True)
class Excluded(Event):
    line: int
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ProspectFailed(Event):
    diagnostic: Diagnostic


@dataclass(frozen=True, slots=True)
class Paused(Event):
    pass


@dataclass(frozen=True, slots=True)
class CleanupAnnounced(Event):
    """Before anything is sent: fields the profile no longer maps, cleared (or left) on the prospects this
    destination wrote them on (``export/cleanup.py``). ``text``: the line a face shows."""

    field: str
    prospects: int
    reason: str
    text: str


@dataclass(frozen=True, slots=True)
class StrategyChosen(Event):
    """How changes are sent from now on: "bulk" (imports) or "patch", and why (a fallback says so here)."""

    strategy: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportsProgress(Event):
    """The bulk strategy's imports: started and not yet settled, their records, and those settled so far."""

    in_flight: int
    records_in_flight: int
    finished: int  # imports settled (bisection's smaller imports included)
    records_finished: int
    polls: int


@dataclass(frozen=True, slots=True)
class Finished(Event):
    counts: Counts
    exit_code: int
    report_path: str | None
    report: dict[str, Any]
    message: str  # one line for humans: "1,204 activated, 3 failed ... report: x.json"


EVENT_NAMES: dict[type[Event], str] = {
    RunStarted: "run_started",
    Progress: "progress",
    Throttled: "throttled",
    Resumed: "resumed",
    Retrying: "retrying",
    Excluded: "excluded",
    ProspectFailed: "prospect_failed",
    Paused: "paused",
    StrategyChosen: "strategy_chosen",
    ImportsProgress: "imports_progress",
    Finished: "finished",
    CleanupAnnounced: "cleanup",
}
