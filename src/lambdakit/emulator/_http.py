"""A small asyncio HTTP/1.1 server, shared by the Runtime API, the Invoke API and Function URLs.

httptools (llhttp, the parser of Node.js and uvicorn) does the parsing: request bodies with
Content-Length or chunked, request trailers (streamed function responses end with them),
pipelining. This module is the I/O around it: an ``asyncio.Protocol`` per connection that feeds
the parser, and one task per connection (started by its first request) that calls the handler,
serving one request at a time, in order, with keep-alive. A handler receives a ``Request`` whose
body it may read whole or as it arrives, and returns a ``Response`` whose body is bytes (sent
with its head in one write) or an async iterator of bytes (sent chunked, as it is produced,
with flow control both ways).

Why not asyncio streams and h11, as before: an invocation crosses three HTTP exchanges in the
emulator (the client's request, the runtime's ``GET /next`` and its ``POST .../response``), and
with streams and a pure-Python parser those cost the emulator four times the CPU that the
runtime itself spends on an invocation (docs/benchmarks.md).

Connections end when nothing more can come of them, so that they cannot pile up (browsers,
health checks and port scanners open connections and close them unused). At the client's end
of input (EOF) a connection closes unless a request is queued or being served: a client that
half-closes after a whole request (``shutdown(SHUT_WR)``) still gets its answer, one that sent
nothing or part of a head never could. During a streamed answer, EOF is taken for a hang-up:
clients half-close after their request, not halfway through the answer, and a socket closed
outright looks half-closed until the server writes to it.

``HttpTimeouts``, per server, bound the waits that are the client's doing: *idle*, for the
first byte of a request (on a new connection, between requests); *head*, for the rest of the
head, counted from its first byte, never from the end of the previous response (a runtime may
take 15 minutes before its next request); *body*, between the bytes of a request body that a
handler waits for. Handlers, and clients reading responses, are not limited. One timer per
connection enforces the three: it wakes at the current deadline or after the shortest limit,
whichever comes first, so a deadline set in between is never missed and moving from one wait
to the next costs two attribute writes, not a timer.

A ``Response`` may carry ``on_finish``, told once whether it went out whole; a streamed body
that did not is closed at once, also while it waits for its next chunk.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import enum
import json
import math
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import cast

import httptools

from lambdakit.emulator import console

MAX_HEADER_BYTES = 64 * 1024
# Past this much body the handler has not consumed yet, stop reading from the socket.
BODY_HIGH_WATER = 1024 * 1024
_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_NO_BODY_STATUSES = frozenset({204, 304})
# uvloop's timers count whole milliseconds (libuv's): one may fire up to a millisecond before
# its deadline, which is then taken as reached rather than re-armed for the remainder.
_TIMER_SLACK = 0.001


@dataclasses.dataclass(frozen=True)
class HttpTimeouts:
    """How long, in seconds, a server's connections wait on their clients; None: no limit.

    The defaults are the public listeners' (Invoke API, Function URLs): generous for any
    client, short enough that a scan or a client that stops halfway cannot hold sockets long.
    """

    idle: float | None = 60.0
    """For the first byte of a request, on a new connection and between requests."""
    head: float | None = 10.0
    """For the request line and headers to be complete, from the request's first byte."""
    body: float | None = 60.0
    """Between two arrivals of request body bytes while a handler waits for them."""
    send: float | None = 60.0
    """For a client to take more of a response while the server has more to send (its
    buffer over the high-water mark): one that stops reading is hung up on."""

    def __post_init__(self) -> None:
        for name in ("idle", "head", "body", "send"):
            limit = getattr(self, name)
            if limit is not None and not 0 < limit < math.inf:
                raise ValueError(f"HttpTimeouts.{name} must be positive and finite, or None")


