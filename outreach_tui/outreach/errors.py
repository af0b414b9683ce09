"""The one Outreach error parser: any error response -> ``ApiError``s -> a ``Diagnostic`` a user can act on.

Outreach answers errors as JSON:API (``{"errors": [{id, title, detail, source: {pointer}}]}``; its own 415
example says ``details``), but its gateway answers a bare ``{"error": "Invalid JWT token.", ...}``, the token
endpoint ``{"error": "invalid_grant"}`` or plain text (``Retry later``), and proxies answer HTML. All of them
end up here; nothing else in the code base reads error bodies.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson

from outreach_tui.diagnostics import Diagnostic
from outreach_tui.outreach import catalog

MAX_DETAIL = 300  # characters of server text we keep: enough to act on, short enough for a report line
HTTP_ERROR = "httpError"
CONNECTION_ERROR = "connectionError"
UNEXPECTED_ANSWER = "unexpectedAnswer"  # a 2xx that is not the resource asked for
REDIRECT_REFUSED = "redirectRefused"  # a 3xx: never followed, it would carry the token

_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")
_SECRETISH = re.compile(
    r"(?i)(bearer\s+)[^\s\"',;]+"  # an Authorization header value echoed back
    r"|\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]+){0,2}"  # a JWT
    r"|\b(access_token|refresh_token|client_secret|code)=[^\s&\"']+"
)
_HTML_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_STATED_MAXIMUM = re.compile(r"maximum is ([\d,]+)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class ApiError:
    id: str
    title: str
    detail: str
    pointer: str | None = None


def parse_errors(status: int, body: bytes, content_type: str | None) -> list[ApiError]:
    """Every error Outreach (or anything in front of it) put in ``body``; never empty, never raises."""
    text = body.strip()
    if not text:
        return [_fallback(status, f"HTTP {status} {_phrase(status)} with an empty body")]
    if text[:1] in (b"{", b"["):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            parsed = None
        if parsed is not None:
            return _from_json(status, parsed) or [_fallback(status, _safe(text.decode("utf-8", "replace")))]
    decoded = text.decode("utf-8", "replace")
    if "html" in (content_type or "").lower() or decoded.lstrip()[:1] == "<":
        return [_fallback(status, _html_summary(status, decoded))]
    return [_fallback(status, _safe(decoded))]


def field_of(pointer: str | None) -> str | None:
    """``/data/attributes/custom4`` -> ``custom4``; ``/data/attributes/emails/0`` -> ``emails``."""
    if not pointer:
        return None
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/")]
    if len(parts) >= 3 and parts[0] == "data" and parts[1] == "attributes":
        return parts[2] or None
    return None


def diagnose(
    prospect_id: int, status: int | None, errors: list[ApiError], origin_of: Callable[[str], str | None]
) -> Diagnostic:
    """One diagnostic for one prospect: the most specific error, its field and origin, and a hint."""
    if not errors:
        errors = [_fallback(status or 0, "no error details")]
    primary = next((e for e in errors if field_of(e.pointer)), errors[0])
    field = field_of(primary.pointer) or _implied_field(primary)
    origin = origin_of(field) if field else None
    details = list(dict.fromkeys(e.detail for e in errors if e.detail))
    detail = _truncate("; ".join(details) or primary.title)
    return Diagnostic(
        prospect_id=prospect_id,
        status=status,
        error_id=primary.id,
        detail=detail,
        field=field,
        origin=origin,
        hint=_hint(prospect_id, status, primary, field, origin),
    )


def connection_error(detail: str) -> ApiError:
    """A request that got no HTTP answer at all (refused, dropped, timed out)."""
    return ApiError(CONNECTION_ERROR, "No response", _safe(detail), None)


# -- parsing ------------------------------------------------------------------------------------------------
def _from_json(status: int, parsed: Any) -> list[ApiError]:
    if isinstance(parsed, dict) and isinstance(parsed.get("errors"), list):
        return [_from_jsonapi(status, e) for e in parsed["errors"] if isinstance(e, dict)]
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        return [_from_bare(status, parsed)]
    return []


def _from_jsonapi(status: int, entry: dict[str, Any]) -> ApiError:
    title = _text(entry.get("title")) or _phrase(status)
    detail = _text(entry.get("detail")) or _text(entry.get("details")) or title
    source = entry.get("source") if isinstance(entry.get("source"), dict) else {}
    pointer = _text(source.get("pointer")) if source else ""
    error_id = _text(entry.get("id")) or _text(entry.get("code"))
    return ApiError(
        id=error_id if _IDENTIFIER.match(error_id) else _id_for(status),
        title=_safe(title),
        detail=_safe(detail),
        pointer=pointer or None,
    )


def _from_bare(status: int, parsed: dict[str, Any]) -> ApiError:
    """``{"error": "Invalid JWT token.", "description": ...}`` or ``{"error": "invalid_grant", ...}``."""
    error = parsed["error"].strip()
    description = _text(parsed.get("description")) or _text(parsed.get("error_description"))
    detail = f"{error} {description}".strip() if description and description != error else error
    error_id = error if _IDENTIFIER.match(error) else _id_for(status)
    return ApiError(id=error_id, title=_phrase(status), detail=_safe(detail), pointer=None)


def _fallback(status: int, detail: str) -> ApiError:
    return ApiError(id=_id_for(status), title=_phrase(status), detail=detail, pointer=None)


def _id_for(status: int) -> str:
    return {401: "unauthorized", 429: "rateLimitExceeded"}.get(status, HTTP_ERROR)


def _html_summary(status: int, html: str) -> str:
    match = _HTML_TITLE.search(html)
    title = _safe(re.sub(r"\s+", " ", match.group(1))) if match else ""
    page = f"an HTML page titled '{title}'" if title else "an HTML page"
    return f"HTTP {status} {_phrase(status)}: {page} (a proxy or gateway answered, not the Outreach API)"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value if v is not None)
    return str(value).strip()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _safe(text: str) -> str:
    """Server text made fit for a report: no control characters, nothing token-like, bounded length."""
    cleaned = _CONTROL.sub(" ", text)
    cleaned = _SECRETISH.sub(_redact, cleaned)
    return _truncate(cleaned.strip())


def _redact(match: re.Match[str]) -> str:
    if match.group(1):
        return f"{match.group(1)}***"
    if match.group(2):
        return f"{match.group(2)}=***"
    return "***"


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1].rstrip() + "…"


# -- hints --------------------------------------------------------------------------------------------------
def _implied_field(error: ApiError) -> str | None:
    """Outreach's duplicate-email 422 often carries no pointer; the field is still clearly ``emails``."""
    return "emails" if _is_email_problem(error) else None


