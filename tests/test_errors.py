"""The one error parser: every body shape Outreach (or something in front of it) answers, and the
diagnostics built from them. Bodies are Outreach's own documented examples or what the sandbox sends."""

from __future__ import annotations

import httpx
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from outreach_tui.outreach.errors import MAX_DETAIL, ApiError, diagnose, field_of, parse_errors
from outreach_tui.sandbox import Sandbox

SEGMENT = "segment 'EMEA high intent' (mapping ID 4)"
ORIGINS = {"custom4": SEGMENT, "firstName": "mapping row 1 (person.name.firstName → firstName)"}


def origin_of(field: str) -> str | None:
    return ORIGINS.get(field)


def one(status: int, body: bytes | str, content_type: str | None = "application/vnd.api+json") -> ApiError:
    raw = body.encode() if isinstance(body, str) else body
    errors = parse_errors(status, raw, content_type)
    assert len(errors) == 1
    return errors[0]


# -- parsing: Outreach's documented bodies --------------------------------------------------------------------
def test_415_uses_details_plural() -> None:
    body = (
        '{"errors":[{"id":"unsupportedMediaType","title":"Unsupported Media Type",'
        '"details":"Expected Content-Type header to be \'application/vnd.api+json\'."}]}'
    )
    error = one(415, body)
    assert error.id == "unsupportedMediaType"
    assert error.detail == "Expected Content-Type header to be 'application/vnd.api+json'."
    assert error.pointer is None


def test_422_with_pointer() -> None:
    body = orjson.dumps(
        {
            "errors": [
                {
                    "id": "validationError",
                    "title": "Validation Error",
                    "detail": "Contacts email hash has already been taken.",
                    "source": {"pointer": "/data/attributes/emails"},
                }
            ]
        }
    )
    error = one(422, body)
    assert (error.id, error.pointer) == ("validationError", "/data/attributes/emails")


def test_several_errors_are_all_kept() -> None:
    body = orjson.dumps(
        {
            "errors": [
                {"id": "validationError", "detail": "a", "source": {"pointer": "/data/attributes/custom4"}},
                {"id": "validationError", "detail": "b", "source": {"pointer": "/data/attributes/title"}},
            ]
        }
    )
    assert [e.detail for e in parse_errors(422, body, None)] == ["a", "b"]


def test_429_body() -> None:
    body = (
        '{"errors":[{"id":"rateLimitExceeded","title":"Rate Limit Exceeded","detail":"You have exceeded your '
        'permitted rate limit of 10,000; please try again at 2017-01-01T00:00:00."}]}'
    )
    assert one(429, body).id == "rateLimitExceeded"


def test_bare_gateway_401() -> None:
    error = one(401, '{"error":"Invalid JWT token.","description":"The token has expired."}', "application/json")
    assert error.id == "unauthorized"
    assert "Invalid JWT token." in error.detail and "expired" in error.detail


def test_oauth_invalid_grant() -> None:
    error = one(400, '{"error":"invalid_grant","error_description":"The refresh token is invalid."}')
    assert error.id == "invalid_grant"
    assert "refresh token is invalid" in error.detail


def test_plain_text_mint_throttle() -> None:
    error = one(429, b"Retry later", "text/plain")
    assert (error.id, error.detail) == ("rateLimitExceeded", "Retry later")


# -- parsing: whatever else arrives -----------------------------------------------------------------------------
def test_html_proxy_page_is_summarised_not_dumped() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body></html>"
    error = one(502, page, "text/html")
    assert error.id == "httpError"
    assert "502 Bad Gateway" in error.detail and "HTML" in error.detail
    assert "xxxx" not in error.detail


