"""The wizard's forms: input is never lost and errors are never stale. Problems come from the profile model,
show next to their fields as the user types, and a failed Next keeps focus and every field as they were.
Also: a broken profile opens with its problems at their fields, unsaved-changes only after a change, help,
the command palette, and worker errors ending in a modal (no crash)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_support import demo_profile, fill, plain, wait_until
from textual.widgets import DataTable, Input, Select, Static

from outreach_tui.tui.app import OutreachApp, WizardSettings, make_app
from outreach_tui.tui.commands import COMMANDS
from outreach_tui.tui.modals import ConfirmModal, ErrorModal, HelpScreen
from outreach_tui.tui.widgets.base import FieldError
from outreach_tui.tui.widgets.mapping import MappingStep
from outreach_tui.tui.widgets.segments import SegmentsStep


@pytest.fixture
def app(tmp_path: Path) -> OutreachApp:
    demo_profile(tmp_path)
    return make_app(WizardSettings(profile_path=tmp_path / "demo.toml"))


def error_of(app: OutreachApp, name: str) -> str:
    widget = app.wizard.query_one(f"#{name}-error", FieldError)
    return plain(widget).strip() if widget.has_class("-shown") else ""


def inputs(app: OutreachApp) -> dict[str, str]:
    return {widget.id or "": widget.value for widget in app.wizard.query(Input)}


async def test_failed_next_keeps_every_field_and_the_focus(app: OutreachApp) -> None:
    """The issue's report: typed `bad` into the webhook, F3, then `Z`: Name became `Z`. Now nothing but the
    webhook changes, and its error leaves as soon as the URL is right."""
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        assert screen.go("destination")
        webhook = screen.query_one("#webhook", Input)
        webhook.focus()
        await pilot.press(*"bad")
        assert "must be an http(s) URL" in error_of(app, "webhook")  # shown while typing, before any Next
        before = inputs(app)
        await pilot.press("f3")
        assert screen.current == "destination"
        assert "1 problem(s) on this step" in plain(screen.query_one("#nav-status", Static))
        assert screen.focused is webhook
        await pilot.press("Z", "backspace", "backspace")
        after = inputs(app)
        assert {key for key in before if before[key] != after[key]} == {"webhook"}
        assert after["webhook"] == "ba" and after["destination-name"] == "Outreach demo (sandbox)"
        await fill(pilot, "#webhook", "https://hooks.example/x")
        assert error_of(app, "webhook") == ""
        assert plain(screen.query_one("#nav-status", Static)).strip() == ""
        await pilot.press("f3")
        assert screen.current == "source"


async def test_errors_follow_the_fields_as_the_user_types(app: OutreachApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        await fill(pilot, "#api-base", "api.outreach.io")
        assert "must be an http(s) URL" in error_of(app, "api-base")
        await fill(pilot, "#api-base", "https://api.outreach.io/api/v2")
        assert error_of(app, "api-base") == ""
        assert screen.go("destination")
        await fill(pilot, "#destination-name", "")
        assert error_of(app, "destination-name") == "✗ required"
        await pilot.press("f3")
        assert screen.current == "destination"
        await pilot.press(*"EMEA")
        assert error_of(app, "destination-name") == ""
        assert screen.draft.data["destination"]["name"] == "EMEA"


async def test_source_file_not_found(app: OutreachApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        app.wizard.show_step("source")
        await pilot.pause()
        await fill(pilot, "#source-path", "missing.jsonl")
        assert "file not found" in error_of(app, "source-path")
        await pilot.press("f3")
        assert app.wizard.current == "source"
        await fill(pilot, "#source-path", "profiles.jsonl")
        assert error_of(app, "source-path") == ""


def mapping_detail(app: OutreachApp) -> str:
    return plain(app.wizard.query_one("#mapping-detail", Static))


@pytest.mark.parametrize(("target", "message"), [
    ("firstNam", "did you mean 'firstName'"),
    ("name", "'name' is read-only"),
    ("custom151", "custom1 … custom150"),
    ("OutreachId", "OutreachId is the identity"),
    ("firstName", "already written by mapping row 1"),
])
async def test_mapping_row_problems_come_and_go(app: OutreachApp, target: str, message: str) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.wizard
        screen.show_step("mapping")
        await pilot.pause()
        await pilot.click("#mapping-add")
        await fill(pilot, "#mapping-source", "person.name.firstName")
        await fill(pilot, "#mapping-target", target)
        table = screen.query_one("#mapping-table", DataTable)
        assert str(table.get_row_at(table.row_count - 1)[-1]) == "✗"
        assert message in mapping_detail(app)
        await pilot.press("f3")
        assert screen.current == "mapping"
        await fill(pilot, "#mapping-target", "occupation")  # fixed in place: the row and its detail clear
        assert str(table.get_row_at(table.row_count - 1)[-1]) == "✓"
        assert "✗" not in mapping_detail(app)
        await fill(pilot, "#mapping-target", target)
        await pilot.click("#mapping-delete")  # or the row goes: the problem goes with it
        assert message not in mapping_detail(app)
        assert all(str(table.get_row_at(i)[-1]) == "✓" for i in range(table.row_count))
        await pilot.press("f3")
        assert screen.current == "segments"


async def test_duplicate_row_error_leaves_with_the_duplicate(app: OutreachApp) -> None:
    """The issue's stale error: row 7 duplicated row 1; deleting row 1 must clear row 7's problem."""
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.wizard
        screen.show_step("mapping")
        await pilot.pause()
        await pilot.click("#mapping-add")
        await fill(pilot, "#mapping-source", "person.name.firstName")
        await fill(pilot, "#mapping-target", "firstName")
        assert "already written by mapping row 1" in mapping_detail(app)
        table = screen.query_one("#mapping-table", DataTable)
        table.move_cursor(row=1)  # row 1 (after the identity row)
        await pilot.pause()
        await pilot.click("#mapping-delete")
        assert len(screen.query_one(MappingStep).rows) == 6
        assert all(str(table.get_row_at(i)[-1]) == "✓" for i in range(table.row_count))
        assert not screen.draft.problems


async def test_segment_problems(app: OutreachApp) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.wizard
        screen.show_step("segments")
        await pilot.pause()
        step = screen.query_one(SegmentsStep)
        table = screen.query_one("#segments-table", DataTable)
        table.move_cursor(row=table.get_row_index("m0"))  # seg-emea, mapping ID 4
        for typed in ("0", "151"):
            await fill(pilot, "#segment-mapping-id", typed)
            assert "must be a whole number 1..150" in error_of(app, "segment-mapping-id"), typed
            assert str(table.get_row("m0")[-1]) == "✗ fix"
        await fill(pilot, "#segment-mapping-id", "5")  # seg-trial has 5: the model flags the later of the two
        assert "collides with segment 'EMEA high intent' (mapping ID 5)" in " ".join(step.problems_by_row[1])
        assert str(table.get_row("m1")[-1]) == "✗ fix"
        await fill(pilot, "#segment-mapping-id", "12")
        assert error_of(app, "segment-mapping-id") == ""
        assert str(table.get_row("m0")[3]) == "12"
        assert step.segments[0]["mapping_id"] == 12 and not screen.draft.problems


async def test_a_broken_profile_opens_with_its_problems_at_their_fields(tmp_path: Path) -> None:
    demo_profile(tmp_path)
    (tmp_path / "bad.toml").write_text("""
