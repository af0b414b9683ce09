"""The end of a run: the exit code, the report (written to ``--report`` and kept with the run in the state),
the state closed, the alerts sent and the ``Finished`` event built."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from outreach_tui.export.alerts import AlertSender
from outreach_tui.export.cleanup import CleanupTally
from outreach_tui.export.control import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, RunControl, RunOptions
from outreach_tui.export.events import Event, Finished
from outreach_tui.export.inputs import input_path
from outreach_tui.export.report import ReportError, summary_line, write_report
from outreach_tui.export.state import StateError, StateStore
from outreach_tui.export.state_schema import timestamp
from outreach_tui.export.tally import Tally
from outreach_tui.profile import Profile


async def finish_run(profile: Profile, options: RunOptions, started_at: str, counts: Tally, *, tally: Tally,
                     control: RunControl, cleanup: CleanupTally, state: StateStore | None, alerts: AlertSender,
                     emit: Callable[[Event], None]) -> Finished:
    """``counts`` is the tally's final snapshot; the state (when open) is closed here, whatever happens."""
    fatal = control.fatal
    message = str(fatal) if fatal is not None else ""
    if fatal is None and control.cancelled:
        message = "interrupted: state saved; prospects not sent are pending, the next run sends them"
    message = "; ".join([*filter(None, [message]), *tally.notes])  # e.g. bulk fell back to PATCH
    exit_code = _exit_code(control, counts, cleanup)
    report = tally.report(
        destination=profile.destination.name, started_at=started_at, finished_at=timestamp(),
        dry_run=options.dry_run, exit_code=exit_code,
        segments=((segment.id, segment.mapping_id) for segment in profile.segments),
        extra={"input": str(input_path(profile, options)), "full_resync": options.full_resync,
               "follow": options.follow, "state_path": str(state.path) if state else None,
               "message": message or None, "cleared": cleanup.report(), **_estimates(profile, options, tally)},
    )
    report_path = options.report_path
    if report_path is not None:
        try:
            write_report(report_path, report)
        except ReportError as exc:
            message = f"{message}; {exc}" if message else str(exc)
            report_path = None
            exit_code = max(exit_code, EXIT_USAGE) if exit_code != EXIT_INTERRUPTED else exit_code
    if state is not None:
        with contextlib.suppress(StateError):
            if not options.dry_run:
                state.finish_run(timestamp(), exit_code, report)
        state.close()
    summary = summary_line(counts, options.dry_run, report_path)
    finished = Finished(counts=counts, exit_code=exit_code,
                        report_path=str(report_path) if report_path else None, report=report,
                        message=f"{message}\n{summary}" if message else summary)
    alerts.finished(finished)
    await alerts.aclose()
    emit(finished)
    return finished


def _estimates(profile: Profile, options: RunOptions, tally: Tally) -> dict[str, Any]:
    """A dry run's report: the requests and budget hours each strategy would use (export/bulk.py)."""
    if not options.dry_run:
        return {}
    from outreach_tui.export.bulk import strategy_estimates

    return {"strategies": strategy_estimates(tally.dry_run_planned, tally.planned_bytes, profile)}


def _exit_code(control: RunControl, counts: Tally, cleanup: CleanupTally) -> int:
    if control.fatal is not None:
        return control.fatal.exit_code
    if control.cancelled:
        return EXIT_INTERRUPTED
    return EXIT_FAILED if counts.failed or cleanup.failed else EXIT_OK
