"""ASGI and WSGI apps behind API Gateway (REST and HTTP APIs), Function URLs and ALBs.

::

    from lambdakit.runtime.web import asgi, wsgi

    handler = asgi(fastapi_app)                  # async def handler(event, context)
    handler = asgi(fastapi_app, streaming=True)  # Function URL with InvokeMode RESPONSE_STREAM
    handler = wsgi(flask_app)                    # def handler(event, context)

The handler reads the event (``_web_events``: which source, which path, stage and base path),
calls the app, and answers in the shape the source expects (``_web_responses``). Any other
event is a ``ValueError`` that names the keys the event has: the runtime reports it as the
invocation's error.

ASGI apps run on the runtime's event loop, the one loop the process keeps for all async
handlers, so what the app keeps between requests (pools, clients, the lifespan) keeps working.
The scope has ``aws.event`` and ``aws.context``, as with Mangum; the WSGI environ has
``lambda.event`` and ``lambda.context``.

With ``streaming=True`` a Function URL request is answered with a ``StreamingResponse``: the
status and headers as soon as the app sends them, then each body chunk as the app produces it
(server-sent events work). Other sources cannot stream (HTTP APIs and ALBs buffer; REST API
streaming is not supported here), so their answers stay buffered.

Errors, as the handler raises them (the runtime reports each as the invocation's error)::

    ValueError        the event is not an HTTP event; raised before the app is called
    LifespanError     (a RuntimeError) the app's lifespan startup failed, or, with
                      lifespan="on", the app does not support the lifespan protocol
    RuntimeError      the app broke the ASGI or WSGI protocol (no response start, a body
                      before the start, an unfinished body, start_response called twice)
    anything else     the app's own exception, as it raised it

This module and its ``_web_*`` helpers use the standard library only, and only function code
that uses them imports them; ``wsgi`` does not import ``asyncio``.
"""

from __future__ import annotations

import sys

from lambdakit.runtime._web_events import Request, Source, normalize_base_path, parse_event
from lambdakit.runtime._web_responses import (
    DEFAULT_BINARY_TYPES,
    Response,
    render,
    split_cookies,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from types import TracebackType
    from typing import Any, Literal

    from lambdakit.runtime._web_types import ASGIApp, Scope
    from lambdakit.runtime.streaming import StreamingResponse

    Handler = Callable[[Any, Any], Any]
    AsyncHandler = Callable[[Any, Any], Awaitable[Any]]
    ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]
    StartResponse = Callable[..., Callable[[bytes], object]]
    WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

__all__ = ["DEFAULT_BINARY_TYPES", "LifespanError", "asgi", "wsgi"]


class LifespanError(RuntimeError):
    """The app's lifespan startup failed (``lifespan.startup.failed``, or, with
    ``lifespan="on"``, no lifespan support), or its shutdown did."""


def asgi(
    app: ASGIApp,
    *,
    lifespan: Literal["auto", "on", "off"] = "auto",
    streaming: bool = False,
    base_path: str | None = None,
    binary_types: Sequence[str] = DEFAULT_BINARY_TYPES,
) -> AsyncHandler:
    """A Lambda handler (``async def handler(event, context)``) that serves an ASGI app.

    ``lifespan``: run the app's lifespan startup once per process, on the first invocation,
    and its shutdown when Lambda shuts the environment down (``"auto"``: if the app supports
    it; ``"on"``: it must; ``"off"``: never). Unless ``"off"``, this registers an
    ``on_shutdown`` hook, so call it at import time, during init: that is what gives the
    environment its shutdown phase on Lambda. ``streaming``: answer Function URL requests with
    a streamed response. ``base_path``: the base path of a custom domain mapping, which is in
    the event's path but not in the app's routes. ``binary_types``: media types whose bodies
    are sent base64-encoded (``"image/*"`` patterns allowed).
    """
    if lifespan not in ("auto", "on", "off"):
        raise ValueError(f"lifespan must be 'auto', 'on' or 'off', not {lifespan!r}")
    from lambdakit.runtime import _web_asgi
    from lambdakit.runtime._web_lifespan import Lifespan

    manager = Lifespan(app, lifespan)
    manager.register_hook()  # now, during init: see _web_lifespan
    types = tuple(binary_types)
    base = normalize_base_path(base_path)

    async def handler(event: Any, context: Any) -> dict[str, object] | StreamingResponse:
        request = parse_event(event, base)
        await manager.startup()
        scope = build_scope(request, event, context, manager.state)
        if streaming and request.source is Source.FUNCTION_URL:
            return await _stream(app, scope, request.body)
        response = await _web_asgi.run_buffered(app, scope, request.body)
        return render(request, response, types)

    handler.__qualname__ = handler.__name__ = f"asgi({_name(app)})"
    return handler


