"""Streaming input for ``--follow`` (and ``--input -``): JSON Lines from a growing file or standard input.

``follow_records`` yields batches of records, one per coalescing window: the window opens when a record
arrives and closes ``window`` seconds later; the runner plans each batch (merging records per prospect)
and sends it as one delivery. A file is followed until the run is cancelled (rotation or truncation makes
it start again from the top); standard input until it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

from outreach_tui.xdm.records import Record, iter_jsonl_lines

POLL_INTERVAL = 0.1  # seconds between looks at a file that has no new complete line
READ_BLOCK = 1 << 16
STDIN = Path("-")


class _LineFeed:
    """Complete lines arriving from a source, with their 1-based line numbers, turned into records."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self.arrived = asyncio.Event()
        self.ended = False
        self._next_line = 1

    def push(self, lines: list[bytes]) -> None:
        if not lines:
            return
        self.records.extend(iter_jsonl_lines(lines, first_line=self._next_line))
        self._next_line += len(lines)
        if self.records:
            self.arrived.set()

    def take(self) -> list[Record]:
        batch, self.records = self.records, []
        self.arrived.clear()
        return batch

    def end(self) -> None:
        self.ended = True
        self.arrived.set()


async def _tail_file(path: Path, feed: _LineFeed, stopped: asyncio.Event) -> None:
    """Read complete lines as the file grows; a partial last line waits for its newline."""
    handle = path.open("rb")
    partial = b""
    position = 0
    try:
        while not stopped.is_set():
            block = handle.read(READ_BLOCK)
            if block:
                position += len(block)
                lines = (partial + block).split(b"\n")
                partial = lines.pop()
                feed.push(lines)
                await asyncio.sleep(0)
                continue
            with contextlib.suppress(OSError):
                if path.stat().st_size < position:  # truncated or replaced: start again from the top
                    handle.close()
                    handle = path.open("rb")
                    partial, position = b"", 0
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), POLL_INTERVAL)
    finally:
        handle.close()


def _read_stdin(loop: asyncio.AbstractEventLoop, feed: _LineFeed) -> None:
    """In a daemon thread: blocking reads of standard input, handed to the event loop."""
    stream = sys.stdin.buffer
    try:
        while True:
            line = stream.readline()
            if not line:
                break
            lines = [line]
            loop.call_soon_threadsafe(feed.push, lines)
    except (OSError, ValueError):
        pass
    finally:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(feed.end)


def _start_stdin_reader(feed: _LineFeed) -> None:
    loop = asyncio.get_running_loop()
    threading.Thread(target=_read_stdin, args=(loop, feed), name="stdin-reader", daemon=True).start()


async def follow_records(source: Path, window: float, stopped: asyncio.Event) -> AsyncIterator[list[Record]]:
    """Batches of records, one per ``window`` seconds with records, until stopped or stdin ends."""
    feed = _LineFeed()
    reader: asyncio.Task[None] | None = None
    if source == STDIN:
        _start_stdin_reader(feed)
    else:
        reader = asyncio.create_task(_tail_file(source, feed, stopped))
    stop_wait = asyncio.create_task(stopped.wait())
    try:
        while not stopped.is_set():
            await _first_of(feed.arrived.wait(), stop_wait)
            if stopped.is_set() or (feed.ended and not feed.records):
                break
            if not feed.ended:
                await _first_of(asyncio.sleep(window), stop_wait)
            yield feed.take()
            if feed.ended and not feed.records:
                break
        if feed.records:
            yield feed.take()  # read but not yet delivered: the runner counts them (pending when stopped)
    finally:
        stop_wait.cancel()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def _first_of(awaitable: Awaitable[Any], stop_wait: asyncio.Task[bool]) -> None:
    task = asyncio.ensure_future(awaitable)
    await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def stdin_records() -> AsyncIterator[list[Record]]:
    """All of standard input as JSON Lines (``--input -`` without ``--follow``), in batches."""
    feed = _LineFeed()
    _start_stdin_reader(feed)
    while True:
        await feed.arrived.wait()
        batch = feed.take()
        if batch:
            yield batch
        if feed.ended and not feed.records:
            return
