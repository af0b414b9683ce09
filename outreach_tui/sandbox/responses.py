"""Outreach's answer bodies, kept in one place (most are Outreach's own examples; 'unconfirmed' ones are marked)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.responses import Response

JSON_API = "application/vnd.api+json"

UNSUPPORTED_MEDIA_TYPE = orjson.dumps(
    {
        "errors": [
            {
                "id": "unsupportedMediaType",
                "title": "Unsupported Media Type",
                "details": "Expected Content-Type header to be 'application/vnd.api+json'.",  # sic: plural
            }
        ]
    }
)


def json_api(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(content, status_code=status, headers=headers, media_type=JSON_API)


def error(status: int, error_id: str, title: str, detail: str, pointer: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"id": error_id, "title": title, "detail": detail}
    if pointer is not None:
        item["source"] = {"pointer": pointer}
    return {"errors": [item]}


def invalid_jwt(description: str) -> Response:
    """The API gateway's bare 401 body (not JSON:API)."""
    body = orjson.dumps({"error": "Invalid JWT token.", "description": description})
    return Response(body, status_code=401, media_type="application/json")


def rate_limit_exceeded(limit: int, reset: float) -> dict[str, Any]:
    when = datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    detail = f"You have exceeded your permitted rate limit of {limit:,}; please try again at {when}."
    return {"errors": [{"id": "rateLimitExceeded", "title": "Rate Limit Exceeded", "detail": detail}]}


def not_found(prospect_id: str) -> dict[str, Any]:
    return error(404, "resourceNotFound", "Resource Not Found", f"Could not find 'prospect' with ID '{prospect_id}'.")


def scope_missing(scope: str) -> dict[str, Any]:
    detail = f"Your OAuth token does not include the scope required for this action ('{scope}')."  # unconfirmed
    return error(403, "unauthorizedOauthScope", "Unauthorized OAuth Scope", detail)


FAULT_BODIES: dict[int, dict[str, Any]] = {
    500: error(500, "internalServerError", "Internal Server Error", "An unexpected error occurred."),
    502: error(502, "badGateway", "Bad Gateway", "The upstream service did not answer."),
    503: error(503, "scheduledServerMaintenance", "Scheduled Server Maintenance", "Outreach is under maintenance."),
}


def oauth_error(status: int, code: str, description: str) -> Response:
    body = orjson.dumps({"error": code, "error_description": description})
    return Response(body, status_code=status, media_type="application/json", headers={"Cache-Control": "no-store"})