[destination]
name = ""
nmae = "typo"

[outreach]
api_base = "ftp://outreach"

[source]
path = "profiles.jsonl"
format = "xml"

[[mapping]]
source = "person.name.firstName"
target = "firstName"

[[segments]]
id = "seg-emea"
mapping_id = "4"
""", encoding="utf-8")
    app = make_app(WizardSettings(profile_path=tmp_path / "bad.toml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.wizard
        assert screen.query_one("#api-base", Input).value == "ftp://outreach"  # nothing blank
        assert "must be an http(s) URL" in error_of(app, "api-base")
        assert error_of(app, "destination-name") == "✗ required"
        other = plain(screen.query_one("#destination").query_one(".step-problems", FieldError))
        assert "destination.nmae: unknown key — did you mean 'name'?" in other
        segments = screen.query_one(SegmentsStep)
        assert "not the text '4'" in " ".join(segments.problems_by_row[0])
        assert "Input should be 'jsonl', 'json', 'csv' or 'parquet'" in error_of(app, "source-format")
        assert screen.draft.data["source"]["format"] == "xml"  # shown as a problem, never dropped
        bar = plain(screen.query_one("#step-bar", Static))
        assert "!1 Connect" in bar and "!3 Source" in bar and " 4 Mapping" in bar  # steps to visit
        assert not screen.is_dirty()
        await pilot.press("ctrl+q")  # nothing changed: no "unsaved changes" question
        await wait_until(pilot, lambda: not app.is_running)


async def test_unreadable_toml_is_explained_and_enter_closes_it(tmp_path: Path) -> None:
    (tmp_path / "broken.toml").write_text("[destination\nname = 1", encoding="utf-8")
    app = make_app(WizardSettings(profile_path=tmp_path / "broken.toml"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "not valid TOML" in plain(app.screen.query_one("#error-message", Static))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen is app.wizard)
        assert not app.wizard.is_dirty()


async def test_quit_warns_about_unsaved_changes_only(app: OutreachApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        assert not app.wizard.is_dirty()
        app.wizard.show_step("destination")
        await fill(pilot, "#destination-name", "Renamed")
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        assert "unsaved changes" in plain(app.screen.query_one(".dialog-title", Static))
        await pilot.click("#no")
        assert app.is_running and app.screen is app.wizard
        await fill(pilot, "#destination-name", "Outreach demo (sandbox)")  # back as it was: nothing to save
        assert not app.wizard.is_dirty()
        await fill(pilot, "#destination-name", "Renamed")
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: not app.wizard.is_dirty())
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: not app.is_running)


async def test_help_palette_and_worker_errors_in_a_modal(app: OutreachApp, tmp_path: Path) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        names = [name for name, _, _ in COMMANDS]
        assert "Start export" in names and "Go to step 4: Mapping" in names
        (tmp_path / "notes.txt").write_text("hello")
        app.wizard.show_step("source")
        await pilot.pause()
        await fill(pilot, "#source-path", "notes.txt")
        select = app.wizard.query_one("#source-format", Select)
        select.focus()  # a user's pick
        select.value = "auto"
        await pilot.click("#discover")
        await wait_until(pilot, lambda: isinstance(app.screen, ErrorModal))
        assert "cannot tell the format" in plain(app.screen.query_one("#error-message", Static))
        await pilot.press("enter")
        assert app.is_running and app.screen is app.wizard
