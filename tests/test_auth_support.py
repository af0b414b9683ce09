"""Shared helpers for the sign-in and token tests (no tests here; their fixtures ``signin_env`` and
``auth_sandbox`` come from sandbox_fixtures.py through conftest). ``sign_in_over_http`` walks the
sandbox's login pages the way a browser does (GET the authorize URL, POST email, POST password, follow
the redirect to the loopback callback), over real HTTP.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import httpx

from outreach_tui.outreach.credentials import TokenSource
from outreach_tui.outreach.settings import OutreachSettings
from outreach_tui.outreach.token_source import token_source_for
from outreach_tui.outreach.tokens import TokenPlace
from outreach_tui.profile import Profile, profile_from_dict, save_profile
from outreach_tui.sandbox import Sandbox, SandboxConfig

USER, PASSWORD = "demo@example.com", "demo"


def start(**settings: Any) -> Sandbox:
    sandbox = Sandbox(SandboxConfig(**{"port": 0, "prospects": 3, "mint_interval": 0.0, **settings}))
    sandbox.start()
    return sandbox


def registered_redirect_uri(sandbox: Sandbox, path: str = "/callback") -> str:
    """A fixed loopback redirect URI on a port free right now, registered on the sandbox's app (as a user
    registers theirs on the Outreach app). Not the default port 8976: tests of several checkouts may run
    at once on one machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}{path}"
    sandbox.register_redirect_uri(uri)
    return uri


def make_profile(directory: Path, sandbox: Sandbox, **outreach: Any) -> Profile:
    """A profile for ``sandbox`` whose redirect URI is fixed and registered there (unless given)."""
    if "redirect_uri" not in outreach:
        outreach["redirect_uri"] = registered_redirect_uri(sandbox)
    settings = {"api_base": sandbox.api_base, "authorize_url": sandbox.authorize_url,
                "token_url": sandbox.token_url, "client_id": "outreach-tui-sandbox",
                "scopes": ["prospects.read", "prospects.write", "users.read"], **outreach}
    profile = profile_from_dict({"destination": {"name": "Sandbox"}, "outreach": settings,
                                 "source": {"path": "people.jsonl"}})
    save_profile(profile, directory / "profile.toml")
    return profile


def source_for(profile: Profile, **options: Any) -> TokenSource:
    """The token source a run of ``profile`` uses (what the engine builds from the profile)."""
    return token_source_for(profile.outreach, profile.token_place(), **options)


def settings_and_place(profile: Profile) -> tuple[OutreachSettings, TokenPlace]:
    return profile.outreach, profile.token_place()


def _session(page: str) -> str:
    match = re.search(r'name="session" value="([^"]+)"', page)
    assert match, "the sandbox login page has no session field"
    return match.group(1)


async def redirect_after_login(authorize_url: str, email: str = USER, password: str = PASSWORD) -> str:
    """Sign in on the sandbox's pages and return where it redirects (without following)."""
    async with httpx.AsyncClient(follow_redirects=False) as client:
        page = await client.get(authorize_url)
        assert page.status_code == 200, page.text
        form_url = str(page.url.join("/oauth/authorize"))
        session = _session(page.text)
        step = await client.post(form_url, data={"session": session, "email": email})
        assert step.status_code == 200, step.text
        done = await client.post(form_url, data={"session": session, "password": password})
        assert done.status_code == 302, done.text
        return done.headers["location"]


async def sign_in_over_http(authorize_url: str) -> httpx.Response:
    """Sign in and follow the redirect to the loopback callback; the callback page's response."""
    location = await redirect_after_login(authorize_url)
    async with httpx.AsyncClient() as client:
        return await client.get(location)


def token_file(data_dir: Path) -> Path:
    files = sorted((data_dir / "tokens").glob("*.json"))
    assert len(files) == 1, files
    return files[0]
