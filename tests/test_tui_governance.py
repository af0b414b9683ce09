"""Governance in the wizard: a violation shows at its mapping row (✗ and the detail line) or on the Segments
step, blocks Next and the export (nothing is sent to the sandbox); warnings show muted and block nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
from test_tui_support import copy_demo_input, plain, wait_until
from textual.widgets import DataTable, Static

from outreach_tui.tui.app import OutreachApp, WizardSettings, make_app
from outreach_tui.tui.widgets.base import StepWarnings
from outreach_tui.tui.widgets.export_panel import ExportPanel


def write_profile(directory: Path, sandbox: Any, **changes: Any) -> Path:
    """The profile as TOML, written by hand: a profile with a violation cannot be saved by the model."""
    copy_demo_input(directory)
    data: dict[str, Any] = {
        "destination": {"name": "Governed"},
        "outreach": {"api_base": sandbox.api_base, "authorize_url": sandbox.authorize_url,
                     "token_url": sandbox.token_url, "client_id": "outreach-tui-sandbox"},
        "source": {"path": "profiles.jsonl"},
        "mapping": [{"source": "person.name.firstName", "target": "firstName"},
                    {"source": "person.birthDate", "target": "custom7"}],
        "segments": [{"id": "seg-emea", "name": "EMEA", "mapping_id": 4}],
        "governance": {"labels": {"person.birthDate": ["S1"]}, "marketing_actions": ["email-targeting"],
                       "policies": [{"name": "No sensitive data", "action": "email-targeting",
                                     "deny_labels": ["S1"]}]},
    }
    data.update(changes)
    path = directory / "governed.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def build(tmp_path: Path, sandbox: Any, monkeypatch: Any, **changes: Any) -> OutreachApp:
    monkeypatch.setenv("OUTREACH_ACCESS_TOKEN", sandbox.issue_token()["access_token"])
    return make_app(WizardSettings(profile_path=write_profile(tmp_path, sandbox, **changes)))


def check_cell(app: OutreachApp, row: int) -> str:
    table = app.wizard.query_one("#mapping-table", DataTable)
    return str(table.get_row_at(row)[-1])


async def test_a_violation_shows_at_its_row_and_blocks_next_and_the_export(
        tmp_path: Path, sandbox: Any, monkeypatch: Any) -> None:
    app = build(tmp_path, sandbox, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        assert not screen.go("segments")  # stops at the Mapping step, which has the violation
        assert screen.current == "mapping"
        assert "!4 Mapping" in plain(screen.query_one("#step-bar", Static))
        assert [check_cell(app, row) for row in (1, 2)] == ["✓", "✗"]  # the identity row is row 0
        table = screen.query_one("#mapping-table", DataTable)
        table.move_cursor(row=2)
        await pilot.pause()
        detail = plain(screen.query_one("#mapping-detail", Static))
        assert "carries the label S1 (labelled on 'person.birthDate')" in detail
        assert "policy 'No sensitive data'" in detail and "'email-targeting'" in detail
        assert "1 problem(s) on this step" in plain(screen.query_one("#nav-status", Static))

        screen.action_export("start")  # F5 from anywhere: refused, nothing sent
        await pilot.pause()
        assert not screen.export_running()
        assert screen.query_one(ExportPanel).view.state == "idle"
        assert "fix 1 problem(s) first" in plain(screen.query_one("#nav-status", Static))

        await pilot.click("#mapping-delete")  # the row goes: so does the violation
        assert [check_cell(app, row) for row in range(1, table.row_count)] == ["✓"]
        assert screen.go("segments")
    assert sandbox.stats.count() == 0


async def test_a_segment_violation_shows_on_the_segments_step(tmp_path: Path, sandbox: Any, monkeypatch: Any) -> None:
    app = build(tmp_path, sandbox, monkeypatch, mapping=[{"source": "person.name.firstName", "target": "firstName"}],
                segments=[{"id": "seg-emea", "name": "EMEA", "mapping_id": 4, "labels": ["S1"]}])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        assert screen.go("segments")
        assert not screen.go("review")
        assert screen.current == "segments"
        table = screen.query_one("#segments-table", DataTable)
        assert str(table.get_row("m0")[-1]) == "✗ fix"
        # the input was sampled at start-up even though the profile is refused: the counts help fixing it
        await wait_until(pilot, lambda: screen.discovery is not None)
        assert str(table.get_row("m0")[1]).startswith("R")
        detail = screen.query_one("#segment-detail", Static)
        assert "segment 'EMEA' (mapping ID 4) carries the label S1" in plain(detail)
        assert detail.has_class("-problem")
        screen.action_export("start")
        await pilot.pause()
        assert not screen.export_running()
    assert sandbox.stats.count() == 0


async def test_warnings_show_muted_and_do_not_block(tmp_path: Path, sandbox: Any, monkeypatch: Any) -> None:
    app = build(tmp_path, sandbox, monkeypatch, governance={},
                mapping=[{"source": "person.name.firstName", "target": "firstName"},
                         {"source": "workEmail.address", "target": "emails", "mode": "replace"}])
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.wizard
        assert screen.draft.warnings and not screen.draft.problems
        assert screen.go("mapping")
        assert [check_cell(app, row) for row in (1, 2)] == ["✓", "!"]
        screen.query_one("#mapping-table", DataTable).move_cursor(row=2)
        await pilot.pause()
        detail = screen.query_one("#mapping-detail", Static)
        assert "! mode:" in plain(detail) and "replace" in plain(detail)
        assert not detail.has_class("-problem")
        assert screen.go("review")  # a warning never blocks
        review = plain(screen.query_one("#review-problems", Static))
        assert "✓ The profile is valid." in review and "! mapping[2].mode:" in review
        screen.show_step("mapping")
        await pilot.pause()
        assert not screen.query_one(StepWarnings).has_class("-shown")  # row warnings stay at their row
