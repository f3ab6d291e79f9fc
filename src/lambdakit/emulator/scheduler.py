"""Per-function pools of execution environments: dispatch, concurrency, throttling, reaping.

An invocation goes to an idle environment if there is one; otherwise it waits in the pool's
queue and a new environment is started, up to the function's concurrency. Environments idle
for longer than ``idle_timeout`` are shut down, as Lambda reclaims unused ones.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import TYPE_CHECKING

from lambdakit.emulator.environments import EnvState, Events, ExecutionEnvironment, Settings
from lambdakit.emulator.errors import EmulatorError

if TYPE_CHECKING:
    from lambdakit.emulator import reports
    from lambdakit.emulator.functions import FunctionSpec
    from lambdakit.emulator.invocations import InvocationResult, PendingInvocation
    from lambdakit.emulator.limits import MemoryLimiter

DEFAULT_CONCURRENCY = 4  # environments per function; a laptop has a few cores, not Lambda's fleet


class Throttled(EmulatorError):
    """The function's reserved concurrency is used up (429 TooManyRequestsException)."""

    reason = "ReservedFunctionConcurrentInvocationLimitExceeded"


class FunctionPool:
    """The execution environments of one function and the invocations waiting for them."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        settings: Settings,
        limiter: MemoryLimiter,
        printer: reports.LogPrinter,
        concurrency: int = DEFAULT_CONCURRENCY,
        idle_timeout: float = 300.0,
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.limiter = limiter
        self.printer = printer
        self.reserved = spec.reserved_concurrency
        self.concurrency = min(concurrency, self.reserved) if self.reserved else concurrency
        self.idle_timeout = idle_timeout
        self.environments: set[ExecutionEnvironment] = set()
        self.idle: collections.deque[ExecutionEnvironment] = collections.deque()
        self.queue: collections.deque[PendingInvocation] = collections.deque()
        self._idle_since: dict[ExecutionEnvironment, float] = {}
        self._in_flight = 0
        self._closed = False
        self._reaper: asyncio.Task[None] | None = None

    async def invoke(self, invocation: PendingInvocation) -> InvocationResult:
        """Run one invocation to its end and return its result."""
        if self._closed:
            raise EmulatorError(f"function {self.spec.name} is shutting down")
        if self.reserved is not None and self._in_flight >= self.reserved:
            raise Throttled(
                f"Rate Exceeded. Reserved concurrency of {self.spec.name} is {self.reserved}"
            )
        self._in_flight += 1
        try:
            self.queue.append(invocation)
            await self._dispatch()
            # Not shielded: a caller that is cancelled (the server closing) abandons the
            # result, and a late answer is then ignored by ``resolve``.
            return await invocation.future
        finally:
            self._in_flight -= 1

    async def _dispatch(
        self, *, first: PendingInvocation | None = None, init_limit: float | None = None
    ) -> None:
        while self.queue and self.idle:
            environment = self.idle.pop()  # the most recently used: its caches are warm
            self._idle_since.pop(environment, None)
            environment.deliver(self.queue.popleft())
        if not self.queue:
            return
        # Environments still starting, and busy ones that have answered and will ask for work
        # again in a moment, take queued invocations before a new one could be started.
        starting = sum(
            e.state is EnvState.STARTING or (e.state is EnvState.BUSY and e.current() is None)
            for e in self.environments
        )
        while (
            len(self.queue) > starting
            and len(self.environments) < self.concurrency
            and not self._closed
        ):
            await self._spawn(first=first, init_limit=init_limit)
            starting += 1

    async def _spawn(self, *, first: PendingInvocation | None, init_limit: float | None) -> None:
        environment = ExecutionEnvironment(
            self.spec, settings=self.settings, limiter=self.limiter, printer=self.printer,
            events=Events(self._ready, self._dead), init_limit=init_limit, first=first,
        )  # fmt: skip
        self.environments.add(environment)
        try:
            await environment.start()
        except Exception:
            self.environments.discard(environment)
            await environment.kill("spawn failed")
            raise
        self._ensure_reaper()

    def _ready(self, environment: ExecutionEnvironment) -> None:
        if self.queue:
            environment.deliver(self.queue.popleft())
            return
        self.idle.append(environment)
        self._idle_since[environment] = time.monotonic()

    def _dead(
        self, environment: ExecutionEnvironment, invocation: PendingInvocation | None
    ) -> None:
        self.environments.discard(environment)
        self._idle_since.pop(environment, None)
        if environment in self.idle:
            self.idle.remove(environment)
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
