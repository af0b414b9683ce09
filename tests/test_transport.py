"""KeepAliveTransport over real HTTP on loopback: keep-alive reuse, body framings, dropped and stale
connections, timeouts, the connection limit, TLS verification and the proxy fallback.

The sandbox serves the Outreach paths; a tiny asyncio server (``Scripted``) plays the misbehaving servers
the sandbox cannot (chunked and close-delimited bodies, closing idle connections, a self-signed TLS cert)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
import trustme
from starlette.types import Receive, Scope, Send

from outreach_tui.outreach.client import OutreachClient
from outreach_tui.outreach.credentials import StaticTokenSource
from outreach_tui.outreach.ratelimit import RateLimiter
from outreach_tui.outreach.retry import RetryPolicy
from outreach_tui.outreach.transport import IDEMPOTENT, KeepAliveTransport
from outreach_tui.sandbox import Sandbox, SandboxConfig

PROXY_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy", "no_proxy")
BODY = b'{"data": {"type": "prospect", "id": 1, "attributes": {"title": "CFO"}}}'
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
Reply = Callable[[int, bytes], bytes | None]  # (request number on this connection, request) -> answer or drop


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


class Scripted:
    """A loopback HTTP/1.1 server answering each request with ``reply``; ``close_after`` closes the
    connection after each answer (without saying so)."""

    def __init__(self, reply: Reply, close_after: bool = False, tls: ssl.SSLContext | None = None) -> None:
        self.reply, self.close_after, self.tls = reply, close_after, tls
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = asyncio.Event()  # a connection was closed by this server
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Scripted:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def url(self, path: str = "/x", scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = 0
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                number += 1
                self.requests.append(request)
                answer = self.reply(number, request)
                if answer is None:
                    break  # drop: close without answering
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    break
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()
            self.closed.set()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return head + await reader.readexactly(length)


def always(answer: bytes) -> Reply:
    return lambda _number, _request: answer


@pytest.fixture
async def transport() -> AsyncIterator[KeepAliveTransport]:
    made = KeepAliveTransport(max_connections=4)
    yield made
    await made.aclose()


class PeerPorts:
    """ASGI wrapper recording the client port of every request: one port per TCP connection."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.ports: set[int] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("client"):
            self.ports.add(scope["client"][1])
        await self.app(scope, receive, send)


@pytest.fixture
def counted() -> Iterator[tuple[Sandbox, PeerPorts]]:
    sandbox = Sandbox(SandboxConfig(port=0, prospects=50, mint_interval=0.0))
    ports = PeerPorts(sandbox.app)
    sandbox.app = ports
    sandbox.start()
    yield sandbox, ports
    sandbox.stop()


def outreach_client(sandbox: Sandbox, concurrency: int, **retry: Any) -> OutreachClient:
    return OutreachClient(
        sandbox.api_base,
        StaticTokenSource(str(sandbox.issue_token()["access_token"])),
        limiter=RateLimiter(100_000),
        retry=RetryPolicy(**{"base_delay": 0.001, "max_delay": 0.01, **retry}),
        concurrency=concurrency,
    )


# -- keep-alive and the connection limit --------------------------------------------------------------------
async def test_sequential_requests_reuse_one_connection(counted: tuple[Sandbox, PeerPorts]) -> None:
    sandbox, ports = counted
    async with outreach_client(sandbox, concurrency=4) as client:
        for prospect_id in range(1, 21):
            assert (await client.patch_prospect(prospect_id, {"title": "CFO"})).ok
    assert len(ports.ports) == 1
    assert sandbox.stats.count("PATCH", status=200) == 20


async def test_concurrency_is_bounded_by_the_pool(counted: tuple[Sandbox, PeerPorts]) -> None:
    sandbox, ports = counted
    sandbox.set_faults(latency_ms=20)  # requests overlap on the server
    async with outreach_client(sandbox, concurrency=3) as client:
        results = await asyncio.gather(*(client.patch_prospect(i, {"title": "CFO"}) for i in range(1, 31)))
    assert all(r.ok for r in results)
    assert sandbox.stats.peak_concurrency == 3
    assert len(ports.ports) == 3  # ten requests per connection, no connection churn


