"""The export panel driven by the real runner against the sandbox: failures (local and 404), 429s with the
THROTTLED state, the diagnostics table and its detail view, pause / resume / cancel, the report path."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_tui_support import plain, wait_until
from textual.widgets import DataTable, Static

from outreach_tui.profile import profile_from_dict, save_profile
from outreach_tui.tui.app import OutreachApp, WizardSettings, make_app
from outreach_tui.tui.modals import CauseModal, ConfirmModal
from outreach_tui.tui.widgets.export_panel import ExportPanel

GOOD = 40
LIMIT, WINDOW = 50, 4.0  # requests per window of seconds


def write_input(directory: Path) -> Path:
    lines = []
    for prospect_id in range(1, GOOD + 1):
        lines.append({"identityMap": {"Oid": [{"id": str(prospect_id)}]},
                      "person": {"name": {"firstName": f"Ann {prospect_id}"}},
                      "segmentMembership": {"ups": {"seg-emea": {"status": "realized"}}}})
    lines.append({"identityMap": {"Oid": [{"id": "999"}]}, "person": {"name": {"firstName": "Nobody"}}})
    lines.append({"identityMap": {"Oid": [{"id": "41"}]}, "person": {"name": {"firstName": "x" * 300}}})
    lines.append({"person": {"name": {"firstName": "No identity"}}})
    path = directory / "people.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


async def spend_window(sandbox: Any) -> None:
    """Another tool spends this Outreach user's budget: the export's next request meets a 429. Spends
    until the sandbox says 429, early in a window so that it does not roll over before the export starts."""
    headers = {"Authorization": f"Bearer {os.environ['OUTREACH_ACCESS_TOKEN']}"}
    async with httpx.AsyncClient() as client:
        while True:
            answer = await client.get(sandbox.api_base, headers=headers)
            if answer.status_code == 429:
                if float(answer.headers["X-RateLimit-Reset"]) - time.time() > WINDOW / 2:
                    return
                await asyncio.sleep(0.05)  # the window is about to roll: spend the next one instead


def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Any) -> OutreachApp:
    monkeypatch.setenv("OUTREACH_TUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OUTREACH_ACCESS_TOKEN", sandbox.issue_token()["access_token"])
    write_input(tmp_path)
    profile = profile_from_dict({
        "destination": {"name": "Export test"},
        "outreach": {"api_base": sandbox.api_base, "authorize_url": sandbox.authorize_url,
                     "token_url": sandbox.token_url, "client_id": "outreach-tui-sandbox"},
        "source": {"path": "people.jsonl"},
        "mapping": [{"source": "person.name.firstName", "target": "firstName"}],
        "segments": [{"id": "seg-emea", "name": "EMEA", "mapping_id": 4}],
    })
    save_profile(profile, tmp_path / "export.toml")
    return make_app(WizardSettings(profile_path=tmp_path / "export.toml"))


@pytest.fixture
def limited(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_factory: Any
            ) -> tuple[OutreachApp, Any]:
    sandbox = sandbox_factory(prospects=60, rate_limit=LIMIT, window=WINDOW)
    return build(tmp_path, monkeypatch, sandbox), sandbox


@pytest.fixture
def slow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_factory: Any
         ) -> tuple[OutreachApp, Any]:
    sandbox = sandbox_factory(prospects=60, latency_ms=150)
    return build(tmp_path, monkeypatch, sandbox), sandbox


async def test_export_with_failures_and_429s(limited: tuple[OutreachApp, Any]) -> None:
    app, sandbox = limited
    async with app.run_test(size=(120, 36)) as pilot:
        assert app.wizard.go("export")
        await pilot.pause()
        panel = app.wizard.query_one(ExportPanel)
        await spend_window(sandbox)
        await pilot.click("#export-start")
        state = panel.query_one("#export-state", Static)
        await wait_until(pilot, lambda: state.has_class("-throttled"), timeout=20)
        assert "THROTTLED" in plain(state)
        await wait_until(pilot, lambda: panel.view.state == "finished", timeout=60)
        await pilot.pause(0.15)  # one repaint
        counts = panel.view.counts
        assert (counts.activated, counts.failed, counts.excluded) == (GOOD, 2, 1)
        assert counts.rate_limited >= 1 and panel.view.throttle_count >= 1
        assert "activated 40" in plain(panel.query_one("#export-counts", Static))
        assert "requests in" in plain(panel.query_one("#export-rate", Static))  # the whole run, real time
        assert not state.has_class("-throttled")
        notes = [note.message for note in app._notifications]  # [alerts] on_throttle and on_failure (defaults)
        assert any(note.startswith("Throttled: ") for note in notes), notes
        assert any(note.startswith("Export finished with failures: ") for note in notes), notes
        table = panel.query_one("#export-causes", DataTable)
        causes = sorted(" ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count))
        assert len(causes) == 2, causes  # two causes, one prospect each
        assert any("HTTP 404" in cause and "999" in cause for cause in causes)
        assert any(cause.startswith("1 firstName:") and "not sent" in cause and "41" in cause for cause in causes)
        assert "seg-emea R40 E0 X0" in plain(panel.query_one("#export-segments", Static))
        assert "Report: $DATA/reports/export-test.json" in plain(panel.query_one("#export-state", Static))
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        assert isinstance(app.screen, CauseModal)
        await pilot.press("escape")
    assert all(sandbox.prospect(i)["firstName"] == f"Ann {i}" for i in range(1, GOOD + 1))
    assert all(sandbox.prospect(i)["custom4"] == "realized" for i in range(1, GOOD + 1))


async def test_pause_resume_cancel_and_navigation(slow: tuple[OutreachApp, Any]) -> None:
    app, _sandbox = slow
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        assert screen.go("export")
        await pilot.pause()
        panel = screen.query_one(ExportPanel)
        await pilot.press("f5", "f6")  # start, pause
        assert panel.view.paused
        await wait_until(pilot, lambda: "PAUSED" in plain(panel.query_one("#export-state", Static)))
        await wait_until(pilot, lambda: app.wizard.runner is not None and app.wizard.runner.paused)
        await pilot.press("f2")  # looking at another step does not stop the export
        assert screen.current == "review" and screen.export_running()
        screen.show_step("export")
        await pilot.pause()
        await pilot.click("#export-resume")
        await wait_until(pilot, lambda: panel.view.counts.activated > 0, timeout=20)
        await pilot.click("#export-cancel")
        await wait_until(pilot, lambda: panel.view.state == "finished", timeout=30)
        assert panel.view.counts.pending > 0
        assert panel.view.counts.activated < GOOD


async def test_quit_during_export_stops_it_cleanly(slow: tuple[OutreachApp, Any]) -> None:
    app, _sandbox = slow
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.wizard.go("export")
        await pilot.pause()
        await pilot.press("f5")
        panel = app.wizard.query_one(ExportPanel)
        await wait_until(pilot, lambda: panel.view.counts.activated > 0, timeout=20)
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "An export is running" in plain(app.screen.query_one(".dialog-title", Static))
        await pilot.click("#yes")
        await wait_until(pilot, lambda: not app.is_running, timeout=30)
    assert panel.view.state == "finished" and panel.view.report_path
    report = json.loads(Path(panel.view.report_path).read_text())
    assert report["prospects"]["pending"] > 0  # the rest waits for the next run
