"""The sandbox behaves like Outreach where our client could be fooled: the 403 names the missing scope,
200 answers carry the full resource, PATCH replaces lists, and the list endpoint filters by several ids or
emails with cursor pages, all over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from outreach_tui.sandbox import Sandbox
from outreach_tui.sandbox.resource import LINKS_ONLY, TO_MANY, TO_ONE

JSON_API = "application/vnd.api+json"
CATALOG = Path(__file__).resolve().parents[1] / "outreach_tui" / "outreach" / "catalog.json"
PROSPECT_ATTRIBUTES = {a["name"] for a in json.loads(CATALOG.read_text())["attributes"]}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def auth(sb: Sandbox, *scopes: str) -> dict[str, str]:
    token = sb.issue_token(scopes=scopes) if scopes else sb.issue_token()
    return {"Authorization": f"Bearer {token['access_token']}"}


def patch(sb: Sandbox, client: httpx.Client, prospect_id: int, attributes: Any, *scopes: str) -> httpx.Response:
    body = {"data": {"type": "prospect", "id": prospect_id, "attributes": attributes}}
    headers = {**auth(sb, *scopes), "Content-Type": JSON_API}
    return client.patch(f"{sb.api_base}/prospects/{prospect_id}", json=body, headers=headers)


# -- 403 names the scope that is missing -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("granted", "method", "missing"),
    [
        (("prospects.write",), "GET", "prospects.read"),
        (("prospects.read",), "PATCH", "prospects.write"),
        (("users.read",), "PATCH", "prospects.write"),
    ],
)
def test_403_names_the_scope_actually_missing(
    sandbox: Sandbox, client: httpx.Client, granted: tuple[str, ...], method: str, missing: str
) -> None:
    if method == "GET":
        answer = client.get(f"{sandbox.api_base}/prospects/1", headers=auth(sandbox, *granted))
    else:
        answer = patch(sandbox, client, 1, {"firstName": "Ada"}, *granted)
    assert answer.status_code == 403
    error = answer.json()["errors"][0]
    assert error["id"] == "unauthorizedOauthScope" and f"'{missing}'" in error["detail"]
    assert "prospects.all" not in error["detail"]


# -- full resources --------------------------------------------------------------------------------------
def test_patch_200_is_the_full_resource_with_nulls_and_relationships(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = patch(sandbox, client, 4, {"firstName": "Ada"})
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert set(data["attributes"]) == PROSPECT_ATTRIBUTES and len(PROSPECT_ATTRIBUTES) > 200
    assert data["attributes"]["firstName"] == "Ada" and data["attributes"]["name"] == "Ada"
    assert data["attributes"]["custom150"] is None and data["attributes"]["emails"] is None
    relationships = data["relationships"]
    assert set(relationships) == {*TO_ONE, *TO_MANY, *LINKS_ONLY}
    assert relationships["owner"] == {"data": None}
    assert relationships["mailings"]["links"]["related"].endswith("/api/v2/mailings?filter[prospect][id]=4")


def test_get_is_the_full_resource_and_sparse_fields_keep_asked_nulls(sandbox: Sandbox, client: httpx.Client) -> None:
    headers = auth(sandbox)
    full = client.get(f"{sandbox.api_base}/prospects/2", headers=headers).json()["data"]["attributes"]
    assert set(full) == PROSPECT_ATTRIBUTES
    sparse = client.get(f"{sandbox.api_base}/prospects/2", headers=headers, params={"fields[prospect]": "tags,title"})
    assert sparse.json()["data"]["attributes"] == {"tags": None, "title": None}


# -- lists are replaced ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["emails", "tags", "workPhones", "mobilePhones", "homePhones", "otherPhones"])
def test_patch_replaces_a_list_it_does_not_merge(sandbox: Sandbox, client: httpx.Client, name: str) -> None:
    first = ["a@one.example", "b@one.example"] if name == "emails" else ["+1 555 0100", "+1 555 0101"]
    second = ["c@two.example"] if name == "emails" else ["+1 555 0199"]
    if name == "tags":
        first, second = ["vip", "emea"], ["trial"]
    assert patch(sandbox, client, 5, {name: first}).status_code == 200
    answer = patch(sandbox, client, 5, {name: second})
    assert answer.status_code == 200 and answer.json()["data"]["attributes"][name] == second
    assert (sandbox.prospect(5) or {})[name] == second


def test_replaced_emails_are_free_for_another_prospect(sandbox: Sandbox, client: httpx.Client) -> None:
    assert patch(sandbox, client, 5, {"emails": ["old@x.example"]}).status_code == 200
    assert patch(sandbox, client, 6, {"emails": ["old@x.example"]}).status_code == 422
    assert patch(sandbox, client, 5, {"emails": ["new@x.example"]}).status_code == 200
    assert patch(sandbox, client, 6, {"emails": ["old@x.example"]}).status_code == 200


def test_current_lists_read_in_batches_by_id(sandbox: Sandbox, client: httpx.Client) -> None:
    for pid in (1, 2, 3, 4, 5):
        sandbox.add_prospects({pid: {"emails": [f"p{pid}@x.example"], "tags": [f"t{pid}"], "title": "keep out"}})
    params = {"filter[id]": "1,2,3,4,5", "fields[prospect]": "emails,tags", "page[size]": "2"}
    seen: dict[int, dict[str, Any]] = {}
    url: str | None = f"{sandbox.api_base}/prospects"
    pages = 0
    while url is not None and pages < 10:
        answer = client.get(url, headers=auth(sandbox), params=params if pages == 0 else None)
        assert answer.status_code == 200
        body = answer.json()
        seen.update({item["id"]: item["attributes"] for item in body["data"]})
        assert len(body["data"]) <= 2
        url, pages = body["links"].get("next"), pages + 1
    assert pages == 3
    assert seen == {pid: {"emails": [f"p{pid}@x.example"], "tags": [f"t{pid}"]} for pid in (1, 2, 3, 4, 5)}


# -- filter[emails] ----------------------------------------------------------------------------------------
def test_filter_by_several_emails_ignores_case(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.add_prospects({
        10: {"emails": ["Ada@Example.com", "ada@work.example"]},
        11: {"emails": ["grace@example.com"]},
        12: {"emails": ["alan@example.com"]},
    })  # fmt: skip
    params = {"filter[emails]": "ada@example.COM,GRACE@example.com,nobody@example.com,ada@work.example"}
    answer = client.get(f"{sandbox.api_base}/prospects", headers=auth(sandbox), params=params)
    assert answer.status_code == 200
    assert [item["id"] for item in answer.json()["data"]] == [10, 11]


def test_two_prospects_with_one_email_are_both_found(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.add_prospects({20: {"emails": ["twin@example.com"]}, 21: {"emails": ["TWIN@example.com"]}})
    params = {"filter[emails]": "twin@example.com"}
    answer = client.get(f"{sandbox.api_base}/prospects", headers=auth(sandbox), params=params)
    assert [item["id"] for item in answer.json()["data"]] == [20, 21]


def test_email_filter_pages_with_a_cursor(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.add_prospects({pid: {"emails": [f"u{pid}@example.com"]} for pid in range(1, 8)})
    emails = ",".join(f"U{pid}@example.com" for pid in range(1, 8))
    first = client.get(
        f"{sandbox.api_base}/prospects", headers=auth(sandbox), params={"filter[emails]": emails, "page[size]": "4"}
    ).json()
    assert [item["id"] for item in first["data"]] == [1, 2, 3, 4]
    second = client.get(first["links"]["next"], headers=auth(sandbox)).json()
    assert [item["id"] for item in second["data"]] == [5, 6, 7] and "next" not in second["links"]


@pytest.mark.parametrize(("size", "status"), [("1000", 200), ("1001", 400), ("0", 400), ("ten", 400)])
def test_page_size_limits(sandbox: Sandbox, client: httpx.Client, size: str, status: int) -> None:
    answer = client.get(f"{sandbox.api_base}/prospects", headers=auth(sandbox), params={"page[size]": size})
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["errors"][0]["id"] == "invalidParameter"


def test_default_page_is_50(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.add_prospects({pid: {} for pid in range(51, 61)})
    body = client.get(f"{sandbox.api_base}/prospects", headers=auth(sandbox)).json()
    assert len(body["data"]) == 50 and "next" in body["links"]


def test_unsupported_filter_is_refused_not_ignored(sandbox: Sandbox, client: httpx.Client) -> None:
    params = {"filter[custom4]": "x"}
    answer = client.get(f"{sandbox.api_base}/prospects", headers=auth(sandbox), params=params)
    assert answer.status_code == 400 and "filter[custom4]" in answer.json()["errors"][0]["detail"]


def test_an_overlong_filter_url_is_414_so_clients_must_batch(sandbox: Sandbox, client: httpx.Client) -> None:
    emails = ",".join(f"someone{i}@example.com" for i in range(800))  # about 19 KB, commas escaped
    answer = client.get(f"{sandbox.api_base}/prospects", headers=auth(sandbox), params={"filter[emails]": emails})
    assert answer.status_code == 414 and answer.json()["errors"][0]["id"] == "uriTooLong"
    fine = ",".join(f"someone{i}@example.com" for i in range(400))  # about 10 KB
    answer = client.get(f"{sandbox.api_base}/prospects", headers=auth(sandbox), params={"filter[emails]": fine})
    assert answer.status_code == 200


def test_a_deleted_prospect_answers_404_and_frees_its_email(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.add_prospects({30: {"emails": ["gone@example.com"]}})
    assert client.delete(f"{sandbox.base_url}/_sandbox/prospects/30").status_code == 200
    assert client.get(f"{sandbox.api_base}/prospects/30", headers=auth(sandbox)).status_code == 404
    found = client.get(f"{sandbox.api_base}/prospects", headers=auth(sandbox),
                       params={"filter[emails]": "gone@example.com"}).json()["data"]  # fmt: skip
    assert found == [] and patch(sandbox, client, 31, {"emails": ["gone@example.com"]}).status_code == 200
    assert sandbox.delete_prospect(31) and not sandbox.delete_prospect(31)
