"""The integration's call: invoke the route's function, and give up after the integration
timeout while the function runs on to its own end, as API Gateway does (its 504 / 503 does not
stop the Lambda invocation).

Why not ``asyncio.wait_for`` or ``asyncio.wait``: the first cancels what it waits for (the
invocation would be abandoned), and both wait on a task that runs ``pool.invoke``, whose end is
one turn of the event loop after the result is known, and then a second turn for the waiter's
own wake-up. In those turns the environment's post-invocation work (its report, its freeze)
runs first: about 0.1 ms a request, a third of the local API's rate against a Function URL's
(bench/api.py). So the request's waiter is woken *by the invocation's future itself*, in the
same step that resolves it, as the Function URL server's ``await pool.invoke(...)`` would be.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lambdakit.emulator.invocations import InvocationResult, PendingInvocation

if TYPE_CHECKING:
    from lambdakit.emulator.scheduler import FunctionPool

__all__ = ["invoke_within"]


class _Signalling(asyncio.Future[InvocationResult]):
    """An invocation's future that also wakes WAITER the moment it is resolved."""

    def __init__(self, waiter: asyncio.Future[None]) -> None:
        super().__init__()
        self.waiter = waiter

    def set_result(self, result: InvocationResult) -> None:
        super().set_result(result)
        _wake(self.waiter)

    def set_exception(self, exception: type | BaseException) -> None:
        super().set_exception(exception)
        _wake(self.waiter)


async def invoke_within(
    pool: FunctionPool, payload: bytes, seconds: float
) -> InvocationResult | None:
    """The function's result, or None when there is none within SECONDS (the invocation goes
    on; a streamed result that comes later is let go). Raises what ``pool.invoke`` raises
    before the function runs (``Throttled``, ``EmulatorError``)."""
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()
    future = _Signalling(waiter)
    invocation = PendingInvocation(
        payload=payload, qualifier=pool.spec.alias, future=future, kind="api"
    )
    task = loop.create_task(pool.invoke(invocation))
    task.add_done_callback(lambda _: _wake(waiter))  # failed before it was queued
    timer = loop.call_later(seconds, _wake, waiter)
    try:
        await waiter
    finally:
        timer.cancel()
    if future.done() and not future.cancelled():
        return future.result()  # or raises what the emulator set (shutting down)
    if task.done():
        return task.result()  # raises, or the result of a future resolved meanwhile
    task.add_done_callback(_abandon)
    return None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _abandon(task: asyncio.Task[InvocationResult]) -> None:
    """A result nobody waits for any more: its stream (if any) is let go."""
    if task.cancelled() or task.exception() is not None:
        return
    stream = task.result().stream
    if stream is not None:
        stream.abandon()