async def test_pool_timeout(sandbox: Sandbox) -> None:
    sandbox.set_faults(latency_ms=300)
    small = KeepAliveTransport(max_connections=1)
    async with httpx.AsyncClient(transport=small, timeout=httpx.Timeout(5.0, pool=0.05)) as http:
        slow = asyncio.create_task(http.get(sandbox.base_url + "/api/v2/prospects/1"))
        await asyncio.sleep(0)  # the first request takes the only slot
        with pytest.raises(httpx.PoolTimeout):
            await http.get(sandbox.base_url + "/api/v2/prospects/2")
        assert (await slow).status_code == 401  # no token: still a full answer on the one connection


# -- body framings and Connection: close --------------------------------------------------------------------
async def test_chunked_answer_in_pieces(transport: KeepAliveTransport) -> None:
    chunked = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":\r\n7\r\n [1,2]}\r\n0\r\n\r\n'
    async with Scripted(always(chunked)) as server, httpx.AsyncClient(transport=transport) as http:
        for _ in range(3):
            response = await http.get(server.url())
            assert response.json() == {"a": [1, 2]}
    assert server.connections == 1  # a chunked answer keeps the connection


async def test_close_delimited_answer_and_connection_close(transport: KeepAliveTransport) -> None:
    close_delimited = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"until":"close"}'
    said_close = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
    async with (
        Scripted(always(close_delimited), close_after=True) as server,
        httpx.AsyncClient(transport=transport) as http,
    ):
        assert (await http.get(server.url())).json() == {"until": "close"}
        assert (await http.get(server.url())).json() == {"until": "close"}
        assert server.connections == 2
    async with Scripted(always(said_close)) as server, httpx.AsyncClient(transport=transport) as http:
        for _ in range(3):
            assert (await http.post(server.url(), content=b"x")).json() == {}
        assert server.connections == 3  # the server said close: never reused


