"""The /api/v2 surface of the sandbox: auth, scopes, prospects GET/PATCH/list, validation and /types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from outreach_tui.sandbox import Sandbox

JSON_API = "application/vnd.api+json"


class Api:
    """An httpx client bound to a sandbox with a bearer token."""

    def __init__(self, sb: Sandbox, client: httpx.Client, scopes: tuple[str, ...] | None = None) -> None:
        self.sb, self.client = sb, client
        token = sb.issue_token(scopes=scopes) if scopes is not None else sb.issue_token()
        self.headers = {"Authorization": f"Bearer {token['access_token']}"}

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.client.get(self.sb.api_base + path, headers=self.headers, params=params)

    def patch(self, prospect_id: int, attributes: Any, content_type: str = JSON_API) -> httpx.Response:
        body = {"data": {"type": "prospect", "id": prospect_id, "attributes": attributes}}
        return self.patch_raw(f"/prospects/{prospect_id}", body, content_type)

    def patch_raw(self, path: str, body: Any, content_type: str = JSON_API) -> httpx.Response:
        headers = {**self.headers, "Content-Type": content_type}
        return self.client.patch(self.sb.api_base + path, headers=headers, json=body)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


@pytest.fixture
def api(sandbox: Sandbox, client: httpx.Client) -> Api:
    return Api(sandbox, client)


def only_error(answer: httpx.Response) -> dict[str, Any]:
    errors = answer.json()["errors"]
    assert len(errors) == 1, errors
    return errors[0]


# -- auth ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("authorization", [None, "Bearer nonsense", "Basic abc"])
def test_missing_or_unknown_token_is_401_gateway_body(
    sandbox: Sandbox, client: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = client.get(sandbox.api_base + "/prospects/1", headers=headers)
    assert answer.status_code == 401
    body = answer.json()
    assert set(body) == {"error", "description"} and body["error"] == "Invalid JWT token."
    assert "X-RateLimit-Limit" in answer.headers


def test_token_that_outlived_its_ttl_is_401(sandbox: Sandbox, client: httpx.Client) -> None:
    token = sandbox.issue_token(ttl=1)
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get(sandbox.api_base + "/prospects/1", headers=headers).status_code == 200
    sandbox.state.access_tokens[token["access_token"]].expires_at -= 2  # a token issued 2 s earlier
    assert client.get(sandbox.api_base + "/prospects/1", headers=headers).status_code == 401


@pytest.mark.parametrize("root", ["", "/"])
def test_api_root_is_a_json_api_404_not_an_invented_body(api: Api, root: str) -> None:
    """Outreach's document has no operation at /api/v2 and its body is undocumented: nothing invented."""
    answer = api.get(root)
    assert answer.status_code == 404 and answer.headers["content-type"] == JSON_API
    assert set(answer.json()) == {"errors"} and only_error(answer)["id"] == "resourceNotFound"


def test_write_without_write_scope_is_403(sandbox: Sandbox, client: httpx.Client) -> None:
    reader = Api(sandbox, client, scopes=("prospects.read",))
    assert reader.get("/prospects/1").status_code == 200
    answer = reader.patch(1, {"firstName": "Ada"})
    assert answer.status_code == 403 and only_error(answer)["id"] == "unauthorizedOauthScope"
    assert "firstName" not in (sandbox.prospect(1) or {})


def test_write_scope_does_not_imply_read(sandbox: Sandbox, client: httpx.Client) -> None:
    writer = Api(sandbox, client, scopes=("prospects.write",))
    assert writer.patch(1, {"firstName": "Ada"}).status_code == 200
    answer = writer.get("/prospects/1")
    assert answer.status_code == 403 and only_error(answer)["id"] == "unauthorizedOauthScope"


def test_prospects_all_grants_read_and_write(sandbox: Sandbox, client: httpx.Client) -> None:
    both = Api(sandbox, client, scopes=("prospects.all",))
    assert both.patch(2, {"lastName": "Lovelace"}).status_code == 200
    assert both.get("/prospects/2").json()["data"]["attributes"]["lastName"] == "Lovelace"


