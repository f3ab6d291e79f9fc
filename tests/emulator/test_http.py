"""The emulator's HTTP/1.1 server (the ``lambdakit.emulator._http`` package) over real sockets.

Each test starts the server on a free port in an event loop of its own, once with the default
asyncio loop and once with uvloop, and talks to it in raw bytes so that the framing is checked
exactly (h11, a parser that is not ours, reads the responses in one test). Every run also fails if
the loop logged an exception nobody handled. A hang fails after ``DEADLINE``.

Covered: keep-alive and pipelining; request bodies with Content-Length and chunked with trailers,
read whole or as they arrive, over a limit, left unread, cut short by the client or by garbage;
``Expect: 100-continue``; malformed and oversized request heads; buffered and streamed responses
(chunked with trailers, and unchunked for HTTP/1.0); responses without a body (204, 304, HEAD); a
failing handler and header injection (500); a failing stream; back-pressure both ways; clients
that half-close, go away mid-body or ask to upgrade; a waiting handler cancelled; connections
closed unused; the idle, head and body limits (tiny ones), and the Runtime API's, which leave
long polls and pauses alone; ``Response.on_finish`` for responses written whole and abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import importlib.util
import json
import math
import random
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

import h11
import pytest

from lambdakit.emulator import _http
from lambdakit.emulator._http import (
    BodyTooLarge,
    HttpTimeouts,
    Request,
    Response,
    json_response,
)
from lambdakit.emulator._http.connection import MAX_HEADER_BYTES, _Connection

# A whole conversation takes milliseconds; only a hang (a bug) ever gets near this.
DEADLINE = 5.0
MIB = 1024 * 1024
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# A request head that waits for a 100 Continue before sending its 4 bytes of body.
EXPECTING = b"PUT /x HTTP/1.1\r\nHost: test\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _loop_factories() -> list[Any]:
    factories = [pytest.param(asyncio.new_event_loop, id="asyncio")]
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        factories.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return factories


# --- the server side: one event loop per test, the connections it made --------------------------


class Harness:
    """Runs a test's coroutine in a fresh loop, with the server's connections in view."""

    def __init__(self, factory: LoopFactory) -> None:
        self.factory = factory
        self.connections: list[_Connection] = []
        self.read_pauses = 0  # pause_reading() calls: a request body past the high water
        self.read_resumes = 0  # resume_reading() calls
        self.write_pauses = 0  # times the transport told a connection to stop writing
        self.eofs = 0  # times a client half-closed its connection
        self.loop_errors: list[dict[str, Any]] = []

    def run(self, main: Callable[[], Awaitable[None]]) -> None:
        loop = self.factory()
        loop.set_exception_handler(lambda _loop, context: self.loop_errors.append(context))
        try:
            loop.run_until_complete(asyncio.wait_for(main(), DEADLINE))
        except asyncio.TimeoutError:
            self._shut_down(loop)
            raise AssertionError(f"stuck for {DEADLINE} s; {self._logged()}") from None
        except BaseException:
            self._shut_down(loop)
            raise
        self._shut_down(loop)
        assert not self.loop_errors, self._logged()

    def _logged(self) -> str:
        errors = [f"{c.get('message')}: {c.get('exception')!r}" for c in self.loop_errors]
        return f"the loop logged {len(errors)} unhandled errors: {errors}"

    def _shut_down(self, loop: asyncio.AbstractEventLoop) -> None:
        self._close_connections()
        loop.run_until_complete(_spin())
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        gc.collect()  # a task that failed with nobody awaiting it reports its error now

    def _close_connections(self) -> None:
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.close()

    @contextlib.asynccontextmanager
    async def serve(
        self,
        handler: _http.Handler,
        timeouts: HttpTimeouts = _http.DEFAULT_TIMEOUTS,
        immediate: _http.Immediate | None = None,
    ) -> AsyncIterator[int]:
        """``start_server`` on a free port of 127.0.0.1; yields the port."""
        server = await _http.start_server(
            handler, "127.0.0.1", 0, timeouts=timeouts, immediate=immediate
        )
        try:
            yield _http.bound_port(server)
        finally:
            server.close()
            self._close_connections()  # Python 3.12+ waits for them in wait_closed()
            await server.wait_closed()

    async def until_reading_paused(self) -> None:
        while not self.read_pauses:
            await asyncio.sleep(0)


async def _spin() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


@pytest.fixture(params=_loop_factories())
def harness(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Harness:
    harness = Harness(request.param)
    connection = _Connection
    connection_made, pause_writing = connection.connection_made, connection.pause_writing
    eof_received = connection.eof_received

    def record_connection(self: _Connection, transport: asyncio.BaseTransport) -> None:
        harness.connections.append(self)
        connection_made(self, cast(asyncio.BaseTransport, RecordingTransport(transport, harness)))

    def record_write_pause(self: _Connection) -> None:
        harness.write_pauses += 1
        pause_writing(self)

    def record_eof(self: _Connection) -> bool | None:
        harness.eofs += 1
        return eof_received(self)

    monkeypatch.setattr(connection, "connection_made", record_connection)
    monkeypatch.setattr(connection, "pause_writing", record_write_pause)
    monkeypatch.setattr(connection, "eof_received", record_eof)
    return harness


class RecordingTransport:
    """The transport a connection is given, counting the calls that stop and restart reading
    (uvloop's transports take no new attributes, so a stand-in rather than a patch)."""

    def __init__(self, transport: asyncio.BaseTransport, harness: Harness) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._harness = harness

    def pause_reading(self) -> None:
        self._harness.read_pauses += 1
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._harness.read_resumes += 1
        self._transport.resume_reading()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


# --- the client side: raw bytes over a non-blocking socket --------------------------------------


@dataclass
class Reply:
    raw: bytes  # exactly the bytes of this response on the wire
    status: int
    headers: list[tuple[str, str]]  # names lower-cased
    body: bytes
    trailers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key == name]
        assert len(values) <= 1, f"{name} repeated: {self.headers}"
        return values[0] if values else None

    def json(self) -> Any:
        assert self.header("content-type") == "application/json"
        return json.loads(self.body)


