"""The wizard against the sandbox, for what the engine checks and reports beyond the counts: a typed custom
field Outreach refuses (Segments step, blocks the export), the bulk strategy's imports (export panel), and the
values an unmapped segment left behind (a confirmation before the export, then the cleanup in the panel)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_tui_support import fill, plain, wait_until
from textual.widgets import DataTable, Static

from outreach_tui.profile import profile_from_dict, save_profile
from outreach_tui.tui.app import OutreachApp, WizardSettings, make_app
from outreach_tui.tui.cleanup_prompt import CleanupModal
from outreach_tui.tui.modals import ErrorModal
from outreach_tui.tui.widgets.export_panel import ExportPanel

COUNT = 30
IMPORT_SCOPES = ["prospects.read", "prospects.write", "imports.read", "imports.write"]
NUMERICAL_CUSTOM4 = {"data": [{"type": "prospect", "meta": {"validations": {
    "custom4": {"type": "numerical", "label": "Score"}}}}]}


def build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: Any, export: dict[str, Any] | None = None,
          scopes: list[str] | None = None) -> OutreachApp:
    monkeypatch.setenv("OUTREACH_TUI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OUTREACH_ACCESS_TOKEN", sandbox.issue_token(scopes=scopes)["access_token"]
                       if scopes else sandbox.issue_token()["access_token"])
    lines = [{"identityMap": {"Oid": [{"id": str(i)}]}, "person": {"name": {"firstName": f"Ann {i}"}},
              "segmentMembership": {"ups": {"seg-emea": {"status": "realized"}}}} for i in range(1, COUNT + 1)]
    (tmp_path / "people.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    outreach: dict[str, Any] = {"api_base": sandbox.api_base, "authorize_url": sandbox.authorize_url,
                                "token_url": sandbox.token_url, "client_id": "outreach-tui-sandbox"}
    if scopes:
        outreach["scopes"] = scopes
    profile = profile_from_dict({
        "destination": {"name": "Extras test"}, "outreach": outreach, "source": {"path": "people.jsonl"},
        "mapping": [{"source": "person.name.firstName", "target": "firstName"}],
        "segments": [{"id": "seg-emea", "name": "EMEA high intent", "mapping_id": 4}],
        "export": export or {},
    })
    save_profile(profile, tmp_path / "export.toml")
    return make_app(WizardSettings(profile_path=tmp_path / "export.toml"))


async def test_a_typed_custom_field_shows_at_the_segment_and_blocks_the_export(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(prospects=COUNT)
    sandbox.set_types(NUMERICAL_CUSTOM4)
    app = build(tmp_path, monkeypatch, sandbox)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        assert screen.go("segments")
        await pilot.pause()
        table = screen.query_one("#segments-table", DataTable)
        detail = screen.query_one("#segment-detail", Static)
        assert "✗" not in plain(detail)
        await pilot.click("#check-types")
        await wait_until(pilot, lambda: "types as numerical" in plain(detail))
        text = plain(detail)
        assert "✗ segment 'EMEA high intent' (mapping ID 4) writes custom4" in text, text
        assert detail.has_class("-problem")
        assert str(table.get_row("m0")[-1]) == "✗ fix"
        assert screen.problems() and screen.problems()[0].key == "segments[1].mapping_id"
        screen.action_export("start")  # blocked as a profile violation is
        await pilot.pause()
        assert not screen.export_running() and screen.query_one(ExportPanel).view.state == "idle"
        # a text field for the segment: the rule passes, custom5 is not listed (a muted warning only)
        await fill(pilot, "#segment-mapping-id", "5")
        await wait_until(pilot, lambda: "✗" not in plain(detail))
        assert not screen.problems() and str(table.get_row("m0")[-1]) == "not listed"
        assert any("custom5" in str(w) for w in screen.draft.warnings + screen._types_problems()[1])
    assert all(sandbox.prospect(i).get("custom4") is None for i in range(1, COUNT + 1))  # nothing was sent


async def test_a_bulk_export_shows_its_strategy_and_imports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(prospects=COUNT, import_delay=0.05)
    app = build(tmp_path, monkeypatch, sandbox, export={"strategy": "bulk"}, scopes=IMPORT_SCOPES)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.wizard.go("export")
        await pilot.pause()
        panel = app.wizard.query_one(ExportPanel)
        await pilot.click("#export-start")
        await wait_until(pilot, lambda: panel.view.state == "finished", timeout=60)
        await pilot.pause(0.3)
        assert panel.view.counts.activated == COUNT, panel.view.message
        line = plain(panel.query_one("#export-strategy", Static))
        assert line.startswith("strategy bulk"), line
        assert f"imports: 0 in flight (0 records), 1 finished ({COUNT} records)" in line, line
        assert panel.query_one("#export-strategy", Static).region.bottom <= 24  # visible without scrolling
    assert all(sandbox.prospect(i)["custom4"] == "realized" for i in range(1, COUNT + 1))


async def run_export(pilot: Any, app: OutreachApp) -> ExportPanel:
    panel = app.wizard.query_one(ExportPanel)
    await wait_until(pilot, lambda: panel.view.state == "finished", timeout=60)
    await pilot.pause(0.3)
    return panel


@pytest.mark.parametrize("answer", ["keep", "clear", "cancel"])
async def test_an_unmapped_segment_asks_before_its_values_are_cleared(
        answer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(prospects=COUNT)
    app = build(tmp_path, monkeypatch, sandbox)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        assert screen.go("export")
        await pilot.pause()
        await pilot.click("#export-start")
        panel = await run_export(pilot, app)
        assert panel.view.counts.activated == COUNT
        assert sandbox.prospect(1)["custom4"] == "realized"
        # the segment leaves the profile (Segments step: Don't export)
        assert screen.go("segments")
        await pilot.pause()
        await pilot.click("#segment-unmap")
        assert screen.draft.rows("segments") == []
        assert screen.go("export")
        await pilot.pause()
        await pilot.click("#export-start")
        await wait_until(pilot, lambda: isinstance(app.screen, CleanupModal))
        question = plain(app.screen.query_one("#cleanup-question", Static))
        assert (f"Clear custom4 on {COUNT} prospects (segment seg-emea left the profile)? This destination "
                "wrote those values.") in " ".join(question.split()), question
        await pilot.click(f"#cleanup-{answer}")
        await pilot.pause()
        if answer == "cancel":
            assert not screen.export_running() and panel.view.state == "finished"  # the first run's end
            return
        panel = await run_export(pilot, app)
        cleanup = " ".join(plain(panel.query_one("#export-cleanup", Static)).split())
        if answer == "keep":
            assert "leaving custom4 on 30 prospects (kept; no longer tracked)" in cleanup, cleanup
            assert cleanup.endswith("cleanup: 30 left as they are"), cleanup
            await pilot.click("#export-start")  # asked once: the kept values are no longer this destination's
            await pilot.pause()
            assert not isinstance(app.screen, CleanupModal)
            panel = await run_export(pilot, app)
            assert "custom4" not in plain(panel.query_one("#export-cleanup", Static)), panel.view.state
        else:
            assert "clearing custom4 on 30 prospects" in cleanup, cleanup
            assert cleanup.endswith("cleanup: 30 values cleared on 30 prospects"), cleanup
            assert panel.query_one("#export-cleanup", Static).region.bottom <= 24
    custom4 = {sandbox.prospect(i).get("custom4") for i in range(1, COUNT + 1)}
    assert custom4 == ({"realized"} if answer in ("keep", "cancel") else {None}), custom4


async def test_an_unreadable_state_is_an_error_and_nothing_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(prospects=COUNT)
    app = build(tmp_path, monkeypatch, sandbox, export={"state_path": "state.sqlite3"})
    (tmp_path / "state.sqlite3").write_text("not a state file, never overwritten\n", encoding="utf-8")
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.wizard.go("export")
        await pilot.pause()
        await pilot.click("#export-start")
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "Could not read the export state" in plain(app.screen.query_one(".dialog-title", Static))
        assert not app.wizard.export_running() and app.wizard.query_one(ExportPanel).view.state == "idle"
    assert (tmp_path / "state.sqlite3").read_text(encoding="utf-8") == "not a state file, never overwritten\n"
    assert sandbox.prospect(1).get("custom4") is None
