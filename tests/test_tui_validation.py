"""Every validation message of the wizard, shown next to its field or row, and Next refusing to move on.
Also: unsaved-changes warning, help, command palette, and worker errors ending in a modal (no crash)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_support import demo_profile, fill, plain, wait_until
from textual.widgets import DataTable, Select, Static

from outreach_tui.tui.app import OutreachApp, WizardSettings, make_app
from outreach_tui.tui.commands import WizardCommands
from outreach_tui.tui.screens.modals import ConfirmModal, ErrorModal, HelpScreen
from outreach_tui.tui.widgets.base import FieldError
from outreach_tui.tui.widgets.mapping import MappingStep


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OutreachApp:
    monkeypatch.setenv("OUTREACH_TUI_DATA_DIR", str(tmp_path / "data"))
    demo_profile(tmp_path)
    return make_app(WizardSettings(profile_path=tmp_path / "demo.toml"))


def error_of(app: OutreachApp, name: str) -> str:
    widget = app.wizard.query_one(f"#{name}-error", FieldError)
    return plain(widget) if widget.has_class("-shown") else ""


async def test_connect_and_destination_messages(app: OutreachApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        await fill(pilot, "#api-base", "api.outreach.io")
        await pilot.press("f3")
        assert screen.current == "connect"
        assert "must be an http(s) URL" in error_of(app, "api-base")
        assert "problem(s) on this step" in plain(screen.query_one("#nav-status", Static))
        await fill(pilot, "#api-base", "https://api.outreach.io/api/v2")
        await pilot.press("f3")
        assert screen.current == "destination" and error_of(app, "api-base") == ""

        await fill(pilot, "#destination-name", "")
        await fill(pilot, "#webhook", "hooks.slack.example/x")
        await pilot.press("f3")
        assert screen.current == "destination"
        assert error_of(app, "destination-name") == "required\n"
        assert "must be an http(s) URL" in error_of(app, "webhook")


async def test_source_message(app: OutreachApp, tmp_path: Path) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        app.wizard.show_step("source")
        await fill(pilot, "#source-path", "missing.jsonl")
        await pilot.press("f3")
        assert app.wizard.current == "source"
        assert "file not found" in error_of(app, "source-path")


@pytest.mark.parametrize(("source", "target", "message"), [
    ("person.name.firstName", "firstNam", "did you mean 'firstName'"),
    ("person.name.firstName", "name", "'name' is read-only"),
    ("person.name.firstName", "custom151", "custom1 … custom150"),
    ("person.name.firstName", "OutreachId", "OutreachId is the identity"),
    ("person.name.firstName", "firstName", "already written by row 1"),
])
async def test_mapping_row_messages(app: OutreachApp, source: str, target: str, message: str) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.wizard
        screen.show_step("mapping")
        await fill(pilot, "#mapping-source", source)
        await fill(pilot, "#mapping-target", target)
        await pilot.click("#mapping-add")
        table = screen.query_one("#mapping-table", DataTable)
        assert message in str(table.get_row_at(table.row_count - 1)[-1])  # on the row
        assert message in plain(screen.query_one("#mapping-error", Static))  # and under the editor
        await pilot.press("f3")
        assert screen.current == "mapping"
        await pilot.click("#mapping-delete")  # the bad row goes, Next works again
        await pilot.press("f3")
        assert screen.current == "segments"


async def test_mapping_editor_messages(app: OutreachApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.wizard
        screen.show_step("mapping")
        rows = len(screen.query_one(MappingStep).rows)
        await fill(pilot, "#mapping-source", "person..name")
        await fill(pilot, "#mapping-target", "title")
        await pilot.click("#mapping-add")
        assert "is not a dotted XDM path" in plain(screen.query_one("#mapping-error", Static))
        await fill(pilot, "#mapping-source", "")
        await pilot.click("#mapping-add")
        assert "source: required" in plain(screen.query_one("#mapping-error", Static))
        assert len(screen.query_one(MappingStep).rows) == rows
        await fill(pilot, "#identity-namespace", "")
        await pilot.press("f3")
        assert error_of(app, "identity-namespace") == "required\n"


async def _map(pilot, app: OutreachApp, segment: str, mapping_id: str) -> str:  # type: ignore[no-untyped-def]
    screen = app.wizard
    table = screen.query_one("#segments-table", DataTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(segment))
    await pilot.press("enter")
    await fill(pilot, "#segment-mapping-id", mapping_id)
    await pilot.click("#segment-map")
    return error_of(app, "segment-mapping-id")


async def test_segment_messages(app: OutreachApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        app.wizard.show_step("segments")
        assert "whole number 1..150" in await _map(pilot, app, "seg-emea", "0")
        assert "whole number 1..150" in await _map(pilot, app, "seg-emea", "151")
        assert "required" in await _map(pilot, app, "seg-emea", "abc")  # letters cannot be typed
        assert "already used by segment 'Trial started' (mapping ID 5)" in await _map(pilot, app, "seg-emea", "5")
        mapping = app.wizard.query_one(MappingStep)
        mapping.rows.append(mapping.rows[0].model_copy(update={"target": "custom9"}))
        assert "collides with mapping row 7" in await _map(pilot, app, "seg-emea", "9")
        assert await _map(pilot, app, "seg-emea", "12") == ""
        table = app.wizard.query_one("#segments-table", DataTable)
        assert str(table.get_row("seg-emea")[3]) == "12"


async def test_quit_warns_about_unsaved_changes(app: OutreachApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        assert not app.wizard.is_dirty()
        app.wizard.show_step("destination")
        await fill(pilot, "#destination-name", "Renamed")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "unsaved changes" in plain(app.screen.query_one(".dialog-title", Static))
        await pilot.click("#no")
        assert app.is_running and app.screen is app.wizard
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not app.wizard.is_dirty())
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running)


async def test_help_palette_and_worker_errors_in_a_modal(app: OutreachApp, tmp_path: Path) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        names = [name for name, _, _ in WizardCommands(app.wizard)._commands()]
        assert "Start export" in names and "Go to step 4: Mapping" in names
        (tmp_path / "notes.txt").write_text("hello")
        app.wizard.show_step("source")
        await fill(pilot, "#source-path", "notes.txt")
        app.wizard.query_one("#source-format", Select).value = "auto"
        await pilot.click("#discover")
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "cannot tell the format" in plain(app.screen.query_one("#error-message", Static))
        await pilot.click("#ok")
        assert app.is_running
