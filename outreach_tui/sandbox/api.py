"""The Outreach REST API v2 subset under ``/api/v2``: prospects (``prospects.py``), bulk imports and batch
actions (``imports.py``), and ``/types``. Every endpoint first passes ``gate.check``.

``GET /api/v2`` itself is not an operation of Outreach's OpenAPI document and its body is undocumented,
so the sandbox answers it like any path it does not serve: a JSON:API 404, never an invented body.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from outreach_tui.sandbox import gate
from outreach_tui.sandbox import responses as r
from outreach_tui.sandbox.imports import ImportsApi
from outreach_tui.sandbox.prospects import ProspectsApi
from outreach_tui.sandbox.resource import ProspectRenderer
from outreach_tui.sandbox.state import SandboxState


class OutreachApi:
    def __init__(self, state: SandboxState, base_url: str = "") -> None:
        self.state = state
        self.renderer = ProspectRenderer(base_url)
        self.prospects = ProspectsApi(state, self.renderer)
        self.imports = ImportsApi(state, self.renderer)
        self.patch_prospect = self.prospects.patch_prospect  # the hot path, called without routing

    @property
    def base_url(self) -> str:
        return self.renderer.base_url

    @base_url.setter
    def base_url(self, value: str) -> None:  # set once the port is known; used in links
        self.renderer.base_url = value

    def routes(self) -> list[Route]:
        prospects, imports = self.prospects, self.imports
        return [
            Route("/api/v2/prospects", prospects.list_prospects, methods=["GET"]),
            Route("/api/v2/prospects/{id}", prospects.get_prospect, methods=["GET"]),
            Route("/api/v2/prospects/{id}", prospects.patch_prospect, methods=["PATCH"]),
            Route("/api/v2/types", self.types, methods=["GET"]),
            *imports.routes(),
            Route("/api/v2", self.unknown, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
            Route("/api/v2/{rest:path}", self.unknown, methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        ]

    async def types(self, request: Request) -> Response:
        checked = gate.check(self.state, request)
        if checked.answer is not None:
            return checked.answer
        return r.json_api(200, self.state.types_body, checked.headers)

    async def unknown(self, request: Request) -> Response:
        """Anything else under /api/v2 (the root included): a JSON:API 404."""
        checked = gate.check(self.state, request)
        if checked.answer is not None:
            return checked.answer
        detail = f"The sandbox does not serve {request.method} {request.url.path}."
        return r.json_api(404, r.error(404, "resourceNotFound", "Resource Not Found", detail), checked.headers)
