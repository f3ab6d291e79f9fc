"""Busy polling: after a read, the event loop polls for more for a moment before it sleeps.

Back to back, the next request of an invocation comes a few dozen to a few hundred microseconds
after the last one was answered (the runtime's ``GET /next`` after its ``202``, the caller's
next Invoke after its answer, the runtime's response after its event). A loop that sleeps in
``epoll_wait`` for such a gap pays for going to sleep and for being woken, and on a virtual
machine whose idle CPUs halt, waking one costs tens of microseconds more: here, 70 µs from an
answer written to the client's ``recv`` returning, and the sender of every message to a
sleeping loop pays for the wake-up in its ``send``. So after each read the loop keeps polling
(``epoll_wait`` with no timeout, from a callback that re-schedules itself) for up to a window
(``DEFAULT_WINDOW``, 200 µs) before it sleeps, as Go's scheduler spins before it parks a
thread: measured on sequential invocations, about 40 % more invocations per second at the same
CPU per invocation (docs/benchmarks.md).

A poll that ends without a read wasted its window; under a load where reads are far apart (a
function that computes for milliseconds while the CPUs are busy), that CPU would be taken from
the functions. So each loop keeps a moving rate of the polls that ended with a read: below one
in two it polls only after every ``PROBE``-th read, until polling pays again. At a developer's
pace a read costs at most one window of polling: nothing an idle machine notices.

``LAMBDAKIT_BUSY_POLL_US`` sets the window in microseconds (``0`` turns polling off);
``configure`` applies it, and says what was wrong with a value it cannot use.
"""

from __future__ import annotations

import asyncio
import time
import weakref

__all__ = ["DEFAULT_WINDOW", "MAX_WINDOW_US", "VARIABLE", "Spinner", "configure", "spinner_for"]

VARIABLE = "LAMBDAKIT_BUSY_POLL_US"
DEFAULT_WINDOW = 200e-6  # seconds: longer than the gaps of a warm invocation's requests
MAX_WINDOW_US = 10_000
PROBE = 16  # when polling does not pay, still poll after every PROBE-th read
_WEIGHT = 1 / 8  # of the latest poll in the moving rate of polls that ended with a read

_window = DEFAULT_WINDOW
_spinners: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Spinner] = (
    weakref.WeakKeyDictionary()
)


def configure(value: str | None) -> str | None:
    """Set the window from VALUE (``LAMBDAKIT_BUSY_POLL_US``: microseconds; None or empty:
    the default). Returns what was wrong with a value that cannot be used (the default then
    stays), else None. Loops made before keep the window they had."""
    global _window
    text = (value or "").strip()
    if not text:
        _window = DEFAULT_WINDOW
        return None
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_WINDOW_US:  # not "²"
        _window = DEFAULT_WINDOW
        return (
            f"{VARIABLE}={text!r} is not a whole number of microseconds from 0 to "
            f"{MAX_WINDOW_US}: busy polling stays at {DEFAULT_WINDOW * 1e6:.0f} µs"
        )
    _window = int(text) / 1e6
    return None


def spinner_for(loop: asyncio.AbstractEventLoop) -> Spinner | None:
    """LOOP's spinner, made at its first connection; None when busy polling is off."""
    spinner = _spinners.get(loop)
    if spinner is None:
        if _window <= 0:
            return None
        spinner = _spinners[loop] = Spinner(loop, _window)
    return spinner


class Spinner:
    """The busy polling of one event loop (module docstring)."""

    __slots__ = ("_loop", "_polling", "_reads", "_until", "hits", "misses", "rate", "window")

    def __init__(self, loop: asyncio.AbstractEventLoop, window: float) -> None:
        # Weakly: the registry's value must not keep its key, the loop, alive.
        self._loop = weakref.ref(loop)
        self.window = window
        self._until = 0.0  # perf_counter time at which the current poll ends
        self._polling = False
        self._reads = 0  # reads while polling did not pay, for the probes
        self.rate = 1.0  # moving rate of the polls that ended with a read
        self.hits = 0
        self.misses = 0

    def read(self) -> None:
        """A connection of the loop has handled a read: poll for the next one."""
        if self._polling:  # it came while polling: a wake-up saved
            self.hits += 1
            self.rate += (1.0 - self.rate) * _WEIGHT
            self._until = time.perf_counter() + self.window
            return
        if self.rate < 0.5:
            self._reads += 1
            if self._reads % PROBE:
                return
        loop = self._loop()
        if loop is None:
            return
        self._polling = True
        self._until = time.perf_counter() + self.window
        loop.call_soon(self._poll)

    def _poll(self) -> None:
        # A callback that is due keeps the loop's next epoll_wait from sleeping.
        if time.perf_counter() < self._until:
            loop = self._loop()
            if loop is not None:
                loop.call_soon(self._poll)
                return
        self._polling = False
        self.misses += 1
        self.rate -= self.rate * _WEIGHT