async def _stream(app: ASGIApp, scope: Scope, body: bytes) -> StreamingResponse:
    from lambdakit.runtime._web_asgi import run_streaming
    from lambdakit.runtime.streaming import StreamingResponse

    status, header_list, chunks = await run_streaming(app, scope, body)
    headers, cookies = split_cookies(header_list)
    return StreamingResponse(chunks, status_code=status, headers=headers, cookies=cookies)


def build_scope(
    request: Request, event: object, context: object, state: dict[str, Any] | None = None
) -> Scope:
    """The ASGI HTTP connection scope (spec 2.3) for a request."""
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": request.scheme,
        "path": request.path,
        "raw_path": request.raw_path,
        "query_string": request.query_string,
        "root_path": request.root_path,
        "headers": [(_wire(name), _wire(value)) for name, value in request.headers],
        "client": request.client,
        "server": request.server,
        "aws.event": event,
        "aws.context": context,
    }
    if state is not None:
        scope["state"] = dict(state)  # a shallow copy per request, as the lifespan spec says
    return scope


def wsgi(
    app: WSGIApp,
    *,
    base_path: str | None = None,
    binary_types: Sequence[str] = DEFAULT_BINARY_TYPES,
) -> Handler:
    """A Lambda handler (``def handler(event, context)``) that serves a WSGI app (PEP 3333).

    ``base_path`` and ``binary_types`` are those of ``asgi``. The response is buffered.
    """
    types = tuple(binary_types)
    base = normalize_base_path(base_path)

    def handler(event: Any, context: Any) -> dict[str, object]:
        request = parse_event(event, base)
        response = call_wsgi(app, build_environ(request, event, context))
        return render(request, response, types)

    handler.__qualname__ = handler.__name__ = f"wsgi({_name(app)})"
    return handler


def build_environ(request: Request, event: object, context: object) -> dict[str, Any]:
    """The WSGI environ for a request: strings are bytes decoded as latin-1 (PEP 3333)."""
    import io

    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": _latin1(request.root_path),
        "PATH_INFO": _latin1(request.path[len(request.root_path) :]),
        "QUERY_STRING": request.query_string.decode("latin-1"),
        "CONTENT_LENGTH": str(len(request.body)),
        "SERVER_NAME": request.server[0],
        "SERVER_PORT": str(request.server[1]),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": request.client[0] if request.client else "",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": request.scheme,
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "lambda.event": event,
        "lambda.context": context,
    }
    for name, value in request.headers:
        if name == "content-length":
            continue  # the decoded body's length is the one that counts
        key = "CONTENT_TYPE" if name == "content-type" else "HTTP_" + name.upper().replace("-", "_")
        value = _wire(value).decode("latin-1")
        if key in environ:  # one line per header in CGI: join repeats (RFC 9110 §5.3)
            value = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}"
        environ[key] = value
    return environ


class _StartResponse:
    """PEP 3333 ``start_response`` for a buffered response: headers are "sent" with the first
    body bytes, which is when an ``exc_info`` can no longer replace them."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []

    def __call__(
        self, status: str, headers: list[tuple[str, str]], exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], object]:
        if exc_info is not None:
            if self.chunks:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise RuntimeError("start_response called a second time without exc_info")
        self.status, self.headers = status, list(headers)
        return self.write

    def write(self, chunk: bytes) -> None:
        if self.status is None:
            raise RuntimeError("write() called before start_response")
        if not isinstance(chunk, bytes):
            raise TypeError(f"WSGI body chunks must be bytes, not {type(chunk).__name__}")
        if chunk:
            self.chunks.append(chunk)


def call_wsgi(app: WSGIApp, environ: dict[str, Any]) -> Response:
    """Call the app and collect its response; the iterable is closed whatever happens."""
    start = _StartResponse()
    result = app(environ, start)
    try:
        for chunk in result:
            start.write(chunk)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if start.status is None:
        raise RuntimeError("the WSGI app returned without calling start_response")
    return Response(int(start.status.split(None, 1)[0]), start.headers, b"".join(start.chunks))


def _wire(text: str) -> bytes:
    """A header as bytes: latin-1, or UTF-8 for characters latin-1 lacks."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _latin1(text: str) -> str:
    """A decoded path as WSGI wants it: its UTF-8 bytes, one character per byte."""
    return text.encode("utf-8", "surrogateescape").decode("latin-1")


def _name(app: object) -> str:
    return getattr(app, "__name__", None) or type(app).__name__
