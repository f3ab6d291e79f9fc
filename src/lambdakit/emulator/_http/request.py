"""The request side: ``Request``, which a handler gets as soon as its head has arrived, and
whose body the connection feeds in as the parser produces it.

A handler reads the body whole (``body()``) or as it arrives (``chunks()``); the connection
stops reading from the socket while too much of it waits unread (flow control), and sends
``100 Continue`` only when the handler first asks for the body (RFC 9110 §10.1.1).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdakit.emulator._http.connection import _Connection
    from lambdakit.emulator._http.response import Response

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class ParseError(Exception):
    """A request the server cannot take: STATUS is the answer (400, 408, 431)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BodyTooLarge(Exception):
    """The request body exceeded the handler's limit."""

    def __init__(self, size: int) -> None:
        super().__init__(f"request body of at least {size} bytes")
        self.size = size


class Request:
    """One HTTP request; its body is read on demand, as the connection receives it."""

    __slots__ = (
        "_body_done",
        "_broken",
        "_buffered",
        "_chunks",
        "_connection",
        "_expects_continue",
        "_index",
        "_waiter",
        "headers",
        "http_10",
        "keep_alive",
        "method",
        "raw_headers",
        "target",
        "trailers",
    )

    def __init__(self, connection: _Connection, target: str) -> None:
        self.method = ""
        self.target = target
        self.headers: list[tuple[str, str]] = []
        # The names as the client spelt them, from servers started with keep_header_case
        # (the API Gateway server: REST events keep the client's case); else None.
        self.raw_headers: list[tuple[str, str]] | None = None
        self.trailers: dict[str, str] = {}
        self.keep_alive = True
        self.http_10 = False
        self._connection = connection
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._body_done = False
        self._waiter: asyncio.Future[None] | None = None
        self._expects_continue = False
        self._broken = False
        self._index: dict[str, str] | None = None  # header()'s, once the head is whole

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def connection(self) -> object:
        """The connection the request came on, as an opaque key (weak references allowed)."""
        return self._connection

    @property
    def disconnected(self) -> bool:
        """Whether the client has closed its connection, or its sending half (a client that
        sends nothing more is, for a long poll, one that has gone)."""
        return self._connection.lost or self._connection.eof

    @property
    def peer(self) -> tuple[str, int] | None:
        """The client's address (host, port), if the transport knows it."""
        return self._connection.address("peername")

    @property
    def local(self) -> tuple[str, int] | None:
        """The server's own address on this connection (host, port)."""
        return self._connection.address("sockname")

    @property
    def query(self) -> dict[str, str]:
        if "?" not in self.target:
            return {}
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.target.partition("?")[2], keep_blank_values=True))

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header NAME (any case), or DEFAULT. Handlers ask for several
        headers of each request, so they are looked up in a dict: the connection makes it
        once the head is whole (``index_headers``); a request made otherwise gets it at the
        first ask."""
        index = self._index
        if index is None:
            index = self.index_headers()
        return index.get(name.lower(), default)

    def index_headers(self) -> dict[str, str]:
        """(Re)make ``header``'s dict from ``headers``; the first of a repeated name wins."""
        self._index = dict(reversed(self.headers))
        return self._index

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ``trailers`` is filled in once it has all arrived. Raises
        ``ConnectionError`` when the connection closes before the body ends."""
        if self._expects_continue:
            self._expects_continue = False
            self._connection.write(CONTINUE)
        while True:
            if self._chunks:
                chunk = self._chunks.popleft()
                self._buffered -= len(chunk)
                self._connection.body_consumed(self._buffered)
                yield chunk
            elif self._body_done:
                return
            elif self._connection.lost or self._broken:
                raise ConnectionError("the connection closed before the request body ended")
            else:
                self._waiter = self._connection.loop.create_future()
                self._connection.body_wait_begins()
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                    self._connection.body_wait_ends()

    def reply(self, response: Response | None) -> None:
        """Answer this request, which the server's immediate handler took to answer ``LATER``
        (once); None drops the connection instead."""
        self._connection.reply(self, response)

    def arrived_body(self, limit: int | None = None) -> bytes:
        """The whole body, which has arrived (the immediate handler's ``body``); raises
        ``BodyTooLarge`` past ``limit``."""
        assert self._body_done, "the body has not all arrived"
        body = b"".join(self._chunks)  # one chunk: that chunk itself, not a copy
        self._chunks.clear()
        self._buffered = 0
        self._connection.body_consumed(0)
        if limit is not None and len(body) > limit:
            raise BodyTooLarge(len(body))
        return body

    async def body(self, limit: int | None = None) -> bytes:
        """The whole body; raises ``BodyTooLarge`` past ``limit`` (the rest is discarded)."""
        if self._body_done and not self._expects_continue:
            return self.arrived_body(limit)  # the common case: it has arrived
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if limit is None or size <= limit:
                parts.append(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge(size)
        return b"".join(parts)

    # --- fed by the connection -------------------------------------------------------------

    def _feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._buffered += len(chunk)
        self._wake()

    def _end(self) -> None:
        self._body_done = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _discard_unread(self) -> bool:
        """Drop what the handler left; True when the body has fully arrived."""
        self._chunks.clear()
        self._buffered = 0
        self._connection.body_consumed(0)
        return self._body_done


__all__ = ["CONTINUE", "BodyTooLarge", "ParseError", "Request"]
