"""The Outreach client and the token calls against servers on 127.0.0.1 that misbehave on purpose (raw
asyncio, real HTTP): an HTML page or another prospect as a 200, a redirect elsewhere, a paging link to
another host, a server that never answers, a Retry-After date, '+'-joined scopes, a refused refresh token.
Also: plain http:// to a host that is not loopback is refused by the [outreach] settings."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from pydantic import ValidationError
from test_run_support import cli_command, cli_env, read_report, record, run_cli, write_profile, write_records

from outreach_tui.outreach import auth
from outreach_tui.outreach.client import OutreachClient, OutreachRequestFailed, OutreachUnreachable
from outreach_tui.outreach.credentials import AuthRequired, StaticTokenSource
from outreach_tui.outreach.errors import diagnose
from outreach_tui.outreach.http import DEFAULT_TIMEOUTS, Timeouts
from outreach_tui.outreach.ratelimit import RateLimiter
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.outreach.scopes import missing_scopes, parse_scopes
from outreach_tui.outreach.settings import OutreachSettings
from outreach_tui.outreach.token_source import OAuthTokenSource
from outreach_tui.outreach.tokens import FileBackend, StoreKey, TokenPlace, TokenRecord, TokenStore

TOKEN = "hostile-test-token"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# an answer: raw bytes to write (then the connection closes), or None to never answer
Answer = Callable[[Request], Awaitable[bytes | None]]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]  # a whole connection
Serve = Callable[..., Awaitable["Server"]]


@dataclass
class Server:
    """One HTTP/1.1 request per connection, answered by ``answer``; every request is kept."""

    answer: Answer
    requests: list[Request] = field(default_factory=list)
    port: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # set at teardown: silent connections end

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Request(method, path, headers, body)
            self.requests.append(request)
            raw = await self.answer(request)
            if raw is None:
                await self.stop.wait()  # accept, read, never answer
            else:
                writer.write(raw)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass


def http(status: str, body: bytes | str, content_type: str = "application/vnd.api+json", **headers: str) -> bytes:
    data = body.encode() if isinstance(body, str) else body
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n{extra}"
            "Connection: close\r\n\r\n").encode() + data


def prospect(prospect_id: int, kind: str = "prospect") -> bytes:
    return http("200 OK", orjson.dumps({"data": {"type": kind, "id": prospect_id, "attributes": {"title": "VP"}}}))


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []
    started: list[Server] = []
    connections: set[asyncio.Task[Any]] = set()

    def tracked(handler: Handler) -> Handler:
        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            connections.add(asyncio.current_task())  # type: ignore[arg-type]
            try:
                await handler(reader, writer)
            finally:
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
        return run

    async def start(answer: Answer, raw: Handler | None = None) -> Server:
        server = Server(answer)
        listening = await asyncio.start_server(tracked(raw or server.handle), "127.0.0.1", 0)
        server.port = listening.sockets[0].getsockname()[1]
        servers.append(listening)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop.set()
    if connections:
        await asyncio.wait(connections, timeout=3)
    for listening in servers:
        listening.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(listening.wait_closed(), 1)


def client_for(server: Server, timeouts: Timeouts = DEFAULT_TIMEOUTS, **retry: Any) -> OutreachClient:
    policy = RetryPolicy(**{"base_delay": 0.01, "max_delay": 0.05, **retry})
    return OutreachClient(f"{server.base}/api/v2", StaticTokenSource(TOKEN), limiter=RateLimiter(100_000),
                          retry=policy, concurrency=4, timeouts=timeouts)


# -- a 2xx must be this prospect's resource -------------------------------------------------------------------
async def test_an_html_page_answering_a_patch_is_a_failure(serve: Serve) -> None:
    async def portal(request: Request) -> bytes:
        return http("200 OK", "<html><head><title>Wi-Fi login</title></head><body>hi</body></html>", "text/html")

    server = await serve(portal)
    async with client_for(server) as client:
        result = await client.patch_prospect(7, {"title": "VP"})
    assert not result.ok and result.accepted is None and result.status == 200
    assert result.errors[0].id == "unexpectedAnswer"
    assert "unexpected answer: HTML page" in result.errors[0].detail and "Wi-Fi login" in result.errors[0].detail
    diagnostic = diagnose(7, result.status, result.errors, lambda field: None)
    assert "unexpected answer: HTML page" in diagnostic.detail and "not confirmed" in diagnostic.hint


async def test_another_prospect_or_type_answering_a_patch_is_a_failure(
    serve: Serve,
) -> None:
    async def confused(request: Request) -> bytes:
        return prospect(9, kind="account") if request.path.endswith("/9") else prospect(8)

    server = await serve(confused)
    async with client_for(server) as client:
        wrong_id = await client.patch_prospect(7, {"title": "VP"})
        wrong_type = await client.patch_prospect(9, {"title": "VP"})
        right = await client.patch_prospect(8, {"title": "VP"})
    assert not wrong_id.ok and "prospect 8, not prospect 7" in wrong_id.errors[0].detail
    assert not wrong_type.ok and "'account'" in wrong_type.errors[0].detail
    assert right.ok and right.accepted == {"title": "VP"}


# -- the token goes to the configured host only ---------------------------------------------------------------
async def test_a_redirect_is_not_followed_with_the_token(serve: Serve) -> None:
    async def elsewhere(request: Request) -> bytes:
        return http("200 OK", "{}")

    other = await serve(elsewhere)

    async def redirecting(request: Request) -> bytes:
        return http("307 Temporary Redirect", "", Location=f"{other.base}{request.path}")

    server = await serve(redirecting)
    async with client_for(server) as client:
        result = await client.patch_prospect(7, {"title": "VP"})
    assert not result.ok and result.status == 307 and result.attempts == 1
    assert result.errors[0].id == "redirectRefused" and "not followed" in result.errors[0].detail
    assert other.requests == []  # nothing, and so no bearer token, reached the other host


async def test_a_cookie_set_by_the_server_is_never_sent_back(serve: Serve) -> None:
    async def sets_a_cookie(request: Request) -> bytes:
        answer = prospect(int(request.path.rsplit("/", 1)[1]))
        return answer.replace(b"\r\n\r\n", b"\r\nSet-Cookie: session=abc; Path=/\r\n\r\n", 1)

    server = await serve(sets_a_cookie)
    async with client_for(server) as client:
        first = await client.patch_prospect(7, {"title": "VP"})
        second = await client.patch_prospect(8, {"title": "VP"})
    assert first.ok and second.ok
    assert [request.headers.get("cookie") for request in server.requests] == [None, None]


async def test_a_paging_link_to_another_host_is_refused(serve: Serve) -> None:
    async def elsewhere(request: Request) -> bytes:
        return http("200 OK", orjson.dumps({"data": []}))

    other = await serve(elsewhere)

    async def paging(request: Request) -> bytes:
        page = {"data": [{"type": "prospect", "id": 1, "attributes": {}}], "links": {"next": f"{other.base}/p2"}}
        return http("200 OK", orjson.dumps(page))

    server = await serve(paging)
    async with client_for(server) as client:
        with pytest.raises(OutreachRequestFailed, match="another host"):
            await client.get_prospects([1, 2])
    assert other.requests == []
    assert server.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


# -- every wait is bounded ------------------------------------------------------------------------------------
async def test_a_server_that_never_answers_ends_unreachable_within_the_retry_policy(
    serve: Serve,
) -> None:
    async def silent(request: Request) -> None:
        return None

    server = await serve(silent)
    timeouts = Timeouts(connect=0.5, read=0.3, write=0.5, total=1.0)
    started = time.monotonic()
    async with client_for(server, timeouts, max_attempts=3) as client:
        outcomes = await asyncio.gather(*(client.patch_prospect(i, {"title": "VP"}) for i in (1, 2, 3)),
                                        return_exceptions=True)
    elapsed = time.monotonic() - started
    assert all(isinstance(o, OutreachUnreachable) and "no answer from" in str(o) for o in outcomes), outcomes
    assert len(server.requests) == 3  # the policy's 3 attempts in all, not 3 per prospect
    assert elapsed < 3 * (0.3 + 0.05) + 1.0


async def test_a_trickling_answer_meets_the_whole_request_deadline(
    serve: Serve,
) -> None:
    """Each chunk arrives within the read timeout, the whole answer never does: the deadline ends it."""

    connections = 0

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        await reader.readexactly(63)  # the PATCH body
        if connections == 1:  # the server has answered once: later silence is one prospect's failure
            writer.write(prospect(2))
            return
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            for _ in range(30):  # a byte every 0.05 s: each read is quick, the answer never completes
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)

    async def unused(request: Request) -> None:
        return None

    server = await serve(unused, raw=trickle)
    started = time.monotonic()
    async with client_for(server, Timeouts(connect=0.5, read=0.5, write=0.5, total=0.8), max_attempts=2) as c:
        assert (await c.patch_prospect(2, {"title": "VP"})).ok
        result = await c.patch_prospect(1, {"title": "VP"})
    assert not result.ok and result.status is None and result.attempts == 2
    assert "deadline" in result.errors[0].detail
    assert time.monotonic() - started < 4.0


# -- Retry-After as a date ---------------------------------------------------------------------------------
async def test_retry_after_as_an_http_date_is_honoured(serve: Serve) -> None:
    async def maintenance_then_ok(request: Request) -> bytes:
        if len(server.requests) == 1:
            back = formatdate(time.time() + 2, usegmt=True)
            return http("503 Service Unavailable", "", "text/plain", Retry_After=back)
        return prospect(5)

    server = await serve(maintenance_then_ok)
    started = time.monotonic()
    async with client_for(server, max_delay=5.0) as client:
        result = await client.patch_prospect(5, {"title": "VP"})
    waited = time.monotonic() - started
    assert result.ok and result.attempts == 2
    assert waited >= 0.9  # the date is whole seconds: at least about one of the two seconds was waited


# -- scopes -------------------------------------------------------------------------------------------------
def test_scopes_are_read_joined_by_plus_space_or_comma() -> None:
    assert parse_scopes("prospects.read+prospects.write") == ["prospects.read", "prospects.write"]
    assert parse_scopes("prospects.read prospects.write") == ["prospects.read", "prospects.write"]
    assert parse_scopes("prospects.read, prospects.write") == ["prospects.read", "prospects.write"]
    assert parse_scopes(["prospects.read", "users.read"]) == ["prospects.read", "users.read"]
    assert missing_scopes(["prospects.read", "prospects.write"], ["prospects.all"]) == []
    assert missing_scopes(["prospects.read", "prospects.write"], ["prospects.write"]) == ["prospects.read"]


def settings_for(server: Server) -> OutreachSettings:
    return OutreachSettings(api_base=f"{server.base}/api/v2", authorize_url=f"{server.base}/oauth/authorize",
                            token_url=f"{server.base}/oauth/token", client_id="hostile-app",
                            redirect_uri="http://127.0.0.1:8765/callback")


async def sign_in_by_pasting(settings: OutreachSettings,
                             tmp_path: Path) -> tuple[auth.SignInResult, TokenRecord | None]:
    """A sign-in finished with a pasted redirect URL (as ``login --no-browser``): the result, and what the
    token store then holds."""
    place = TokenPlace(StoreKey(str(tmp_path / "p.toml")), "outreach-tui login p.toml")
    store = TokenStore(FileBackend(tmp_path / "tokens"), tmp_path / "tokens")
    pending = auth.begin_sign_in(settings)
    pasted = f"{pending.redirect_uri}?code=c0de&state={pending.state}"
    result = await auth.complete_sign_in_from_redirect(settings, place, pasted, pending, client_secret="s3cret",
                                                       store=store)
    return result, store.load(place.key)


async def test_a_sign_in_granted_plus_joined_scopes_misses_none(
    serve: Serve, tmp_path: Path,
) -> None:
    async def outreach_sample(request: Request) -> bytes:
        if request.path == "/oauth/token":  # Outreach's own sample answer joins scopes with '+'
            body = {"access_token": "a1", "refresh_token": "r1", "expires_in": 7200, "token_type": "bearer",
                    "scope": "prospects.read+prospects.write"}
            return http("200 OK", orjson.dumps(body), "application/json")
        return http("200 OK", orjson.dumps({"data": {"type": "token", "attributes": {}}}))

    server = await serve(outreach_sample)
    result, _ = await sign_in_by_pasting(settings_for(server), tmp_path)
    assert result.scopes == ["prospects.read", "prospects.write"] and result.missing_scopes == []
    assert [request.path for request in server.requests] == ["/oauth/token"]  # never the API root


async def test_a_token_answer_without_scope_grants_what_was_asked(serve: Serve, tmp_path: Path) -> None:
    async def no_scope(request: Request) -> bytes:  # RFC 6749 5.1: scope may be left out when as requested
        body = {"access_token": "a1", "refresh_token": "r1", "expires_in": 7200, "token_type": "bearer"}
        return http("200 OK", orjson.dumps(body), "application/json")

    server = await serve(no_scope)
    settings = settings_for(server).model_copy(update={"scopes": ["prospects.all", "users.read"]})
    result, stored = await sign_in_by_pasting(settings, tmp_path)
    assert result.scopes == ["prospects.all", "users.read"] and result.missing_scopes == []
    assert stored is not None and stored.scopes == ["prospects.all", "users.read"]


# -- /types read leniently ------------------------------------------------------------------------------------
async def test_types_naming_standard_attributes_and_other_resources_yield_only_prospect_custom_fields(
    serve: Serve,
) -> None:
    """An Outreach whose /types also lists standard attributes and other resources' fields (the sandbox
    refuses such a body: it validates /types strictly against the document's casing rules)."""
    body = {"data": [
        {"type": "prospect", "meta": {"validations": {
            "custom4": {"type": "numerical", "required": False, "label": "Score", "definition": None},
            "firstName": {"type": "string"}, "Custom7": {"type": "string"}, "custom151": {"type": "string"}}}},
        {"type": "account", "meta": {"validations": {"custom1": {"type": "date"}}}},
    ]}

    async def types(request: Request) -> bytes:
        return http("200 OK", orjson.dumps(body))

    server = await serve(types)
    async with client_for(server) as client:
        fields = await client.custom_field_types()
    assert sorted(fields) == ["custom4", "custom7"] and fields["custom4"]["type"] == "numerical"
    assert [request.path for request in server.requests] == ["/api/v2/types"]


