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
    """One HTTP request; its body is read on demand, as the connection receives it.

    The parser hands over the head's names and values as bytes (``_raw``: name, value, name,
    value, ...); they are decoded all at once when the head is whole (``_index_raw``), into
    the dict that ``header`` reads. ``headers`` (lower-case names, in order) and
    ``raw_headers`` (the names as sent) are made from them when first asked for."""

    __slots__ = (
        "_body_done",
        "_broken",
        "_buffered",
        "_chunks",
        "_connection",
        "_expects_continue",
        "_raw",
        "_waiter",
        "header_map",
        "http_10",
        "keep_alive",
        "method",
        "target",
        "trailers",
    )

    def __init__(self, connection: _Connection) -> None:
        self.method = ""
        self.target = ""
        self._raw: list[bytes] = []
        # Lower-case name -> first value: made by the connection once the head is whole, so
        # a handler's request has it (hot paths read it instead of calling header()).
        self.header_map: dict[str, str] = _NO_HEADERS
        self.trailers: dict[str, str] = _NO_TRAILERS  # a dict of its own once one comes
        self.keep_alive = True
        self.http_10 = False
        self._connection = connection
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._body_done = False
        self._waiter: asyncio.Future[None] | None = None
        self._expects_continue = False
        self._broken = False

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The headers in the order sent, names in lower case (a new list each time)."""
        names, values = _decoded(self._raw)
        return list(zip(map(str.lower, names), values, strict=True))

    @property
    def raw_headers(self) -> list[tuple[str, str]] | None:
        """The headers with their names as the client spelt them, from servers started with
        ``keep_header_case``; else None."""
        if not self._connection.cased:
            return None
        return list(zip(*_decoded(self._raw), strict=True))

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def connection(self) -> object:
        """The connection the request came on, as an opaque key (weak references allowed)."""
        return self._connection

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop that serves the request's connection."""
        return self._connection.loop

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
        headers of each request, so they are looked up in a dict, made once the head is
        whole."""
        index = self.header_map
        if index is _NO_HEADERS:
            index = self._index_raw()
        return index.get(name.lower(), default)

    def _index_raw(self) -> dict[str, str]:
        """Make ``header``'s dict; the first of a repeated name wins."""
        raw = self._raw
        parts = _parts(raw)
        index = dict(zip(map(str.lower, parts[0::2]), parts[1::2], strict=True))
        if len(index) * 2 != len(raw):  # a name repeated: again, from the last to the first
            index = dict(zip(map(str.lower, parts[-2::-2]), parts[-1::-2], strict=True))
        self.header_map = index
        return index

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
        chunks = self._chunks
        body = b"".join(chunks)  # one chunk: that chunk itself, not a copy
        if chunks:
            chunks.clear()
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
        if self._waiter is not None:
            self._wake()

    def _end(self) -> None:
        self._body_done = True
        if self._waiter is not None:
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


_NO_TRAILERS: dict[str, str] = {}  # shared, never written to: see on_header
_NO_HEADERS: dict[str, str] = {}  # shared, never written to: a head not yet indexed


def _parts(raw: list[bytes]) -> list[str]:
    """RAW (name, value, name, value, ...) decoded as Latin-1 in one go: the parser ends a
    header line at its LF, so no name or value holds one (a value that did, decoded one by
    one, would not break this)."""
    parts = b"\n".join(raw).decode("latin-1").split("\n")
    if len(parts) != len(raw):
        parts = [part.decode("latin-1") for part in raw]
    return parts


def _decoded(raw: list[bytes]) -> tuple[list[str], list[str]]:
    """The names and the values of RAW, decoded (``_parts``)."""
    parts = _parts(raw)
    return parts[0::2], parts[1::2]


__all__ = ["CONTINUE", "BodyTooLarge", "ParseError", "Request"]