async def test_request_is_one_write_with_length_and_host(transport: KeepAliveTransport) -> None:
    async with Scripted(always(OK)) as server, httpx.AsyncClient(transport=transport) as http:
        await http.patch(server.url("/p/1?x=1"), content=BODY, headers={"Content-Type": "application/json"})
        request = server.requests[0]
    assert request.startswith(b"PATCH /p/1?x=1 HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{server.port}".encode() in request.lower()
    assert f"content-length: {len(BODY)}".encode() in request.lower()
    assert request.endswith(b"\r\n\r\n" + BODY)


# -- dropped and stale connections --------------------------------------------------------------------------
async def test_dropped_connection_is_an_httpx_error_and_the_client_retries(sandbox: Sandbox) -> None:
    sandbox.set_faults(drop_rate=1.0)
    client = outreach_client(sandbox, concurrency=2)
    client.on_retry = lambda *_: sandbox.set_faults(drop_rate=0.0)  # the next attempt gets through
    async with client:
        result = await client.patch_prospect(7, {"title": "CFO"})
    assert result.ok and result.attempts == 2
    assert sandbox.stats.dropped == 1
    assert sandbox.prospect(7)["title"] == "CFO"  # type: ignore[index]


async def test_drop_on_a_busy_connection_is_not_hidden(transport: KeepAliveTransport) -> None:
    async with Scripted(lambda n, _: OK if n == 1 else None) as server, httpx.AsyncClient(transport=transport) as http:
        await http.patch(server.url(), content=BODY)
        with pytest.raises(httpx.RemoteProtocolError):  # reused at once: a real failure, the caller's to handle
            await http.patch(server.url(), content=BODY)


async def test_idle_connection_closed_by_the_server_is_replaced(transport: KeepAliveTransport) -> None:
    async with Scripted(always(OK), close_after=True) as server, httpx.AsyncClient(transport=transport) as http:
        await http.get(server.url())
        await asyncio.wait_for(server.closed.wait(), 5)
        response = await http.get(server.url())  # the pooled connection is dead: a new one, no error
    assert response.status_code == 200
    assert server.connections == 2


@pytest.mark.parametrize(("method", "replaced"), [("PATCH", True), ("POST", False)])
async def test_stale_connection_closed_as_the_request_goes_out(method: str, replaced: bool) -> None:
    """The server closes a connection that looked alive when the request was written: an idempotent request
    (PATCH is, for Outreach) is sent once more on a new connection; anything else fails."""
    stale = KeepAliveTransport(max_connections=2, retry_methods=IDEMPOTENT | {"PATCH"}, stale_after=0.0)
    async with Scripted(lambda n, _: OK if n == 1 else None) as server, httpx.AsyncClient(transport=stale) as http:
        await http.request(method, server.url(), content=BODY)
        if replaced:
            assert (await http.request(method, server.url(), content=BODY)).status_code == 200
        else:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.request(method, server.url(), content=BODY)
        assert server.connections == (2 if replaced else 1)
        assert len(server.requests) == (3 if replaced else 2)


# -- timeouts and connect errors ----------------------------------------------------------------------------
async def test_read_timeout(sandbox: Sandbox, transport: KeepAliveTransport) -> None:
    sandbox.set_faults(latency_ms=500)
    async with httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(5.0, read=0.05)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(sandbox.api_base + "/prospects/1")


async def test_refused_connection_is_connect_error(transport: KeepAliveTransport) -> None:
    async with Scripted(always(OK)) as server:
        url = server.url()
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)  # the server is gone: nothing listens on that port


# -- TLS ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_server(authority: trustme.CA) -> Scripted:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return Scripted(always(OK), tls=context)


async def test_tls_self_signed_is_rejected_by_default(authority: trustme.CA, transport: KeepAliveTransport) -> None:
    async with tls_server(authority) as server, httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(server.url(scheme="https", host="localhost"))
        assert server.requests == []


async def test_tls_accepted_when_the_ca_is_trusted(authority: trustme.CA) -> None:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    trusting = KeepAliveTransport(ssl_context=context)
    async with tls_server(authority) as server, httpx.AsyncClient(transport=trusting) as http:
        for _ in range(2):
            assert (await http.get(server.url(scheme="https", host="localhost"))).json() == {"ok": True}
        assert server.connections == 1
        with pytest.raises(httpx.ConnectError):  # the certificate does not name this host
            await http.get(server.url(scheme="https", host="127.0.0.2"))


def test_verification_cannot_be_turned_off() -> None:
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError, match="verification"):
        KeepAliveTransport(ssl_context=unverified)


# -- fallbacks ----------------------------------------------------------------------------------------------
async def test_proxy_from_the_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    async with Scripted(always(OK)) as proxy, Scripted(always(OK)) as origin:
        monkeypatch.setenv("HTTP_PROXY", proxy.url(path=""))
        monkeypatch.setenv("NO_PROXY", "localhost")
        proxied = KeepAliveTransport()
        async with httpx.AsyncClient(transport=proxied) as http:
            await http.get(origin.url("/via-proxy"))
            await http.get(origin.url("/direct", host="localhost"))
    assert proxy.requests[0].startswith(f"GET {origin.url('/via-proxy')} HTTP/1.1".encode())  # absolute form
    assert [r.split(b" ")[1] for r in origin.requests] == [b"/direct"]


async def test_other_schemes_are_unsupported(transport: KeepAliveTransport) -> None:
    async with httpx.AsyncClient(transport=transport) as http:
        with pytest.raises(httpx.UnsupportedProtocol):
            await http.get("ftp://127.0.0.1/file")