# -- prospects -------------------------------------------------------------------------------------------
def test_patch_changes_only_sent_attributes_and_returns_the_full_resource(sandbox: Sandbox, api: Api) -> None:
    sandbox.add_prospects({7: {"firstName": "Grace", "custom1": "keep"}})
    before = sandbox.prospect(7)
    assert before is not None
    answer = api.patch(7, {"custom4": "EMEA", "tags": ["a", "b"]})
    assert answer.status_code == 200 and answer.headers["content-type"] == JSON_API
    data = answer.json()["data"]
    assert (data["type"], data["id"]) == ("prospect", 7)
    attributes = data["attributes"]
    assert attributes["custom4"] == "EMEA" and attributes["tags"] == ["a", "b"]
    assert attributes["firstName"] == "Grace" and attributes["custom1"] == "keep"
    assert attributes["updatedAt"] >= before["updatedAt"]
    assert {k: v for k, v in attributes.items() if v is not None} == sandbox.prospect(7)
    assert sandbox.stats.patch_count == 1


def test_null_clears_an_attribute(sandbox: Sandbox, api: Api) -> None:
    sandbox.add_prospects({3: {"custom4": "old"}})
    assert api.patch(3, {"custom4": None}).status_code == 200
    assert (sandbox.prospect(3) or {})["custom4"] is None


def test_get_prospect_with_sparse_fields(sandbox: Sandbox, api: Api) -> None:
    sandbox.add_prospects({5: {"firstName": "Ada", "lastName": "Lovelace", "custom9": "x"}})
    full = api.get("/prospects/5").json()["data"]
    assert full["attributes"]["lastName"] == "Lovelace" and full["id"] == 5
    sparse = api.get("/prospects/5", **{"fields[prospect]": "firstName,custom9"}).json()["data"]
    assert sparse["attributes"] == {"firstName": "Ada", "custom9": "x"}


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_unknown_prospect_is_404_resource_not_found(api: Api, method: str) -> None:
    answer = api.get("/prospects/999") if method == "GET" else api.patch(999, {"firstName": "x"})
    assert answer.status_code == 404
    assert only_error(answer) == {
        "id": "resourceNotFound",
        "title": "Resource Not Found",
        "detail": "Could not find 'prospect' with ID '999'.",
    }


def test_list_filters_by_id_and_pages_with_cursor(sandbox: Sandbox, api: Api) -> None:
    sandbox.add_prospects({i: {"custom4": f"v{i}"} for i in (2, 4, 6, 8)})
    first = api.get("/prospects", **{"filter[id]": "2,4,6,8,999", "page[size]": "3"})
    assert first.status_code == 200
    body = first.json()
    assert [p["id"] for p in body["data"]] == [2, 4, 6] and body["meta"]["count"] == 4
    second = api.client.get(body["links"]["next"], headers=api.headers).json()
    assert [p["id"] for p in second["data"]] == [8] and "next" not in second["links"]


def test_list_filter_by_email_and_sparse_fields(sandbox: Sandbox, api: Api) -> None:
    sandbox.add_prospects({11: {"emails": ["Ada@Example.com"], "firstName": "Ada"}})
    answer = api.get("/prospects", **{"filter[emails]": "ada@example.com", "fields[prospect]": "firstName"})
    assert [(p["id"], p["attributes"]) for p in answer.json()["data"]] == [(11, {"firstName": "Ada"})]


def test_list_without_filter_walks_every_prospect(api: Api) -> None:
    seen: list[int] = []
    url: str | None = api.sb.api_base + "/prospects?page[size]=20"
    while url:
        body = api.client.get(url, headers=api.headers).json()
        seen += [p["id"] for p in body["data"]]
        url = body["links"].get("next")
    assert seen == list(range(1, 51))