class Client:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.buffer = bytearray()
        self.taken = bytearray()  # what the read_ methods have returned, for Reply.raw
        self.eof = False

    async def send(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def _receive(self) -> bool:
        if self.eof:
            return False
        try:
            data = await self.loop.sock_recv(self.sock, 1 << 16)
        except ConnectionResetError:  # the server closed with our bytes unread: still the end
            data = b""
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def _take(self, size: int) -> bytes:
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        self.taken += data
        return data

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            if not await self._receive():
                raise AssertionError(f"closed after {bytes(self.buffer)!r}, wanted {size} bytes")
        return self._take(size)

    async def read_until(self, separator: bytes) -> bytes:
        while (end := self.buffer.find(separator)) < 0:
            if not await self._receive():
                raise AssertionError(f"closed after {bytes(self.buffer)!r}, before {separator!r}")
        return self._take(end + len(separator))

    async def receive_some(self) -> bytes:
        """What arrives next, at least one byte; b"" at the end."""
        if not self.buffer:
            await self._receive()
        return self._take(len(self.buffer))

    async def read_to_eof(self) -> bytes:
        while await self._receive():
            pass
        return self._take(len(self.buffer))

    def arrived(self) -> bytes:
        """What the server has sent that nobody read yet, without waiting (the loopback
        interface delivers a write before the writer's call returns)."""
        while not self.eof:
            try:
                data = self.sock.recv(1 << 16)
            except BlockingIOError:
                break
            except ConnectionResetError:
                data = b""
            if not data:
                self.eof = True
            self.buffer += data
        return self._take(len(self.buffer))

    async def read_response(self, *, head: bool = False) -> Reply:
        start = len(self.taken)
        lines = (await self.read_until(b"\r\n\r\n"))[:-4].decode("latin-1").split("\r\n")
        version, code, _reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1"
        status = int(code)
        headers = [
            (name.lower(), value) for name, _, value in (h.partition(": ") for h in lines[1:])
        ]
        trailers: list[tuple[str, str]] = []
        length = [value for name, value in headers if name == "content-length"]
        if head or status < 200 or status in (204, 304):
            body = b""
        elif ("transfer-encoding", "chunked") in headers:
            body, trailers = await self._read_chunked()
        elif length:
            body = await self.read_exactly(int(length[0]))
        else:
            body = await self.read_to_eof()
        return Reply(bytes(self.taken[start:]), status, headers, body, trailers)

    async def _read_chunked(self) -> tuple[bytes, list[tuple[str, str]]]:
        parts = []
        while size := int(await self.read_until(b"\r\n"), 16):
            chunk = await self.read_exactly(size + 2)
            assert chunk.endswith(b"\r\n")
            parts.append(chunk[:-2])
        trailers = []
        while line := (await self.read_until(b"\r\n"))[:-2].decode("latin-1"):
            name, _, value = line.partition(": ")
            trailers.append((name, value))
        return b"".join(parts), trailers


@contextlib.asynccontextmanager
async def connect(port: int, *, receive_buffer: int | None = None) -> AsyncIterator[Client]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        if receive_buffer is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        yield Client(sock)
    finally:
        sock.close()


# --- handlers and expected bytes ----------------------------------------------------------------


def text(body: bytes, status: int = 200) -> Response:
    return Response(status, [("Content-Type", "text/plain")], body)


def text_bytes(body: bytes, status: int = 200, *, close: bool = False) -> bytes:
    """The exact bytes of ``text(body, status)`` on the wire."""
    head = b"HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n" % (status, phrase(status))
    if close:
        head += b"Connection: close\r\n"
    return head + b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def phrase(status: int) -> bytes:
    return HTTPStatus(status).phrase.encode()


async def echo(request: Request) -> Response:
    body = await request.body()
    return text(f"{request.method} {request.target} ".encode() + body)


def get(target: str, *headers: str) -> bytes:
    return "".join([f"GET {target} HTTP/1.1\r\nHost: test\r\n", *headers, "\r\n"]).encode()


def post(target: str, body: bytes) -> bytes:
    head = f"POST {target} HTTP/1.1\r\nHost: test\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


# --- keep-alive and pipelining ------------------------------------------------------------------


def test_keep_alive_answers_two_requests_on_one_connection(harness: Harness) -> None:
    seen: list[tuple[Any, ...]] = []

    async def handler(request: Request) -> Response:
        seen.append((request.method, request.target, request.path, request.query))
        seen.append((request.headers, request.header("X-NAME"), request.header("nope", "-")))
        return text(b"hello " + request.path.encode())

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/first"))
            assert await client.read_exactly(len(text_bytes(b"hello /first"))) == (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\n"
                b"hello /first"
            )
            await client.send(get("/second?a=1&b=&a=2", "X-Name: Some Value\r\n"))
            assert await client.read_exactly(len(text_bytes(b"hello /second"))) == (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\n"
                b"hello /second"
            )
            assert client.arrived() == b""
            assert not client.eof
            assert len(harness.connections) == 1

    harness.run(main)
    assert seen == [
        ("GET", "/first", "/first", {}),
        ([("host", "test")], None, "-"),
        ("GET", "/second?a=1&b=&a=2", "/second", {"a": "2", "b": ""}),
        ([("host", "test"), ("x-name", "Some Value")], "Some Value", "-"),
    ]


def test_pipelined_requests_are_answered_in_order_one_at_a_time(harness: Harness) -> None:
    calls: list[str] = []

    async def handler(request: Request) -> Response:
        calls.append(f"start {request.path}")
        for _ in range(3 if request.path == "/1" else 0):  # the first one takes longest
            await asyncio.sleep(0)
        response = await echo(request)
        calls.append(f"end {request.path}")
        return response

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/1") + post("/2", b"two") + get("/3"))
            expected = text_bytes(b"GET /1 ") + text_bytes(b"POST /2 two") + text_bytes(b"GET /3 ")
            assert await client.read_exactly(len(expected)) == expected
            assert client.arrived() == b""

    harness.run(main)
    assert calls == ["start /1", "end /1", "start /2", "end /2", "start /3", "end /3"]


def test_an_h11_client_reads_every_kind_of_response(harness: Harness) -> None:
    """h11, the parser the server used before, as an independent judge of the framing."""

    async def produce() -> AsyncIterator[bytes]:
        yield b"streamed "
        yield b"body"

    async def handler(request: Request) -> Response:
        if request.path == "/stream":
            return Response(200, [("X-Kind", "stream")], produce(), lambda: [("X-Done", "yes")])
        if request.path == "/empty":
            return Response(204, [("X-Kind", "empty")])
        return await echo(request)

    async def exchange(
        client: Client, conn: h11.Connection, method: str, target: str, body: bytes = b""
    ) -> list[Any]:
        headers = [("Host", "test"), ("Content-Length", str(len(body)))]
        request = h11.Request(method=method, target=target, headers=headers)
        events = [request, h11.Data(data=body), h11.EndOfMessage()]
        await client.send(b"".join(conn.send(event) or b"" for event in events))
        received: list[Any] = []
        while not received or not isinstance(received[-1], h11.EndOfMessage):
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await client.receive_some())
            else:
                received.append(event)
        conn.start_next_cycle()
        return received

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            conn = h11.Connection(h11.CLIENT)
            get_ = await exchange(client, conn, "GET", "/a")
            post_ = await exchange(client, conn, "POST", "/b", b"data")
            stream = await exchange(client, conn, "GET", "/stream")
            head = await exchange(client, conn, "HEAD", "/c")
            empty = await exchange(client, conn, "GET", "/empty")

        assert [type(e).__name__ for e in get_] == ["Response", "Data", "EndOfMessage"]
        assert (get_[0].status_code, get_[0].reason, get_[1].data) == (200, b"OK", b"GET /a ")
        assert post_[1].data == b"POST /b data"
        assert stream[0].headers == [(b"x-kind", b"stream"), (b"transfer-encoding", b"chunked")]
        assert b"".join(e.data for e in stream if isinstance(e, h11.Data)) == b"streamed body"
        assert stream[-1].headers == [(b"x-done", b"yes")]
        assert [type(e).__name__ for e in head] == ["Response", "EndOfMessage"]
        assert (b"content-length", b"8") in head[0].headers
        assert [type(e).__name__ for e in empty] == ["Response", "EndOfMessage"]
        assert (empty[0].status_code, empty[0].headers) == (204, [(b"x-kind", b"empty")])

    harness.run(main)


