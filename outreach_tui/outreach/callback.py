"""The one-shot loopback HTTP server that receives Outreach's sign-in redirect (bound to 127.0.0.1 only)."""

from __future__ import annotations

import asyncio
import contextlib
from html import escape
from urllib.parse import urlsplit

from outreach_tui.outreach.credentials import SignInError
from outreach_tui.outreach.pending import PendingSignIn, code_from_params, query_of

LOOPBACK = "127.0.0.1"


class CallbackServer:
    """A one-shot HTTP server on 127.0.0.1 that waits for the redirect matching ``pending``."""

    def __init__(self, path: str) -> None:
        self.path = path or "/"
        self.pending: PendingSignIn | None = None
        self.result: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.server: asyncio.Server | None = None

    async def start(self, port: int) -> int:
        self.server = await asyncio.start_server(self._handle, host=LOOPBACK, port=port, reuse_address=True)
        return int(self.server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 10.0)
            while (await asyncio.wait_for(reader.readline(), 10.0)) not in (b"\r\n", b"\n", b""):
                pass  # headers: not needed
            status, page = self._answer(request_line.decode("latin-1"))
            body = page.encode()
            head = (f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                    f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n")
            writer.write(head.encode() + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _answer(self, request_line: str) -> tuple[str, str]:
        parts = request_line.split()
        if len(parts) < 2 or parts[0] != "GET" or urlsplit(parts[1]).path != self.path:
            return "404 Not Found", _page("Not found", "This address only receives the Outreach sign-in.")
        if self.result.done() or self.pending is None:
            return "409 Conflict", _page("Already done", "Sign-in already finished. You can close this tab.")
        try:
            code = code_from_params(query_of(parts[1]), self.pending)
        except SignInError as exc:
            if "state mismatch" in str(exc):  # not our callback: reject it and keep waiting for the real one
                return "400 Bad Request", _page("Sign-in failed", str(exc))
            self.result.set_exception(exc)
            return "400 Bad Request", _page("Sign-in failed", f"{exc}. You can close this tab.")
        self.result.set_result(code)
        return "200 OK", _page("Signed in", "outreach-tui received the sign-in. You can close this tab.")


def _page(title: str, message: str) -> str:
    return (f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title></head>"
            f"<body style='font-family:sans-serif;margin:3em'><h1>{escape(title)}</h1>"
            f"<p id=message>{escape(message)}</p></body></html>")
