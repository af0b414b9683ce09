"""Contract tests: the sandbox's answers (and the request bodies it accepts) validated with openapi-core
against the operations of Outreach's published OpenAPI document, as committed in
``tests/contract/outreach-openapi-subset.json`` (made by ``tools/gen_openapi_subset.py``: the operations used
here with every schema they reference), so they run in any clone.

The spec has no ``/types`` operation, so that endpoint has no contract here (tests in test_sandbox_api).
Error answers the spec does not document for an operation (401, 415, 429) are not validated either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.request.exceptions import InvalidRequestBody
from openapi_core.validation.response.exceptions import InvalidData
from werkzeug.datastructures import Headers, ImmutableMultiDict

from outreach_tui.sandbox import Sandbox

SPEC_PATH = Path(__file__).resolve().parent / "contract" / "outreach-openapi-subset.json"
OUTREACH_HOST = "https://api.outreach.io"  # the spec's server is https://api.outreach.io/api/v2
JSON_API = "application/vnd.api+json"


@cache
def spec() -> OpenAPI:
    """Loaded once per session (building the validator is the slow part)."""
    return OpenAPI.from_dict(json.loads(SPEC_PATH.read_text(encoding="utf-8")))


class SpecRequest:
    """An httpx request seen as openapi-core's Request protocol, moved onto Outreach's host."""

    def __init__(self, request: httpx.Request, api_base: str) -> None:
        url = str(request.url)
        self.method = request.method.lower()
        self.host_url = OUTREACH_HOST
        self.path = "/api/v2" + url.split("?", 1)[0].removeprefix(api_base)
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "").lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
        )


class SpecResponse:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data: bytes | None = response.content
        self.content_type = response.headers.get("content-type", "").lower()
        self.headers = Headers(list(response.headers.items()))


class Checked:
    """Sends requests to the sandbox and validates request and answer against the spec."""

    def __init__(self, sb: Sandbox, client: httpx.Client) -> None:
        self.sb, self.client = sb, client
        self.auth = {"Authorization": f"Bearer {sb.issue_token()['access_token']}"}

    def send(self, method: str, path: str, body: Any = None, **params: str) -> httpx.Response:
        headers = {**self.auth, **({"Content-Type": JSON_API} if body is not None else {})}
        content = json.dumps(body).encode() if body is not None else None
        request = self.client.build_request(
            method, self.sb.api_base + path, headers=headers, params=params, content=content
        )
        response = self.client.send(request)
        spec_request = SpecRequest(request, self.sb.api_base)
        if response.status_code < 400:
            spec().validate_request(spec_request)  # what the sandbox accepted, the spec accepts
        spec().validate_response(spec_request, SpecResponse(response))
        return response


@pytest.fixture
def checked(sandbox: Sandbox) -> Iterator[Checked]:
    with httpx.Client(timeout=10) as client:
        yield Checked(sandbox, client)


RICH = {
    "firstName": "Ada",
    "lastName": "Lovelace",
    "emails": ["ada@example.com"],
    "tags": ["vip", "emea"],
    "custom4": "realized",
    "custom150": "x" * 100,
    "score": 4.5,
    "linkedInConnections": 500,
    "optedOut": False,
    "dateOfBirth": "1815-12-10",
    "websiteUrl1": "https://example.com",
}


def patch_body(prospect_id: int, attributes: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"type": "prospect", "id": prospect_id, "attributes": attributes}}


def test_patch_request_and_200_answer_conform(checked: Checked) -> None:
    answer = checked.send("PATCH", "/prospects/1", patch_body(1, RICH))
    assert answer.status_code == 200


def test_get_prospect_200_and_404_conform(checked: Checked) -> None:
    checked.send("PATCH", "/prospects/2", patch_body(2, RICH))
    assert checked.send("GET", "/prospects/2").status_code == 200
    assert checked.send("GET", "/prospects/2", **{"fields[prospect]": "firstName,custom4"}).status_code == 200
    assert checked.send("GET", "/prospects/424242").status_code == 404


def test_list_answer_conforms(checked: Checked) -> None:
    checked.send("PATCH", "/prospects/3", patch_body(3, RICH))
    answer = checked.send("GET", "/prospects", **{"filter[id]": "1,2,3", "page[size]": "2"})
    assert answer.status_code == 200 and len(answer.json()["data"]) == 2


@pytest.mark.parametrize(
    "attributes",
    [{"score": "high"}, {"firstName": "x" * 256}, {"optedOut": "yes"}, {"tags": "a"}, {"linkedInConnections": 1.5}],
)
def test_values_the_spec_rejects_get_a_conforming_422(checked: Checked, attributes: dict[str, Any]) -> None:
    answer = checked.send("PATCH", "/prospects/1", patch_body(1, attributes))
    assert answer.status_code == 422
    request = checked.client.build_request(
        "PATCH",
        checked.sb.api_base + "/prospects/1",
        headers={**checked.auth, "Content-Type": JSON_API},
        json=patch_body(1, attributes),
    )
    with pytest.raises(InvalidRequestBody):  # the sandbox and the spec agree the value is wrong
        spec().validate_request(SpecRequest(request, checked.sb.api_base))


def test_the_validator_can_fail(checked: Checked) -> None:
    """Guard against a vacuous contract: a wrong answer (id as text) must not pass."""
    answer = checked.send("GET", "/prospects/1")
    request = checked.client.build_request("GET", checked.sb.api_base + "/prospects/1", headers=checked.auth)
    wrong = httpx.Response(
        200, headers={"content-type": JSON_API}, json={"data": {**answer.json()["data"], "id": "one"}}
    )
    with pytest.raises(InvalidData):
        spec().validate_response(SpecRequest(request, checked.sb.api_base), SpecResponse(wrong))


def test_bulk_upsert_and_import_poll_conform(sandbox: Sandbox) -> None:
    scopes = ("imports.read", "imports.write")
    with httpx.Client(timeout=10) as client:
        checked = Checked(sandbox, client)
        checked.auth = {"Authorization": f"Bearer {sandbox.issue_token(scopes=scopes)['access_token']}"}
        records = [patch_body(1, RICH)["data"]]
        body = {"data": {"type": "import", "attributes": {"records": records, "dupeMethod": "overwriteNoCreate"}}}
        created = checked.send("POST", "/imports/actions/bulkUpsert", body)
        assert created.status_code == 200
        assert checked.send("GET", f"/imports/{created.json()['data']['id']}").status_code == 200
