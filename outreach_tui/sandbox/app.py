"""The ASGI application: Outreach paths, OAuth paths, the ``/_sandbox/`` inspection API, and a thin ASGI
wrapper that counts requests, tracks concurrency and injects latency and dropped connections."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from outreach_tui.sandbox.api import OutreachApi
from outreach_tui.sandbox.imports import ImportsApi
from outreach_tui.sandbox.oauth import OAuthServer
from outreach_tui.sandbox.state import SandboxState

PROSPECT_PATH = re.compile(r"^/api/v2/prospects/[^/]+$")
PROSPECT_ROUTE = "/api/v2/prospects/{id}"
IMPORT_PATH = re.compile(r"^/api/v2/imports/\d+$")
IMPORT_ROUTE = "/api/v2/imports/{id}"
Endpoint = Callable[[Request], Awaitable[Response]]
SANDBOX_PREFIX = "/_sandbox/"


def route_of(path: str) -> str:
    """The route template a path belongs to, for the per-route counters."""
    if PROSPECT_PATH.match(path):
        return PROSPECT_ROUTE
    if IMPORT_PATH.match(path):
        return IMPORT_ROUTE
    if path.startswith("/_sandbox/prospects/"):
        return "/_sandbox/prospects/{id}"
    return path.rstrip("/") or "/"


class FaultsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    error_rate: float | None = Field(default=None, ge=0, le=1, alias="errorRate")
    drop_rate: float | None = Field(default=None, ge=0, le=1, alias="dropRate")
    latency_ms: float | None = Field(default=None, ge=0, alias="latencyMs")
    import_ignore_rate: float | None = Field(default=None, ge=0, le=1, alias="importIgnoreRate")


class MintBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = "demo@example.com"
    scopes: list[str] = Field(default_factory=lambda: ["prospects.read", "prospects.write", "users.read"])
    ttl: int | None = Field(default=None, gt=0)


class MaintenanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(gt=0, le=86400)


class RedirectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uri: str = Field(min_length=1)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class InspectionApi:
    """``/_sandbox/``: state and counters for tests that run the sandbox in another process."""

    def __init__(self, state: SandboxState, imports: ImportsApi) -> None:
        self.state = state
        self.imports = imports

    def routes(self) -> list[Route]:
        return [
            Route("/_sandbox/stats", self.stats, methods=["GET"]),
            Route("/_sandbox/reset-stats", self.reset_stats, methods=["POST"]),
            Route("/_sandbox/prospects/{id:int}", self.prospect, methods=["GET"]),
            Route("/_sandbox/prospects/{id:int}", self.delete_prospect, methods=["DELETE"]),
            Route("/_sandbox/faults", self.faults, methods=["POST"]),
            Route("/_sandbox/expire-tokens", self.expire_tokens, methods=["POST"]),
            Route("/_sandbox/tokens", self.mint, methods=["POST"]),
            Route("/_sandbox/maintenance", self.maintenance, methods=["POST"]),
            Route("/_sandbox/imports/{id:int}", self.import_job, methods=["GET"]),
            Route("/_sandbox/redirect-uris", self.register_redirect_uri, methods=["POST"]),
        ]

    async def stats(self, request: Request) -> Response:
        return _json(self.state.stats().to_json())

    async def reset_stats(self, request: Request) -> Response:
        self.state.reset_stats()
        return _json({"reset": True})

    async def prospect(self, request: Request) -> Response:
        prospect_id = request.path_params["id"]
        record = self.state.prospect(prospect_id)
        if record is None:
            return _json({"error": f"no prospect {prospect_id}"}, 404)
        return _json({"id": prospect_id, "attributes": record})

    async def delete_prospect(self, request: Request) -> Response:
        prospect_id = request.path_params["id"]
        if not self.state.delete(prospect_id):
            return _json({"error": f"no prospect {prospect_id}"}, 404)
        return _json({"deleted": prospect_id})

    async def faults(self, request: Request) -> Response:
        try:
            body = FaultsBody.model_validate_json(await request.body() or b"{}")
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        self.state.set_faults(body.error_rate, body.drop_rate, body.latency_ms, body.import_ignore_rate)
        state = self.state
        return _json({"errorRate": state.error_rate, "dropRate": state.drop_rate, "latencyMs": state.latency_ms,
                      "importIgnoreRate": state.import_ignore_rate})

    async def expire_tokens(self, request: Request) -> Response:
        self.state.expire_all_tokens()
        return _json({"expired": True})

    async def import_job(self, request: Request) -> Response:
        found = self.imports.inspect(request.path_params["id"])
        return _json(found) if found is not None else _json({"error": "no such import"}, 404)

    async def maintenance(self, request: Request) -> Response:
        """``{"seconds": N}``: answer every API request 503 scheduledServerMaintenance for N seconds."""
        try:
            body = MaintenanceBody.model_validate_json(await request.body() or b"{}")
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        until = self.state.start_maintenance(body.seconds)
        return _json({"until": until})

    async def register_redirect_uri(self, request: Request) -> Response:
        """``{"uri": "http://127.0.0.1:PORT/callback"}``: register one more redirect URI on the OAuth app."""
        try:
            body = RedirectBody.model_validate_json(await request.body() or b"{}")
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        self.state.register_redirect_uri(body.uri)
        return _json({"registered": self.state.redirect_uris})

    async def mint(self, request: Request) -> Response:
        try:
            body = MintBody.model_validate_json(await request.body() or b"{}")
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        token = self.state.mint(body.user, self.state.config.client_id, frozenset(body.scopes), body.ttl)
        return _json(token)


class Instrumented:
    """Pure ASGI wrapper (no BaseHTTPMiddleware: it costs throughput): counters, latency, dropped links."""

    def __init__(self, app: ASGIApp, state: SandboxState, patch: Endpoint) -> None:
        self.app = app
        self.state = state
        self.patch = patch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(SANDBOX_PREFIX):
            await self.app(scope, receive, send)
            return
        state, method, route = self.state, scope["method"], route_of(path)
        status = 0  # stays 0 for a dropped connection
        state.enter()
        try:
            if path.startswith("/api/v2"):
                if state.latency_ms:
                    await asyncio.sleep(state.latency_ms / 1000)
                if state.roll_drop():
                    await _drop(send)
                    return

            async def counting_send(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            if method == "PATCH" and route == PROSPECT_ROUTE:  # the hot path skips the router's matching
                scope["path_params"] = {"id": path.rsplit("/", 1)[1]}
                response = await self.patch(Request(scope, receive))
                await response(scope, receive, counting_send)
                return
            await self.app(scope, receive, counting_send)
        finally:
            state.leave(method, route, status)


async def _drop(send: Send) -> None:
    """Close the TCP connection without an answer (the client sees a dropped connection).

    uvicorn's ``send`` is a bound method of its request cycle, which holds the transport.
    """
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionAbortedError("sandbox: dropped connection")
    transport.abort()
    await asyncio.sleep(0)  # let connection_lost run, so uvicorn does not try to answer
    await asyncio.sleep(0)


def build_app(state: SandboxState, api: OutreachApi) -> ASGIApp:
    routes = [*api.routes(), *OAuthServer(state).routes(), *InspectionApi(state, api.imports).routes()]
    return Instrumented(Starlette(routes=routes), state, api.patch_prospect)
