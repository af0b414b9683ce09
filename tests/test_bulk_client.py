"""The bulk import calls of the client (``outreach/imports.py``) over real HTTP against the sandbox, and the
guarantee that no code path sends a batches action without an id filter."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

import outreach_tui
from outreach_tui.outreach.client import OutreachClient
from outreach_tui.outreach.credentials import ScopeMissing, StaticTokenSource
from outreach_tui.outreach.imports import (
    MAX_IMPORT_BYTES,
    ImportRequestFailed,
    body_size,
    bulk_upsert,
    encode_record,
    get_import,
    import_body,
)
from outreach_tui.outreach.ratelimit import RateLimiter
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.sandbox import Sandbox

IMPORT_SCOPES = ("prospects.read", "prospects.write", "imports.read", "imports.write")
UPSERT_ROUTE = ("POST", "/api/v2/imports/actions/bulkUpsert")


def make_client(sb: Sandbox, scopes: tuple[str, ...] = IMPORT_SCOPES) -> OutreachClient:
    token = str(sb.issue_token(scopes=scopes)["access_token"])
    return OutreachClient(sb.api_base, StaticTokenSource(token), limiter=RateLimiter(10_000),
                          retry=RetryPolicy(base_delay=0.01, max_delay=0.1))


def test_bulk_upsert_then_poll_until_finished_applies_the_records(sandbox_factory) -> None:
    sb = sandbox_factory(prospects=5, import_delay=0.2)

    async def scenario() -> tuple[int, list[str], int | None, int | None]:
        async with make_client(sb) as client:
            started = await bulk_upsert(client, [encode_record(1, {"title": "CTO"}), encode_record(2, {"title": "CEO"}),
                                                 {"type": "prospect", "id": 99, "attributes": {"title": "x"}}])
            states = [started.state]
            status = started
            for _ in range(100):
                status = await get_import(client, started.id)
                states.append(status.state)
                if status.finished:
                    break
                await asyncio.sleep(0.05)
            return client.requests_sent, states, status.total, status.failures

    sent, states, total, failures = asyncio.run(scenario())

    assert states[0] == "pending" and states[-1] == "finished"
    assert (total, failures) == (3, 1)  # prospect 99 does not exist: a failure under overwriteNoCreate
    assert (sb.prospect(1) or {})["title"] == "CTO" and (sb.prospect(2) or {})["title"] == "CEO"
    assert sb.stats.count(*UPSERT_ROUTE, 200) == 1
    assert sent == 1 + len(states) - 1  # one request per call, polls included


def test_an_import_without_the_scope_or_over_the_size_limit_fails_clearly(sandbox_factory) -> None:
    sb = sandbox_factory(prospects=2, import_delay=0.0)
    big = [encode_record(1, {"title": "x" * 1000}) for _ in range(MAX_IMPORT_BYTES // 1000 + 10)]

    async def scenario() -> None:
        async with make_client(sb) as client:
            with pytest.raises(ValueError, match="over Outreach"):
                await bulk_upsert(client, big)
            with pytest.raises(ValueError):
                await bulk_upsert(client, [])
        async with make_client(sb, ("prospects.read", "prospects.write")) as client:
            with pytest.raises(ScopeMissing, match=r"imports\.write"):
                await bulk_upsert(client, [encode_record(1, {"title": "x"})])
            with pytest.raises(ScopeMissing, match=r"imports\.read"):
                await get_import(client, 1)
        async with make_client(sb) as client:
            with pytest.raises(ImportRequestFailed, match="404"):
                await get_import(client, 12345)

    asyncio.run(scenario())
    assert sb.stats.count(*UPSERT_ROUTE, 200) == 0 and sb.stats.imports == 0


def test_body_size_is_the_encoded_body_length() -> None:
    records = [encode_record(i, {"title": f"t{i}", "custom4": "realized"}) for i in range(1, 40)]
    assert body_size(sum(map(len, records)), len(records)) == len(import_body(records))
    assert body_size(0, 0) == len(import_body([]))


def test_a_batches_action_without_an_id_filter_is_refused_before_sending(sandbox_factory) -> None:
    sb = sandbox_factory(prospects=3)
    path = "/batches/actions/prospectsBulkModify"
    body = b'{"data":{"type":"batch","attributes":{"fieldName":"title","fieldValue":"ALL"}}}'

    async def scenario() -> None:
        async with make_client(sb, (*IMPORT_SCOPES, "batches.write")) as client:
            for params in (None, {}, {"actionParams[filter][id]": ""}, {"actionParams[filter][id]": " , "},
                           {"filter[id]": "1"}):
                with pytest.raises(ValueError, match="every prospect"):
                    await client.send_document("POST", path, scope="batches.write", content=body, params=params)
            assert client.requests_sent == 0

    asyncio.run(scenario())
    assert sb.stats.batch_modified == 0 and all((sb.prospect(i) or {}).get("title") != "ALL" for i in (1, 2, 3))


def test_no_module_outside_the_sandbox_names_a_batches_endpoint() -> None:
    """The client's guard is the only way to Outreach; no other code even builds a batches URL."""
    package = Path(outreach_tui.__file__).parent
    offenders = [str(path.relative_to(package)) for path in package.rglob("*.py")
                 if "sandbox" not in path.relative_to(package).parts[:1]
                 and re.search(r"batches/actions|prospectsBulkModify", path.read_text(encoding="utf-8"))]
    assert offenders == ["outreach/imports.py"]  # its docstring, explaining why there is no such call
    client_source = (package / "outreach" / "client.py").read_text(encoding="utf-8")
    # every request goes _request -> _attempt -> _send -> the pool, and _request holds the guard
    assert '"/batches/" in url' in client_source
    for call in ("self._http.request(", "await self._send(", "await self._attempt("):
        assert client_source.count(call) == 1, call
