"""Running the sandbox: in a background thread for tests and the demo, or blocking for the CLI."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import uvicorn

from outreach_tui.sandbox.api import OutreachApi
from outreach_tui.sandbox.app import build_app
from outreach_tui.sandbox.config import SandboxConfig
from outreach_tui.sandbox.state import SandboxState, SandboxStats
from outreach_tui.sandbox.types_document import types_problems
from outreach_tui.sandbox.validation import parse_types

MAX_ID = 2**63 - 1  # Outreach ids are 64-bit integers
DEFAULT_SCOPES = ("prospects.read", "prospects.write", "users.read")
START_TIMEOUT = 15.0
SHUTDOWN_GRACE = 5.0  # seconds to let in-flight requests finish


class SandboxError(Exception):
    """A foreseeable start-up problem (bad seed file, port in use); the message is for the user."""


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SandboxError(f"cannot read the {what} file {path}: {exc}") from exc


def _demo_json(name: str) -> Any:
    resource = resources.files("outreach_tui").joinpath("demo", name)
    try:
        return json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SandboxError(f"cannot read the demo data {name}: {exc}") from exc


def _prospects_from(body: Any, source: str) -> dict[int, dict[str, Any]]:
    entries = body.get("prospects") if isinstance(body, dict) else body
    if not isinstance(entries, list):
        raise SandboxError(f'{source}: expected {{"prospects": [{{"id": 1, "attributes": {{...}}}}]}}')
    prospects: dict[int, dict[str, Any]] = {}
    for index, entry in enumerate(entries):
        where = f"{source}: prospects[{index}]"
        if not isinstance(entry, dict):
            raise SandboxError(f'{where}: expected {{"id": 1, "attributes": {{...}}}}')
        attributes = entry.get("attributes") or {}
        if not isinstance(attributes, dict):
            raise SandboxError(f"{where}: 'attributes' must be an object")
        prospects[_prospect_id(entry.get("id"), where)] = dict(attributes)
    return prospects


def _prospect_id(raw: Any, where: str) -> int:
    """An id Outreach could hold: a positive integer that fits its 64-bit columns (and orjson's encoder)."""
    text = raw if isinstance(raw, str) else None
    value = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if text is not None and text.isdigit() and len(text) <= 20:
        value = int(text)
    if value is None or not 1 <= value <= MAX_ID:
        shown = repr(raw) if len(repr(raw)) <= 30 else repr(raw)[:27] + "..."
        raise SandboxError(f"{where}: 'id' must be an integer from 1 to {MAX_ID:,} (got {shown})")
    return value


def _demo_redirect_uri() -> str:
    """The redirect URI of the shipped demo profile (the demo registers its own on the sandbox's app)."""
    resource = resources.files("outreach_tui").joinpath("demo", "demo.toml")
    try:
        uri = tomllib.loads(resource.read_text(encoding="utf-8"))["outreach"]["redirect_uri"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SandboxError(f"cannot read the demo profile's redirect_uri: {exc}") from exc
    return str(uri)


class _Server(uvicorn.Server):
    """uvicorn's server, stoppable at once from another thread (its own loop polls every 0.1 s and then
    sleeps 0.1 s at shutdown: 0.2 s per test adds up over a suite that starts a sandbox per test)."""

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop, self._wake = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        while not await self.on_tick(counter):  # on_tick also turns true on Ctrl-C (should_exit)
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()
        deadline = time.monotonic() + SHUTDOWN_GRACE
        while self.server_state.tasks and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        for task in self.server_state.tasks:
            task.cancel()

    def stop_soon(self) -> None:
        self.should_exit = True
        if self._loop is not None and self._wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                self._loop.call_soon_threadsafe(self._wake.set)


class Sandbox:
    """One sandbox server: its state, its app, and (once started) its address."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.state = SandboxState(config)
        self.api = OutreachApi(self.state)
        self.app = build_app(self.state, self.api)
        self._seed()
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    # -- addresses ------------------------------------------------------------------------------------
    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v2"

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/oauth/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth/token"

    # -- test and demo helpers (thread-safe: they go through the state's lock) -------------------------
    def issue_token(
        self, user: str = "demo@example.com", scopes: tuple[str, ...] = DEFAULT_SCOPES, ttl: int | None = None
    ) -> dict[str, Any]:
        """The same body /oauth/token returns, without a browser (not subject to the mint throttle)."""
        return self.state.mint(user, self.config.client_id, frozenset(scopes), ttl)

    def set_faults(
        self,
        error_rate: float | None = None,
        drop_rate: float | None = None,
        latency_ms: float | None = None,
        import_ignore_rate: float | None = None,
    ) -> None:
        self.state.set_faults(error_rate, drop_rate, latency_ms, import_ignore_rate)

    def import_job(self, import_id: int) -> dict[str, Any] | None:
        """What the API never tells: the ids an import carried, which failed and which were ignored."""
        return self.api.imports.inspect(import_id)

    def expire_all_tokens(self) -> None:
        self.state.expire_all_tokens()

    def prospect(self, prospect_id: int) -> dict[str, Any] | None:
        return self.state.prospect(prospect_id)

    def delete_prospect(self, prospect_id: int) -> bool:
        """Delete a prospect behind the client's back (its id then answers 404, its emails are free)."""
        return self.state.delete(prospect_id)

    def register_redirect_uri(self, uri: str) -> None:
        """Register one more redirect URI on the sandbox's OAuth app (matched exactly, like Outreach)."""
        self.state.register_redirect_uri(uri)

    def start_maintenance(self, seconds: float) -> float:
        """Answer every API request 503 scheduledServerMaintenance, ``Retry-After`` an HTTP date, for
        ``seconds``; returns when it ends (epoch seconds)."""
        return self.state.start_maintenance(seconds)

    def add_prospects(self, prospects: dict[int, dict[str, Any]]) -> None:
        self.state.add_prospects(prospects)

    def set_types(self, types_body: Any, source: str = "types") -> None:
        """Serve ``types_body`` at /types and validate custom fields by it; SandboxError when it breaks the
        document's format (the sandbox must never serve a body Outreach would not)."""
        problems = types_problems(types_body)
        if problems:
            raise SandboxError(f"{source} is not a valid GET /types body: " + "; ".join(problems))
        self.state.set_types(types_body, parse_types(types_body))

    @property
    def stats(self) -> SandboxStats:
        return self.state.stats()

    def reset_stats(self) -> None:
        self.state.reset_stats()

    # -- seeding --------------------------------------------------------------------------------------
    def _seed(self) -> None:
        config = self.config
        if config.prospects:
            self.add_prospects({i: {} for i in range(1, config.prospects + 1)})
        if config.seed == "demo":
            self.add_prospects(_prospects_from(_demo_json("prospects.json"), "demo prospects.json"))
            self.set_types(_demo_json("types.json"), "demo types.json")
            self.register_redirect_uri(_demo_redirect_uri())
        elif config.seed is not None:
            self.add_prospects(_prospects_from(_read_json(config.seed, "seed"), str(config.seed)))
        if config.types is not None:
            self.set_types(_read_json(config.types, "types"), str(config.types))

    # -- serving --------------------------------------------------------------------------------------
    def bind(self) -> None:
        """Open the listening socket now, so the address (and a port 0 choice) is known before serving."""
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.config.host, self.config.port))
        except OSError as exc:
            sock.close()
            raise SandboxError(f"cannot listen on {self.config.host}:{self.config.port}: {exc.strerror}") from exc
        sock.listen(2048)
        sock.setblocking(False)
        self._socket = sock
        port = sock.getsockname()[1]
        host = f"[{self.config.host}]" if family == socket.AF_INET6 else self.config.host
        self.base_url = f"http://{host}:{port}"
        self.api.base_url = self.base_url

    def _make_server(self) -> _Server:
        config = uvicorn.Config(
            self.app,
            loop="auto",  # uvloop when installed
            http="httptools",
            lifespan="off",
            log_config=None,  # never reconfigure the host program's logging
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # loopback: no proxy to trust, and one middleware less per request
            server_header=False,
            timeout_keep_alive=30,
            backlog=2048,
        )
        self._server = _Server(config)
        return self._server

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C (or ``stop()``); the caller has called ``bind()``."""
        assert self._socket is not None, "bind() first"
        self._make_server().run(sockets=[self._socket])

    def start(self) -> None:
        """Serve in a background thread with its own event loop; return once it accepts connections."""
        if self._socket is None:
            self.bind()
        server = self._make_server()
        self._thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [self._socket]},
            name=f"sandbox{self.base_url[6:]}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise SandboxError("the sandbox server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop_soon()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def start_sandbox(config: SandboxConfig | None = None) -> Iterator[Sandbox]:
    """``with start_sandbox(cfg) as sb:`` - a listening sandbox for the duration of the block."""
    sandbox = Sandbox(config or SandboxConfig(port=0))
    sandbox.start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def run_sandbox(config: SandboxConfig, ready: Callable[[Sandbox], None] | None = None) -> None:
    """Serve in the calling thread until Ctrl-C; ``ready`` runs once the address is known."""
    sandbox = Sandbox(config)
    sandbox.bind()
    if ready is not None:
        ready(sandbox)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
