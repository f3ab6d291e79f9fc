"""The listening side: a server of ``_Connection`` protocols, one per accepted connection."""

from __future__ import annotations

import asyncio

from lambdakit.emulator._http.connection import _CasedConnection, _Connection
from lambdakit.emulator._http.response import Handler, Immediate
from lambdakit.emulator._http.timeouts import DEFAULT_TIMEOUTS, HttpTimeouts


async def start_server(
    handler: Handler,
    host: str,
    port: int,
    *,
    timeouts: HttpTimeouts = DEFAULT_TIMEOUTS,
    keep_header_case: bool = False,
    immediate: Immediate | None = None,
) -> asyncio.Server:
    """Listen on ``host:port`` (0: any free port) and serve ``handler``, waiting on clients no
    longer than ``timeouts`` allow. ``keep_header_case``: requests also carry ``raw_headers``,
    the names as the client spelt them. ``immediate``: the handler of the hot path, called
    without a task (connection.py)."""
    loop = asyncio.get_running_loop()
    kind = _CasedConnection if keep_header_case else _Connection
    return await loop.create_server(lambda: kind(handler, timeouts, immediate), host, port)


def bound_port(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


__all__ = ["bound_port", "start_server"]
