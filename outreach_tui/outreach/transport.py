"""A lean HTTP/1.1 keep-alive transport for httpx: asyncio streams, httptools parsing, a LIFO idle pool.

httpx's default transport (httpcore + h11) spends about 1 ms of CPU per request on this kind of traffic
(small JSON bodies, many requests on a few connections); this one spends a fraction of that, so one client
process can keep thousands of PATCHes per second in flight. It does only what the Outreach client needs:

- HTTP/1.1 over ``asyncio.open_connection``; TLS with verification always on (``server_hostname`` set);
- per origin, a stack of idle connections (last in, first out: the warmest one is reused, O(1)), idle ones
  older than ``keepalive_expiry`` are dropped; at most ``max_connections`` requests in flight (and open);
- the request head and body go out in one write; responses (Content-Length, chunked or close-delimited
  bodies) are read whole with ``httptools``; ``Connection: close`` and HTTP/1.0 answers are honoured;
- a pooled connection the server closed while idle is dropped at checkout; if the server closes it just as a
  request goes out (nothing of the answer was read), an idempotent request is sent once more on a fresh one;
- errors are httpx's (ConnectError, ConnectTimeout, ReadError, ReadTimeout, WriteError, WriteTimeout,
  RemoteProtocolError, PoolTimeout), so retry policies built for httpx treat them the same.

Requests this transport does not handle go to httpx's own ``AsyncHTTPTransport``: a proxy from the
environment (``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``, unless ``NO_PROXY`` exempts the host) or a scheme
other than http and https (httpx then raises ``UnsupportedProtocol``).
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
import urllib.request

import httptools
import httpx

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
STALE_AFTER = 1.0  # seconds idle before a failed reused connection counts as closed by the server while idle
READ_SIZE = 65536
MAX_ANSWER = 64 * 1024 * 1024  # bytes; a page of 100 prospects is about 1 MB: anything far bigger is broken
UNSAFE_HEADER = re.compile(rb"[\r\n\0]")  # would split the request: never written
Origin = tuple[str, str, int]


class _Answer:
    """httptools callbacks: collects one response."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.keep_alive = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.headers_done = False
        self.complete = False
        self.framed = False  # Content-Length or chunked; otherwise the body ends when the server closes

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        if name.lower() in (b"content-length", b"transfer-encoding"):
            self.framed = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()  # the parser forgets it once the message is over


