"""Per-function pools of execution environments: dispatch, concurrency, throttling, reaping.

An invocation goes to an idle environment if there is one; otherwise a new environment is
started for it, as Lambda scales: no invocation waits for another to finish. What bounds this
is concurrency (``concurrency.Account``): the account's limit, shared by the functions without
reserved concurrency, or a function's reservation; an invocation beyond it is throttled. It is
held from the invocation's admission until it has ended in its environment (a streamed one when
its stream ends). Environments idle for longer than ``idle_timeout`` are shut down, as Lambda
reclaims unused ones.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import TYPE_CHECKING

from lambdakit.emulator.concurrency import Account, Throttled
from lambdakit.emulator.environments import EnvState, Events, ExecutionEnvironment, Settings
from lambdakit.emulator.errors import EmulatorError

if TYPE_CHECKING:
    from lambdakit.emulator import reports
    from lambdakit.emulator.invocations import InvocationResult, PendingInvocation
    from lambdakit.emulator.limits import MemoryLimiter
    from lambdakit.template import FunctionSpec

__all__ = ["FunctionPool", "Throttled"]


class FunctionPool:
    """The execution environments of one function and the invocations waiting for them."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        settings: Settings,
        limiter: MemoryLimiter,
        printer: reports.LogPrinter,
        account: Account | None = None,
        idle_timeout: float = 300.0,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.limiter = limiter
        self.printer = printer
        self.account = account or Account()
        self.reserved = spec.reserved_concurrency
        self.idle_timeout = idle_timeout
        self.environments: set[ExecutionEnvironment] = set()
        self.idle: collections.deque[ExecutionEnvironment] = collections.deque()
        self.queue: collections.deque[PendingInvocation] = collections.deque()
        self._idle_since: dict[ExecutionEnvironment, float] = {}
        self._starting: set[ExecutionEnvironment] = set()  # those holding a start slot
        self._in_flight = 0
        self._closed = False
        self._reaper: asyncio.Task[None] | None = None

    async def invoke(self, invocation: PendingInvocation) -> InvocationResult:
        """Run one invocation until its result is known; raises ``Throttled`` when there is no
        concurrency for it."""
        if self._closed:
            raise EmulatorError(f"function {self.spec.name} is shutting down")
        self._take_concurrency()
        try:
            self.queue.append(invocation)
            await self._dispatch()
            # Not shielded: a caller that is cancelled (the server closing) abandons the
            # result, and a late answer is then ignored by ``resolve``.
            result = await invocation.future
        except BaseException:
            self._give_back_concurrency()
            raise
        if result.stream is None:
            self._give_back_concurrency()
        else:  # the function is still running: its concurrency is in use until the stream ends
            asyncio.get_running_loop().create_task(self._give_back_when_ended(invocation))
        return result

    def _take_concurrency(self) -> None:
        if self.reserved is None:
            self.account.admit()
        elif self._in_flight >= self.reserved:
            raise Throttled(
                f"Rate Exceeded. Reserved concurrency of {self.spec.name} is {self.reserved}",
                "ReservedFunctionConcurrentInvocationLimitExceeded",
            )
        self._in_flight += 1

    def _give_back_concurrency(self) -> None:
        self._in_flight -= 1
        if self.reserved is None:
            self.account.release()

    async def _give_back_when_ended(self, invocation: PendingInvocation) -> None:
        try:
            await invocation.reported.wait()  # END and REPORT are written when it ends
        finally:
            self._give_back_concurrency()

    async def _dispatch(
        self, *, first: PendingInvocation | None = None, init_limit: float | None = None
    ) -> None:
        while self.queue and self.idle:
            environment = self.idle.pop()  # the most recently used: its caches are warm
            self._idle_since.pop(environment, None)
            environment.deliver(self.queue.popleft())
        while self._short_of_environments():
            await self.account.start_slot()
            if not self._short_of_environments():  # others became free while it waited
                self.account.started()
                return
            await self._spawn(first=first, init_limit=init_limit)

    def _short_of_environments(self) -> bool:
        """Whether queued invocations outnumber the environments that will take them: those
        starting, and busy ones that have answered and will ask for work again in a moment."""
        if not self.queue or self._closed:
            return False
        if self.reserved is not None and len(self.environments) >= self.reserved:
            return False
        coming = sum(
            e.state is EnvState.STARTING or (e.state is EnvState.BUSY and e.current() is None)
            for e in self.environments
        )
        return len(self.queue) > coming

    async def _spawn(self, *, first: PendingInvocation | None, init_limit: float | None) -> None:
        environment = ExecutionEnvironment(
            self.spec, settings=self.settings, limiter=self.limiter, printer=self.printer,
            events=Events(self._ready, self._dead), init_limit=init_limit, first=first,
        )  # fmt: skip
        self.environments.add(environment)
        self._starting.add(environment)
        self.account.born()
        try:
            await environment.start()
        except Exception:
            self._forget(environment)
            await environment.kill("spawn failed")
            raise
        self._ensure_reaper()

    def _forget(self, environment: ExecutionEnvironment) -> None:
        """The environment is gone (or never came): its place and its start slot are free."""
        if environment in self.environments:
            self.environments.discard(environment)
            self.account.died()
        self._init_over(environment)
        self._idle_since.pop(environment, None)
        if environment in self.idle:
            self.idle.remove(environment)

    def _init_over(self, environment: ExecutionEnvironment) -> None:
        if environment in self._starting:
            self._starting.discard(environment)
            self.account.started()

    def _ready(self, environment: ExecutionEnvironment) -> None:
        self._init_over(environment)
        if self.queue:
            environment.deliver(self.queue.popleft())
            return
        self.idle.append(environment)
        self._idle_since[environment] = time.monotonic()

    def _dead(
        self, environment: ExecutionEnvironment, invocation: PendingInvocation | None
    ) -> None:
        self._forget(environment)
        if self._closed:
            return
        if environment.died_in_init() and self.queue:
            self._init_failed(environment)
        elif self.queue:
            asyncio.get_running_loop().create_task(self._dispatch())

    def _init_failed(self, environment: ExecutionEnvironment) -> None:
        head = self.queue[0]
        if environment.init_timed_out():
            if environment.suppressed_for is head:  # the retry ran out of the invocation's time
                self.queue.popleft()
                from lambdakit.emulator.invocations import timeout_result

                environment.fail_init(head, timeout_result(head.request_id, self.spec.timeout))
            else:  # Lambda retries init inside the first invocation, under its timeout
                task = self._dispatch(first=head, init_limit=self.spec.timeout)
                asyncio.get_running_loop().create_task(task)
                return
        else:
            self.queue.popleft()
            environment.fail_init(head)
        if self.queue:
            asyncio.get_running_loop().create_task(self._dispatch())

    # --- reaping and shutdown ----------------------------------------------------------------

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        while self.environments and not self._closed:
            await asyncio.sleep(min(self.idle_timeout, 30.0))
            now = time.monotonic()
            for environment, since in list(self._idle_since.items()):
                if now - since >= self.idle_timeout and environment in self.idle:
                    self.idle.remove(environment)
                    del self._idle_since[environment]
                    await environment.shutdown()

    async def close(self) -> list[PendingInvocation]:
        """Shut every environment down; return the invocations that never started."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
        waiting = list(self.queue)
        self.queue.clear()
        for invocation in waiting:
            if not invocation.future.done():
                invocation.future.set_exception(EmulatorError("the emulator is shutting down"))
                invocation.future.exception()  # retrieved here: its caller may be gone
        await asyncio.gather(*(e.shutdown() for e in list(self.environments)))
        return waiting

    async def restart(self) -> None:
        """Replace the environments (code changed): idle ones now, busy ones when they finish."""
        for environment in list(self.idle):
            self.idle.remove(environment)
            self._idle_since.pop(environment, None)
            await environment.shutdown()
        for environment in list(self.environments):
            environment.retire = True
