"""The ASGI lifespan protocol (asgiref specs/lifespan.rst), once per execution environment.

``startup`` runs on the first invocation, on the runtime's event loop, which lives as long as
the process: the app's lifespan task stays suspended on that loop between invocations, so
connection pools opened at startup serve every invocation after it (Mangum #342). Shutdown is
sent from an ``on_shutdown`` hook when Lambda ends the environment.

That hook is registered when the handler is built (``register_hook``, called by ``web.asgi`` at
import time), not at startup: Lambda gives the runtime a Shutdown phase (SIGTERM) only when an
extension registered, and registration closes once the runtime first asks for work
(runtimes-extensions-api.html, "Shutdown phase"; ``shutdown_phase``). A hook added during the
first invocation comes too late for the runtime to register its internal extension, so on AWS
the app would never see ``lifespan.shutdown``. Whether the app supports the protocol is only
known at startup, so under ``"auto"`` an app without lifespan support still gets the (then
empty) shutdown phase: one registration during init, and the hook does nothing.

Modes, as in uvicorn and Mangum:

- ``"auto"``: an app that raises or returns before answering ``lifespan.startup`` does not
  support the protocol, and is run without it; ``lifespan.startup.failed`` is an error.
- ``"on"``: all of that is an error.
- ``"off"``: no lifespan at all.

A failed startup fails the invocation that triggered it; the next invocation tries again,
so that a dependency that was down for a moment does not poison the environment for good.
"""

from __future__ import annotations

import asyncio
import sys

from lambdakit.runtime.web import LifespanError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Literal

    from lambdakit.runtime._web_types import ASGIApp, Message, Scope

    Mode = Literal["auto", "on", "off"]

# Lambda gives all shutdown hooks together about 500 ms (2 s with extensions registered).
SHUTDOWN_TIMEOUT = 0.4


class Lifespan:
    """The lifespan of one ASGI app on one event loop."""

    def __init__(self, app: ASGIApp, mode: Mode) -> None:
        self.app = app
        self.mode = mode
        self.state: dict[str, Any] | None = None
        """The lifespan ``state`` namespace; None until startup succeeded with lifespan."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started: asyncio.Future[bool] | None = None  # True: supported, False: not
        # The shutdown's outcome: None, or what went wrong (a value, not an exception: nobody
        # may be waiting for it, and an exception nobody retrieves is logged as an error).
        self._shutdown: asyncio.Future[str | None] | None = None
        self._messages: asyncio.Queue[Message] | None = None
        self._task: asyncio.Task[None] | None = None
        self._state: dict[str, Any] = {}

    def register_hook(self) -> None:
        """Register the ``on_shutdown`` hook now, during init (see the module docstring),
        unless the lifespan is off."""
        if self.mode != "off":
            from lambdakit import _hooks

            _hooks.on_shutdown(self.on_shutdown)

    async def startup(self) -> None:
        """Start the app's lifespan unless done on this loop; concurrent callers share it."""
        if self.mode == "off":
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._started is None:
            self._begin(loop)
        assert self._started is not None
        started = self._started
        try:
            await asyncio.shield(started)  # True or False: the app runs either way
        except BaseException:
            if self._started is started and started.done():
                self._started = None  # the next invocation tries again
            raise

    def _begin(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is not None and not self._task.done() and self._loop is loop:
            self._task.cancel()  # what is left of a failed startup
        self._loop = loop
        self._started = loop.create_future()
        self._shutdown = loop.create_future()
        self._messages = asyncio.Queue()
        self._messages.put_nowait({"type": "lifespan.startup"})
        self._state = {}
        self.state = None
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = self._state
        self._task = loop.create_task(self._run(scope))

    async def _run(self, scope: Scope) -> None:
        started, shutdown = self._started, self._shutdown
        assert started is not None and shutdown is not None
        try:
            await self.app(scope, self._receive, self._send)
        except Exception as exc:
            if not started.done():
                self._unsupported(started, exc)
            elif not shutdown.done() and _succeeded(started):
                shutdown.set_result(repr(exc))
        finally:
            if not started.done():
                self._unsupported(started, None)
            if not shutdown.done():
                shutdown.set_result(None)

    def _unsupported(self, started: asyncio.Future[bool], exc: BaseException | None) -> None:
        if self.mode == "auto":
            started.set_result(False)
            return
        what = f"raised {exc!r}" if exc is not None else "returned"
        error = LifespanError(f"the ASGI app {what} before completing lifespan.startup")
        error.__cause__ = exc
        started.set_exception(error)

    async def _receive(self) -> Message:
        assert self._messages is not None
        return await self._messages.get()

    async def _send(self, message: Message) -> None:
        started, shutdown = self._started, self._shutdown
        assert started is not None and shutdown is not None
        kind = message["type"]
        if kind == "lifespan.startup.complete" and not started.done():
            self.state = self._state
            started.set_result(True)
        elif kind == "lifespan.startup.failed" and not started.done():
            started.set_exception(LifespanError(message.get("message") or "startup failed"))
        elif kind == "lifespan.shutdown.complete" and not shutdown.done():
            shutdown.set_result(None)
        elif kind == "lifespan.shutdown.failed" and not shutdown.done():
            shutdown.set_result(message.get("message") or "shutdown failed")
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} in the lifespan protocol")

    async def shutdown(self, timeout: float = SHUTDOWN_TIMEOUT) -> None:
        """Send ``lifespan.shutdown`` and wait for the answer, at most ``timeout`` seconds."""
        task, shutdown, messages = self._task, self._shutdown, self._messages
        if task is None or task.done() or shutdown is None or messages is None:
            return
        messages.put_nowait({"type": "lifespan.shutdown"})
        try:
            failure = await asyncio.wait_for(asyncio.shield(shutdown), timeout)
            if failure is not None:
                raise LifespanError(f"the ASGI app's lifespan shutdown failed: {failure}")
        except asyncio.TimeoutError:
            sys.stderr.write(f"lambdakit: ASGI lifespan shutdown took over {timeout} s\n")
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait((task,))

    def on_shutdown(self) -> None:
        """The ``on_shutdown`` hook: run the shutdown on the loop the lifespan lives on.

        SIGTERM arrives between invocations, when the loop is idle. If it comes in the middle
        of one (the loop is running), the shutdown cannot be sent, and is skipped.
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if loop.is_running():
            sys.stderr.write("lambdakit: ASGI lifespan shutdown skipped: the event loop is busy\n")
            return
        loop.run_until_complete(self.shutdown())


def _succeeded(started: asyncio.Future[bool]) -> bool:
    return not started.cancelled() and started.exception() is None and started.result()
