"""Outreach's bulk endpoints in the sandbox, over real HTTP: ``POST /imports/actions/bulkUpsert`` with
asynchronous processing polled at ``GET /imports/{id}``, and ``POST /batches/actions/prospectsBulkModify``
with its "no filter means every prospect" behaviour."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sandbox_fixtures import SandboxFactory

from outreach_tui.sandbox import Sandbox

JSON_API = "application/vnd.api+json"
IMPORT_SCOPES = ("prospects.read", "prospects.write", "imports.read", "imports.write")
UPSERT = "/imports/actions/bulkUpsert"
MODIFY = "/batches/actions/prospectsBulkModify"


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def headers_for(sb: Sandbox, scopes: tuple[str, ...] = IMPORT_SCOPES) -> dict[str, str]:
    return {"Authorization": f"Bearer {sb.issue_token(scopes=scopes)['access_token']}", "Content-Type": JSON_API}


def record(prospect_id: int, **attributes: Any) -> dict[str, Any]:
    return {"type": "prospect", "id": prospect_id, "attributes": attributes}


def upsert_body(records: list[Any], dupe_method: str = "overwriteNoCreate") -> dict[str, Any]:
    attributes = {"records": records, "dupeMethod": dupe_method, "fileName": "outreach-tui.json"}
    return {"data": {"type": "import", "attributes": attributes}}


def post(sb: Sandbox, client: httpx.Client, path: str, body: Any, **kw: Any) -> httpx.Response:
    headers = kw.pop("headers", None) or headers_for(sb)
    return client.post(sb.api_base + path, json=body, headers=headers, **kw)


def poll(sb: Sandbox, client: httpx.Client, import_id: int, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        answer = client.get(f"{sb.api_base}/imports/{import_id}", headers=headers_for(sb))
        assert answer.status_code == 200 and answer.headers["content-type"] == JSON_API
        attributes: dict[str, Any] = answer.json()["data"]["attributes"]
        if attributes["state"] == "finished" or time.monotonic() > deadline:
            return attributes
        time.sleep(0.05)


@pytest.fixture
def slow(sandbox_factory: SandboxFactory) -> Sandbox:
    return sandbox_factory(import_delay=0.3)


# -- bulkUpsert ----------------------------------------------------------------------------------------
def test_import_is_asynchronous_then_finished_with_counts(slow: Sandbox, client: httpx.Client) -> None:
    slow.add_prospects({1: {"firstName": "Old", "custom1": "keep"}})
    answer = post(slow, client, UPSERT, upsert_body([record(1, firstName="Ada", custom4="x"), record(2, custom4="y")]))
    assert answer.status_code == 200 and answer.headers["content-type"] == JSON_API
    data = answer.json()["data"]
    assert data["type"] == "import" and isinstance(data["id"], int)
    assert data["attributes"]["state"] == "pending" and data["attributes"]["total"] == 2
    assert data["attributes"]["failures"] is None  # not known before processing
    assert data["attributes"]["dupeMethod"] == "overwriteNoCreate" and "errorReason" in data["attributes"]
    assert (slow.prospect(1) or {})["firstName"] == "Old"  # nothing applied yet
    finished = poll(slow, client, data["id"])
    assert finished["state"] == "finished" and finished["total"] == 2 and finished["failures"] == 0
    assert slow.prospect(1) == {**(slow.prospect(1) or {}), "firstName": "Ada", "custom1": "keep", "custom4": "x"}
    assert (slow.prospect(2) or {})["custom4"] == "y"


def test_state_goes_pending_processing_finished(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    sb = sandbox_factory(import_delay=0.6)
    import_id = post(sb, client, UPSERT, upsert_body([record(1, custom4="a")])).json()["data"]["id"]
    states = []
    for _ in range(40):  # bounded: 40 polls of 50 ms
        state = client.get(f"{sb.api_base}/imports/{import_id}", headers=headers_for(sb)).json()["data"]
        states.append(state["attributes"]["state"])
        if states[-1] == "finished":
            break
        time.sleep(0.05)
    assert states[0] == "pending" and "processing" in states and states[-1] == "finished"
    assert sorted(set(states), key=states.index) == ["pending", "processing", "finished"]


def test_processing_happens_without_polls(slow: Sandbox, client: httpx.Client) -> None:
    assert post(slow, client, UPSERT, upsert_body([record(3, custom4="z")])).status_code == 200
    time.sleep(0.6)
    assert (slow.prospect(3) or {}).get("custom4") == "z"


def test_failures_are_counted_like_patch_with_no_per_record_detail(sandbox: Sandbox, client: httpx.Client) -> None:
    sandbox.set_types({"data": [{"type": "prospect", "meta": {"validations": {
        "custom10": {"type": "numerical", "required": False, "label": "Score", "definition": None}}}}]})  # fmt: skip
    sandbox.add_prospects({9: {"emails": ["taken@example.com"]}})
    records = [
        record(1, custom10="12"),
        record(2, custom10="twelve"),  # the numerical type refuses it, as PATCH would
        record(3, emails=["taken@example.com"]),  # Outreach dedupes by email
        record(4, linkedInConnections="many"),  # not an integer
        record(4999, custom4="nobody"),  # no such prospect: overwriteNoCreate never creates
        record(5, custom4="fine"),
    ]
    answer = post(sandbox, client, UPSERT, upsert_body(records))
    finished = poll(sandbox, client, answer.json()["data"]["id"])
    assert (finished["total"], finished["failures"]) == (6, 4)
    assert not any(key in finished for key in ("records", "errors", "failedRecords"))
    assert (sandbox.prospect(1) or {})["custom10"] == "12" and (sandbox.prospect(5) or {})["custom4"] == "fine"
    assert "custom10" not in (sandbox.prospect(2) or {}) and sandbox.prospect(4999) is None
    assert sandbox.stats.import_failures == 4 and sandbox.stats.patch_count == 0


def test_records_wrapped_in_data_are_accepted(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = post(sandbox, client, UPSERT, upsert_body([{"data": record(6, custom4="wrapped")}]))
    assert poll(sandbox, client, answer.json()["data"]["id"])["failures"] == 0
    assert (sandbox.prospect(6) or {})["custom4"] == "wrapped"


def test_overwrite_creates_a_missing_prospect(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = post(sandbox, client, UPSERT, upsert_body([record(700, firstName="New")], dupe_method="overwrite"))
    assert poll(sandbox, client, answer.json()["data"]["id"])["failures"] == 0
    assert (sandbox.prospect(700) or {})["firstName"] == "New"


def test_body_over_2_mb_is_refused(sandbox: Sandbox, client: httpx.Client) -> None:
    big = [record(i % 50 + 1, personalNote1="x" * 60_000) for i in range(40)]  # about 2.4 MB
    answer = post(sandbox, client, UPSERT, upsert_body(big))
    assert answer.status_code == 422
    error = answer.json()["errors"][0]
    assert error["id"] == "requestTooLarge" and "at most 2,000,000 bytes" in error["detail"]
    assert sandbox.stats.imports == 0


def test_a_body_between_2_000_000_and_2_mib_is_refused_too(sandbox: Sandbox, client: httpx.Client) -> None:
    """"About 2 MB": the sandbox takes the stricter decimal reading."""
    records = [record(i % 50 + 1, personalNote1="x" * 60_000) for i in range(34)]
    size = len(httpx.Request("POST", "http://x", json=upsert_body(records)).content)
    assert 2_000_000 < size < 2 * 1024 * 1024
    assert post(sandbox, client, UPSERT, upsert_body(records)).status_code == 422


def test_body_just_under_the_limit_is_accepted(sandbox_factory: SandboxFactory, client: httpx.Client) -> None:
    sb = sandbox_factory(import_max_bytes=5_000)
    body = upsert_body([record(1, personalNote1="x" * 4_500)])
    assert post(sb, client, UPSERT, body).status_code == 200
    assert post(sb, client, UPSERT, upsert_body([record(1, personalNote1="x" * 5_000)])).status_code == 422


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"data": {"type": "prospect", "attributes": {}}}, '"type": "import"'),
        (upsert_body([]), "non-empty list"),
        (upsert_body([record(1)], dupe_method="replace"), "dupeMethod must be one of"),
    ],
)
def test_malformed_import_is_422(sandbox: Sandbox, client: httpx.Client, body: Any, detail: str) -> None:
    answer = post(sandbox, client, UPSERT, body)
    assert answer.status_code == 422 and detail in answer.json()["errors"][0]["detail"]


def test_import_scopes_are_required_and_named(sandbox: Sandbox, client: httpx.Client) -> None:
    no_write = headers_for(sandbox, ("prospects.read", "prospects.write", "imports.read"))
    answer = post(sandbox, client, UPSERT, upsert_body([record(1, custom4="a")]), headers=no_write)
    assert answer.status_code == 403 and "'imports.write'" in answer.json()["errors"][0]["detail"]
    created = post(sandbox, client, UPSERT, upsert_body([record(1, custom4="a")])).json()["data"]["id"]
    no_read = headers_for(sandbox, ("imports.write",))
    answer = client.get(f"{sandbox.api_base}/imports/{created}", headers=no_read)
    assert answer.status_code == 403 and "'imports.read'" in answer.json()["errors"][0]["detail"]


def test_unknown_import_is_404(sandbox: Sandbox, client: httpx.Client) -> None:
    answer = client.get(f"{sandbox.api_base}/imports/999", headers=headers_for(sandbox))
    assert answer.status_code == 404 and answer.json()["errors"][0]["id"] == "resourceNotFound"


def test_wrong_content_type_is_415(sandbox: Sandbox, client: httpx.Client) -> None:
    headers = {**headers_for(sandbox), "Content-Type": "application/json"}
    assert post(sandbox, client, UPSERT, upsert_body([record(1)]), headers=headers).status_code == 415


def test_counters_count_imports_and_polls(sandbox: Sandbox, client: httpx.Client) -> None:
    first = post(sandbox, client, UPSERT, upsert_body([record(1, custom4="a"), record(2, custom4="b")]))
    post(sandbox, client, UPSERT, upsert_body([record(3, custom4="c")]))
    poll(sandbox, client, first.json()["data"]["id"])
    stats = sandbox.stats
    assert stats.count("POST", "/api/v2/imports/actions/bulkUpsert", 200) == 2
    assert stats.count("GET", "/api/v2/imports/{id}") >= 1
    assert (stats.imports, stats.import_records) == (2, 3)
    over_http = client.get(sandbox.base_url + "/_sandbox/stats").json()
    assert over_http["imports"] == 2 and over_http["importRecords"] == 3


def test_an_import_counts_one_request_against_the_rate_limit(
    sandbox_factory: SandboxFactory, client: httpx.Client
) -> None:
    sb = sandbox_factory(rate_limit=2)
    headers = headers_for(sb)
    many = upsert_body([record(i, custom4="v") for i in range(1, 51)])
    assert post(sb, client, UPSERT, many, headers=headers).headers["X-RateLimit-Remaining"] == "1"


# -- prospectsBulkModify -------------------------------------------------------------------------------
BATCH_SCOPES = ("prospects.write", "batches.write")


def test_bulk_modify_without_a_filter_modifies_every_prospect(sandbox: Sandbox, client: httpx.Client) -> None:
    body = {"data": {"attributes": {"custom4": "EVERYONE"}}}
    answer = post(sandbox, client, MODIFY, body, headers=headers_for(sandbox, BATCH_SCOPES))
    assert answer.status_code == 200
    batch = answer.json()["data"]
    assert batch["type"] == "batch" and batch["attributes"]["total"] == 50
    assert all((sandbox.prospect(i) or {}).get("custom4") == "EVERYONE" for i in range(1, 51))
    assert sandbox.stats.batch_modified == 50


def test_bulk_modify_with_an_id_filter_touches_only_those(sandbox: Sandbox, client: httpx.Client) -> None:
    body = {"data": {"attributes": {"custom4": "some"}}}
    params = [("actionParams[filter][id][]", "3"), ("actionParams[filter][id][]", "5")]
    answer = post(sandbox, client, MODIFY, body, headers=headers_for(sandbox, BATCH_SCOPES), params=params)
    assert answer.status_code == 200 and answer.json()["data"]["attributes"]["total"] == 2
    assert [i for i in range(1, 51) if (sandbox.prospect(i) or {}).get("custom4") == "some"] == [3, 5]


def test_bulk_modify_single_field_form_with_ids(sandbox: Sandbox, client: httpx.Client) -> None:
    body = {"data": {"attributes": {"fieldName": "custom5", "fieldValue": "one", "ids": [7]}}}
    answer = post(sandbox, client, MODIFY, body, headers=headers_for(sandbox, BATCH_SCOPES))
    assert answer.status_code == 200 and answer.json()["data"]["attributes"]["total"] == 1
    assert (sandbox.prospect(7) or {})["custom5"] == "one" and "custom5" not in (sandbox.prospect(8) or {})


def test_bulk_modify_needs_batches_write(sandbox: Sandbox, client: httpx.Client) -> None:
    body = {"data": {"attributes": {"custom4": "x"}}}
    answer = post(sandbox, client, MODIFY, body, headers=headers_for(sandbox, ("prospects.write",)))
    assert answer.status_code == 403 and "'batches.write'" in answer.json()["errors"][0]["detail"]
    assert sandbox.stats.batch_modified == 0


def test_bulk_modify_validates_like_patch(sandbox: Sandbox, client: httpx.Client) -> None:
    body = {"data": {"attributes": {"linkedInConnections": "lots"}}}
    answer = post(sandbox, client, MODIFY, body, headers=headers_for(sandbox, BATCH_SCOPES))
    assert answer.status_code == 422 and answer.json()["errors"][0]["source"]["pointer"].endswith("linkedInConnections")


# -- inspection and the lying-Outreach fault -------------------------------------------------------------
def test_inspection_names_the_records_an_import_carried_and_which_failed(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    answer = post(sandbox, client, UPSERT, upsert_body([record(1, custom4="a"), record(4242, custom4="b")]))
    import_id = answer.json()["data"]["id"]
    poll(sandbox, client, import_id)
    seen = client.get(f"{sandbox.base_url}/_sandbox/imports/{import_id}").json()
    assert seen == {"id": import_id, "state": "finished", "recordIds": [1, 4242], "failedIds": [4242],
                    "ignoredIds": []}  # fmt: skip
    assert sandbox.import_job(import_id) == seen


def test_ignore_fault_reports_success_but_applies_nothing(sandbox: Sandbox, client: httpx.Client) -> None:
    """An Outreach whose bulk semantics differ from the document: only a read-back can tell."""
    sandbox.set_faults(import_ignore_rate=1.0)
    answer = post(sandbox, client, UPSERT, upsert_body([record(1, custom4="lost"), record(2, custom4="lost")]))
    finished = poll(sandbox, client, answer.json()["data"]["id"])
    assert (finished["state"], finished["total"], finished["failures"]) == ("finished", 2, 0)
    assert "custom4" not in (sandbox.prospect(1) or {}) and "custom4" not in (sandbox.prospect(2) or {})
    assert (sandbox.import_job(answer.json()["data"]["id"]) or {})["ignoredIds"] == [1, 2]
