"""One client connection: an ``asyncio.Protocol`` that feeds httptools, and the task that
serves its requests.

httptools (llhttp, the parser of Node.js and uvicorn) does the parsing: request bodies with
Content-Length or chunked, request trailers (streamed function responses end with them),
pipelining. Its callbacks build ``Request`` values and queue them; one task per connection
(started by its first request) calls the handler for each, in order, with keep-alive.

A server may also have an *immediate* handler (``Immediate``), for the requests that are its
hot path: it is called from the parser's callback, without a task, when a request has arrived
whole in one read and nothing else of the connection is under way. It answers there and then
(a ``Response`` with a body of bytes), later (``LATER``: it calls ``request.reply`` once, from a
callback of its own; requests that come meanwhile wait their turn), or not (None: the request
takes the usual way, to the handler). The emulator's Runtime API and Invoke API answer the
three requests of a warm invocation this way, without a task step, a future and a chain of
coroutines for each (docs/benchmarks.md says what that saved: less than hoped).

Connections end when nothing more can come of them, so that they cannot pile up (browsers,
health checks and port scanners open connections and close them unused). At the client's end
of input (EOF) a connection closes unless a request is queued or being served: a client that
half-closes after a whole request (``shutdown(SHUT_WR)``) still gets its answer, one that sent
nothing or part of a head never could. During a streamed answer, EOF is taken for a hang-up:
clients half-close after their request, not halfway through the answer, and a socket closed
outright looks half-closed until the server writes to it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import socket
from typing import Any, cast

import httptools

from lambdakit.emulator._http import spinning
from lambdakit.emulator._http.request import _NO_TRAILERS, ParseError, Request
from lambdakit.emulator._http.response import (
    LATER,
    Handler,
    Immediate,
    Response,
    call_handler,
    deliver,
    encode_head,
    internal_error,
    respond_now,
)
from lambdakit.emulator._http.timeouts import (
    BODY,
    DEFAULT_TIMEOUTS,
    HANDLER,
    HEAD,
    IDLE,
    Deadlines,
    HttpTimeouts,
    shortest,
)

MAX_HEADER_BYTES = 64 * 1024
# Past this much body the handler has not consumed yet, stop reading from the socket.
BODY_HIGH_WATER = 1024 * 1024
_open_connections = 0


def open_connections() -> int:
    """The connections this process's servers hold open (accepted and not yet lost): for tests
    and diagnostics, where a leak shows before the process runs out of file descriptors."""
    return _open_connections


class _Connection(Deadlines, asyncio.Protocol):
    """One client connection: the parser's callbacks build requests, a task serves them."""

    def __init__(
        self,
        handler: Handler,
        timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
        immediate: Immediate | None = None,
    ) -> None:
        self.handler = handler
        self.immediate = immediate
        # A request the immediate handler may take once its body has arrived (this read), and
        # the one it took to answer later (``Request.reply``).
        self._held: Request | None = None
        self._later: Request | None = None
        self.loop = asyncio.get_running_loop()
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.queue: collections.deque[Request] = collections.deque()
        self.serving = False
        self.reading_paused = False
        self.error: ParseError | None = None
        self._error_sent = False
        self._current: Request | None = None  # the request the parser is filling
        self._in_head = False
        self._head_reads = 0  # of the reads that ended inside the head (one endless line)
        self._read = 0  # the size of the read being parsed
        self.cased = False  # whether requests keep their header names as sent
        self._raw_append = _no_head.append  # the current request's _raw.append
        self._drain: asyncio.Future[None] | None = None
        self.eof = False
        self._upgrade_request: Request | None = None
        self._upgrade_left = 0
        self._upgraded = False
        # Set while the serving task waits for the next request on a kept-alive connection.
        self._idle: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None  # the serving task, once started
        self.streaming = False  # the serving task is sending a streamed body
        self._timeouts = timeouts
        self._tick = shortest(timeouts)  # None: no limits, no timer
        self._wait = IDLE
        self._since = 0.0  # when the current wait began (loop time)
        self._timer: asyncio.TimerHandle | None = None
        self._spinner = spinning.spinner_for(self.loop)  # None: busy polling is off

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
        if self.streaming:
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
        self._receive(data)
        if self._spinner is not None:
            self._spinner.read()  # poll a moment for the next read before sleeping

    def _receive(self, data: bytes) -> None:
        if self.error is not None:
            return  # after garbage nothing more is parsed; the 400 is on its way
        if self._wait is BODY:
            self._since = self.loop.time()  # any byte counts, a chunk header as much as data
        if self._upgraded:
            self._feed_upgrade_body(data)
            return
        self._read = len(data)
        try:
            self.parser.feed_data(data)
            self._after_read(self._read)
        except httptools.HttpParserUpgrade as upgrade:
            self._upgraded = True
            self._feed_upgrade_body(data[upgrade.args[0] :])
        except httptools.HttpParserError as error:
            cause = error.__context__
            if isinstance(cause, ParseError):
                self._fail(cause)
            else:
                self._fail(ParseError(400, f"malformed HTTP request: {error}"))
        except ParseError as error:
            self._fail(error)

    def _after_read(self, size: int) -> None:
        if self._held is not None:  # its body did not arrive whole: the usual way
            self._enqueue(self._held)
            self._held = None
        if self._in_head:
            self._head_reads += size
            if self._head_reads > 4 * MAX_HEADER_BYTES:
                raise ParseError(431, f"request head over {MAX_HEADER_BYTES} bytes")

    def connection_lost(self, exc: Exception | None) -> None:
        global _open_connections
        _open_connections -= 1
        self.lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.streaming:
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
        self._wait, self._since = HEAD, self.loop.time()
        self._in_head = True
        self._head_reads = 0
        self._current = request = Request(self)
        self._raw_append = request._raw.append

    def on_url(self, url: bytes) -> None:
        assert self._current is not None
        self._current.target += url.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        # Called for every header of every request: kept to two appends, the rest is done
        # for the whole head in on_headers_complete.
        if self._in_head:
            self._raw_append(name)
            self._raw_append(value)
        else:
            self._trailer(name, value)

    def _trailer(self, name: bytes, value: bytes) -> None:
        request = self._current
        assert request is not None
        if request.trailers is _NO_TRAILERS:
            request.trailers = {}
        request.trailers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        request = self._current
        assert request is not None
        if self._head_reads + self._read > MAX_HEADER_BYTES:  # else the head cannot be over it
            _check_head_size(request)
        index = request._index_raw()
        self._in_head = False
        self._wait = HANDLER
        parser = self.parser
        request.method = parser.get_method().decode("ascii")
        request.keep_alive = parser.should_keep_alive()
        if parser.get_http_version() == "1.0":
            request.http_10 = True
        elif "expect" in index and index["expect"].lower() == "100-continue":
            request._expects_continue = True
        if parser.should_upgrade():
            request.keep_alive = False
            self._upgrade_request = request
            self._upgrade_left = int(request.header("content-length") or 0)
        elif (
            self.immediate is not None and not request._expects_continue
            and not self.serving and not self.queue and self._later is None
            and (self._drain is None or self._drain.done())
        ):  # fmt: skip
            # Nothing else of the connection is under way, and the client reads its answers:
            # the immediate handler may take it, if its body arrives in this read.
            self._held = request
            return
        self._enqueue(request)

    def _enqueue(self, request: Request) -> None:
        self.queue.append(request)
        self._serve_queue()

    def _serve_queue(self) -> None:
        """Have the serving task take the queue: wake it, or start it."""
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
        if request is self._held:
            self._held = None
            self._answer_now(request)

    # --- the immediate handler ---------------------------------------------------------------

    def _answer_now(self, request: Request) -> None:
        immediate = self.immediate
        assert immediate is not None
        try:
            response = immediate(request)
        except Exception as error:  # a fault of ours: a 500, as from the usual way
            response = internal_error(request, error)
        if response is None:
            self._enqueue(request)
        elif response is LATER:
            self._later = request
            self.serving = True  # what comes meanwhile waits in the queue
        else:
            assert isinstance(response, Response)
            self._wait = HANDLER
            self._after_answer(request, respond_now(self, request, response))

    def reply(self, request: Request, response: object) -> None:
        """The answer to the request the immediate handler said it would answer ``LATER``;
        None drops the connection (the handler cannot answer it, as when a task is
        cancelled)."""
        if request is not self._later:
            raise RuntimeError("reply() to a request that is not waiting for its answer")
        self._later = None
        self.serving = False
        if response is None:
            self.queue.clear()
            self._close()
            return
        assert isinstance(response, Response)
        self._after_answer(request, respond_now(self, request, response))
        if self.queue and not self.lost:
            self._serve_queue()
        elif self._idle is not None and (self.lost or self.eof or self.error is not None):
            self._wake_server()  # the serving task ends the connection

    def _after_answer(self, request: Request, sent: bool) -> None:
        if not sent or not request.keep_alive:
            self._error_sent = True  # what came after the last request goes unanswered
            self.queue.clear()
            self._close()
        elif self.error is not None:
            self._send_error()
        elif self.eof and not self.queue and self._idle is None:
            self._close()
        elif not self._in_head:
            self._wait, self._since = IDLE, self.loop.time()

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
        self._wait, self._since = BODY, self.loop.time()

    def body_wait_ends(self) -> None:
        if self._wait is BODY:  # not if the next request's head has begun meanwhile
            self._wait = HANDLER

    def write(self, data: bytes) -> None:
        transport = self.transport
        if not self.lost and transport is not None and not transport.is_closing():
            transport.write(data)

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

    def _fail(self, error: ParseError) -> None:
        self.error = error
        self._wait = HANDLER  # no more requests: the connection closes after those in hand
        if self._current is not None:  # its handler sees the body end early, then the 400
            self._current._broken = True
            self._current._wake()
            self._current = None
        self._held = None
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
        self.write(encode_head(self.error.status, headers, len(body)) + body)
        self._close()

    def _close(self) -> None:
        # A client that never takes the rest of the last response would keep the connection
        # open (close() waits to flush it): the idle limit applies to that too.
        self._wait, self._since = IDLE, self.loop.time()
        if self.transport is not None:
            self.transport.close()

    # --- serving -----------------------------------------------------------------------------

    async def _serve(self) -> None:
        """Serve requests in order, and wait for the next one while the connection lasts (one
        task per connection, started by its first request)."""
        try:
            while await self._next_request():
                request = self.queue[0]
                response = await call_handler(self, request)
                await deliver(self, request, response)
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
        while not self.queue or self._later is not None:
            self.serving = self._later is not None
            if self.lost or (self._later is None and (self.error is not None or self.eof)):
                return False  # (the answer owed comes first; reply() wakes this task again)
            if not self._in_head:  # else the head's limit runs, from its first byte
                self._wait, self._since = IDLE, self.loop.time()
            self._idle = self.loop.create_future()
            try:
                await self._idle
            finally:
                self._idle = None
        self.serving = True
        return True


class _CasedConnection(_Connection):
    """A connection whose requests also keep their header names as sent (``raw_headers``):
    a subclass, so that the other servers pay nothing for it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cased = True


def _check_head_size(request: Request) -> None:
    size = len(request.target) + sum(map(len, request._raw))
    if size > MAX_HEADER_BYTES:
        raise ParseError(431, f"request head over {MAX_HEADER_BYTES} bytes")


_no_head: list[bytes] = []  # the current head before the first request: none


__all__ = ["BODY_HIGH_WATER", "MAX_HEADER_BYTES", "open_connections"]