# -- request shape ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("content_type", ["application/json", "text/plain"])
def test_write_with_wrong_content_type_is_415_with_outreach_body(api: Api, content_type: str) -> None:
    answer = api.patch(1, {"firstName": "Ada"}, content_type=content_type)
    assert answer.status_code == 415
    assert answer.json() == {
        "errors": [
            {
                "id": "unsupportedMediaType",
                "title": "Unsupported Media Type",
                "details": "Expected Content-Type header to be 'application/vnd.api+json'.",
            }
        ]
    }


@pytest.mark.parametrize(
    ("body", "status", "pointer"),
    [
        ({"data": {"type": "account", "id": 1, "attributes": {}}}, 409, "/data/type"),
        ({"data": {"type": "prospect", "id": 2, "attributes": {}}}, 409, "/data/id"),
        ({"data": {"type": "prospect", "attributes": {}}}, 409, "/data/id"),
        ({"data": {"type": "prospect", "id": 1, "attributes": ["x"]}}, 400, "/data/attributes"),
        ({"nodata": True}, 400, "/data"),
    ],
)
def test_malformed_body_is_rejected(api: Api, body: Any, status: int, pointer: str) -> None:
    answer = api.patch_raw("/prospects/1", body)
    assert answer.status_code == status
    assert only_error(answer)["source"]["pointer"] == pointer


def test_body_id_may_be_a_string(api: Api) -> None:
    answer = api.patch_raw("/prospects/1", {"data": {"type": "prospect", "id": "1", "attributes": {"title": "CTO"}}})
    assert answer.status_code == 200


# -- validation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "detail"),
    [
        ("favouriteColour", "red", "Unknown attribute 'favouriteColour' for 'prospect'."),
        ("custom151", "x", "Unknown attribute 'custom151' for 'prospect'."),
        ("custom0", "x", "Unknown attribute 'custom0' for 'prospect'."),
        ("createdAt", "2024-01-01T00:00:00Z", "Attribute 'createdAt' is read-only and cannot be written."),
        ("name", "Ada", "Attribute 'name' is read-only and cannot be written."),
        ("firstName", "x" * 256, "Contacts first name is too long (maximum is 255 characters)."),
        ("custom7", "x" * 32_001, "Contacts custom7 is too long (maximum is 32,000 characters)."),
        ("firstName", 12, "Contacts first name must be a string."),
        ("linkedInConnections", "12", "Contacts linked in connections must be an integer."),
        ("linkedInConnections", True, "Contacts linked in connections must be an integer."),
        ("score", "high", "Contacts score is not a number."),
        ("optedOut", "yes", "Contacts opted out must be true or false."),
        ("dateOfBirth", "1990-13-01", "Contacts date of birth is not a valid date."),
        ("dateOfBirth", "1990-01-01T00:00:00Z", "Contacts date of birth is not a valid date."),
        ("tags", "a,b", "Contacts tags must be a list of strings."),
        ("tags", ["a", 1], "Contacts tags must be a list of strings."),
        ("emails", ["not-an-email"], "Contacts emails contains an invalid email address."),
    ],
)
def test_invalid_attribute_is_422_validation_error(api: Api, name: str, value: Any, detail: str) -> None:
    answer = api.patch(1, {name: value})
    assert answer.status_code == 422
    assert only_error(answer) == {
        "id": "validationError",
        "title": "Validation Error",
        "detail": detail,
        "source": {"pointer": f"/data/attributes/{name}"},
    }
    assert api.sb.stats.patch_count == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("custom150", "x" * 32_000),
        ("linkedInConnections", 500),
        ("score", 4.5),
        ("optedOut", False),
        ("dateOfBirth", "1990-02-28"),
        ("emails", ["ada@example.com"]),
        ("firstName", None),
    ],
)
def test_valid_values_are_accepted(api: Api, name: str, value: Any) -> None:
    assert api.patch(1, {name: value}).status_code == 200


