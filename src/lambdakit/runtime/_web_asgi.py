"""One ASGI HTTP request/response cycle (asgiref specs/www.rst), buffered or streamed.

``receive`` hands the app the request body in one ``http.request`` message; after that it
waits until the response is complete (or its reader went away) and answers
``http.disconnect``. Waiting matters: Starlette's ``StreamingResponse`` listens for a
disconnect while it streams and stops streaming when it hears one.

Errors. An app that fails before ``http.response.start`` fails the invocation: its exception
propagates, and the runtime reports it. One that fails after completing its response (as
Starlette's ``ServerErrorMiddleware`` does: it sends a 500, then re-raises) is logged and its
response delivered, as uvicorn does. In between, a buffered response fails the invocation; a
streamed one raises from its body iterator, after the chunks sent before the failure, and the
runtime ends the stream with the error trailers.
"""

from __future__ import annotations

import asyncio

from lambdakit.runtime._web_responses import Response

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from lambdakit.runtime._web_types import ASGIApp, Message, Scope

# Chunks a streaming app may get ahead of the reader before ``send`` waits (back-pressure).
STREAM_QUEUE_SIZE = 16


class Exchange:
    """The ``receive`` and ``send`` of one request, and what the app sent back.

    Buffered (``queue`` None), body chunks are collected in ``chunks``; streamed, they go into
    ``queue``, followed by None once the body is complete.
    """

    def __init__(self, body: bytes, queue: asyncio.Queue[bytes | None] | None = None) -> None:
        self._body: bytes | None = body
        self.queue = queue
        self.chunks: list[bytes] = []
        self.status: int | None = None
        self.headers: list[tuple[str, str]] = []
        self.started = asyncio.Event()
        self.complete = False
        self.closed = asyncio.Event()
        """Set once the response is complete or its reader went away: ``http.disconnect``."""

    async def receive(self) -> Message:
        if self._body is not None:
            body, self._body = self._body, None
            return {"type": "http.request", "body": body, "more_body": False}
        await self.closed.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.status is not None:
                raise RuntimeError("the ASGI app sent http.response.start twice")
            self.status = int(message["status"])
            self.headers = [_header(name, value) for name, value in message.get("headers", ())]
            self.started.set()
        elif kind == "http.response.body":
            if self.status is None:
                raise RuntimeError("the ASGI app sent http.response.body before its start")
            if not self.closed.is_set():  # after a disconnect, sending does nothing
                await self._body_chunk(bytes(message.get("body", b"")), message)
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} in an HTTP request")

    async def _body_chunk(self, chunk: bytes, message: Message) -> None:
        if chunk:
            if self.queue is None:
                self.chunks.append(chunk)
            else:
                await self.queue.put(chunk)
        if not message.get("more_body", False):
            self.complete = True
            self.closed.set()
            if self.queue is not None:
                await self.queue.put(None)


def _header(name: bytes, value: bytes) -> tuple[str, str]:
    return bytes(name).decode("latin-1").lower(), bytes(value).decode("latin-1")


async def run_buffered(app: ASGIApp, scope: Scope, body: bytes) -> Response:
    """Run the app to the end and return its whole response."""
    exchange = Exchange(body)
    try:
        await app(scope, exchange.receive, exchange.send)
    except Exception as exc:
        if not exchange.complete:
            raise
        log_late_error(exc)
    finally:
        exchange.closed.set()
    _check_complete(exchange)
    assert exchange.status is not None
    return Response(exchange.status, exchange.headers, b"".join(exchange.chunks))


def _check_complete(exchange: Exchange) -> None:
    if exchange.status is None:
        raise RuntimeError("the ASGI app returned without sending http.response.start")
    if not exchange.complete:
        raise RuntimeError("the ASGI app returned without finishing its response body")


async def run_streaming(
    app: ASGIApp, scope: Scope, body: bytes
) -> tuple[int, list[tuple[str, str]], AsyncIterator[bytes]]:
    """Start the app; return its status and headers as soon as it sent them, and an iterator
    over the body chunks, which the app goes on producing while they are read."""
    exchange = Exchange(body, asyncio.Queue(STREAM_QUEUE_SIZE))
    task = asyncio.get_running_loop().create_task(_call(app, scope, exchange))
    started = asyncio.ensure_future(exchange.started.wait())
    try:
        await asyncio.wait((started, task), return_when=asyncio.FIRST_COMPLETED)
    finally:
        started.cancel()
    if exchange.status is None:  # the app ended, or failed, without starting its response
        exchange.closed.set()
        _result(task)
        _check_complete(exchange)
    assert exchange.status is not None
    return exchange.status, exchange.headers, _chunks(exchange, task)


async def _call(app: ASGIApp, scope: Scope, exchange: Exchange) -> None:
    await app(scope, exchange.receive, exchange.send)


async def _chunks(exchange: Exchange, task: asyncio.Task[None]) -> AsyncIterator[bytes]:
    assert exchange.queue is not None
    try:
        while (chunk := await _next_chunk(exchange.queue, task)) is not None:
            yield chunk
        # The body is complete; wait for what the app does after it (Starlette's background
        # tasks), which must happen before the invocation ends and Lambda freezes the process.
        await asyncio.wait((task,))
        try:
            _result(task)
        except Exception as exc:
            if not exchange.complete:
                raise
            log_late_error(exc)
        _check_complete(exchange)
    finally:
        exchange.closed.set()  # the reader is done: http.disconnect
        if not task.done():
            task.cancel()
            await asyncio.wait((task,))


async def _next_chunk(queue: asyncio.Queue[bytes | None], task: asyncio.Task[None]) -> bytes | None:
    """The next chunk, or None at the end of the body or when the app ended before it."""
    if not queue.empty():
        return queue.get_nowait()
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait((getter, task), return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not getter.done():
            getter.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    return queue.get_nowait() if not queue.empty() else None


def _result(task: asyncio.Task[None]) -> None:
    """Raise what the finished app task raised."""
    if task.cancelled():
        raise RuntimeError("the ASGI app was cancelled")
    exc = task.exception()
    if exc is not None:
        raise exc


def log_late_error(exc: BaseException) -> None:
    """An app failed after its response was complete: the client got it, the log gets this."""
    import logging

    logging.getLogger("lambdakit.web").error(
        "Exception in ASGI application after its response was sent", exc_info=exc
    )