DEFAULT_TIMEOUTS = HttpTimeouts()


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
        "_waiter",
        "headers",
        "http_10",
        "keep_alive",
        "method",
        "target",
        "trailers",
    )

    def __init__(self, connection: _Connection, target: str) -> None:
        self.method = ""
        self.target = target
        self.headers: list[tuple[str, str]] = []
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
        lower = name.lower()
        for key, value in self.headers:
            if key == lower:
                return value
        return default

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ``trailers`` is filled in once it has all arrived. Raises
        ``ConnectionError`` when the connection closes before the body ends."""
        if self._expects_continue:
            self._expects_continue = False
            self._connection.write(_CONTINUE)
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

    async def body(self, limit: int | None = None) -> bytes:
        """The whole body; raises ``BodyTooLarge`` past ``limit`` (the rest is discarded)."""
        if self._body_done and len(self._chunks) <= 1 and not self._expects_continue:
            body = self._chunks.popleft() if self._chunks else b""  # the common case: arrived
            self._buffered = 0
            self._connection.body_consumed(0)
            if limit is not None and len(body) > limit:
                raise BodyTooLarge(len(body))
            return body
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


class Response:
    """What a handler answers. ``on_finish`` is called once: True when the whole response
    (a streamed body and its trailers included) has been handed to the transport, False when
    it was abandoned (the client went away before or while it was written, the body iterator
    failed, the server closed)."""

    __slots__ = ("body", "headers", "on_finish", "status", "trailers")

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]] | None = None,
        body: bytes | AsyncIterator[bytes] = b"",
        trailers: Callable[[], list[tuple[str, str]]] | None = None,
        *,
        on_finish: Callable[[bool], None] | None = None,
    ) -> None:
        self.status = status
        self.headers = headers if headers is not None else []
        self.body = body
        self.trailers = trailers
        self.on_finish = on_finish


def json_response(
    status: int, document: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", "application/json"), *(headers or [])], body)


Handler = Callable[[Request], Awaitable[Response]]


class _ParseError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Wait(enum.Enum):
    """What a connection waits for; it decides which of the ``HttpTimeouts`` applies."""

    IDLE = "idle"
    """The first byte of a request (a new connection, or between requests); or, once the
    connection is closing, the client taking the last of its response."""
    HEAD = "head"
    """The rest of a request head whose first byte has arrived."""
    BODY = "body"
    """Request body bytes that a handler (or the server, dropping what it left) waits for."""
    HANDLER = "handler"
    """Nothing from the client: a handler is at work (a function may run for 15 minutes), or
    a response is being written."""


# Module globals, because the hot path reads them: an Enum member costs five times as much.
_IDLE, _HEAD, _BODY, _HANDLER = _Wait.IDLE, _Wait.HEAD, _Wait.BODY, _Wait.HANDLER
_open_connections = 0


def open_connections() -> int:
    """The connections this process's servers hold open (accepted and not yet lost): for tests
    and diagnostics, where a leak shows before the process runs out of file descriptors."""
    return _open_connections


class _Connection(asyncio.Protocol):
    """One client connection: the parser's callbacks build requests, a task serves them."""

    def __init__(self, handler: Handler, timeouts: HttpTimeouts = DEFAULT_TIMEOUTS) -> None:
        self.handler = handler
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.queue: collections.deque[Request] = collections.deque()
        self.serving = False
        self.reading_paused = False
        self.error: _ParseError | None = None
        self._error_sent = False
        self._current: Request | None = None  # the request the parser is filling
        self._in_head = False
        self._head_bytes = 0  # of the request line and headers parsed so far
        self._head_reads = 0  # of the reads that ended inside the head (one endless line)
        self._drain: asyncio.Future[None] | None = None
        self.eof = False
        self._upgrade_request: Request | None = None
        self._upgrade_left = 0
        self._upgraded = False
        # Set while the serving task waits for the next request on a kept-alive connection.
        self._idle: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None  # the serving task, once started
        self._streaming = False  # the serving task is sending a streamed body
        self._timeouts = timeouts
        self._tick = _shortest(timeouts)  # None: no limits, no timer
        self._wait = _IDLE
        self._since = 0.0  # when the current wait began (loop time)
        self._timer: asyncio.TimerHandle | None = None

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        global _open_connections
        _open_connections += 1
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._since = self.loop.time()
        if self._tick is not None:
            self._arm(self._since)

    def address(self, which: str) -> tuple[str, int] | None:
        """The transport's "peername" or "sockname" as (host, port), if an IP address."""
        if self.transport is None:
            return None
        value = self.transport.get_extra_info(which)
        if isinstance(value, tuple) and len(value) >= 2:
            return str(value[0]), int(value[1])
        return None

    def _feed_upgrade_body(self, data: bytes) -> None:
        request = self._upgrade_request
        if request is None or self._upgrade_left <= 0:
            return
        part = data[: self._upgrade_left]
        self._upgrade_left -= len(part)
        if part:
            request._feed(part)
        if self._upgrade_left == 0:
            request._end()

    def eof_received(self) -> bool:
        self.eof = True
        if self._current is not None:
            self._current._broken = True
            self._current._wake()
        if self._streaming:
            # A client half-closes after its request, not halfway through a streamed answer:
            # this one hung up (a closed socket looks half-closed until the server writes).
            self._stop_streaming()
            return True  # the serving task closes the connection
        if not self.serving and self._idle is None:
            # No serving task, hence no request to answer (a partial head never completes
            # now) and nobody else to close the connection: False has the transport close it.
            return False
        self._wake_server()
        return True  # a client may half-close after a whole request: it still gets its answer

    def data_received(self, data: bytes) -> None:
        if self.error is not None:
            return  # after garbage nothing more is parsed; the 400 is on its way
        if self._wait is _BODY:
            self._since = self.loop.time()  # any byte counts, a chunk header as much as data
        if self._upgraded:
            self._feed_upgrade_body(data)
            return
        try:
            self.parser.feed_data(data)
            if self._in_head:
                self._head_reads += len(data)
                if self._head_reads > 4 * MAX_HEADER_BYTES:
                    raise _ParseError(431, f"request head over {MAX_HEADER_BYTES} bytes")
        except httptools.HttpParserUpgrade as upgrade:
            self._upgraded = True
            self._feed_upgrade_body(data[upgrade.args[0] :])
        except httptools.HttpParserError as error:
            cause = error.__context__
            if isinstance(cause, _ParseError):
                self._fail(cause)
            else:
                self._fail(_ParseError(400, f"malformed HTTP request: {error}"))
        except _ParseError as error:
            self._fail(error)

    def connection_lost(self, exc: Exception | None) -> None:
        global _open_connections
        _open_connections -= 1
        self.lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._streaming:
            self._stop_streaming()
        self._wake_server()
        for request in (self._current, *self.queue):
            if request is not None:
                request._wake()
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        if self._drain is None or self._drain.done():
            self._drain = self.loop.create_future()

    def resume_writing(self) -> None:
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # --- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._wait, self._since = _HEAD, self.loop.time()
        self._in_head = True
        self._head_bytes = self._head_reads = 0
        self._current = Request(self, "")

    def on_url(self, url: bytes) -> None:
        assert self._current is not None
        self._current.target += url.decode("latin-1")
        self._head_bytes += len(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        request = self._current
        assert request is not None
        if self._in_head:
            key = name.decode("latin-1").lower()
            request.headers.append((key, value.decode("latin-1")))
            self._head_bytes += len(name) + len(value)
            if self._head_bytes > MAX_HEADER_BYTES:
                raise _ParseError(431, f"request head over {MAX_HEADER_BYTES} bytes")
            if key == "expect" and value.lower() == b"100-continue":
                request._expects_continue = True
        else:
            request.trailers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        request = self._current
        assert request is not None
        self._in_head = False
        self._wait = _HANDLER
        parser = self.parser
        request.method = parser.get_method().decode("ascii")
        request.keep_alive = parser.should_keep_alive()
        request.http_10 = parser.get_http_version() == "1.0"
        if request.http_10:
            request._expects_continue = False
        if parser.should_upgrade():
            request.keep_alive = False
            self._upgrade_request = request
            self._upgrade_left = int(request.header("content-length") or 0)
        self.queue.append(request)
        if self._idle is not None:
            self._wake_server()
        elif not self.serving:
            self.serving = True
            self._task = self.loop.create_task(self._serve())

    def on_body(self, body: bytes) -> None:
        request = self._current
        assert request is not None
        request._feed(body)
        if request._buffered > BODY_HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            assert self.transport is not None
            self.transport.pause_reading()

    def on_message_complete(self) -> None:
        request = self._current
        assert request is not None
        self._current = None
        if request is self._upgrade_request and self._upgrade_left > 0:
            return
        request._end()

    # --- helpers for requests and responses --------------------------------------------------

    def body_consumed(self, buffered: int) -> None:
        if self.reading_paused and buffered <= BODY_HIGH_WATER // 2 and not self.lost:
            self.reading_paused = False
            assert self.transport is not None
            self.transport.resume_reading()

    def _stop_streaming(self) -> None:
        """Abandon the streamed response under way: its body iterator, maybe waiting for its
        next chunk (a function pausing mid-stream), would otherwise learn that nobody listens
        only when that chunk comes, if ever."""
        if self._task is not None:
            self._task.cancel()

    def body_wait_begins(self) -> None:
        self._wait, self._since = _BODY, self.loop.time()

    def body_wait_ends(self) -> None:
        if self._wait is _BODY:  # not if the next request's head has begun meanwhile
            self._wait = _HANDLER

    def write(self, data: bytes) -> None:
        if not self.lost and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        """Wait while the transport's buffer is over its high-water mark, for as long as the
        send limit allows: a client that stops reading would otherwise hold the connection
        and, through flow control, whatever produces the response (a function's stream)."""
        if self._drain is not None and not self._drain.done():
            limit = self._timeouts.send
            if limit is None:
                await self._drain
            else:
                try:
                    await asyncio.wait_for(asyncio.shield(self._drain), limit)
                except asyncio.TimeoutError:
                    self._hang_up()
                    raise ConnectionError("the client stopped reading the response") from None
        if self.lost:
            raise ConnectionError("the client closed the connection")

    def _fail(self, error: _ParseError) -> None:
        self.error = error
        self._wait = _HANDLER  # no more requests: the connection closes after those in hand
        if self._current is not None:  # its handler sees the body end early, then the 400
            self._current._broken = True
            self._current._wake()
            self._current = None
        if not self.serving:
            self._send_error()
            self._wake_server()

    def _wake_server(self) -> None:
        if self._idle is not None and not self._idle.done():
            self._idle.set_result(None)

    def _send_error(self) -> None:
        assert self.error is not None
        if self._error_sent:
            return
        self._error_sent = True
        body = json.dumps({"errorMessage": str(self.error)}).encode()
        headers = [("Content-Type", "application/json"), ("Connection", "close")]
        self.write(_head(self.error.status, headers, len(body)) + body)
        self._close()

    def _close(self) -> None:
        # A client that never takes the rest of the last response would keep the connection
        # open (close() waits to flush it): the idle limit applies to that too.
        self._wait, self._since = _IDLE, self.loop.time()
        if self.transport is not None:
            self.transport.close()

    # --- timeouts ----------------------------------------------------------------------------

    def _arm(self, now: float) -> None:
        """Wake at the current deadline, or after the shortest limit if that is sooner: any
        deadline set meanwhile is at least that far off, so it cannot be missed."""
        assert self._tick is not None
        when = now + self._tick
        limit = self._limit()
        if limit is not None:
            when = min(when, self._since + limit)
        self._timer = self.loop.call_at(when, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.lost:
            return
        now = self.loop.time()
        limit = self._limit()
        if limit is not None and now >= self._since + limit - _TIMER_SLACK and self._expire(limit):
            return
        self._arm(now)

    def _limit(self) -> float | None:
        wait, timeouts = self._wait, self._timeouts
        if wait is _IDLE:
            return timeouts.idle
        if wait is _HEAD:
            return timeouts.head
        if wait is _BODY:
            return timeouts.body
        return None

    def _expire(self, limit: float) -> bool:
        """The client took too long: hang up (after a 408 for a head). False when the 408 must
        wait for the answers in progress (pipelining), and the connection goes on till then."""
        if self._wait is _HEAD:
            self._fail(_ParseError(408, f"request head not complete within {limit:g} s"))
            if self.serving:
                return False
        # A waiting handler sees the body end early (ConnectionError) once the loss is known.
        self._hang_up()
        return True

    def _hang_up(self) -> None:
        """Close now: what a client that does not read leaves in the buffer is dropped, since
        close() would wait for it to be sent."""
        transport = self.transport
        if transport is None:
            return
        if transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    # --- serving -----------------------------------------------------------------------------

    async def _serve(self) -> None:
        """Serve requests in order, and wait for the next one while the connection lasts (one
        task per connection, started by its first request)."""
        try:
            while await self._next_request():
                request = self.queue[0]
                response = await self._call_handler(request)
                await self._deliver(request, response)
                self.queue.popleft()
                if not request.keep_alive:
                    self._error_sent = True  # what came after the last request goes unanswered
                    break
            else:
                self.serving = False
                if self.error is not None:
                    self._send_error()
                if self.eof:
                    self._close()
                return
        except (ConnectionError, asyncio.CancelledError):
            # The peer went away or sent garbage mid-body, or the server is closing (a runtime
            # waiting in GET /next).
            self.queue.clear()
        self.serving = False
        if self.error is not None:
            self._send_error()
        self._close()

    async def _next_request(self) -> bool:
        """Wait until a request is queued; False when none will come (closed, or garbage)."""
        while not self.queue:
            self.serving = False
            if self.lost or self.error is not None or self.eof:
                return False
            if not self._in_head:  # else the head's limit runs, from its first byte
                self._wait, self._since = _IDLE, self.loop.time()
            self._idle = self.loop.create_future()
            try:
                await self._idle
            finally:
                self._idle = None
        self.serving = True
        return True

    async def _call_handler(self, request: Request) -> Response:
        """The handler's response; a 500 naming the fault if the handler itself failed (a bug
        of ours, reported to the client rather than as an unhandled-task traceback)."""
        try:
            return await self.handler(request)
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as error:  # the boundary where a fault of ours becomes a 500
            return _internal_error(request, error)

    async def _finish_body(self, request: Request) -> bool:
        """Read and drop the rest of a body that has not all arrived; False when the connection
        cannot carry another request (the client waits for a 100 Continue it will not get)."""
        if request._expects_continue:
            return False
        async for _ in request.chunks():
            pass
        return True

    async def _deliver(self, request: Request, response: Response) -> None:
        """Read the rest of the request body, then send the response; its ``on_finish`` hears
        whether it went out whole, and a streamed body that did not is closed at once."""
        sent = False
        try:
            if not request._discard_unread() and not await self._finish_body(request):
                request.keep_alive = False
            sent = await self._respond(request, response)
        finally:
            try:
                if not sent:
                    await _close_iterator(response.body)
            finally:  # even if closing it was cut short (cancelled again)
                if response.on_finish is not None:
                    _call_on_finish(request, response.on_finish, sent)

    async def _respond(self, request: Request, response: Response) -> bool:
        """Send the response; False when a 500 went instead (it could not be sent as it is)."""
        if self.lost:  # the client left while the handler worked: spare the body iterator
            raise ConnectionError("the client closed the connection")
        headers = response.headers
        if not request.keep_alive:
            headers = [*headers, ("Connection", "close")]
        body = response.body
        try:
            head = self._head_for(request, response.status, headers, body)
        except ValueError as error:  # a header that would split the response
            await self._respond(request, _internal_error(request, error))
            return False
        if isinstance(body, bytes):
            if response.status in _NO_BODY_STATUSES or request.method == "HEAD":
                self.write(head)
            else:
                self.write(head + body)
            if self._drain is not None or self.lost:
                await self.drain()
            return True
        if response.status in _NO_BODY_STATUSES or request.method == "HEAD":
            await _close_iterator(body)
            self.write(head)
            await self.drain()
            return True
        try:
            await self._respond_streamed(request, response, head, body)
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as error:  # the stream or its trailers failed: cut the response short
            raise ConnectionError("the response broke off") from error
        return True

    def _head_for(
        self,
        request: Request,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes | AsyncIterator[bytes],
    ) -> bytes:
        if isinstance(body, bytes):
            length = None if status in _NO_BODY_STATUSES else len(body)
            return _head(status, headers, length)
        if status in _NO_BODY_STATUSES or request.method == "HEAD":
            return _head(status, headers, None)
        if request.http_10:  # no chunked encoding in HTTP/1.0: the end of the body is the close
            if request.keep_alive:
                request.keep_alive = False
                headers = [*headers, ("Connection", "close")]
            return _head(status, headers, None)
        return _head(status, [*headers, ("Transfer-Encoding", "chunked")])

    async def _respond_streamed(
        self, request: Request, response: Response, head: bytes, body: AsyncIterator[bytes]
    ) -> None:
        self._streaming = True  # from here, the client hanging up cancels this task
        try:
            self.write(head)
            if request.http_10:
                async for chunk in body:
                    self.write(chunk)
                    await self.drain()
                return
            async for chunk in body:
                if chunk:
                    self.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                    await self.drain()
            trailers = response.trailers() if response.trailers is not None else []
            self.write(b"0\r\n" + _header_lines(trailers) + b"\r\n")
            await self.drain()
        finally:
            self._streaming = False


def _internal_error(request: Request, error: Exception) -> Response:
    """The 500 for a fault of the emulator's own, said on stderr too."""
    request.keep_alive = False
    message = f"lambdakit emulator internal error: {type(error).__name__}: {error}"
    console.warn(f"{request.method} {request.path}: {message}")
    return json_response(500, {"errorMessage": message, "errorType": "ServiceException"})


def _call_on_finish(request: Request, on_finish: Callable[[bool], None], sent: bool) -> None:
    try:
        on_finish(sent)
    except Exception as error:  # a fault of the hook's owner must not end the connection
        message = f"lambdakit emulator internal error: on_finish: {type(error).__name__}: {error}"
        console.warn(f"{request.method} {request.path}: {message}")


def _shortest(timeouts: HttpTimeouts) -> float | None:
    limits = [limit for limit in (timeouts.idle, timeouts.head, timeouts.body) if limit]
    return min(limits) if limits else None


async def _close_iterator(body: bytes | AsyncIterator[bytes]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def _head(status: int, headers: list[tuple[str, str]], length: int | None = None) -> bytes:
    reason = _REASONS.get(status, b"")
    lines = _header_lines(headers)
    if length is not None:
        lines += b"Content-Length: %d\r\n" % length
    return b"HTTP/1.1 %d %b\r\n%b\r\n" % (status, reason, lines)


def _header_lines(headers: list[tuple[str, str]]) -> bytes:
    text = "".join([f"{name}: {value}\r\n" for name, value in headers])
    # One CR and one LF per line, no NUL: no header can smuggle in another (RFC 9110 §5.5).
    count = len(headers)
    if text.count("\r") != count or text.count("\n") != count or "\0" in text:
        raise ValueError(f"a response header contains CR, LF or NUL: {headers!r}")
    return text.encode("latin-1", "replace")


async def start_server(
    handler: Handler, host: str, port: int, *, timeouts: HttpTimeouts = DEFAULT_TIMEOUTS
) -> asyncio.Server:
    """Listen on ``host:port`` (0: any free port) and serve ``handler``, waiting on clients no
    longer than ``timeouts`` allow."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: _Connection(handler, timeouts), host, port)


def bound_port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


__all__ = [
    "DEFAULT_TIMEOUTS",
    "BodyTooLarge",
    "Handler",
    "HttpTimeouts",
    "Request",
    "Response",
    "bound_port",
    "json_response",
    "open_connections",
    "start_server",
]
