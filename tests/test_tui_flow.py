"""The whole wizard against the sandbox, through the UI: sign in (the browser replaced by a scripted HTTP
login on the sandbox's own pages), fill every step, save, preview, export, then check the sandbox."""

from __future__ import annotations

import asyncio
import json
import tomllib
from pathlib import Path
from typing import Any

from test_auth_support import sign_in_over_http
from test_tui_support import copy_demo_input, fill, plain, wait_until
from textual.widgets import DataTable, Static

from outreach_tui.profile import load_profile
from outreach_tui.tui.app import WizardSettings, make_app
from outreach_tui.tui.locations import recent_profiles
from outreach_tui.tui.widgets.export_panel import ExportPanel
from outreach_tui.tui.widgets.review import ReviewStep


def expected_first_names(path: Path) -> dict[int, str]:
    """DESIGN 3 for one attribute: every valid Oid id gets the last firstName seen in input order."""
    expected: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        name = ((record.get("person") or {}).get("name") or {}).get("firstName")
        for entry in (record.get("identityMap") or {}).get("Oid") or []:
            raw = str(entry.get("id", "")).strip()
            if raw.isdigit() and int(raw) > 0 and isinstance(name, str):
                expected[int(raw)] = name
    return expected


def statuses(path: Path, segment: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        status = (((record.get("segmentMembership") or {}).get("ups") or {}).get(segment) or {}).get("status")
        for entry in (record.get("identityMap") or {}).get("Oid") or []:
            raw = str(entry.get("id", "")).strip()
            if raw.isdigit() and int(raw) > 0 and status:
                found[int(raw)] = status
    return found


async def test_full_flow_against_the_sandbox(tmp_path: Path, signin_env: Path,
                                             sandbox_factory: Any) -> None:
    sandbox = sandbox_factory(seed="demo", prospects=0)
    source = copy_demo_input(tmp_path)
    logins: list[asyncio.Task[Any]] = []
    app = make_app(WizardSettings())
    app.open_url = lambda url, new_tab=True: logins.append(  # type: ignore[method-assign]
        asyncio.create_task(sign_in_over_http(url)))

    async with app.run_test(size=(120, 36)) as pilot:
        screen = app.wizard
        # 1 Connect: the sandbox's URLs typed in, then the browser sign-in.
        await fill(pilot, "#api-base", sandbox.api_base)
        await fill(pilot, "#authorize-url", sandbox.authorize_url)
        await fill(pilot, "#token-url", sandbox.token_url)
        await fill(pilot, "#client-id", "outreach-tui-sandbox")
        await pilot.click("#sign-in")
        signed_in = screen.query_one("#signed-in", Static)
        await wait_until(pilot, lambda: "Signed in to Outreach" in plain(signed_in))  # Outreach does not say whose
        assert (await logins[0]).status_code == 200
        assert "prospects.write" in plain(signed_in)

        # 2 Destination
        await pilot.press("f3")
        assert screen.current == "destination"
        await fill(pilot, "#destination-name", "EMEA wizard test")
        await fill(pilot, "#destination-description", "made by the Pilot test")

        # 3 Source: discovery fills the pick lists.
        await pilot.press("f3")
        await fill(pilot, "#source-path", str(source))
        await pilot.click("#discover")
        await wait_until(pilot, lambda: screen.discovery is not None)
        summary = plain(screen.query_one("#discovery-summary", Static))
        assert "seg-emea" in summary and "Oid" in summary

        # 4 Mapping: two rows through the editor.
        await pilot.press("f3")
        assert screen.current == "mapping"
        for xdm, target in (("person.name.firstName", "firstName"), ("person.name.lastName", "lastName")):
            await pilot.click("#mapping-add")
            await fill(pilot, "#mapping-source", xdm)
            await fill(pilot, "#mapping-target", target)
        assert screen.query_one("#mapping-table", DataTable).row_count == 3  # identity + 2

        # 5 Segments: map seg-emea to custom4 and check /types.
        await pilot.press("f3")
        assert screen.current == "segments"
        table = screen.query_one("#segments-table", DataTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("dseg-emea"))
        await pilot.press("enter")  # exported, with the first free mapping ID
        await fill(pilot, "#segment-name", "EMEA high intent")
        await fill(pilot, "#segment-mapping-id", "4")
        await pilot.click("#check-types")
        detail = screen.query_one("#segment-detail", Static)
        await wait_until(pilot, lambda: "label 'EMEA high intent'" in plain(detail))
        assert str(table.get_row("m0")[-1]) == "✓ configured"

        # 6 Review: save as, then a dry-run preview.
        await pilot.press("f3")
        assert screen.current == "review"
        await pilot.click("#save-as")
        await fill(pilot, "#save-as-path", str(tmp_path / "wizard.toml"))
        await pilot.press("enter")
        await wait_until(pilot, lambda: (tmp_path / "wizard.toml").exists())
        saved = load_profile(tmp_path / "wizard.toml")
        assert saved.destination.name == "EMEA wizard test"
        assert [(r.source, r.target) for r in saved.mapping] == [("person.name.firstName", "firstName"),
                                                                 ("person.name.lastName", "lastName")]
        assert [(s.id, s.mapping_id, s.name) for s in saved.segments] == [("seg-emea", 4, "EMEA high intent")]
        assert tomllib.loads((tmp_path / "wizard.toml").read_text())["outreach"]["api_base"] == sandbox.api_base
        assert recent_profiles()[0] == (tmp_path / "wizard.toml").resolve()
        assert not screen.is_dirty()
        await pilot.click("#preview")
        review = screen.query_one(ReviewStep)
        await wait_until(pilot, lambda: '"firstName"' in plain(review.query_one("#preview-payloads", Static)))
        assert sandbox.stats.count(method="PATCH") == 0  # a dry run sends nothing

        # 7 Export
        await pilot.press("f3")
        assert screen.current == "export"
        await pilot.click("#export-start")
        panel = screen.query_one(ExportPanel)
        await wait_until(pilot, lambda: panel.view.state == "finished", timeout=60)
        await pilot.pause(0.15)
        assert panel.view.report_path and Path(panel.view.report_path).is_file()
        report = json.loads(Path(panel.view.report_path).read_text())
        assert report["prospects"]["activated"] > 200
        assert "Report: $DATA/reports/" in plain(panel.query_one("#export-state", Static))

    failed = {f["prospect_id"] for f in report["failures"]}
    names = expected_first_names(source)
    emea = statuses(source, "seg-emea")
    checked = 0
    for prospect_id, first_name in names.items():
        if prospect_id in failed:
            continue
        prospect = sandbox.prospect(prospect_id)
        assert prospect is not None and prospect["firstName"] == first_name, prospect_id
        assert prospect.get("custom4") == emea.get(prospect_id), prospect_id
        checked += 1
    assert checked > 200
