"""``outreach-tui [PROFILE]`` and ``outreach-tui demo`` building blocks, the built-in sandbox button, the
command palette, and opening the most recent profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_tui_support import demo_profile, fill, plain, wait_until
from textual.command import CommandList
from textual.widgets import Input, Static

from outreach_tui.commands.wizard import run_wizard, write_demo_profile
from outreach_tui.profile import load_profile
from outreach_tui.tui.app import WizardSettings, make_app
from outreach_tui.tui.locations import recent_profiles, remember_profile


def test_missing_profile_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_wizard(tmp_path / "nope.toml") == 2
    assert "file not found" in capsys.readouterr().err


async def test_demo_profile_points_at_the_sandbox_and_shows_who_is_signed_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(seed="demo", prospects=0)
    path = write_demo_profile(tmp_path / "demo", sandbox)
    profile = load_profile(path)
    assert profile.outreach.api_base == sandbox.api_base and profile.source_path().is_file()
    assert profile.export.state_path == "demo-state.sqlite"  # a fresh sandbox gets a fresh state
    (tmp_path / "demo" / "demo-state.sqlite").write_bytes(b"old")
    write_demo_profile(tmp_path / "demo", sandbox)
    assert not (tmp_path / "demo" / "demo-state.sqlite").exists()
    monkeypatch.setenv("OUTREACH_ACCESS_TOKEN", sandbox.issue_token()["access_token"])
    app = make_app(WizardSettings(profile_path=path, sandbox=sandbox))
    async with app.run_test(size=(80, 24)) as pilot:
        signed_in = app.wizard.query_one("#signed-in", Static)
        await wait_until(pilot, lambda: "Signed in to Outreach" in plain(signed_in))
        assert "demo@example.com" not in plain(signed_in)  # Outreach does not say whose a token is
    assert sandbox.stats.count("GET", "/api/v2/prospects", 200) == 1  # the token was checked with Outreach
    assert recent_profiles() == [path.resolve()]


async def test_start_sandbox_button_rewrites_the_outreach_urls(tmp_path: Path) -> None:
    app = make_app(WizardSettings())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.click("#start-sandbox")
        await wait_until(pilot, lambda: app.wizard.sandbox is not None)
        api_base = app.wizard.query_one("#api-base", Input).value
        assert app.wizard.sandbox is not None and api_base == app.wizard.sandbox.api_base and api_base.startswith("http://127.0.0.1:")
        assert app.wizard.query_one("#client-id", Input).value == "outreach-tui-sandbox"


async def test_command_palette_and_recent_profile(tmp_path: Path) -> None:
    profile = demo_profile(tmp_path)
    assert profile.path is not None
    remember_profile(profile.path)
    app = make_app(WizardSettings(profile_path=recent_profiles()[0]))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.wizard.draft.data["destination"]["name"] == "Outreach demo (sandbox)"
        await pilot.press("ctrl+p")
        await pilot.pause()
        await fill(pilot, "CommandInput", "Go to step 4")
        await wait_until(pilot, lambda: app.screen.query_one(CommandList).option_count > 0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.wizard.current == "mapping")