# --- request bodies ----------------------------------------------------------------------------


def test_a_content_length_body_arriving_in_pieces_is_read_whole(harness: Harness) -> None:
    async def main() -> None:
        entered = asyncio.Event()

        async def handler(request: Request) -> Response:
            entered.set()
            return await echo(request)

        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(post("/up", b"first half, second half")[:-11])
            await entered.wait()  # the handler waits in body() for the rest
            await client.send(b"second half" + get("/next"))
            expected = text_bytes(b"POST /up first half, second half") + text_bytes(b"GET /next ")
            assert await client.read_exactly(len(expected)) == expected

    harness.run(main)


def test_a_body_over_the_limit_is_refused_and_the_connection_goes_on(harness: Harness) -> None:
    sizes: list[int] = []

    async def main() -> None:
        entered = asyncio.Event()

        async def handler(request: Request) -> Response:
            if request.path != "/limited":
                return await echo(request)
            entered.set()
            try:
                await request.body(limit=4)
            except BodyTooLarge as error:
                sizes.append(error.size)
                return text(b"too large", 413)
            raise AssertionError("no BodyTooLarge")

        async with harness.serve(handler) as port, connect(port) as client:
            # Arrived whole before the handler reads it.
            await client.send(post("/limited", b"0123456789") + post("/after", b"ok"))
            expected = text_bytes(b"too large", 413) + text_bytes(b"POST /after ok")
            assert await client.read_exactly(len(expected)) == expected
            # Arriving while the handler reads it: the rest is read and dropped all the same.
            entered.clear()
            await client.send(post("/limited", b"0123456789")[:-7])
            await entered.wait()
            await client.send(b"3456789" + post("/after", b"again"))
            expected = text_bytes(b"too large", 413) + text_bytes(b"POST /after again")
            assert await client.read_exactly(len(expected)) == expected

    harness.run(main)
    assert sizes == [10, 10]


def test_an_unread_body_is_dropped_before_the_next_request(harness: Harness) -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/ignore":
            return text(b"ignored")
        return await echo(request)

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(post("/ignore", b"GET /smuggled HTTP/1.1\r\n\r\n") + get("/next"))
            expected = text_bytes(b"ignored") + text_bytes(b"GET /next ")
            assert await client.read_exactly(len(expected)) == expected
            # The server reads (and drops) the rest before it answers: sent, it is answered.
            chunked = b"POST /ignore HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"
            await client.send(chunked)
            await client.send(b"3\r\ndef\r\n0\r\nX-Trailer: 1\r\n\r\n" + get("/last"))
            expected = text_bytes(b"ignored") + text_bytes(b"GET /last ")
            assert await client.read_exactly(len(expected)) == expected

    harness.run(main)


def test_a_chunked_body_arrives_chunk_by_chunk_with_its_trailers(harness: Harness) -> None:
    documents: list[Any] = []

    async def main() -> None:
        got_first = asyncio.Event()

        async def handler(request: Request) -> Response:
            if request.path != "/upload":
                return json_response(
                    200, {"headers": request.headers, "trailers": request.trailers}
                )
            chunks = []
            async for chunk in request.chunks():
                chunks.append(chunk.decode())
                got_first.set()
            return json_response(200, {"chunks": chunks, "trailers": request.trailers})

        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(
                b"POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
                b"Trailer: X-Checksum, X-Other\r\n\r\n6\r\nhello \r\n"
            )
            await got_first.wait()  # the handler has the first chunk: the second is not sent yet
            await client.send(
                b"5\r\nworld\r\n0\r\nX-Checksum: ABC\r\nx-OTHER: Two Words\r\n\r\n" + get("/after")
            )
            documents.append((await client.read_response()).json())
            documents.append((await client.read_response()).json())

    harness.run(main)
    assert documents == [
        {"chunks": ["hello ", "world"], "trailers": {"x-checksum": "ABC", "x-other": "Two Words"}},
        {"headers": [["host", "test"]], "trailers": {}},  # no trailer leaked into the next one
    ]


def test_garbage_in_a_chunked_body_ends_it_and_answers_400(harness: Harness) -> None:
    errors: list[BaseException] = []

    async def handler(request: Request) -> Response:
        try:
            await request.body()
        except ConnectionError as error:
            errors.append(error)
            raise
        return text(b"unexpected")

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZZ\r\n\r\n"
            )
            reply = await client.read_response()
            assert reply.status == 400
            assert reply.header("connection") == "close"
            assert reply.json()["errorMessage"].startswith("malformed HTTP request: ")
            assert await client.read_to_eof() == b""

    harness.run(main)
    assert [type(error) for error in errors] == [ConnectionError]


# --- Expect: 100-continue -----------------------------------------------------------------------


def test_100_continue_is_sent_when_the_handler_reads_the_body(harness: Harness) -> None:
    async def main() -> None:
        entered, go = asyncio.Event(), asyncio.Event()

        async def handler(request: Request) -> Response:
            entered.set()
            await go.wait()
            return await echo(request)

        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(EXPECTING)
            await entered.wait()
            assert client.arrived() == b""  # not before the handler asks for the body
            go.set()
            assert await client.read_exactly(len(CONTINUE)) == CONTINUE
            await client.send(b"data")
            expected = text_bytes(b"PUT /x data")
            assert await client.read_exactly(len(expected)) == expected
            await client.send(get("/again"))  # still open
            assert await client.read_exactly(len(text_bytes(b"GET /again "))) == text_bytes(
                b"GET /again "
            )

    harness.run(main)


def test_100_continue_is_not_sent_when_the_handler_answers_without_reading(
    harness: Harness,
) -> None:
    async def handler(request: Request) -> Response:
        return text(b"no thanks", 403)

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(EXPECTING)
            # The client will not send the body, so the connection cannot carry another request.
            assert await client.read_to_eof() == text_bytes(b"no thanks", 403, close=True)

    harness.run(main)


