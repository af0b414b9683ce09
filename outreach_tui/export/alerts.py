"""Alerts: ``[alerts] webhook`` receives a small JSON message on failure, throttling and completion.

The body is Slack-compatible (a ``text`` field) plus structured fields for other receivers. Alerts never
fail or slow a run: each is posted in the background with a short timeout, errors are swallowed, and the
run waits at most ``CLOSE_TIMEOUT`` for unsent alerts at the end. Messages carry counts, never secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from outreach_tui.profile import Profile

if TYPE_CHECKING:
    from outreach_tui.export.events import Finished

POST_TIMEOUT = 5.0
CLOSE_TIMEOUT = 5.0
THROTTLE_ALERT_INTERVAL = 600.0  # at most one throttle alert per 10 minutes: a long run throttles often


class AlertSender:
    def __init__(self, profile: Profile) -> None:
        self._settings = profile.alerts
        self._destination = profile.destination.name
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_throttle_alert: float | None = None
        self.sent = 0  # alerts delivered (2xx), for tests and the report
        self.errors = 0

    @property
    def enabled(self) -> bool:
        return self._settings.webhook is not None

    def throttled(self, until: float, reason: str) -> None:
        if not (self.enabled and self._settings.on_throttle):
            return
        now = time.monotonic()
        last = self._last_throttle_alert
        if last is not None and now - last < THROTTLE_ALERT_INTERVAL:
            return
        self._last_throttle_alert = now
        resume = datetime.fromtimestamp(until, UTC).strftime("%H:%M:%S UTC")
        text = f"Outreach export '{self._destination}' is throttled until {resume}: {reason}"
        self._post("throttled", text, {"until": until, "reason": reason})

    def finished(self, finished: Finished) -> None:
        if not self.enabled:
            return
        counts = finished.counts
        trouble = counts.failed > 0 or finished.exit_code not in (0, 130)
        if trouble and self._settings.on_failure:
            kind = "failure"
        elif not trouble and self._settings.on_complete:
            kind = "complete"
        else:
            return
        first = finished.report.get("failures", [])[:3]
        self._post(kind, f"Outreach export '{self._destination}': {finished.message.splitlines()[-1]}",
                   {"exit_code": finished.exit_code, "prospects": finished.report.get("prospects", {}),
                    "records": finished.report.get("records", {}), "first_failures": first})

    async def send_test(self) -> bool:
        """Post one test alert now and wait for it (the wizard's "Send a test alert"); True when accepted."""
        if not self.enabled:
            return False
        self._post("test", f"Test alert from outreach-tui for the export '{self._destination}'", {})
        await self.aclose()
        return self.sent > 0

    def _post(self, kind: str, text: str, details: dict[str, Any]) -> None:
        body = {"text": text, "kind": kind, "destination": self._destination,
                "at": datetime.now(UTC).isoformat(timespec="seconds"), **details}
        try:
            task = asyncio.get_running_loop().create_task(self._deliver(body))
        except RuntimeError:
            return  # no event loop: nothing to alert from
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, body: dict[str, Any]) -> None:
        # imported here: most runs send no alert, and httpx is a tenth of a second of start-up
        from outreach_tui.outreach.http import Timeouts, make_client

        url = self._settings.webhook
        assert url is not None
        timeouts = Timeouts(connect=POST_TIMEOUT, read=POST_TIMEOUT, write=POST_TIMEOUT, total=POST_TIMEOUT)
        try:
            async with make_client(timeouts=timeouts) as client, asyncio.timeout(timeouts.total):
                response = await client.post(url, json=body)
            if response.is_success:
                self.sent += 1
            else:
                self.errors += 1
        except Exception:  # an alert must never break the run
            self.errors += 1

    async def aclose(self) -> None:
        """Wait briefly for alerts still being posted; give up on the rest."""
        if not self._tasks:
            return
        tasks = list(self._tasks)
        _, late = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
        for task in late:
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*late, return_exceptions=True)
