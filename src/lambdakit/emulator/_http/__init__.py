"""A small asyncio HTTP/1.1 server, shared by the Runtime API, the Invoke API and Function URLs.

httptools (llhttp, C) parses; this package is the I/O around it: an ``asyncio.Protocol`` per
connection that feeds the parser, and one task per connection (started by its first request)
that calls the handler, serving one request at a time, in order, with keep-alive. A handler
receives a ``Request`` whose body it may read whole or as it arrives, and returns a
``Response`` whose body is bytes (sent with its head in one write) or an async iterator of
bytes (sent chunked, as it is produced, with flow control both ways).

Why not asyncio streams and h11, as before: an invocation crosses three HTTP exchanges in the
emulator (the client's request, the runtime's ``GET /next`` and its ``POST .../response``), and
with streams and a pure-Python parser those cost the emulator four times the CPU that the
runtime itself spends on an invocation (docs/benchmarks.md).

The parts, each with the why of its own in its docstring:

- ``request``: ``Request`` and its body as it arrives; ``BodyTooLarge``;
- ``response``: ``Response``, ``json_response``, and the writer that sends a response;
- ``timeouts``: ``HttpTimeouts`` and the one timer per connection that enforces them;
- ``connection``: the protocol (httptools callbacks, flow control, EOF, errors), the task
  that serves a connection's requests in order, and the immediate handler's way without one;
- ``server``: ``start_server`` and ``bound_port``.

Private to the emulator (the layering test keeps it so); the rest of the emulator imports the
names below from this package, not from its modules.
"""

from __future__ import annotations

from lambdakit.emulator._http.connection import open_connections
from lambdakit.emulator._http.request import BodyTooLarge, Request
from lambdakit.emulator._http.response import (
    LATER,
    Handler,
    Immediate,
    Response,
    internal_error,
    json_response,
)
from lambdakit.emulator._http.server import bound_port, start_server
from lambdakit.emulator._http.timeouts import DEFAULT_TIMEOUTS, HttpTimeouts

__all__ = [
    "DEFAULT_TIMEOUTS",
    "LATER",
    "BodyTooLarge",
    "Handler",
    "HttpTimeouts",
    "Immediate",
    "Request",
    "Response",
    "bound_port",
    "internal_error",
    "json_response",
    "open_connections",
    "start_server",
]
