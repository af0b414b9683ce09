"""SVG snapshots of every wizard step, and of the export panel mid-run, throttled and finished with failures,
at 80x24 and 120x40; the Connect step with a fixed status, the Mapping step with a governance violation and a
warning, the Review step with a fixed dry run (update with ``pytest --snapshot-update`` after looking at the pictures).

Deterministic: a fixed profile next to the demo data, a fixed data dir shown as $DATA, the profile's folder
shown as <dir>, no sandbox (no ports), a fixed clock, discovery run before the picture, the export panel in
a fixed sample state (tui/sample.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tui_support import demo_profile
from textual.pilot import Pilot
from textual.widgets import DataTable

from outreach_tui.tui.app import WizardSettings, make_app
from outreach_tui.tui.backend import SignedInUser, discover_source
from outreach_tui.tui.sample import SAMPLE_NOW, sample_dry_run_report, sample_status, show_sample
from outreach_tui.tui.steps import STEPS
from outreach_tui.tui.widgets.connect import ConnectStep
from outreach_tui.tui.widgets.export_panel import ExportPanel
from outreach_tui.tui.widgets.review import ReviewStep

SIZES = [(80, 24), (120, 40)]
SHOTS = [step for step in STEPS if step != "export"] + ["export-running", "export-throttled", "export-finished",
                                                         "connect-status", "mapping-governance", "review-preview"]
GOVERNANCE = {"labels": {"person.jobTitle": ["C5"]}, "marketing_actions": ["email-targeting"],
              "policies": [{"name": "No job data in email", "action": "email-targeting", "deny_labels": ["C5"]}]}


@pytest.fixture
def snapshot_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OUTREACH_TUI_TOKEN_STORE", "file")
    profile = demo_profile(tmp_path)
    return make_app(WizardSettings(profile_path=profile.path, clock=lambda: SAMPLE_NOW,
                                   path_aliases={str(tmp_path): "<dir>"}))


async def prepare(pilot: Pilot[int], shot: str) -> None:
    app: Any = pilot.app
    screen = app.wizard
    await pilot.pause()
    await app.workers.wait_for_complete()
    profile = screen.draft.check().profile
    screen.show_discovery(discover_source(profile.source_path(), profile.source.format))
    step, _, state = shot.partition("-")
    if shot == "mapping-governance":  # row 3 replaces a list (a warning), row 4 carries a denied label
        screen.draft.data["governance"] = GOVERNANCE
        screen.draft.rows("mapping")[2]["mode"] = "replace"
        screen.draft.changed()
        screen.show_problems()
    screen.show_step(step)
    if step == "export":
        show_sample(screen.query_one(ExportPanel), state)
    elif shot == "connect-status":
        connect = screen.query_one(ConnectStep)
        connect.show_signed_in(SignedInUser(None, ["prospects.read", "prospects.write"], []))
        connect.show_status(sample_status())
    elif shot == "mapping-governance":
        screen.query_one("#mapping-table", DataTable).move_cursor(row=4)
    elif shot == "review-preview":
        screen.query_one(ReviewStep).show_preview(sample_dry_run_report())
    await pilot.pause()  # let focus moves queued by the step switch land first (under load they arrive late)
    app.set_focus(None)
    await app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("shot", SHOTS)
def test_step_snapshot(snap_compare: Any, snapshot_app: Any, shot: str, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[int]) -> None:
        await prepare(pilot, shot)

    assert snap_compare(snapshot_app, terminal_size=size, run_before=run_before)
