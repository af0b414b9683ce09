"""Regenerate ``screenshots/*.svg``: every wizard step and the export panel mid-run, against the sandbox
with the demo data (the same data ``outreach-tui demo`` uses).

    python tools/screenshots.py [--size 100x30] [--out screenshots]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from outreach_tui.commands.wizard import write_demo_profile
from outreach_tui.sandbox import SandboxConfig, start_sandbox
from outreach_tui.tui.app import WizardSettings, make_app
from outreach_tui.tui.steps import STEP_TITLES, STEPS
from outreach_tui.tui.widgets.export_panel import ExportPanel


async def until(pilot: Any, condition: Any, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("the app did not get there in time")
        await pilot.pause(0.05)


async def shoot(out: Path, size: tuple[int, int], sandbox: Any, profile_path: Path) -> list[Path]:
    app = make_app(WizardSettings(profile_path=profile_path, sandbox=sandbox,
                                  path_aliases={str(profile_path.parent): "~/demo"}))
    written: list[Path] = []
    async with app.run_test(size=size) as pilot:
        screen = app.wizard
        await until(pilot, lambda: "Signed in" in str(screen.query_one("#signed-in").content))
        screen.action_discover()
        await until(pilot, lambda: screen.discovery is not None)
        screen.action_check_types()
        await app.workers.wait_for_complete()
        for number, step in enumerate(STEPS, start=1):
            screen.show_step(step)
            if step == "review":
                screen.action_preview()
                await app.workers.wait_for_complete()
                await pilot.pause(0.3)  # the step scrolls to the dry run: its budget per strategy, then payloads
            if step == "export":
                sandbox.set_faults(latency_ms=25)
                screen.action_export("start")
                panel = screen.query_one(ExportPanel)
                await until(pilot, lambda panel=panel: panel.view.counts.activated >= 120)
            app.set_focus(None)
            await pilot.pause(0.2)
            target = out / f"{number}-{step}.svg"
            target.write_text(app.export_screenshot(title=f"outreach-tui · {STEP_TITLES[step]}"),
                              encoding="utf-8")
            written.append(target)
        screen.action_export("cancel")
        await until(pilot, lambda: not screen.export_running())
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="100x30", help="terminal COLUMNSxROWS (default 100x30)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "screenshots")
    args = parser.parse_args()
    columns, rows = (int(part) for part in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["OUTREACH_TUI_DATA_DIR"] = str(Path(scratch) / "data")
        os.environ["OUTREACH_TUI_TOKEN_STORE"] = "file"
        with start_sandbox(SandboxConfig(port=0, seed="demo", mint_interval=0)) as sandbox:
            os.environ["OUTREACH_ACCESS_TOKEN"] = sandbox.issue_token()["access_token"]
            profile_path = write_demo_profile(Path(scratch) / "demo", sandbox)
            for path in asyncio.run(shoot(args.out, (columns, rows), sandbox, profile_path)):
                print(path)


if __name__ == "__main__":
    main()
