"""What Outreach's answers mean to the client: a PATCH's resource checked, /types read, Retry-After read,
and a failed request described without quoting anything secret."""

from __future__ import annotations

import math
import time
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from outreach_tui.outreach.errors import REDIRECT_REFUSED, UNEXPECTED_ANSWER, ApiError, parse_errors


def prospect_resource(response: httpx.Response, prospect_id: int) -> dict[str, Any] | ApiError:
    """The attributes of the prospect resource a 2xx PATCH answer must be (JSON:API, type "prospect", the
    same id), or an ApiError saying what came instead (an HTML page from a proxy, another prospect, ...)."""
    content_type = response.headers.get("content-type", "")
    try:
        parsed = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return _unexpected(response, content_type)
    data = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(data, dict):
        return _unexpected_json("no JSON:API resource in it")
    if data.get("type") != "prospect":
        return _unexpected_json(f"a resource of type {str(data.get('type'))[:40]!r}, not 'prospect'")
    if str(data.get("id")) != str(prospect_id):
        return _unexpected_json(f"prospect {str(data.get('id'))[:40]}, not prospect {prospect_id}")
    attributes = data.get("attributes")
    return attributes if isinstance(attributes, dict) else {}


def _unexpected(response: httpx.Response, content_type: str) -> ApiError:
    # the one error parser describes the body (an HTML page's title, short plain text, ...)
    described = parse_errors(response.status_code, response.content, content_type)[0].detail
    text = response.content.lstrip()[:1]
    kind = "HTML page" if "html" in content_type.lower() or text == b"<" else "not JSON"
    return ApiError(UNEXPECTED_ANSWER, "Unexpected answer", f"unexpected answer: {kind} ({described})", None)


def _unexpected_json(what: str) -> ApiError:
    return ApiError(UNEXPECTED_ANSWER, "Unexpected answer", f"unexpected answer: {what}", None)


def redirect_refused(response: httpx.Response) -> ApiError:
    """A 3xx is never followed: the request carries the bearer token, and the redirect may point anywhere."""
    where = origin(response.headers.get("location", "")) or "an unknown place"
    detail = (f"Outreach answered HTTP {response.status_code}, a redirect to {where}; "
              "not followed (it would carry the token)")
    return ApiError(REDIRECT_REFUSED, "Redirect refused", detail, None)


def custom_fields_from_types(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The prospect custom fields of a GET /types body, as the OpenAPI document describes it::

        {"data": [{"type": "prospect", "meta": {"validations": {"custom4": {"type": "inclusion",
            "required": false, "label": "...", "definition": ["a", "b"]}}}}]}

    -> ``{"custom4": {"type": "inclusion", "label": "...", "required": False, "definition": [...]}}``.
    Other objects (account, opportunity, ...) and names that are not ``custom1..150`` are skipped.
    """
    result: dict[str, dict[str, Any]] = {}
    entries = body.get("data")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or str(entry.get("type", "")).lower() != "prospect":
            continue
        meta = entry.get("meta")
        validations = meta.get("validations") if isinstance(meta, dict) else None
        for raw_name, rule in (validations or {}).items():
            name = _custom_name(raw_name)
            if name is None or not isinstance(rule, dict):
                continue
            result[name] = {
                **rule,
                "type": str(rule.get("type") or "string"),
                "label": str(rule.get("label") or name),
                "required": bool(rule.get("required", False)),
            }
    return result


def _custom_name(value: Any) -> str | None:
    text = str(value or "").strip().lower()
    number = text.removeprefix("custom")
    return f"custom{int(number)}" if number.isdigit() and 1 <= int(number) <= 150 else None


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float:
    """``Retry-After`` as seconds from now: given as seconds or as an HTTP date (a 503 for maintenance
    says when it ends); 0 when absent, unreadable or past."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - (time.time() if now is None else now)
        except (TypeError, ValueError, IndexError):
            return 0.0
    return seconds if seconds > 0 and math.isfinite(seconds) else 0.0


def scope_message(scope: str | None, errors: list[ApiError], login_hint: str) -> str:
    needed = f"the {scope} scope" if scope else "a scope this needs"
    detail = next((e.detail for e in errors if e.id == "unauthorizedOauthScope"), "")
    said = f" (Outreach: {detail})" if detail else ""
    return f"The Outreach token lacks {needed}{said}; run {login_hint} to sign in and grant it."


def errors_of(response: httpx.Response) -> list[ApiError]:
    if response.is_redirect:
        return [redirect_refused(response)]
    return parse_errors(response.status_code, response.content, response.headers.get("content-type"))


def describe(exc: BaseException) -> str:
    """The kind of failure only: exception texts may quote request lines, never headers, but stay safe."""
    kinds: dict[type[BaseException], str] = {
        httpx.ConnectTimeout: "connect timed out",
        httpx.ConnectError: "connection refused or host not found",
        httpx.ReadTimeout: "timed out waiting for the answer",
        httpx.WriteTimeout: "timed out sending the request",
        httpx.PoolTimeout: "timed out waiting for a free connection",
        httpx.RemoteProtocolError: "the server closed the connection without answering",
        httpx.ReadError: "the connection broke while reading the answer",
        httpx.WriteError: "the connection broke while sending the request",
        httpx.UnsupportedProtocol: "the URL's scheme is not http or https",
        httpx.DecodingError: "the answer could not be decoded",
        TimeoutError: "no complete answer within the request deadline",
    }
    for kind, text in kinds.items():
        if isinstance(exc, kind):
            return text
    return type(exc).__name__


def origin(url: str) -> str:
    """scheme://host:port, never any user:password@ part (it goes into messages)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return ""
    if not parts.scheme:
        return ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}".lower()


def without_query(url: str) -> str:
    return origin(url) + urlsplit(url).path