def test_a_streamed_answer_without_reading_an_expected_body_says_close(harness: Harness) -> None:
    async def produce() -> AsyncIterator[bytes]:
        yield b"no"

    async def handler(request: Request) -> Response:
        return Response(403, [], produce())

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(EXPECTING)
            reply = await client.read_response()
            assert (reply.status, reply.body) == (403, b"no")
            assert await client.read_to_eof() == b""
            assert reply.header("connection") == "close"

    harness.run(main)


def test_an_http_10_expectation_is_ignored(harness: Harness) -> None:
    async def main() -> None:
        async with harness.serve(echo) as port, connect(port) as client:
            await client.send(
                b"PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata"
            )
            # RFC 9110 section 10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request.
            assert await client.read_to_eof() == text_bytes(b"PUT /x data", close=True)

    harness.run(main)


# --- malformed and oversized requests -----------------------------------------------------------


def test_garbage_is_answered_400_and_the_connection_closed(harness: Harness) -> None:
    calls: list[str] = []

    async def handler(request: Request) -> Response:
        calls.append(request.path)
        return await echo(request)

    async def main() -> None:
        async with harness.serve(handler) as port:
            async with connect(port) as client:
                await client.send(b"\x16\x03\x01\x02\x00 not HTTP at all\r\n\r\n")
                reply = await client.read_response()
                assert await client.read_to_eof() == b""
            async with connect(port) as client:  # garbage after a good request
                await client.send(get("/ok") + b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
                assert await client.read_exactly(len(text_bytes(b"GET /ok "))) == text_bytes(
                    b"GET /ok "
                )
                second = await client.read_response()
                assert await client.read_to_eof() == b""

        for answer in (reply, second):
            assert answer.status == 400
            assert answer.raw.startswith(b"HTTP/1.1 400 Bad Request\r\n")
            assert answer.headers[:2] == [
                ("content-type", "application/json"),
                ("connection", "close"),
            ]
            document = answer.json()
            assert list(document) == ["errorMessage"]
            assert document["errorMessage"].startswith("malformed HTTP request: ")

    harness.run(main)
    assert calls == ["/ok"]


def _expect_431(reply: Reply) -> None:
    assert reply.raw.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert reply.header("connection") == "close"
    assert reply.json() == {"errorMessage": f"request head over {MAX_HEADER_BYTES} bytes"}


def test_a_request_head_over_64_kib_of_headers_is_answered_431(harness: Harness) -> None:
    calls: list[str] = []

    async def handler(request: Request) -> Response:
        calls.append(request.path)
        return text(b"")

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            filler = "".join(f"X-Filler-{i}: {'a' * 1000}\r\n" for i in range(70))
            with contextlib.suppress(ConnectionError):  # the server may close before the end
                await client.send(get("/", filler))
            _expect_431(await client.read_response())
            assert await client.read_to_eof() == b""

    harness.run(main)
    assert calls == []


def test_an_endless_request_head_line_is_answered_431(harness: Harness) -> None:
    async def main() -> None:
        async with harness.serve(echo) as port, connect(port) as client:
            await client.send(b"GET / HTTP/1.1\r\nX-Endless: ")
            with contextlib.suppress(ConnectionError):
                for _ in range(5 * MAX_HEADER_BYTES // 4096):
                    await client.send(b"a" * 4096)
            _expect_431(await client.read_response())
            assert await client.read_to_eof() == b""

    harness.run(main)


def test_a_request_head_just_under_the_limit_is_served(harness: Harness) -> None:
    async def main() -> None:
        async with harness.serve(echo) as port, connect(port) as client:
            filler = "".join(f"X-Filler-{i:02}: {'a' * 1000}\r\n" for i in range(60))
            await client.send(get("/", filler))
            assert (await client.read_response()).body == b"GET / "

    harness.run(main)


# --- streamed responses -------------------------------------------------------------------------


def test_a_streamed_response_is_chunked_as_produced_with_trailers(harness: Harness) -> None:
    async def main() -> None:
        next_chunk = asyncio.Event()

        async def produce() -> AsyncIterator[bytes]:
            yield b"one"
            await next_chunk.wait()
            yield b""  # nothing to send: not the last chunk
            yield b"three"

        async def handler(request: Request) -> Response:
            if request.path != "/stream":
                return await echo(request)
            trailers = [("X-Status", "done"), ("X-Count", "2")]
            return Response(200, [("Content-Type", "text/plain")], produce(), lambda: trailers)

        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/stream"))
            first = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n"
                b"\r\n3\r\none\r\n"
            )
            assert await client.read_exactly(len(first)) == first  # before the rest is produced
            next_chunk.set()
            rest = b"5\r\nthree\r\n0\r\nX-Status: done\r\nX-Count: 2\r\n\r\n"
            assert await client.read_exactly(len(rest)) == rest
            await client.send(get("/after"))
            assert await client.read_exactly(len(text_bytes(b"GET /after "))) == text_bytes(
                b"GET /after "
            )

    harness.run(main)


def test_http_10_gets_a_streamed_body_unchunked_then_a_close(harness: Harness) -> None:
    async def produce() -> AsyncIterator[bytes]:
        yield b"one"
        yield b"three"

    async def handler(request: Request) -> Response:
        if request.path == "/stream":
            return Response(200, [("Content-Type", "text/plain")], produce(), lambda: [("A", "b")])
        return text(b"hello")

    async def main() -> None:
        async with harness.serve(handler) as port:
            async with connect(port) as client:
                await client.send(b"GET /stream HTTP/1.0\r\n\r\n" + get("/ignored"))
                assert await client.read_to_eof() == (
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
                    b"onethree"
                )
            async with connect(port) as client:
                await client.send(b"GET /bytes HTTP/1.0\r\n\r\n")
                assert await client.read_to_eof() == text_bytes(b"hello", close=True)

    harness.run(main)


def test_connection_close_from_the_client_is_honoured(harness: Harness) -> None:
    async def main() -> None:
        async with harness.serve(echo) as port, connect(port) as client:
            await client.send(get("/bye", "Connection: close\r\n") + get("/ignored"))
            assert await client.read_to_eof() == text_bytes(b"GET /bye ", close=True)

    harness.run(main)


def test_a_streamed_response_to_connection_close_says_close(harness: Harness) -> None:
    async def produce() -> AsyncIterator[bytes]:
        yield b"bye"

    async def handler(request: Request) -> Response:
        return Response(200, [], produce())

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/bye", "Connection: close\r\n"))
            reply = await client.read_response()
            assert await client.read_to_eof() == b""
            assert reply.body == b"bye"
            # RFC 9112 section 9.6: the server SHOULD send "close" in its final response.
            assert reply.header("connection") == "close"

    harness.run(main)


# --- responses without a body -------------------------------------------------------------------


def test_204_and_304_have_neither_content_length_nor_body(harness: Harness) -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/empty":
            return Response(204, [("X-Request", "1")], b"never sent")
        if request.path == "/same":
            return Response(304, [("ETag", '"x"')], b"never sent")
        if request.path == "/nothing":
            return Response(200)
        return text(b"hello")

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/empty") + get("/same") + get("/nothing") + get("/hello"))
            expected = (
                b"HTTP/1.1 204 No Content\r\nX-Request: 1\r\n\r\n"
                b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"  # an empty body, but a body
                + text_bytes(b"hello")
            )
            assert await client.read_exactly(len(expected)) == expected
            assert client.arrived() == b""

    harness.run(main)


def test_head_gets_the_content_length_without_the_body(harness: Harness) -> None:
    async def handler(request: Request) -> Response:
        return text(b"hello")

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(b"HEAD /hello HTTP/1.1\r\nHost: test\r\n\r\n" + get("/hello"))
            expected = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
                + text_bytes(b"hello")
            )
            assert await client.read_exactly(len(expected)) == expected
            assert client.arrived() == b""

    harness.run(main)


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304)])
def test_a_streamed_body_is_not_sent_where_no_body_is_allowed(
    harness: Harness, method: str, status: int
) -> None:
    """A Function URL streams whatever status the function's prelude names, to any method."""

    async def produce() -> AsyncIterator[bytes]:
        yield b"streamed"

    async def handler(request: Request) -> Response:
        if request.path == "/stream":
            return Response(status, [("X-Kind", "stream")], produce(), lambda: [("X-T", "1")])
        return text(b"hello")

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(f"{method} /stream HTTP/1.1\r\nHost: test\r\n\r\n".encode())
            await client.send(get("/hello"))
            first = await client.read_response(head=True)
            assert first.status == status
            # The next bytes are the next response: no body (nor chunk) in between.
            assert await client.read_exactly(len(text_bytes(b"hello"))) == text_bytes(b"hello")
            assert client.arrived() == b""
            if status != 200:  # RFC 9112 section 6.1: no Transfer-Encoding in a 204 (or 304)
                assert first.header("transfer-encoding") is None

    harness.run(main)


