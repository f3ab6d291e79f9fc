"""How long a connection waits on its client: ``HttpTimeouts``, and the timer that enforces them.

``HttpTimeouts``, per server, bound the waits that are the client's doing: *idle*, for the
first byte of a request (on a new connection, between requests); *head*, for the rest of the
head, counted from its first byte, never from the end of the previous response (a runtime may
take 15 minutes before its next request); *body*, between the bytes of a request body that a
handler waits for. Handlers, and clients reading responses, are not limited. One timer per
connection enforces the three: it wakes at the current deadline or after the shortest limit,
whichever comes first, so a deadline set in between is never missed and moving from one wait
to the next costs two attribute writes, not a timer.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import TYPE_CHECKING

from lambdakit.emulator._http.request import ParseError

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

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


class Wait(enum.Enum):
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
IDLE, HEAD, BODY, HANDLER = Wait.IDLE, Wait.HEAD, Wait.BODY, Wait.HANDLER


def shortest(timeouts: HttpTimeouts) -> float | None:
    """The timer's period: the shortest of the limits on the client's waits (None: no timer)."""
    limits = [limit for limit in (timeouts.idle, timeouts.head, timeouts.body) if limit]
    return min(limits) if limits else None


class Deadlines:
    """The timer of a connection (``_Connection`` mixes it in): the connection sets ``_wait``
    and ``_since`` as its waits change, and the timer reads them when it wakes."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport | None
    lost: bool
    serving: bool
    _timeouts: HttpTimeouts
    _tick: float | None  # the timer's period (``shortest``); None: no limits, no timer
    _wait: Wait
    _since: float  # when the current wait began (loop time)
    _timer: asyncio.TimerHandle | None
    _fail: Callable[[ParseError], None]  # the connection's: answer with it, take no more

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
        if wait is IDLE:
            return timeouts.idle
        if wait is HEAD:
            return timeouts.head
        if wait is BODY:
            return timeouts.body
        return None

    def _expire(self, limit: float) -> bool:
        """The client took too long: hang up (after a 408 for a head). False when the 408 must
        wait for the answers in progress (pipelining), and the connection goes on till then."""
        if self._wait is HEAD:
            self._fail(ParseError(408, f"request head not complete within {limit:g} s"))
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


__all__ = ["DEFAULT_TIMEOUTS", "Deadlines", "HttpTimeouts", "Wait", "shortest"]