@pytest.mark.parametrize(
    "body",
    [b"", b"   \n", b"\xff\xfe\x00garbage\x01\x02", b"{not json", b"[1, 2]", b'{"data": {}}', b"null"],
)
def test_garbage_gives_one_safe_error(body: bytes) -> None:
    errors = parse_errors(500, body, None)
    assert len(errors) == 1
    assert errors[0].id == "httpError"
    assert errors[0].detail
    assert len(errors[0].detail) <= MAX_DETAIL
    assert "\x00" not in errors[0].detail and "\x01" not in errors[0].detail


def test_long_detail_is_truncated() -> None:
    body = orjson.dumps({"errors": [{"id": "validationError", "detail": "y" * 10_000}]})
    assert len(one(422, body).detail) <= MAX_DETAIL


def test_token_like_text_is_redacted() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"
    body = f"Bad request: Authorization: Bearer sekrit-token-123 and {jwt} access_token=abc123"
    detail = one(400, body, "text/plain").detail
    for secret in ("sekrit-token-123", jwt, "eyJ", "abc123"):
        assert secret not in detail


def test_non_identifier_id_falls_back() -> None:
    body = orjson.dumps({"errors": [{"id": "<script>", "title": "T", "detail": "d"}]})
    assert one(400, body).id == "httpError"


@pytest.mark.parametrize(
    ("pointer", "field"),
    [
        ("/data/attributes/custom4", "custom4"),
        ("/data/attributes/emails/0", "emails"),
        ("/data", None),
        ("", None),
        (None, None),
        ("/data/attributes/a~1b", "a/b"),
    ],
)
def test_field_of(pointer: str | None, field: str | None) -> None:
    assert field_of(pointer) == field


# -- diagnostics ---------------------------------------------------------------------------------------------
def validation(detail: str, field: str | None, error_id: str = "validationError") -> list[ApiError]:
    pointer = f"/data/attributes/{field}" if field else None
    return [ApiError(error_id, "Validation Error", detail, pointer)]


def test_custom_field_rejected_names_segment_and_mapping_id() -> None:
    d = diagnose(42, 422, validation("Custom4 is not a recognised attribute.", "custom4"), origin_of)
    assert (d.prospect_id, d.status, d.error_id, d.field, d.origin) == (42, 422, "validationError", "custom4", SEGMENT)
    assert d.hint == f"custom4 rejected: {SEGMENT} — is custom field 4 set up in Outreach?"
    assert "custom4" in d.summary() and SEGMENT in d.summary()


def test_typed_custom_field_mismatch() -> None:
    d = diagnose(7, 422, validation("Custom4 is not a number.", "custom4"), origin_of)
    assert "typed validation" in d.hint and SEGMENT in d.hint


def test_too_long_names_the_limit() -> None:
    d = diagnose(7, 422, validation("First name is too long (maximum is 255 characters).", "firstName"), origin_of)
    assert d.field == "firstName"
    assert "longer than Outreach allows" in d.hint and "255" in d.hint and "mapping row 1" in d.hint


def test_too_long_uses_the_limit_outreach_states() -> None:
    d = diagnose(7, 422, validation("Custom4 is too long (maximum is 1,000 characters).", "custom4"), origin_of)
    assert "1,000 characters" in d.hint and SEGMENT in d.hint


def test_unmapped_custom_field_rejected() -> None:
    d = diagnose(7, 422, validation("Custom12 is not recognised.", "custom12"), origin_of)
    assert d.origin is None
    assert d.hint == "custom12 rejected — is custom field 12 set up in Outreach?"


def test_standard_attribute_of_the_wrong_type() -> None:
    d = diagnose(7, 422, validation("Score is not a number.", "score"), lambda _f: "mapping row 3 (x → score)")
    assert "score expects" in d.hint and "mapping row 3" in d.hint


def test_too_long_error_id() -> None:
    d = diagnose(7, 422, validation("Data too long.", "title", "validationDataTooLongError"), origin_of)
    assert "longer than Outreach allows" in d.hint