# --- failures: handlers, header injection, broken streams ---------------------------------------


def test_a_failing_handler_is_a_500_and_the_server_goes_on(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/boom":
            raise RuntimeError("boom")
        return text(b"fine")

    async def main() -> None:
        async with harness.serve(handler) as port:
            async with connect(port) as client:
                await client.send(get("/boom") + get("/ignored"))
                raw = await client.read_to_eof()
            async with connect(port) as client:
                await client.send(get("/fine"))
                assert await client.read_exactly(len(text_bytes(b"fine"))) == text_bytes(b"fine")

        body = (
            b'{"errorMessage":"lambdakit emulator internal error: RuntimeError: boom",'
            b'"errorType":"ServiceException"}'
        )
        assert raw == (
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    harness.run(main)
    err = capsys.readouterr().err
    assert err == "lambdakit: GET /boom: lambdakit emulator internal error: RuntimeError: boom\n"


def test_a_response_header_with_crlf_is_a_500_not_an_injection(harness: Harness) -> None:
    async def handler(request: Request) -> Response:
        if request.path == "/inject":
            return Response(200, [("X-Echo", "a\r\nSet-Cookie: evil=1")])
        return text(b"fine")

    async def main() -> None:
        async with harness.serve(handler) as port:
            async with connect(port) as client:
                await client.send(get("/inject"))
                reply = await client.read_response()
                assert await client.read_to_eof() == b""
            async with connect(port) as client:
                await client.send(get("/fine"))
                assert await client.read_exactly(len(text_bytes(b"fine"))) == text_bytes(b"fine")

        assert b"\r\nSet-Cookie" not in reply.raw  # the value may be named, escaped, in the body
        assert [name for name, _ in reply.headers] == [
            "content-type",
            "connection",
            "content-length",
        ]
        assert reply.status == 500
        assert reply.json()["errorType"] == "ServiceException"

    harness.run(main)


def test_a_trailer_with_crlf_is_not_sent(harness: Harness) -> None:
    async def produce() -> AsyncIterator[bytes]:
        yield b"data"

    async def handler(request: Request) -> Response:
        return Response(200, [], produce(), lambda: [("X-Status", "ok\r\nX-Evil: 1")])

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/"))
            raw = await client.read_to_eof()
            # The head and the body are out: the response can only be cut short.
            assert raw == b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n"

    harness.run(main)


def test_a_stream_that_fails_midway_cuts_the_response_short(harness: Harness) -> None:
    async def produce() -> AsyncIterator[bytes]:
        yield b"data"
        raise RuntimeError("the stream broke")

    async def handler(request: Request) -> Response:
        return Response(200, [], produce())

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/"))
            raw = await client.read_to_eof()
            # No terminating chunk: the client must not take half a body for a whole one.
            assert raw == b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n"

    harness.run(main)


# --- the client going away ----------------------------------------------------------------------


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(
    harness: Harness,
) -> None:
    """``shutdown(SHUT_WR)`` after a whole request (``nc -N``, some HTTP/1.0 clients): the
    client is done sending, not gone."""

    async def handler(request: Request) -> Response:
        body = await request.body()
        while not harness.eofs:  # a handler still at work when the end of input comes
            await asyncio.sleep(0)
        return text(b"late " + body)

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(post("/", b"data"))
            client.sock.shutdown(socket.SHUT_WR)
            assert await client.read_to_eof() == text_bytes(b"late data")

    harness.run(main)


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_asking_to_upgrade_is_served_as_plain_http(harness: Harness, method: str) -> None:
    """``curl --http2 http://...`` asks to upgrade to h2c: a server may ignore that (RFC 9110
    section 7.8) but must then serve the request, body included, as HTTP/1.1."""

    async def main() -> None:
        async with harness.serve(echo) as port, connect(port) as client:
            body = b"data" if method == "POST" else b""
            await client.send(
                f"{method} /up HTTP/1.1\r\nHost: test\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                f"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
                + get("/next")
            )
            reply = await client.read_response()
            assert (reply.status, reply.body) == (200, f"{method} /up ".encode() + body)
            if reply.header("connection") == "close":  # served, then closed: fine too
                assert await client.read_to_eof() == b""
            else:
                expected = text_bytes(b"GET /next ")
                assert await client.read_exactly(len(expected)) == expected

    harness.run(main)


@pytest.mark.parametrize("then", ["raise", "answer"])
@pytest.mark.parametrize("read", ["body", "chunks"])
def test_a_client_gone_midway_through_the_body_is_a_connection_error(
    harness: Harness, read: str, then: str
) -> None:
    seen: list[BaseException] = []

    async def main() -> None:
        got_first, failed = asyncio.Event(), asyncio.Event()

        async def handler(request: Request) -> Response:
            if request.path == "/ok":
                return text(b"ok")
            try:
                if read == "body":
                    got_first.set()
                    await request.body()
                else:
                    async for _ in request.chunks():
                        got_first.set()
            except ConnectionError as error:
                seen.append(error)
                failed.set()
                if then == "raise":
                    raise
                return text(b"too late")
            return text(b"unexpected")

        async with harness.serve(handler) as port:
            async with connect(port) as client:
                if read == "body":
                    await client.send(post("/up", b"x" * 100)[:-90])
                else:
                    head = b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    await client.send(head + b"a\r\n0123456789\r\n")
                await got_first.wait()
            await failed.wait()
            async with connect(port) as client:
                await client.send(get("/ok"))
                assert await client.read_exactly(len(text_bytes(b"ok"))) == text_bytes(b"ok")

    harness.run(main)
    assert [type(error) for error in seen] == [ConnectionError]


# --- back-pressure ------------------------------------------------------------------------------


def test_a_large_body_read_slowly_pauses_reading_and_arrives_intact(harness: Harness) -> None:
    payload = random.Random(12).randbytes(8 * MIB)

    async def handler(request: Request) -> Response:
        await harness.until_reading_paused()  # a handler busy elsewhere while the body comes
        digest = hashlib.sha256()
        async for chunk in request.chunks():
            digest.update(chunk)
            await asyncio.sleep(0)
        return text(digest.hexdigest().encode())

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            sending = asyncio.ensure_future(client.send(post("/big", payload)))
            reply = await client.read_response()
            await sending
        assert reply.body == hashlib.sha256(payload).hexdigest().encode()

    harness.run(main)
    assert harness.read_pauses >= 1
    assert harness.read_resumes == harness.read_pauses


def test_a_large_body_left_unread_after_reading_paused_is_drained(harness: Harness) -> None:
    """A handler that answers early (an error, say) while a big body is still coming."""
    payload = b"x" * (4 * MIB)

    async def handler(request: Request) -> Response:
        if request.path == "/big":
            await harness.until_reading_paused()
            return text(b"not interested")
        return text(b"next")

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            sending = asyncio.ensure_future(client.send(post("/big", payload) + get("/next")))
            expected = text_bytes(b"not interested") + text_bytes(b"next")
            assert await client.read_exactly(len(expected)) == expected
            await sending

    harness.run(main)


def test_a_large_streamed_response_to_a_slow_reader_arrives_intact(harness: Harness) -> None:
    chunks = [random.Random(i).randbytes(64 * 1024) for i in range(128)]  # 8 MiB

    async def produce() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def handler(request: Request) -> Response:
        # Small socket buffers both ways (no autotuning): the server must wait for the client
        # rather than have the kernel queue the 8 MiB.
        transport = harness.connections[0].transport
        assert transport is not None
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        return Response(200, [], produce())

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port, receive_buffer=65536) as client:
            await client.send(get("/"))
            while not harness.write_pauses:
                await asyncio.sleep(0)
            reply = await client.read_response()
        assert hashlib.sha256(reply.body).digest() == hashlib.sha256(b"".join(chunks)).digest()

    harness.run(main)
    assert harness.write_pauses >= 1


# --- cancellation -------------------------------------------------------------------------------


@pytest.mark.parametrize("cancel", ["awaited future", "serving task"])
def test_a_cancelled_waiting_handler_closes_the_connection_quietly(
    harness: Harness, cancel: str
) -> None:
    """As when an environment closes while its runtime waits in GET /next."""

    async def main() -> None:
        entered = asyncio.Event()
        waiting: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def handler(request: Request) -> Response:
            if request.path == "/next":
                entered.set()
                await waiting
            return text(b"ok")

        async with harness.serve(handler) as port:
            async with connect(port) as client:
                await client.send(get("/next"))
                await entered.wait()
                if cancel == "awaited future":
                    waiting.cancel()
                else:
                    tasks = [t for t in asyncio.all_tasks() if _coroutine_name(t) == "_serve"]
                    assert len(tasks) == 1
                    tasks[0].cancel()
                assert await client.read_to_eof() == b""
            async with connect(port) as client:
                await client.send(get("/other"))
                assert await client.read_exactly(len(text_bytes(b"ok"))) == text_bytes(b"ok")

    harness.run(main)


def _coroutine_name(task: asyncio.Task[Any]) -> str:
    return str(getattr(task.get_coro(), "__name__", ""))


# --- connections closed unused: the client's end of input ---------------------------------------


async def until(condition: Callable[[], bool], within: float = 1.0) -> None:
    """Wait for ``condition``, failing after ``within`` seconds (sooner than ``DEADLINE``, so
    that the failure says what never happened)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, f"not within {within} s"
        await asyncio.sleep(0.005)


def reset_on_close(sock: socket.socket) -> None:
    """``close()`` then sends RST instead of FIN (SO_LINGER with a zero timeout)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("sent", [b"", b"GET / HT", b"GET / HTTP/1.1\r\nHost: te"])
def test_a_client_half_closing_without_a_whole_request_is_hung_up_on(
    harness: Harness, sent: bytes
) -> None:
    """Nothing, or part of a head, then ``shutdown(SHUT_WR)``: no request can come any more,
    so the server closes too (it used to wait for ever, its socket in CLOSE-WAIT)."""

    async def main() -> None:
        async with harness.serve(echo) as port:
            before = _http.open_connections()
            async with connect(port) as client:
                await client.send(sent)
                await until(lambda: _http.open_connections() == before + 1)
                client.sock.shutdown(socket.SHUT_WR)
                assert await asyncio.wait_for(client.read_to_eof(), 1.0) == b""
            await until(lambda: _http.open_connections() == before)

    harness.run(main)
    assert harness.eofs == 1


@pytest.mark.parametrize("close", ["FIN", "RST"])
def test_connections_closed_unused_are_closed_by_the_server(harness: Harness, close: str) -> None:
    """Browsers' spare connections, health checks, port scans: connect, then close."""

    async def main() -> None:
        async with harness.serve(echo) as port:
            before = _http.open_connections()
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(20):
                    client = await stack.enter_async_context(connect(port))
                    if close == "RST":
                        reset_on_close(client.sock)
                await until(lambda: _http.open_connections() == before + 20)
            await until(lambda: _http.open_connections() == before)
            async with connect(port) as client:
                await client.send(get("/still"))
                expected = text_bytes(b"GET /still ")
                assert await client.read_exactly(len(expected)) == expected

    harness.run(main)


# --- timeouts -----------------------------------------------------------------------------------

# The limit in the tests of timeouts: long against a turn of the loop, short to wait for.
TINY = 0.2


def test_http_timeouts_default_to_the_public_listeners_limits() -> None:
    defaults = _http.DEFAULT_TIMEOUTS
    assert (defaults.idle, defaults.head, defaults.body, defaults.send) == (60.0, 10.0, 60.0, 60.0)
    assert HttpTimeouts() == defaults


@pytest.mark.parametrize(
    "limits",
    [{"idle": 0.0}, {"head": -1.0}, {"body": math.inf}, {"idle": math.nan}, {"send": 0.0}],
)
def test_http_timeouts_refuse_limits_not_positive_and_finite(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="positive and finite"):
        HttpTimeouts(**limits)


def test_the_idle_limit_closes_connections_waiting_for_a_request(harness: Harness) -> None:
    timeouts = HttpTimeouts(idle=TINY, head=None, body=None)

    async def handler(request: Request) -> Response:
        await asyncio.sleep(2 * TINY)  # a handler at work: the connection is not idle
        return await echo(request)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with harness.serve(handler, timeouts) as port:
            async with connect(port) as client:  # never used
                start = loop.time()
                assert await client.read_to_eof() == b""
                assert TINY - 0.05 <= loop.time() - start < TINY + 1
            async with connect(port) as client:  # between requests
                await client.send(get("/slow"))
                expected = text_bytes(b"GET /slow ")
                assert await client.read_exactly(len(expected)) == expected
                answered = loop.time()
                assert await client.read_to_eof() == b""
                assert TINY - 0.05 <= loop.time() - answered < TINY + 1

    harness.run(main)


def test_a_head_incomplete_after_the_head_limit_is_answered_408(harness: Harness) -> None:
    """A client sending a header now and then, never the end of its head (slowloris)."""
    calls: list[str] = []

    async def handler(request: Request) -> Response:
        calls.append(request.path)
        return text(b"")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        timeouts = HttpTimeouts(idle=None, head=TINY, body=None)
        async with harness.serve(handler, timeouts) as port, connect(port) as client:
            await client.send(b"GET / HTTP/1.1\r\n")
            start = loop.time()
            reading = asyncio.ensure_future(client.read_response())
            while not reading.done():
                with contextlib.suppress(ConnectionError):  # the server may have closed
                    await client.send(b"X-Slow: 1\r\n")
                await asyncio.wait([reading], timeout=TINY / 4)
            elapsed = loop.time() - start
            reply = reading.result()
            assert (reply.status, reply.header("connection")) == (408, "close")
            assert reply.json() == {"errorMessage": "request head not complete within 0.2 s"}
            assert await client.read_to_eof() == b""
            assert TINY - 0.05 <= elapsed < TINY + 1

    harness.run(main)
    assert calls == []


def test_the_runtime_apis_limits_allow_long_polls_long_handlers_and_pauses(
    harness: Harness,
) -> None:
    """The Runtime API's ``HttpTimeouts(idle=None, head=..., body=None)``: a runtime connects
    before it polls, waits in GET /next, runs a function for longer than the head limit before
    its next request on the same connection, and streams its response with pauses."""
    timeouts = HttpTimeouts(idle=None, head=TINY, body=None)

    async def handler(request: Request) -> Response:
        if request.path == "/next":
            await asyncio.sleep(2 * TINY)  # the long poll
            return text(b"event")
        return await echo(request)

    async def main() -> None:
        async with harness.serve(handler, timeouts) as port, connect(port) as client:
            await asyncio.sleep(2 * TINY)  # connected, not asking yet
            await client.send(get("/next"))
            assert await client.read_exactly(len(text_bytes(b"event"))) == text_bytes(b"event")
            await asyncio.sleep(2 * TINY)  # the function at work: the head limit is not running
            head = b"POST /response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            await client.send(head + b"3\r\none\r\n")
            await asyncio.sleep(2 * TINY)  # a pause mid-stream
            await client.send(b"3\r\ntwo\r\n0\r\n\r\n")
            expected = text_bytes(b"POST /response onetwo")
            assert await client.read_exactly(len(expected)) == expected

    harness.run(main)


def test_a_pipelined_head_past_the_head_limit_is_answered_408_after_the_answer_in_progress(
    harness: Harness,
) -> None:
    async def handler(request: Request) -> Response:
        await asyncio.sleep(2 * TINY)  # the head behind this request runs out meanwhile
        return await echo(request)

    async def main() -> None:
        timeouts = HttpTimeouts(idle=None, head=TINY, body=None)
        async with harness.serve(handler, timeouts) as port, connect(port) as client:
            await client.send(get("/slow") + b"GET /next HTTP/1.1\r\nHost:")
            assert (await client.read_response()).body == b"GET /slow "
            reply = await client.read_response()
            assert (reply.status, reply.header("connection")) == (408, "close")
            assert await client.read_to_eof() == b""

    harness.run(main)


def test_a_closing_connection_whose_client_does_not_read_is_dropped_after_the_idle_limit(
    harness: Harness,
) -> None:
    """The last response, under the high-water mark, waits in the transport's buffer for a
    client that never reads: close() would wait for it for ever."""

    async def handler(request: Request) -> Response:
        transport = harness.connections[0].transport
        assert transport is not None
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        return text(b"x" * 48 * 1024)

    async def main() -> None:
        timeouts = HttpTimeouts(idle=TINY, head=None, body=None)
        async with harness.serve(handler, timeouts) as port:
            before = _http.open_connections()
            async with connect(port, receive_buffer=4096) as client:
                await client.send(get("/big", "Connection: close\r\n"))
                await until(lambda: _http.open_connections() == before + 1)
                transport = harness.connections[0].transport
                assert transport is not None
                await until(lambda: transport.is_closing())
                assert transport.get_write_buffer_size() > 0  # the case in point
                await until(lambda: _http.open_connections() == before, within=TINY + 1)

    harness.run(main)


@pytest.mark.parametrize("read", ["body", "chunks"])
def test_a_body_stalled_past_the_body_limit_breaks_off(harness: Harness, read: str) -> None:
    waited: list[float] = []

    async def handler(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            if read == "body":
                await request.body()
            else:
                async for _ in request.chunks():
                    start = loop.time()
        except ConnectionError:
            waited.append(loop.time() - start)
            raise
        return text(b"unexpected")

    async def main() -> None:
        timeouts = HttpTimeouts(idle=None, head=None, body=TINY)
        async with harness.serve(handler, timeouts) as port, connect(port) as client:
            await client.send(post("/up", b"x" * 100)[:-50])
            assert await client.read_to_eof() == b""

    harness.run(main)
    assert len(waited) == 1
    assert TINY - 0.05 <= waited[0] < TINY + 1


def test_a_body_slower_than_the_body_limit_but_never_stalled_is_read(harness: Harness) -> None:
    """The limit is on each wait for bytes, not on the whole body."""

    async def main() -> None:
        timeouts = HttpTimeouts(idle=None, head=None, body=TINY)
        async with harness.serve(echo, timeouts) as port, connect(port) as client:
            await client.send(post("/up", b"abcdef")[:-6])
            for piece in (b"ab", b"cd", b"ef"):
                await asyncio.sleep(TINY / 2)
                await client.send(piece)
            expected = text_bytes(b"POST /up abcdef")
            assert await client.read_exactly(len(expected)) == expected

    harness.run(main)


# --- Response.on_finish -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytes", "stream", "stream to HEAD"])
def test_on_finish_hears_true_once_the_whole_response_is_written(
    harness: Harness, kind: str
) -> None:
    calls: list[bool] = []

    async def produce() -> AsyncIterator[bytes]:
        yield b"one"
        yield b"two"

    async def handler(request: Request) -> Response:
        if request.path != "/first":
            return text(b"next")
        body = b"bytes" if kind == "bytes" else produce()
        return Response(200, [], body, lambda: [("X-Done", "1")], on_finish=calls.append)

    async def main() -> None:
        method = "HEAD" if kind == "stream to HEAD" else "GET"
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(f"{method} /first HTTP/1.1\r\n\r\n".encode() + get("/next"))
            reply = await client.read_response(head=method == "HEAD")
            assert reply.body == {"bytes": b"bytes", "stream": b"onetwo"}.get(kind, b"")
            assert (await client.read_response()).body == b"next"

    harness.run(main)
    assert calls == [True]


@pytest.mark.parametrize("stuck", ["function pausing", "client not reading"])
def test_a_client_hanging_up_mid_stream_abandons_the_response_at_once(
    harness: Harness, stuck: str
) -> None:
    """The body iterator is closed then, not when (if ever) it has its next chunk. The client
    closes its socket; having read all that came, it sends a FIN, not a RST: the server sees
    the end of input only, as from a client that merely half-closes."""
    events: list[object] = []

    async def main() -> None:
        never = asyncio.Event()

        async def produce() -> AsyncIterator[bytes]:
            try:
                yield b"first"
                while True:
                    if stuck == "function pausing":
                        await never.wait()
                    yield b"x" * 65536
            finally:
                events.append("finally")

        async def handler(request: Request) -> Response:
            return Response(200, [], produce(), on_finish=events.append)

        async with harness.serve(handler) as port:
            before = _http.open_connections()
            async with connect(port, receive_buffer=65536) as client:
                await client.send(get("/"))
                await client.read_until(b"5\r\nfirst\r\n")
                if stuck == "client not reading":
                    await until(lambda: harness.write_pauses > 0)
            await until(lambda: len(events) == 2)
            await until(lambda: _http.open_connections() == before)

    harness.run(main)
    assert events == ["finally", False]


def test_a_client_that_stops_reading_is_hung_up_on_after_the_send_limit(harness: Harness) -> None:
    """It holds the connection, and through flow control what produces the response, until
    the send limit: then the response is abandoned (its body closed) and the socket closed."""
    events: list[object] = []

    async def main() -> None:
        async def produce() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"x" * 65536
            finally:
                events.append("finally")

        async def handler(request: Request) -> Response:
            return Response(200, [], produce(), on_finish=events.append)

        timeouts = HttpTimeouts(idle=None, head=None, body=None, send=TINY)
        async with harness.serve(handler, timeouts) as port:
            before = _http.open_connections()
            async with connect(port, receive_buffer=65536) as client:
                await client.send(get("/"))
                await until(lambda: harness.write_pauses > 0)  # it reads nothing more
                await until(lambda: len(events) == 2)
                await until(lambda: _http.open_connections() == before)

    harness.run(main)
    assert events == ["finally", False]


@pytest.mark.parametrize("kind", ["bytes", "stream"])
def test_a_response_to_a_client_already_gone_is_abandoned_unsent(
    harness: Harness, kind: str
) -> None:
    events: list[object] = []

    async def produce() -> AsyncIterator[bytes]:
        events.append("started")
        yield b"never sent"

    async def handler(request: Request) -> Response:
        connection = harness.connections[0]
        await until(lambda: connection.lost)
        body = produce() if kind == "stream" else b"never sent"
        return Response(200, [], body, on_finish=events.append)

    async def main() -> None:
        async with harness.serve(handler) as port:
            async with connect(port) as client:
                await client.send(get("/"))
                await until(lambda: bool(harness.connections) and harness.connections[0].serving)
                reset_on_close(client.sock)  # gone, not merely done sending (FIN)
            await until(lambda: bool(events))

    harness.run(main)
    assert events == [False]


@pytest.mark.parametrize("fault", ["stream", "trailers", "header"])
def test_a_response_that_cannot_go_out_whole_is_abandoned(
    harness: Harness, fault: str, capsys: pytest.CaptureFixture[str]
) -> None:
    events: list[object] = []

    async def produce() -> AsyncIterator[bytes]:
        try:
            yield b"data"
            if fault == "stream":
                raise RuntimeError("the stream broke")
        finally:
            events.append("finally")

    def trailers() -> list[tuple[str, str]]:
        if fault == "trailers":
            raise RuntimeError("no trailers")
        return []

    async def handler(request: Request) -> Response:
        headers = [("X-Bad", "a\r\nb")] if fault == "header" else []
        return Response(200, headers, produce(), trailers, on_finish=events.append)

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/"))
            raw = await client.read_to_eof()
            if fault == "header":
                assert raw.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
            else:  # no terminating chunk
                assert raw == b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\ndata\r\n"

    harness.run(main)
    # A body refused for its header is closed before it starts: its finally never runs.
    assert events == ([False] if fault == "header" else ["finally", False])
    capsys.readouterr()  # the header fault is a 500, said on stderr


def test_a_stream_cut_short_by_the_server_closing_is_abandoned(harness: Harness) -> None:
    """As when an environment shuts down: its serving tasks are cancelled."""
    events: list[object] = []

    async def main() -> None:
        never = asyncio.Event()

        async def produce() -> AsyncIterator[bytes]:
            try:
                yield b"first"
                await never.wait()
                yield b"never sent"
            finally:
                events.append("finally")

        async def handler(request: Request) -> Response:
            return Response(200, [], produce(), on_finish=events.append)

        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/"))
            await client.read_until(b"5\r\nfirst\r\n")
            [task] = [t for t in asyncio.all_tasks() if _coroutine_name(t) == "_serve"]
            task.cancel()
            assert await client.read_to_eof() == b""
            assert events == ["finally", False]

    harness.run(main)


def test_a_failing_on_finish_is_said_on_stderr_and_the_connection_goes_on(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    def on_finish(whole: bool) -> None:
        raise RuntimeError(f"the hook broke ({whole})")

    async def handler(request: Request) -> Response:
        if request.path == "/first":
            return Response(200, [], b"first", on_finish=on_finish)
        return text(b"second")

    async def main() -> None:
        async with harness.serve(handler) as port, connect(port) as client:
            await client.send(get("/first") + get("/second"))
            assert (await client.read_response()).body == b"first"
            assert (await client.read_response()).body == b"second"

    harness.run(main)
    assert capsys.readouterr().err == (
        "lambdakit: GET /first: lambdakit emulator internal error: on_finish: RuntimeError: "
        "the hook broke (True)\n"
    )
