"""The response side: ``Response``, what a handler answers, and the writer that sends it.

A body of bytes goes out with its head in one write; an async iterator of bytes goes out
chunked as it is produced (to HTTP/1.0 clients unchunked, ended by the close), waiting while
the client is slow to take it (``_Connection.drain``). Trailers follow the last chunk.

A ``Response`` may carry ``on_finish``, told once whether it went out whole; a streamed body
that did not is closed at once, also while it waits for its next chunk (the connection cancels
the task that sends it when the client hangs up).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

from lambdakit.emulator import console
from lambdakit.emulator._http.request import Request

if TYPE_CHECKING:
    from lambdakit.emulator._http.connection import _Connection

_REASONS = {status.value: status.phrase.encode() for status in HTTPStatus}
_NO_BODY_STATUSES = frozenset({204, 304})


class Response:
    """What a handler answers. ``on_finish`` is called once: True when the whole response
    (a streamed body and its trailers included) has been handed to the transport, False when
    it was abandoned (the client went away before or while it was written, the body iterator
    failed, the server closed)."""

    __slots__ = ("_shared", "_wire", "body", "headers", "on_finish", "status", "trailers")

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
        self._shared = False
        self._wire: bytes | None = None  # a shared response's bytes, once sent

    def shared(self) -> Response:
        """Mark this response (a body of bytes) as one sent unchanged again and again (the
        Runtime API's ``202``): the immediate way encodes it once. Returns it."""
        self._shared = True
        return self


def json_response(
    status: int, document: object, headers: list[tuple[str, str]] | None = None
) -> Response:
    body = json.dumps(document, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", "application/json"), *(headers or [])], body)


Handler = Callable[[Request], Awaitable[Response]]


class _Later:
    __slots__ = ()

    def __repr__(self) -> str:
        return "LATER"


LATER: object = _Later()
"""What an immediate handler returns for a request it will answer with ``request.reply``."""

Immediate = Callable[[Request], "Response | object | None"]
"""A server's handler for its hot path, called without a task once a request has arrived whole
(connection.py): a ``Response`` (its body bytes), ``LATER``, or None for the usual way."""


async def call_handler(conn: _Connection, request: Request) -> Response:
    """The handler's response; a 500 naming the fault if the handler itself failed (a bug
    of ours, reported to the client rather than as an unhandled-task traceback)."""
    try:
        return await conn.handler(request)
    except (ConnectionError, asyncio.CancelledError):
        raise
    except Exception as error:  # the boundary where a fault of ours becomes a 500
        return internal_error(request, error)


async def _finish_body(request: Request) -> bool:
    """Read and drop the rest of a body that has not all arrived; False when the connection
    cannot carry another request (the client waits for a 100 Continue it will not get)."""
    if request._expects_continue:
        return False
    async for _ in request.chunks():
        pass
    return True


async def deliver(conn: _Connection, request: Request, response: Response) -> None:
    """Read the rest of the request body, then send the response; its ``on_finish`` hears
    whether it went out whole, and a streamed body that did not is closed at once."""
    sent = False
    try:
        if not request._discard_unread() and not await _finish_body(request):
            request.keep_alive = False
        sent = await _respond(conn, request, response)
    finally:
        try:
            if not sent:
                await close_iterator(response.body)
        finally:  # even if closing it was cut short (cancelled again)
            if response.on_finish is not None:
                _call_on_finish(request, response.on_finish, sent)


def respond_now(conn: _Connection, request: Request, response: Response) -> bool:
    """Send RESPONSE (a body of bytes) to REQUEST, whose body has all arrived, at once: the
    immediate handlers' ``deliver``. True when it went out as it is; its ``on_finish`` hears."""
    if response.on_finish is None:  # the common case, kept short
        if request._chunks:
            request._discard_unread()
        return not conn.lost and _write_now(conn, request, response)
    sent = False
    try:
        request._discard_unread()
        if not conn.lost:  # else nothing to write to
            sent = _write_now(conn, request, response)
    finally:
        _call_on_finish(request, response.on_finish, sent)
    return sent


def _write_now(conn: _Connection, request: Request, response: Response) -> bool:
    """Write a response whose body is bytes, head and body in one write; False when a 500 went
    instead (a header that would split the response)."""
    if request.keep_alive and request.method != "HEAD":  # the common case, kept short
        wire = response._wire
        if wire is None:
            wire = _wire_of(response)
            if wire is None:
                _write_now(conn, request, internal_error(request, _split_error(response.headers)))
                return False
            if response._shared:
                response._wire = wire
        conn.write(wire)
        return True
    body = response.body
    if not isinstance(body, bytes):
        raise TypeError("an immediate answer has a body of bytes")
    headers = response.headers
    if not request.keep_alive:
        headers = [*headers, ("Connection", "close")]
    try:
        head = _head_for(request, response.status, headers, body)
    except ValueError as error:  # a header that would split the response
        _write_now(conn, request, internal_error(request, error))
        return False
    if response.status in _NO_BODY_STATUSES or request.method == "HEAD":
        conn.write(head)
        return True
    conn.write(head + body)
    return True


def _wire_of(response: Response) -> bytes | None:
    """Head and body of a response whose body is bytes, to a keep-alive request other than
    HEAD; None if a header would split it."""
    body = response.body
    if type(body) is not bytes:
        raise TypeError("an immediate answer has a body of bytes")
    status = response.status
    if status in _NO_BODY_STATUSES:
        return _encoded_head(status, response.headers, None)
    head = _encoded_head(status, response.headers, len(body))
    return None if head is None else head + body


async def _respond(conn: _Connection, request: Request, response: Response) -> bool:
    """Send the response; False when a 500 went instead (it could not be sent as it is)."""
    if conn.lost:  # the client left while the handler worked: spare the body iterator
        raise ConnectionError("the client closed the connection")
    body = response.body
    if isinstance(body, bytes):
        sent = _write_now(conn, request, response)
        if conn._drain is not None or conn.lost:
            await conn.drain()
        return sent
    headers = response.headers
    if not request.keep_alive:
        headers = [*headers, ("Connection", "close")]
    try:
        head = _head_for(request, response.status, headers, body)
    except ValueError as error:  # a header that would split the response
        await _respond(conn, request, internal_error(request, error))
        return False
    if response.status in _NO_BODY_STATUSES or request.method == "HEAD":
        await close_iterator(body)
        conn.write(head)
        await conn.drain()
        return True
    try:
        await _respond_streamed(conn, request, response, head, body)
    except (ConnectionError, asyncio.CancelledError):
        raise
    except Exception as error:  # the stream or its trailers failed: cut the response short
        raise ConnectionError("the response broke off") from error
    return True


def _head_for(
    request: Request,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes | AsyncIterator[bytes],
) -> bytes:
    if isinstance(body, bytes):
        length = None if status in _NO_BODY_STATUSES else len(body)
        return encode_head(status, headers, length)
    if status in _NO_BODY_STATUSES or request.method == "HEAD":
        return encode_head(status, headers, None)
    if request.http_10:  # no chunked encoding in HTTP/1.0: the end of the body is the close
        if request.keep_alive:
            request.keep_alive = False
            headers = [*headers, ("Connection", "close")]
        return encode_head(status, headers, None)
    return encode_head(status, [*headers, ("Transfer-Encoding", "chunked")])


async def _respond_streamed(
    conn: _Connection, request: Request, response: Response, head: bytes, body: AsyncIterator[bytes]
) -> None:
    conn.streaming = True  # from here, the client hanging up cancels this task
    try:
        conn.write(head)
        if request.http_10:
            async for chunk in body:
                conn.write(chunk)
                await conn.drain()
            return
        async for chunk in body:
            if chunk:
                conn.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                await conn.drain()
        trailers = response.trailers() if response.trailers is not None else []
        conn.write(b"0\r\n" + header_lines(trailers) + b"\r\n")
        await conn.drain()
    finally:
        conn.streaming = False


def internal_error(request: Request, error: Exception) -> Response:
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


async def close_iterator(body: bytes | AsyncIterator[bytes]) -> None:
    aclose = getattr(body, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


def encode_head(status: int, headers: list[tuple[str, str]], length: int | None = None) -> bytes:
    """The status line and headers, and Content-Length if LENGTH is given; raises ValueError
    if a header holds a CR, LF or NUL."""
    head = _encoded_head(status, headers, length)
    if head is None:
        raise _split_error(headers)
    return head


def _encoded_head(status: int, headers: list[tuple[str, str]], length: int | None) -> bytes | None:
    """``encode_head``, with None for a header that would split the response."""
    lines = _header_lines(headers)
    if lines is None:
        return None
    if length is not None:
        lines += b"Content-Length: %d\r\n" % length
    return b"HTTP/1.1 %d %b\r\n%b\r\n" % (status, _REASONS.get(status, b""), lines)


def _header_lines(headers: list[tuple[str, str]]) -> bytes | None:
    """The header lines, each ended by CRLF; None if a header holds a CR, LF or NUL."""
    if not headers:
        return b""
    try:
        text = "\r\n".join(map(": ".join, headers))  # joined in C: no Python per header
    except TypeError:  # a value that is not a str: formatted
        text = "\r\n".join([f"{name}: {value}" for name, value in headers])
    # One CR and one LF between lines, no NUL: no header can smuggle in another (RFC 9110 §5.5).
    breaks = len(headers) - 1
    if text.count("\r") != breaks or text.count("\n") != breaks or "\0" in text:
        return None
    return text.encode("latin-1", "replace") + b"\r\n"


def _split_error(headers: list[tuple[str, str]]) -> ValueError:
    return ValueError(f"a response header contains CR, LF or NUL: {headers!r}")


def header_lines(headers: list[tuple[str, str]]) -> bytes:
    """Header lines, each ended by CRLF (a chunked body's trailers); raises ValueError if a
    header holds a CR, LF or NUL."""
    lines = _header_lines(headers)
    if lines is None:
        raise _split_error(headers)
    return lines


__all__ = [
    "LATER",
    "Handler",
    "Immediate",
    "Response",
    "call_handler",
    "close_iterator",
    "deliver",
    "encode_head",
    "header_lines",
    "internal_error",
    "json_response",
    "respond_now",
]
