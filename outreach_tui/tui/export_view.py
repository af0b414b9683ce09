"""What the export panel shows, computed from the runner's events and the time they arrived (no widgets here,
so every figure can be tested with a fixed clock).

Throughput is measured here from ``counts.sent`` and real elapsed time, in one-second buckets over the last
minute: 250 requests sent in half a second read as what they were, never as a rate over a fixed window."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.export import events

WINDOW = 60  # seconds of throughput history (the sparkline)
MIN_ELAPSED = 1.0  # below this a rate is noise: "measuring…"
MAX_CAUSES = 200  # distinct failure causes kept; later ones count under the last cause group
EXAMPLES_PER_CAUSE = 5


@dataclass
class Cause:
    """Failures sharing one cause (same error, field and hint): how many, and the first few prospects."""

    first: Diagnostic
    count: int = 0
    examples: list[int] = field(default_factory=list)

    @property
    def title(self) -> str:
        where = f"{self.first.field}: " if self.first.field else ""
        status = f"HTTP {self.first.status}" if self.first.status else "not sent"
        return f"{where}{self.first.detail} ({self.first.error_id}, {status})"


def cause_key(diagnostic: Diagnostic) -> tuple[object, ...]:
    return diagnostic.status, diagnostic.error_id, diagnostic.field, diagnostic.hint


@dataclass
class ExportView:
    """Only ``apply`` and the control methods change it; the panel paints it."""

    state: str = "idle"  # idle | running | finished | cancelled | failed
    paused: bool = False
    counts: events.Counts = field(default_factory=events.Counts)
    total: int | None = None
    phase: str = ""
    started_at: float | None = None
    ended_at: float | None = None
    budget_limit: int | None = None
    budget_remaining: int | None = None
    budget_reset_at: float | None = None
    throttled_until: float | None = None
    throttle_reason: str = ""
    throttle_count: int = 0
    segments: dict[str, dict[str, int]] = field(default_factory=dict)
    causes: dict[tuple[object, ...], Cause] = field(default_factory=dict)
    failures: int = 0
    message: str = ""
    report_path: str | None = None
    strategy: str = ""  # "bulk" or "patch", and why (StrategyChosen)
    strategy_reason: str = ""
    imports: events.ImportsProgress | None = None  # the bulk strategy's imports, latest
    cleanup: list[str] = field(default_factory=list)  # CleanupAnnounced lines
    notes: list[str] = field(default_factory=list)  # the report's cleanup and carried-over figures
    _buckets: deque[tuple[int, int]] = field(default_factory=deque)  # (second, requests sent in it)
    _last_sent: int = 0

    # ----- events ------------------------------------------------------------------------------------------

    @classmethod
    def started(cls, now: float) -> ExportView:
        return cls(state="running", started_at=now)

    def apply(self, event: events.Event, now: float) -> None:
        if isinstance(event, events.Progress):
            self._count_sent(event.counts.sent, now)
            self.counts, self.total, self.phase = event.counts, event.total, event.phase
            self.budget_limit, self.budget_remaining = event.budget_limit, event.budget_remaining
            self.budget_reset_at = event.budget_reset_at
            self.segments = event.segments or self.segments
        elif isinstance(event, events.Throttled):
            self.throttled_until, self.throttle_reason = event.until, event.reason
            self.throttle_count += 1
        elif isinstance(event, events.Resumed):  # the end of a throttle wait, or of a pause
            self.throttled_until = None
        elif isinstance(event, events.Paused):
            self.paused = True
        elif isinstance(event, events.ProspectFailed):
            self._add_failure(event.diagnostic)
        elif isinstance(event, events.StrategyChosen):
            self.strategy, self.strategy_reason = event.strategy, event.reason
        elif isinstance(event, events.ImportsProgress):
            self.imports = event
        elif isinstance(event, events.CleanupAnnounced):
            self.cleanup.append(event.text)
        elif isinstance(event, events.Finished):
            self.finish(event, now)

    def finish(self, finished: events.Finished, now: float) -> None:
        self._count_sent(finished.counts.sent, now)
        self.counts, self.state, self.message = finished.counts, "finished", finished.message
        self.report_path = finished.report_path
        self.throttled_until, self.paused, self.ended_at = None, False, now
        segments = finished.report.get("segments") if isinstance(finished.report, dict) else None
        if segments:
            self.segments = {s["id"]: {k: s.get(k, 0) for k in ("realized", "existing", "exited")}
                             for s in segments if isinstance(s, dict) and "id" in s}
        self.notes = end_notes(finished.report)  # assigned: the Finished event and the worker's end both come here

    def imports_text(self) -> str:
        """One line: "imports: 2 in flight (1,800 records), 5 finished (5,000 records), 7 polls"."""
        progress = self.imports
        if progress is None:
            return ""
        return (f"imports: {progress.in_flight:,} in flight ({progress.records_in_flight:,} records), "
                f"{progress.finished:,} finished ({progress.records_finished:,} records), {progress.polls:,} polls")

    def end(self, error: str | None, now: float) -> None:
        """The worker ended without a Finished event: cancelled before the runner started, or failed."""
        if self.state == "finished":
            return
        self.state = "failed" if error else "cancelled"
        self.message = error or "Export cancelled."
        self.ended_at = now

    def _count_sent(self, sent: int, now: float) -> None:
        delta = max(0, sent - self._last_sent)
        self._last_sent = sent
        second = int(now)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1] = (second, self._buckets[-1][1] + delta)
        else:
            self._buckets.append((second, delta))
        while self._buckets and self._buckets[0][0] <= second - WINDOW:
            self._buckets.popleft()

    def _add_failure(self, diagnostic: Diagnostic) -> None:
        self.failures += 1
        key = cause_key(diagnostic)
        cause = self.causes.get(key)
        if cause is None:
            if len(self.causes) >= MAX_CAUSES:
                cause = list(self.causes.values())[-1]
            else:
                cause = self.causes[key] = Cause(diagnostic)
        cause.count += 1
        if len(cause.examples) < EXAMPLES_PER_CAUSE:
            cause.examples.append(diagnostic.prospect_id)

    # ----- figures -----------------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.state == "running"

    def throttled(self) -> bool:
        return self.active and self.throttled_until is not None

    @property
    def done(self) -> int:
        counts = self.counts
        return counts.activated + counts.unchanged + counts.failed

    @property
    def pending(self) -> int:
        if self.active and self.total is not None:
            return max(0, self.total - self.done)
        return self.counts.pending

    def sparkline(self, now: float) -> list[float]:
        """Requests sent in each of the last ``WINDOW`` seconds, oldest first."""
        second = int(now if self.ended_at is None else self.ended_at)
        per_second = dict(self._buckets)
        return [float(per_second.get(s, 0)) for s in range(second - WINDOW + 1, second + 1)]

    def rate(self, now: float) -> float | None:
        """Requests per second over the last minute (or since the start, if shorter); None while too
        early to tell. A finished run reports its average over the whole run."""
        if self.started_at is None:
            return None
        end = self.ended_at if self.ended_at is not None else now
        if self.ended_at is not None:
            elapsed = end - self.started_at
            return self.counts.sent / elapsed if elapsed >= MIN_ELAPSED else None
        since = max(self.started_at, end - WINDOW)
        elapsed = end - since
        if elapsed < MIN_ELAPSED:
            return None
        sent = sum(count for second, count in self._buckets if second >= int(since))
        return sent / elapsed

    @property
    def budget_used(self) -> int | None:
        if self.budget_limit is None or self.budget_remaining is None:
            return None
        return max(0, self.budget_limit - self.budget_remaining)

    def eta(self, now: float) -> tuple[float, bool] | None:
        """Seconds until every pending prospect is sent, and whether the hourly budget (not speed) bounds it.
        One request per prospect: what is left needs at least that many."""
        rate = self.rate(now)
        left = self.pending
        if not self.active or rate is None or rate <= 0:
            return None
        seconds = left / rate
        if self.throttled_until is not None:  # nothing moves until the throttle ends
            seconds += max(0.0, self.throttled_until - now)
        remaining = self.budget_remaining
        if remaining is not None and left > remaining and self.budget_reset_at is not None and self.budget_limit:
            # Spend what is left of this hour's budget, wait for the reset, then go at most at the budget's pace.
            after_reset = (left - remaining) / min(rate, self.budget_limit / 3600)
            bound = max(0.0, self.budget_reset_at - now) + after_reset
            if bound > seconds:
                return bound, True
        return seconds, False


def end_notes(report: object) -> list[str]:
    """The report's cleanup and carried-over figures, when there are any (one short line each)."""
    if not isinstance(report, dict):
        return []
    notes = []
    cleared = report.get("cleared")
    if isinstance(cleared, dict) and any(cleared.get(key) for key in ("fields", "skipped", "failed", "left")):
        figures = [f"{cleared.get(key, 0):,} {label}" for key, label in
                   (("skipped", "skipped (changed since)"), ("failed", "failed"), ("left", "left as they are"))
                   if cleared.get(key)]
        if cleared.get("fields"):
            figures.insert(0, f"{cleared['fields']:,} values cleared on {cleared.get('prospects', 0):,} prospects")
        notes.append("cleanup: " + ", ".join(figures))
    prospects = report.get("prospects")
    carried = prospects.get("carried_over") if isinstance(prospects, dict) else None
    if carried:
        notes.append(f"carried over from earlier runs' dead letters: {carried:,} prospects")
    return notes


def clock_text(seconds: float) -> str:
    """0:42, 12:05, 1:02:03; rounded up (an ETA of 0.4 s reads 0:01, not 0:00)."""
    seconds = max(0, math.ceil(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
