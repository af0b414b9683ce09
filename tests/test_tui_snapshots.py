"""SVG snapshots of every wizard step, and of the export panel mid-run, throttled and finished with failures,
at 80x24 and 120x40 (update with ``pytest --snapshot-update`` after looking at the pictures).

Deterministic: a fixed profile next to the demo data, a fixed data dir shown as $DATA, the profile's folder
shown as <dir>, no sandbox (no ports), a fixed clock, discovery run before the picture, the export panel in
a fixed sample state (tui/sample.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tui_support import demo_profile
from textual.pilot import Pilot

from outreach_tui.tui.app import WizardSettings, make_app
from outreach_tui.tui.backend import discover_source
from outreach_tui.tui.sample import SAMPLE_NOW, show_sample
from outreach_tui.tui.steps import STEPS
from outreach_tui.tui.widgets.export_panel import ExportPanel

SIZES = [(80, 24), (120, 40)]
SHOTS = [step for step in STEPS if step != "export"] + ["export-running", "export-throttled", "export-finished"]


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
    screen.show_step(step)
    if step == "export":
        show_sample(screen.query_one(ExportPanel), state)
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
