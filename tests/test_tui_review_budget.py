"""The Review step's dry run: the requests each strategy would use for the planned changes and the hours of
budget that means, with the profile's ``[export] strategy`` (the dry run reads the demo data; nothing is sent)."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from test_tui_support import DEMO, copy_demo_input, plain, wait_until
from textual.widgets import Static

from outreach_tui.export.bulk import SAMPLE_PER_IMPORT
from outreach_tui.outreach.client import IDS_PER_QUERY
from outreach_tui.profile import profile_from_dict, save_profile
from outreach_tui.tui.app import WizardSettings, make_app


@pytest.mark.parametrize(("strategy", "imports", "used"), [("patch", True, "patch"), ("auto", True, "bulk"),
                                                         ("auto", False, "patch"), ("bulk", True, "bulk")])
async def test_the_review_shows_requests_and_hours_per_strategy(tmp_path: Path, sandbox: Any, strategy: str,
                                                                imports: bool, used: str) -> None:
    copy_demo_input(tmp_path)
    data = tomllib.loads((DEMO / "demo.toml").read_text(encoding="utf-8"))
    data["outreach"].update(api_base=sandbox.api_base, authorize_url=sandbox.authorize_url,
                            token_url=sandbox.token_url)
    if imports:
        data["outreach"]["scopes"] = [*data["outreach"]["scopes"], "imports.read", "imports.write"]
    data["export"] = {"strategy": strategy, "bulk_threshold": 100, "bulk_max_records": 100, "budget_per_hour": 50}
    path = save_profile(profile_from_dict(data), tmp_path / "budget.toml")
    app = make_app(WizardSettings(profile_path=path))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.wizard
        assert screen.go("review")
        await pilot.pause()
        await pilot.click("#preview")
        summary = screen.query_one("#preview-summary", Static)
        await wait_until(pilot, lambda: "Planned:" in plain(summary))
        text = " ".join(plain(summary).split())
        planned = int(re.search(r"Planned: ([\d,]+) prospects to update", text)[1].replace(",", ""))  # type: ignore[index]
        assert planned > 200  # a first run: every targeted prospect changes
        needed = math.ceil(planned / 100)  # bulk_max_records binds (demo records are far below 2 MB / 100)
        # an import and about one poll each, and one batched read-back per ten imports (export/bulk.py)
        bulk = 2 * needed + math.ceil(needed * SAMPLE_PER_IMPORT / IDS_PER_QUERY)
        assert f"[export] strategy = {strategy}" in text
        assert f"patch {planned:,} requests (one per prospect): {planned / 50:.1f} h of budget" in text
        assert (f"bulk {bulk} requests ({needed} imports + polls): "
                f"{math.ceil(bulk / 50 * 60)} min of budget") in text
        assert f"▸ {used}" in text  # the strategy a run would use
        if strategy == "auto":
            assert ("bulk from 100 changed" if imports else "[outreach] scopes lack the import scopes") in text
        assert "The first 5 payloads" in text
    assert sandbox.stats.count(method="PATCH") == 0
