"""Fixed exports (events as the runner emits them, at fixed times) for snapshot tests and README screenshots,
so the export panel can be shown mid-run, throttled and finished without clocks, ports or timing; also a
fixed ``status`` for the Connect step and a fixed dry-run report for the Review step."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export import events
from outreach_tui.tui.backend import ConnectionStatus
from outreach_tui.tui.export_view import ExportView
from outreach_tui.tui.widgets.export_panel import ExportPanel

SAMPLE_NOW = 1_795_000_000.0
SEGMENTS = {"seg-churn": {"realized": 18, "existing": 31, "exited": 9},
            "seg-emea": {"realized": 41, "existing": 22, "exited": 6},
            "seg-trial": {"realized": 27, "existing": 12, "exited": 4},
            "seg-webinar": {"realized": 15, "existing": 8, "exited": 3}}
COUNTS = events.Counts(read=277, planned=264, excluded=11, malformed=2, targeted=262, activated=148,
                       unchanged=37, failed=6, pending=71, sent=191, retried=4, rate_limited=1)


def failures() -> list[Diagnostic]:
    taken = [Diagnostic(1042 + n, 422, "validationError", "Email has already been taken", "emails",
                        "mapping row 3 (workEmail.address → emails)", "another prospect owns this email in Outreach")
             for n in range(4)]
    return [*taken,
            Diagnostic(1077, None, "conversionError", "307 characters; firstName allows at most 255", "firstName",
                       "mapping row 1 (person.name.firstName → firstName)", "shorten the value at the source"),
            Diagnostic(1999, 404, "resourceNotFound", "Could not find 'prospect' with ID '1999'.", None, None,
                       "the identity points at a prospect that does not exist in Outreach")]


def _progress(sent: int) -> events.Progress:
    activated = min(219, sent * COUNTS.activated // COUNTS.sent)
    counts = replace(COUNTS, sent=sent, activated=activated)
    return events.Progress(counts=counts, total=262, phase="sending", budget_limit=10_000,
                           budget_remaining=10_000 - sent, budget_reset_at=SAMPLE_NOW + 2_712, segments=SEGMENTS)


def _pace(second: int) -> float:
    """Requests per second in the sample: steady, with a slow patch (Outreach answering slowly)."""
    return 0.6 if 55 <= second < 70 else 2.3 if second % 7 == 0 else 2.0


def _sent_per_second(last: int) -> list[int]:
    """Requests sent so far, second by second, until ``last``."""
    sent, totals = 0.0, list[int]()
    second = 0
    while not totals or totals[-1] < last:
        second += 1
        sent += _pace(second)
        totals.append(min(last, int(sent)))
    return totals


def sample_view(state: str = "running") -> ExportView:
    """``running`` (mid-run), ``throttled`` (a 429 wait) or ``finished`` (with failures and a report); the
    last event arrives at SAMPLE_NOW, the panel's clock in snapshots."""
    totals = _sent_per_second(262 if state == "finished" else COUNTS.sent)
    started = SAMPLE_NOW - len(totals)
    view = ExportView.started(started)
    view.apply(events.RunStarted(destination="Outreach demo (sandbox)", input="profiles.jsonl", dry_run=False,
                                 full_resync=False, follow=False), started)
    for diagnostic in failures():
        view.apply(events.ProspectFailed(diagnostic), started + 10)
    for second, sent in enumerate(totals, start=1):
        view.apply(_progress(sent), started + second)
    if state == "throttled":
        view.apply(events.Throttled(until=SAMPLE_NOW + 42, reason="HTTP 429 from Outreach: rate limit exceeded"),
                   SAMPLE_NOW)
    elif state == "finished":
        counts = replace(COUNTS, activated=219, pending=0, sent=262)
        view.finish(events.Finished(counts=counts, exit_code=1, report_path="$DATA/reports/outreach-demo.json",
                                    report={}, message="219 activated, 37 unchanged, 6 failed, 11 excluded, "
                                                       "2 malformed, 0 pending"), SAMPLE_NOW)
    return view


def show_sample(panel: ExportPanel, state: str = "running") -> None:
    """Put the panel in a sample state and paint it."""
    panel.show_view(sample_view(state))


# ----- the Connect step's status and the Review step's dry run, for snapshots --------------------------------

def sample_status() -> ConnectionStatus:
    """A signed-in profile after a run with failures and a segment removed since (fixed, no clock)."""
    details = ["Profile:         <dir>/demo.toml (destination \"Outreach demo (sandbox)\", "
               "http://127.0.0.1:8765/api/v2)",
               "Signed in:       yes, as an Outreach user (the token does not say which)",
               "Scopes:          prospects.read prospects.write: cover what this profile needs",
               "Token expires:   in 1 h 30 min; a refresh token is stored: the next request renews it",
               "Budget left:     not checked (offline); this profile spends at most 10,000 an hour",
               "Last run:        run #12, exit 1 (some prospects failed)",
               "Dead letters:    6 waiting (the next run sends them again)",
               "Pending cleanup: 1 field this destination wrote and no longer maps ([export] clear_on_unmap = true)",
               "                 custom9: 42 prospects"]
    return ConnectionStatus(signed_in=True, scopes=["prospects.read", "prospects.write"], missing_scopes=[],
                            expires_in=5_400, refreshable=True, last_run="run #12, exit 1 (some prospects failed)",
                            dead_letters=6, cleanup_fields={"custom9": 42}, state_problem=None, details=details)


def sample_dry_run_report() -> dict[str, Any]:
    """A dry run's report as the Review step receives it (five sample payloads, as the engine keeps)."""
    updates = [{"data": {"type": "prospect", "id": 1001 + n,
                         "attributes": {"firstName": name, "title": "Head of RevOps", "custom4": "realized"}}}
               for n, name in enumerate(("Olga", "Ade", "Mei", "Lars", "Noor"))]
    return {"records": {"read": 277, "planned": 262, "excluded": 13, "malformed": 2},
            "prospects": {"targeted": 250, "activated": 0, "unchanged": 12, "failed": 0, "pending": 0,
                          "planned": 238},
            "planned_updates_sample": updates,
            "strategies": {"patch": {"requests": 238, "budget_hours": 0.024},
                           "bulk": {"imports": 1, "requests": 3, "budget_hours": 0.0}}}