# -- refresh ------------------------------------------------------------------------------------------------
async def test_a_refused_refresh_token_is_sent_once_for_all_workers(
    serve: Serve, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OUTREACH_CLIENT_SECRET", "s3cret")
    async def refuse(request: Request) -> bytes:
        await asyncio.sleep(0.05)  # every worker is waiting on the refresh by now
        return http("400 Bad Request", orjson.dumps({"error": "invalid_grant"}), "application/json")

    server = await serve(refuse)
    settings = settings_for(server)
    place = TokenPlace(StoreKey(str(tmp_path / "p.toml")), "outreach-tui login p.toml")
    store = TokenStore(FileBackend(tmp_path / "tokens"), tmp_path / "tokens")
    now = time.time()
    store.save(place.key, TokenRecord("stale", "r-old", now + 3600, now - 120, ["prospects.all"], "u@x.io",
                                      redirect_uri="http://127.0.0.1:8765/callback"))
    source = OAuthTokenSource(settings, place, store, mint_interval=0)
    outcomes = await asyncio.gather(*(source.refresh_after_401("stale") for _ in range(6)), return_exceptions=True)
    assert all(isinstance(o, AuthRequired) and "login p.toml" in str(o) for o in outcomes)
    assert len(server.requests) == 1
    form = {key: values[0] for key, values in parse_qs(server.requests[0].body.decode()).items()}
    assert form == {"grant_type": "refresh_token", "refresh_token": "r-old", "client_id": "hostile-app",
                    "client_secret": "s3cret", "redirect_uri": "http://127.0.0.1:8765/callback"}


async def test_concurrent_401s_share_one_refresh(serve: Serve, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTREACH_CLIENT_SECRET", "s3cret")

    async def mint(request: Request) -> bytes:
        await asyncio.sleep(0.05)  # every worker is waiting on the refresh by now
        body = {"access_token": f"a{len(server.requests)}", "refresh_token": f"r{len(server.requests)}",
                "expires_in": 7200, "scope": "prospects.read+prospects.write"}
        return http("200 OK", orjson.dumps(body), "application/json")

    server = await serve(mint)
    place = TokenPlace(StoreKey(str(tmp_path / "p.toml")), "outreach-tui login p.toml")
    store = TokenStore(FileBackend(tmp_path / "tokens"), tmp_path / "tokens")
    now = time.time()
    store.save(place.key, TokenRecord("stale", "r0", now + 3600, now - 120, ["prospects.all"], "u@x.io"))
    source = OAuthTokenSource(settings_for(server), place, store, mint_interval=0)
    tokens = await asyncio.gather(*(source.refresh_after_401("stale") for _ in range(6)))
    assert tokens == ["a1"] * 6 and len(server.requests) == 1
    saved = store.load(place.key)
    assert saved is not None and saved.refresh_token == "r1" and saved.scopes == ["prospects.read", "prospects.write"]


# -- plain http only to loopback ------------------------------------------------------------------------------
@pytest.mark.parametrize("key", ["api_base", "authorize_url", "token_url"])
def test_plain_http_to_a_remote_host_is_refused(key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        OutreachSettings(**{key: "http://api.outreach.io/x"})
    message = str(caught.value)
    assert f"outreach.{key}" in message and "https://api.outreach.io/x" in message
    for host in ("127.0.0.1:9", "localhost:9", "[::1]:9"):
        assert getattr(OutreachSettings(**{key: f"http://{host}/x"}), key) == f"http://{host}/x"
    assert getattr(OutreachSettings(**{key: "https://eu.outreach.io/x"}), key) == "https://eu.outreach.io/x"


# -- through the CLI: an HTML 200 is not an activation, and the next run sends it again ------------------------
async def test_run_counts_an_html_200_as_failed_and_sends_it_again(serve: Serve, tmp_path: Path) -> None:
    async def portal(request: Request) -> bytes:
        return http("200 OK", "<html><head><title>Proxy says hi</title></head></html>", "text/html")

    server = await serve(portal)
    profile = write_profile(tmp_path, f"{server.base}/api/v2")
    write_records(tmp_path / "in.jsonl", [record(i, first=f"Ann{i}") for i in (1, 2, 3)])
    env = cli_env(tmp_path / "data", TOKEN)

    async def run(report: Path) -> tuple[int, dict[str, Any]]:
        process = await asyncio.create_subprocess_exec(*cli_command(profile, "--report", report), env=env,
                                                       stdout=asyncio.subprocess.PIPE,
                                                       stderr=asyncio.subprocess.PIPE)
        await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, read_report(report)

    code, report = await run(tmp_path / "r1.json")
    assert code != 0 and report["prospects"]["failed"] == 3 and report["prospects"].get("activated", 0) == 0
    assert "unexpected answer: HTML page" in json.dumps(report["failures"])
    def patches() -> int:  # each run also asks GET /types first (the profile writes custom fields)
        return sum(request.method == "PATCH" for request in server.requests)

    assert patches() == 3
    code, report = await run(tmp_path / "r2.json")
    assert patches() == 6  # nothing was recorded as accepted: every prospect is sent again


def test_run_refuses_a_profile_with_plain_http_to_a_remote_host(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, "http://api.outreach.example/api/v2")
    write_records(tmp_path / "in.jsonl", [record(1, first="Ann")])
    done = run_cli(profile, env=cli_env(tmp_path / "data", TOKEN), timeout=60)
    assert done.returncode == 2
    assert "outreach.api_base" in done.stderr and "https://api.outreach.example/api/v2" in done.stderr
    assert "outreach.token_url" in done.stderr  # write_profile puts the token endpoint on the same host