def _is_email_problem(error: ApiError) -> bool:
    detail = error.detail.lower()
    return "email" in detail and ("taken" in detail or "excluded" in detail)


def _hint(prospect_id: int, status: int | None, error: ApiError, field: str | None, origin: str | None) -> str:
    source = f" (from {origin})" if origin else ""
    if error.id in (UNEXPECTED_ANSWER, REDIRECT_REFUSED):
        return ("Something other than the Outreach API answered (a proxy, a sign-in portal, or a wrong "
                "outreach.api_base); the change is not confirmed, so the next run sends it again.")
    if status is None:
        return "Outreach did not answer (connection refused, dropped or timed out); the next run retries it."
    if status == 401:
        return "Outreach rejected the sign-in; run `outreach-tui login PROFILE.toml` again."
    if status == 403:
        return _forbidden_hint(error)
    if status == 404 or error.id == "resourceNotFound":
        return (
            f"Prospect {prospect_id} does not exist in Outreach or is not visible to the signed-in user; "
            "check the OutreachId identity values."
        )
    if status == 415:
        return "Outreach refused the request's Content-Type; this is a bug in outreach-tui, please report it."
    if status == 409:
        return "Outreach reported a conflict (the prospect changed or is locked, e.g. mid-merge); rerun later."
    if status == 429:
        return "Outreach's rate limit was still exceeded after retries; lower budget_per_hour or rerun later."
    if status >= 500:
        return "Outreach had a server error on every attempt; the next run retries this prospect."
    return _rejected_value_hint(error, field, origin, source)


def _forbidden_hint(error: ApiError) -> str:
    if error.id == "unauthorizedOauthScope":
        return "The token lacks a scope this needs; run `outreach-tui login PROFILE.toml` to grant it."
    return (
        "The signed-in user's Outreach permissions do not allow changing this prospect (owner or team "
        "restrictions); use an account that may edit it or ask an Outreach admin."
    )


def _rejected_value_hint(error: ApiError, field: str | None, origin: str | None, source: str) -> str:
    detail = error.detail.lower()
    if _is_email_problem(error) and "excluded" in detail:
        return f"Outreach excludes this email address in its settings{source}; the prospect keeps its email."
    if _is_email_problem(error):
        return (
            f"Another prospect already has this email address (Outreach dedupes prospects by email){source}; "
            "merge the two prospects in Outreach or fix the source value."
        )
    if field is None:
        return "Outreach rejected the request; see the detail."
    attribute = catalog.get(field)
    if "too long" in detail or "toolong" in error.id.lower():
        stated = _STATED_MAXIMUM.search(detail)  # an admin may set a custom field shorter than the catalog's
        most = int(stated.group(1).replace(",", "")) if stated else (attribute.max_length if attribute else None)
        limit = f" (at most {most:,} characters)" if most else ""
        return f"The value for {field} is longer than Outreach allows{limit}{source}; shorten the source."
    number = catalog.custom_number(field)
    if number is not None and _is_type_mismatch(detail):
        return (
            f"{field} has a typed validation in Outreach (see its custom field settings){source}; "
            "the value does not match it: change the field type in Outreach or the value sent."
        )
    if number is not None:
        by = f": {origin}" if origin else ""
        return f"{field} rejected{by} — is custom field {number} set up in Outreach?"
    if attribute is not None and _is_type_mismatch(detail):
        return f"{field} expects {attribute.kind}{source}; the value sent does not fit: check that mapping."
    return f"Outreach rejected the value for {field}{source}; check that mapping."


def _is_type_mismatch(detail: str) -> bool:
    markers = ("is not a number", "is not a valid", "must be", "not included in the list", "can't be blank")
    return any(marker in detail for marker in markers)