def test_email_taken_without_pointer() -> None:
    d = diagnose(9, 422, validation("Contacts email hash has already been taken.", None), origin_of)
    assert d.field == "emails"
    assert "another prospect already has this email" in d.hint.lower() and "dedupes" in d.hint


def test_excluded_email() -> None:
    d = diagnose(9, 422, validation("Contacts contact is using an excluded email address.", "emails"), origin_of)
    assert "excludes this email" in d.hint


def test_404_says_missing_or_invisible() -> None:
    errors = [ApiError("resourceNotFound", "Resource Not Found", "Could not find 'prospect' with ID '5'.", None)]
    d = diagnose(5, 404, errors, origin_of)
    assert d.field is None and d.origin is None
    assert "does not exist" in d.hint and "not visible" in d.hint


@pytest.mark.parametrize(
    ("status", "error_id", "phrase"),
    [
        (415, "unsupportedMediaType", "Content-Type"),
        (409, "conflict", "conflict"),
        (403, "unauthorizedRequest", "permissions"),
        (403, "unauthorizedOauthScope", "outreach-tui login"),
        (401, "unauthorized", "login"),
        (503, "scheduledServerMaintenance", "next run"),
        (429, "rateLimitExceeded", "budget_per_hour"),
        (400, "badRequest", "rejected"),
    ],
)
def test_hints_by_status(status: int, error_id: str, phrase: str) -> None:
    d = diagnose(1, status, [ApiError(error_id, "T", "some detail", None)], origin_of)
    assert phrase in d.hint
    assert d.error_id == error_id


def test_400_on_a_field_names_its_origin() -> None:
    d = diagnose(1, 400, validation("bad value", "firstName", "badRequest"), origin_of)
    assert "firstName" in d.hint and "mapping row 1" in d.hint


def test_connection_error_diagnostic() -> None:
    d = diagnose(3, None, [ApiError("connectionError", "No response", "refused", None)], origin_of)
    assert d.status is None and "did not answer" in d.hint


def test_empty_error_list_still_diagnoses() -> None:
    d = diagnose(3, 500, [], origin_of)
    assert d.error_id == "httpError" and d.detail


# -- real bodies from the sandbox, over real HTTP ----------------------------------------------------------
def test_sandbox_bodies_parse(sandbox: Sandbox) -> None:
    token = sandbox.issue_token()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=sandbox.api_base, timeout=10) as http:
        wrong_type = http.patch("/prospects/1", content=b"{}", headers={**auth, "Content-Type": "application/json"})
        missing = http.get("/prospects/424242", headers=auth)
        bad_token = http.get("/prospects/1", headers={"Authorization": "Bearer nope"})
    for response, status, error_id in (
        (wrong_type, 415, "unsupportedMediaType"),
        (missing, 404, "resourceNotFound"),
        (bad_token, 401, None),
    ):
        assert response.status_code == status
        errors = parse_errors(response.status_code, response.content, response.headers.get("content-type"))
        assert errors and all(e.detail for e in errors)
        if error_id:
            assert errors[0].id == error_id
    assert token not in repr(parse_errors(401, bad_token.content, None))
    d = diagnose(1, 415, parse_errors(415, wrong_type.content, None), origin_of)
    assert "application/vnd.api+json" in d.detail


@given(status=st.integers(min_value=100, max_value=599), body=st.binary(max_size=2000), html=st.booleans())
def test_any_body_parses_to_safe_errors(status: int, body: bytes, html: bool) -> None:
    errors = parse_errors(status, body, "text/html" if html else None)
    assert errors
    for error in errors:
        assert error.id and len(error.detail) <= MAX_DETAIL
        assert not any(ord(c) < 32 and c not in "\t\n" for c in error.detail)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=50),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
        max_leaves=20,
    )
)
def test_any_json_parses_to_errors(value: object) -> None:
    body = orjson.dumps({"errors": [value, {"id": "x", "source": value, "detail": value}]})
    assert parse_errors(422, body, None)
