"""The Destination step's test alert, posted to a real webhook on loopback: accepted, and refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_tui_support import demo_profile, fill, wait_until

from outreach_tui.tui.app import OutreachApp, WizardSettings, make_app


class Webhook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200


@pytest.fixture
def webhook() -> Iterator[tuple[Webhook, str]]:
    hook = Webhook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            hook.bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(hook.status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


def notes(app: OutreachApp) -> list[str]:
    return [note.message for note in app._notifications]


@pytest.mark.parametrize(("status", "answer"), [(200, "The webhook accepted the test alert."),
                                                (500, "The webhook did not accept the test alert; check its URL.")])
async def test_test_alert_reaches_the_webhook(tmp_path: Path, webhook: tuple[Webhook, str], status: int,
                                              answer: str) -> None:
    hook, url = webhook
    hook.status = status
    demo_profile(tmp_path)
    app = make_app(WizardSettings(profile_path=tmp_path / "demo.toml"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.wizard.go("destination")
        await pilot.pause()
        await fill(pilot, "#webhook", url)
        await pilot.click("#test-alert")
        await wait_until(pilot, lambda: answer in notes(app))
        assert "Test alert: alerts show here like this one." in notes(app)
    assert [body["kind"] for body in hook.bodies] == ["test"]
    assert "Outreach demo (sandbox)" in hook.bodies[0]["text"]
