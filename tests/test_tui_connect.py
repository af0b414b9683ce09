"""The Connect step: the redirect URI to register on the Outreach app (before any sign-in, following the
draft), and once signed in what ``outreach-tui status`` knows (token expiry, last run, dead letters), short on
the step and in full behind the Details key. Tokens come from the sandbox, stored as a sign-in stores them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from test_tui_support import fill, plain, wait_until
from textual.widgets import Static

from outreach_tui.outreach.tokens import TokenRecord, default_store
from outreach_tui.profile import profile_from_dict, save_profile
from outreach_tui.tui.app import OutreachApp, WizardSettings, make_app
from outreach_tui.tui.modals import TextModal
from outreach_tui.tui.widgets.export_panel import ExportPanel


def write_profile(directory: Path, sandbox: Any) -> Path:
    lines = [{"identityMap": {"Oid": [{"id": str(n)}]}, "person": {"name": {"firstName": f"Ann {n}"}}}
             for n in range(1, 6)]
    lines.append({"identityMap": {"Oid": [{"id": "999"}]}, "person": {"name": {"firstName": "Nobody"}}})  # a 404
    (directory / "people.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    profile = profile_from_dict({
        "destination": {"name": "Connect test"},
        "outreach": {"api_base": sandbox.api_base, "authorize_url": sandbox.authorize_url,
                     "token_url": sandbox.token_url, "client_id": "outreach-tui-sandbox"},
        "source": {"path": "people.jsonl"},
        "mapping": [{"source": "person.name.firstName", "target": "firstName"}],
    })
    return save_profile(profile, directory / "connect.toml")


def sign_in(path: Path, sandbox: Any) -> None:
    """What a finished browser sign-in leaves behind: the profile's tokens in the token store."""
    from outreach_tui.profile import load_profile

    profile = load_profile(path)
    default_store().save(profile.token_place().key, TokenRecord.from_token_response(sandbox.issue_token()))


def status_text(app: OutreachApp) -> str:
    return plain(app.wizard.query_one("#connect-status-text", Static))


async def test_the_redirect_uri_to_register_shows_before_sign_in_and_follows_the_draft(
        tmp_path: Path, sandbox: Any) -> None:
    app = make_app(WizardSettings(profile_path=write_profile(tmp_path, sandbox)))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        advice = screen.query_one("#redirect-advice", Static)
        assert "registered on the Outreach app (client id 'outreach-tui-sandbox'), exactly: " \
               "http://127.0.0.1:8976/callback" in " ".join(plain(advice).split())
        await fill(pilot, "#client-id", "my-app")
        assert "client id 'my-app'" in plain(advice)
        await pilot.pause(0.3)
        assert not screen.query_one("#connect-status").has_class("-shown")  # signed out: no status line
        await pilot.press("d")
        assert not isinstance(app.screen, TextModal)


async def test_status_when_signed_in_then_after_an_export(tmp_path: Path, sandbox: Any,
                                                          isolated_environment: Path) -> None:
    path = write_profile(tmp_path, sandbox)
    sign_in(path, sandbox)
    app = make_app(WizardSettings(profile_path=path))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.wizard
        widget = screen.query_one("#connect-status")
        await wait_until(pilot, lambda: widget.has_class("-shown"))
        assert "token expires in 1 h 59 min (renewed on use)" in status_text(app) or \
               "token expires in 2 h 0 min (renewed on use)" in status_text(app)
        assert "no run yet" in status_text(app) and "no dead letters" in status_text(app)
        assert widget.region.bottom <= 24 and widget.region.height <= 2  # compact at 80x24

        assert screen.go("export")
        screen.action_export("start")
        panel = screen.query_one(ExportPanel)
        await wait_until(pilot, lambda: panel.view.state == "finished", timeout=60)
        failed = panel.view.counts.failed
        assert failed == 1
        await wait_until(pilot, lambda: "last run #1" in status_text(app))
        text = status_text(app)
        assert "last run #1, exit 1 (some prospects failed)" in text
        assert "1 dead letter waiting" in text

        screen.show_step("connect")
        await pilot.pause()
        await pilot.click("#status-details")
        assert isinstance(app.screen, TextModal)
        details = plain(app.screen.query_one("#text-body", Static))
        for label in ("Signed in:", "Scopes:", "Token expires:", "Last run:", "Dead letters:", "Pending cleanup:"):
            assert label in details, label
        assert "1 waiting (the next run sends them again)" in details and "prospect 999: HTTP 404" in details
        assert "State:           $DATA/" in details and str(isolated_environment) not in details  # paths shortened
        await pilot.press("enter")
        assert not isinstance(app.screen, TextModal)
        screen.query_one("#sign-in").focus()  # the key, from a button of the step (an input takes the letter)
        await pilot.press("d")
        assert isinstance(app.screen, TextModal)