def test_several_bad_attributes_are_all_reported(api: Api) -> None:
    answer = api.patch(1, {"score": "x", "nope": 1, "firstName": "fine"})
    assert answer.status_code == 422
    pointers = sorted(e["source"]["pointer"] for e in answer.json()["errors"])
    assert pointers == ["/data/attributes/nope", "/data/attributes/score"]
    assert "firstName" not in (api.sb.prospect(1) or {})


def test_duplicate_email_is_422_email_hash_taken(sandbox: Sandbox, api: Api) -> None:
    sandbox.add_prospects({20: {"emails": ["taken@example.com"]}})
    answer = api.patch(21, {"emails": ["Taken@example.com"]})
    assert answer.status_code == 422
    assert only_error(answer)["detail"] == "Contacts email hash has already been taken."
    assert only_error(answer)["source"]["pointer"] == "/data/attributes/emails"
    assert api.patch(20, {"emails": ["taken@example.com", "other@example.com"]}).status_code == 200
    assert api.patch(20, {"emails": ["other@example.com"]}).status_code == 200
    assert api.patch(21, {"emails": ["taken@example.com"]}).status_code == 200  # released by 20


TYPES = {
    "data": [
        {
            "type": "prospect",
            "meta": {
                "validations": {
                    "custom10": {
                        "type": "numerical",
                        "required": False,
                        "label": "Score",
                        "definition": None,
                    },
                    "custom11": {"type": "boolean", "required": False, "label": "Flag", "definition": None},
                    "custom12": {"type": "date", "required": False, "label": "Day", "definition": None},
                    "custom13": {"type": "date_time", "required": False, "label": "At", "definition": None},
                    "custom14": {
                        "type": "inclusion",
                        "required": False,
                        "label": "Tier",
                        "definition": ["A", "B"],
                    },
                    "custom15": {"type": "url", "required": False, "label": "Site", "definition": None},
                    "custom16": {"type": "string", "required": True, "label": "Must", "definition": None},
                }
            },
        },
        {
            "type": "account",
            "meta": {"validations": {"custom10": {"type": "url", "required": False, "label": "W", "definition": None}}},
        },
    ]
}


@pytest.mark.parametrize(
    ("name", "good", "bad", "detail"),
    [
        ("custom10", "12.5", "twelve", "Contacts custom10 is not a number."),
        ("custom11", "true", "maybe", "Contacts custom11 must be true or false."),
        ("custom12", "2024-02-29", "2024-02-30", "Contacts custom12 is not a valid date."),
        ("custom13", "2024-02-29T10:00:00", "tomorrow", "Contacts custom13 is not a valid datetime."),
        ("custom14", "B", "C", "Contacts custom14 is not included in the list."),
        ("custom15", "https://example.com/x", "example dot com", "Contacts custom15 is not a valid URL."),
        ("custom16", "x", "", "Contacts custom16 can't be blank."),
    ],
)
def test_typed_custom_fields_from_types(
    sandbox: Sandbox, api: Api, name: str, good: str, bad: str, detail: str
) -> None:
    sandbox.set_types(TYPES)
    assert api.patch(1, {name: good}).status_code == 200
    answer = api.patch(1, {name: bad})
    assert answer.status_code == 422 and only_error(answer)["detail"] == detail


def test_types_endpoint_returns_the_configured_body(sandbox: Sandbox, api: Api) -> None:
    assert api.get("/types").json() == {"data": []}
    sandbox.set_types(TYPES)
    answer = api.get("/types")
    assert answer.status_code == 200 and answer.json() == TYPES


def test_paths_the_sandbox_does_not_serve_are_json_api_404(api: Api) -> None:
    answer = api.get("/accounts/1")
    assert answer.status_code == 404 and only_error(answer)["id"] == "resourceNotFound"
    assert answer.headers["content-type"] == JSON_API and "X-RateLimit-Remaining" in answer.headers
