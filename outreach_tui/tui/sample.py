"""A fixed, mid-run export (events as the runner emits them) for snapshot tests and README screenshots, so
the export panel can be shown without clocks, ports or timing in the picture."""

from __future__ import annotations

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export import events
from outreach_tui.tui.messages import ExportEvent
from outreach_tui.tui.widgets.export_panel import ExportPanel

SAMPLE_NOW = 1_795_000_000.0


def sample_events(now: float = SAMPLE_NOW) -> list[events.Event]:
    counts = events.Counts(read=277, planned=264, excluded=11, malformed=2, targeted=262, activated=148,
                           unchanged=37, failed=3, pending=74, sent=154, retried=4, rate_limited=1)
    segments = {"seg-churn": {"realized": 18, "existing": 31, "exited": 9},
                "seg-emea": {"realized": 41, "existing": 22, "exited": 6},
                "seg-trial": {"realized": 27, "existing": 12, "exited": 4},
                "seg-webinar": {"realized": 15, "existing": 8, "exited": 3}}
    failures = [
        Diagnostic(1042, 422, "validationError", "Email has already been taken", "emails",
                   "mapping row 3 (workEmail.address → emails)", "another prospect owns this email in Outreach"),
        Diagnostic(1077, None, "conversionError", "307 characters; firstName allows at most 255", "firstName",
                   "mapping row 1 (person.name.firstName → firstName)", "shorten the value at the source"),
        Diagnostic(1999, 404, "resourceNotFound", "Could not find 'prospect' with ID '1999'.", None, None,
                   "the identity points at a prospect that does not exist in Outreach"),
    ]
    return [
        events.RunStarted(destination="Outreach demo (sandbox)", input="profiles.jsonl", dry_run=False,
                          full_resync=False, follow=False),
        *(events.ProspectFailed(diagnostic) for diagnostic in failures),
        events.Progress(counts=counts, total=262, phase="sending", requests_per_second=2.8, budget_limit=10_000,
                        budget_remaining=9_846, budget_reset_at=now + 2_712, segments=segments),
        events.Throttled(until=now + 42, reason="HTTP 429 rate limited by Outreach"),
    ]


def show_sample(panel: ExportPanel, now: float = SAMPLE_NOW) -> None:
    """Put the panel in the sample mid-run state (handlers run as for real events) and paint it."""
    panel.reset()
    for event in sample_events(now):
        panel.on_export_event(ExportEvent(event))
    panel.repaint()
