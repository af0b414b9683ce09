"""Helpers for the wizard's Pilot tests (no tests here): typing into fields, waiting on conditions."""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from rich.console import Console
from textual import events
from textual.pilot import Pilot
from textual.widgets import Input, Static

from outreach_tui.profile import Profile, profile_from_dict, save_profile
from outreach_tui.tui.app import OutreachApp

DEMO = resources.files("outreach_tui") / "demo"


async def wait_until(pilot: Pilot[int], condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app run until ``condition`` holds (polls the event loop; no fixed sleeps)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for the app; {describe(pilot.app)}")
        await pilot.pause(0.02)


async def fill(pilot: Pilot[int], selector: str, text: str) -> None:
    """Focus an Input, clear it and type ``text`` as a user would: short text key by key, long text pasted."""
    app = pilot.app
    field = app.screen.query_one(selector, Input)
    field.focus()
    field.value = ""
    await pilot.pause()
    if len(text) <= 8:
        await pilot.press(*text)
    else:
        field.post_message(events.Paste(text))
        await pilot.pause()


def copy_demo_input(directory: Path) -> Path:
    target = directory / "profiles.jsonl"
    with resources.as_file(DEMO / "profiles.jsonl") as source:
        shutil.copy(source, target)
    return target


def demo_profile(directory: Path, api_base: str = "http://127.0.0.1:8765/api/v2") -> Profile:
    """The demo profile saved next to a copy of the demo input, pointed at ``api_base``."""
    import tomllib

    copy_demo_input(directory)
    data = tomllib.loads((DEMO / "demo.toml").read_text(encoding="utf-8"))
    root = api_base.removesuffix("/api/v2")
    data["outreach"].update(api_base=api_base, authorize_url=f"{root}/oauth/authorize",
                            token_url=f"{root}/oauth/token")
    profile = profile_from_dict(data)
    save_profile(profile, directory / "demo.toml")
    return profile


def wizard(app: OutreachApp):  # type: ignore[no-untyped-def]
    return app.wizard


def plain(widget: Static) -> str:
    """What a Static shows, as plain text (works for Text and for Rich renderables such as tables)."""
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(widget.content)
    return console.export_text()


def describe(app: object) -> str:
    """Where the app is: the screen stack and any error modal's message (for failing tests)."""
    stack = getattr(app, "screen_stack", [])
    messages = [plain(s.query_one("#error-message", Static)) for s in stack
                if s.query("#error-message")]
    return f"screens={[type(s).__name__ for s in stack]} errors={messages}"