class _Connection:
    __slots__ = ("idle_since", "reader", "received", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.received = False  # a byte of the current answer arrived

    def reusable(self) -> bool:
        # closed, at EOF, or holding bytes nobody asked for (say a 408 sent before closing): not reusable
        buffered = getattr(self.reader, "_buffer", b"")
        return not (self.writer.is_closing() or self.reader.at_eof() or buffered)

    def close(self) -> None:
        self.writer.close()


class KeepAliveTransport(httpx.AsyncBaseTransport):
    def __init__(
        self,
        *,
        max_connections: int = 10,
        keepalive_expiry: float = 20.0,
        ssl_context: ssl.SSLContext | None = None,
        retry_methods: frozenset[str] = IDEMPOTENT,
        stale_after: float = STALE_AFTER,
    ) -> None:
        """``retry_methods``: methods sent once more when a reused connection, idle for at least
        ``stale_after`` seconds, turns out closed before any of the answer arrived (add PATCH only where the
        API says repeating it is harmless). Servers close idle connections after seconds, so a connection
        that fails sooner was not stale: the failure is the caller's to retry or report, not hidden here."""
        if ssl_context is not None and (ssl_context.verify_mode != ssl.CERT_REQUIRED or not ssl_context.check_hostname):
            raise ValueError("TLS verification cannot be turned off")
        self._max = max(1, max_connections)
        self._expiry = keepalive_expiry
        self._ssl = ssl_context
        self._retry_methods = retry_methods
        self._stale_after = stale_after
        self._slots = asyncio.Semaphore(self._max)
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open = 0
        self._closed = False
        self._proxies = {k: v for k, v in urllib.request.getproxies().items() if k != "no"}  # the environment's
        self._fallbacks: dict[str, httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        fallback = self._fallback_for(request.url)
        if fallback is not None:
            return await fallback.handle_async_request(request)
        timeouts = request.extensions.get("timeout", {})
        data = await _encode(request)
        await self._acquire(timeouts.get("pool"), request)
        try:
            origin = (request.url.scheme, request.url.host, request.url.port or _default_port(request.url))
            conn = self._checkout(origin)
            if conn is not None:
                idle = time.monotonic() - conn.idle_since
                try:
                    return await self._exchange(origin, conn, data, request, timeouts)
                except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
                    if conn.received or idle < self._stale_after or request.method not in self._retry_methods:
                        raise
                    # the server closed this idle connection as the request went out: it never saw it
            conn = await self._connect(origin, request, timeouts.get("connect"))
            return await self._exchange(origin, conn, data, request, timeouts)
        finally:
            self._slots.release()

    async def aclose(self) -> None:
        self._closed = True  # connections still in use are closed when their answer is in
        for stack in self._idle.values():
            for conn in stack:
                self._discard(conn)
        self._idle.clear()
        for fallback in self._fallbacks.values():
            await fallback.aclose()
        self._fallbacks.clear()

    # -- the pool -----------------------------------------------------------------------------------------
    async def _acquire(self, timeout: float | None, request: httpx.Request) -> None:
        if not self._slots.locked():
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection in time", request=request) from None

    def _checkout(self, origin: Origin) -> _Connection | None:
        stack = self._idle.get(origin)
        oldest = time.monotonic() - self._expiry
        while stack:
            conn = stack.pop()
            if conn.idle_since >= oldest and conn.reusable():
                return conn
            self._discard(conn)  # expired or closed by the server while idle
        return None

    def _checkin(self, origin: Origin, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        self._idle.setdefault(origin, []).append(conn)

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._open -= 1

    def _make_room(self) -> None:
        """Close an idle connection to another origin when the limit is reached (the caller holds a slot
        and no connection, so at least one open connection is idle)."""
        for stack in self._idle.values():
            if self._open < self._max:
                return
            while stack and self._open >= self._max:
                self._discard(stack.pop(0))  # the oldest

    async def _connect(self, origin: Origin, request: httpx.Request, timeout: float | None) -> _Connection:
        self._make_room()
        scheme, host, port = origin
        tls = self._ssl_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, ssl=tls, server_hostname=host if tls else None, limit=READ_SIZE
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("connect timed out", request=request) from None
        except OSError as exc:  # refused, unreachable, DNS, TLS verification (ssl.SSLError is an OSError)
            raise httpx.ConnectError(f"cannot connect: {type(exc).__name__}: {exc}", request=request) from None
        self._open += 1
        return _Connection(reader, writer)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()  # verification on, certifi's CA bundle
        return self._ssl

    # -- one exchange -------------------------------------------------------------------------------------
    async def _exchange(
        self, origin: Origin, conn: _Connection, data: bytes, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> httpx.Response:
        conn.received = False
        try:
            await self._write(conn, data, request, timeouts.get("write"))
            answer = await self._read(conn, request, timeouts.get("read"))
        except BaseException:  # including cancellation: the connection's state is unknown
            self._discard(conn)
            raise
        if answer.keep_alive and request.method != "HEAD" and not self._closed and conn.reusable():
            self._checkin(origin, conn)
        else:
            self._discard(conn)
        parser = answer.parser
        return httpx.Response(
            parser.get_status_code(),
            headers=answer.headers,
            content=b"".join(answer.body),
            request=request,
            extensions={"http_version": b"HTTP/" + parser.get_http_version().encode()},
        )

    async def _write(self, conn: _Connection, data: bytes, request: httpx.Request, timeout: float | None) -> None:
        try:
            conn.writer.write(data)
            if conn.writer.transport.get_write_buffer_size():
                async with asyncio.timeout(timeout):
                    await conn.writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending the request", request=request) from None
        except OSError as exc:
            raise httpx.WriteError(f"connection broken while sending: {type(exc).__name__}", request=request) from None

    async def _read(self, conn: _Connection, request: httpx.Request, timeout: float | None) -> _Answer:
        """Read one whole answer; ``timeout`` bounds the wait for all of it (bodies here are small)."""
        answer = _Answer()
        size = 0
        try:
            async with asyncio.timeout(timeout):
                while not answer.complete:
                    chunk = await conn.reader.read(READ_SIZE)
                    size += len(chunk)
                    if size > MAX_ANSWER:
                        raise httpx.RemoteProtocolError("the answer is too big", request=request)
                    if not chunk:
                        if answer.headers_done and not answer.framed and request.method != "HEAD":
                            break  # a close-delimited body ends here
                        said = "in the middle of the answer" if conn.received else "without answering"
                        raise httpx.RemoteProtocolError(f"the server closed the connection {said}", request=request)
                    conn.received = True
                    answer.parser.feed_data(chunk)
                    if request.method == "HEAD" and answer.headers_done:
                        break  # a HEAD answer has no body, whatever its Content-Length says
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the answer", request=request) from None
        except httptools.HttpParserError as exc:
            raise httpx.RemoteProtocolError(f"malformed answer: {type(exc).__name__}", request=request) from None
        except OSError as exc:
            raise httpx.ReadError(f"connection broken while reading: {type(exc).__name__}", request=request) from None
        return answer

    # -- proxies ------------------------------------------------------------------------------------------
    def _fallback_for(self, url: httpx.URL) -> httpx.AsyncHTTPTransport | None:
        if url.scheme not in ("http", "https"):
            return self._fallback("")
        if not self._proxies:
            return None
        proxy = self._proxies.get(url.scheme) or self._proxies.get("all")
        if not proxy or urllib.request.proxy_bypass(url.host):  # NO_PROXY
            return None
        return self._fallback(proxy)

    def _fallback(self, proxy: str) -> httpx.AsyncHTTPTransport:
        if proxy not in self._fallbacks:
            limits = httpx.Limits(max_connections=self._max, keepalive_expiry=self._expiry)
            self._fallbacks[proxy] = httpx.AsyncHTTPTransport(
                verify=self._ssl_context(), limits=limits, proxy=proxy or None
            )
        return self._fallbacks[proxy]


async def _encode(request: httpx.Request) -> bytes:
    """Head and body as one buffer (one write, one TCP segment for small requests)."""
    body = await request.aread()
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    chunked = False
    for name, value in request.headers.raw:
        if UNSAFE_HEADER.search(name) or UNSAFE_HEADER.search(value):
            raise httpx.LocalProtocolError("a header contains a line break or NUL", request=request)
        chunked = chunked or (name.lower() == b"transfer-encoding" and b"chunked" in value.lower())
        lines.append(name + b": " + value)
    if chunked:  # a streamed body, read whole above: send it as a single chunk
        body = (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)) if body else b"0\r\n\r\n"
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _default_port(url: httpx.URL) -> int:
    return 443 if url.scheme == "https" else 80
