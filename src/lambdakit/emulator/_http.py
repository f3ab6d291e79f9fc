"""A small asyncio HTTP/1.1 server on h11, shared by the Runtime API and the Invoke API.

h11 does the parsing (request bodies with Content-Length or chunked, and request trailers,
which streamed function responses use); this module only moves bytes between it and asyncio
streams, one request at a time per connection, with keep-alive. A handler receives a
``Request`` whose body it may read whole or as it arrives, and returns a ``Response`` whose
body is bytes or an async iterator of bytes (sent chunked, as it is produced).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import h11

MAX_HEADER_BYTES = 64 * 1024
# 64 KiB: larger reads make fresh pages for every copy (above glibc's mmap threshold).
READ_SIZE = 64 * 1024


class BodyTooLarge(Exception):
    """The request body exceeded the handler's limit."""

    def __init__(self, size: int) -> None:
        super().__init__(f"request body of at least {size} bytes")
        self.size = size


@dataclass
class Request:
    """One HTTP request; its body is read on demand through the connection."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    _connection: _Connection
    trailers: dict[str, str] = field(default_factory=dict)
    _body_done: bool = False

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> dict[str, str]:
        from urllib.parse import parse_qsl

        return dict(parse_qsl(self.target.partition("?")[2], keep_blank_values=True))

    def header(self, name: str, default: str | None = None) -> str | None:
        lower = name.lower()
        for key, value in self.headers:
            if key == lower:
                return value
        return default

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ``trailers`` is filled in once it has all arrived."""
        while not self._body_done:
            event = await self._connection.next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self.trailers = {k.decode().lower(): v.decode() for k, v in event.headers}
                self._body_done = True
            else:
                raise ConnectionError("the connection closed before the request body ended")

    async def body(self, limit: int | None = None) -> bytes:
        """The whole body; raises ``BodyTooLarge`` past ``limit`` (the rest is discarded)."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if limit is None or size <= limit:
                parts.append(chunk)
        if limit is not None and size > limit:
            raise BodyTooLarge(size)
        return b"".join(parts)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterator[bytes] = b""
    trailers: Callable[[], list[tuple[str, str]]] | None = None


def json_response(
    status: int, document: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", "application/json"), *(headers or [])], body)


Handler = Callable[[Request], Awaitable[Response]]


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)

    async def next_event(self) -> object:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(READ_SIZE)
            self.h11.receive_data(data)

    async def send(self, event: h11.Event) -> None:
        data = self.h11.send(event)
        if data:
            self.writer.write(data)
            await self.writer.drain()


async def _serve_connection(
    handler: Handler, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    connection = _Connection(reader, writer)
    try:
        while await _serve_one(handler, connection):
            connection.h11.start_next_cycle()
    except (ConnectionError, h11.RemoteProtocolError, asyncio.IncompleteReadError):
        pass  # the peer went away or spoke garbage; it already got a 400 where possible
    except asyncio.CancelledError:
        pass  # the server is closing (a runtime still waiting in GET /next)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _serve_one(handler: Handler, connection: _Connection) -> bool:
    """Serve one request; False when the connection must close."""
    try:
        event = await connection.next_event()
    except h11.RemoteProtocolError as error:
        await _reject(connection, error)
        return False
    if not isinstance(event, h11.Request):
        return False
    request = Request(
        event.method.decode(),
        event.target.decode(),
        [(k.decode().lower(), v.decode("latin-1")) for k, v in event.headers],
        connection,
    )
    response = await handler(request)
    if not request._body_done:
        with contextlib.suppress(ConnectionError):
            async for _ in request.chunks():  # drain what the handler did not read
                pass
    await _send_response(connection, response)
    return connection.h11.our_state is h11.DONE and connection.h11.their_state is h11.DONE


async def _reject(connection: _Connection, error: h11.RemoteProtocolError) -> None:
    if connection.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    body = json.dumps({"errorMessage": f"malformed HTTP request: {error}"}).encode()
    with contextlib.suppress(Exception):
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        await connection.send(h11.Response(status_code=error.error_status_hint, headers=headers))
        await connection.send(h11.Data(data=body))
        await connection.send(h11.EndOfMessage())


async def _send_response(connection: _Connection, response: Response) -> None:
    headers = list(response.headers)
    if isinstance(response.body, bytes):
        # One write for the whole answer: the peer reads it in one go, and the kernel is
        # asked once instead of three times.
        headers.append(("Content-Length", str(len(response.body))))
        h11_connection = connection.h11
        data = h11_connection.send(h11.Response(status_code=response.status, headers=headers))
        if response.body:
            data += h11_connection.send(h11.Data(data=response.body))
        data += h11_connection.send(h11.EndOfMessage())
        connection.writer.write(data)
        await connection.writer.drain()
        return
    headers.append(("Transfer-Encoding", "chunked"))
    await connection.send(h11.Response(status_code=response.status, headers=headers))
    async for chunk in response.body:
        if chunk:
            await connection.send(h11.Data(data=chunk))
    trailers = response.trailers() if response.trailers is not None else []
    await connection.send(h11.EndOfMessage(headers=trailers))


async def start_server(handler: Handler, host: str, port: int) -> asyncio.Server:
    """Listen on ``host:port`` (0: any free port) and serve ``handler``."""

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            import socket

            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await _serve_connection(handler, reader, writer)

    return await asyncio.start_server(on_connect, host, port, limit=READ_SIZE)


def bound_port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])
