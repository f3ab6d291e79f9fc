"""Per-function pools of execution environments: dispatch, concurrency, throttling, reaping.

An invocation goes to an idle environment if there is one; otherwise a new environment is
started for it, as Lambda scales: no invocation waits for another to finish. What bounds this
is concurrency (``concurrency.Account``): the account's limit, shared by the functions without
reserved concurrency, or a function's reservation; an invocation beyond it is throttled. It is
held from the invocation's admission until it has ended in its environment (a streamed one when
its stream ends). Environments idle for longer than ``idle_timeout`` are shut down, as Lambda
reclaims unused ones.

An environment serves one ``Lane`` all its life: one version of the function (``$LATEST`` or
the published ``1``; lambda/latest/dg/configuration-versions.html) and, for a function with
tenant isolation, one tenant, whose environments are never shared (tenant-isolation.html).
Provisioned environments (``provision``) are started before any invocation, serve their
version's invocations first, are never reclaimed for idleness and are replaced when they end.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from lambdakit.emulator.concurrency import Account, Throttled
from lambdakit.emulator.environments import EnvState, Events, ExecutionEnvironment
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.settings import Settings
from lambdakit.template.versions import LATEST, PUBLISHED, executed_version

if TYPE_CHECKING:
    from lambdakit.emulator import reports
    from lambdakit.emulator.invocations import InvocationResult, PendingInvocation
    from lambdakit.emulator.limits import MemoryLimiter
    from lambdakit.emulator.webconsole import Observer
    from lambdakit.template import FunctionSpec

__all__ = ["FunctionPool", "Lane", "Throttled"]

Lane = tuple[str, str | None]
"""(version, tenant id): the environments that may serve an invocation."""


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
        observer: Observer | None = None,
    ) -> None:
        self.spec = spec
        self.observer = observer  # the browser console's hub (webconsole/hub.py), if any
        self.settings = settings
        self.limiter = limiter
        self.printer = printer
        self.account = account or Account()
        self.reserved = spec.reserved_concurrency
        self.idle_timeout = idle_timeout
        self.environments: set[ExecutionEnvironment] = set()
        self._lanes: dict[ExecutionEnvironment, Lane] = {}
        self._idle: dict[Lane, collections.deque[ExecutionEnvironment]] = {}
        self._queues: dict[Lane, collections.deque[PendingInvocation]] = {}
        self._idle_since: dict[ExecutionEnvironment, float] = {}
        self._starting: set[ExecutionEnvironment] = set()  # those holding a start slot
        self._provisioning: set[ExecutionEnvironment] = set()  # provisioned, in their init
        self._provisioned_ready = asyncio.Event()
        self._in_flight = 0
        self._closed = False
        self._reaper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # held, so that none is collected early

    def lane(self, invocation: PendingInvocation) -> Lane:
        """The lane of INVOCATION; raises ``EmulatorError`` if it names no version of the
        function, or no tenant of a function with tenant isolation (the Invoke API checks both
        first; this keeps other callers from sharing a tenant's environments)."""
        version = executed_version(self.spec, invocation.qualifier)
        if version is None:
            raise EmulatorError(
                f"function {self.spec.name} has no version or alias {invocation.qualifier}"
            )
        if not self.spec.per_tenant:
            return version, None
        if invocation.tenant_id is None:
            raise EmulatorError(
                f"function {self.spec.name} has tenant isolation: an invocation needs a tenant id"
            )
        return version, invocation.tenant_id

    async def invoke(self, invocation: PendingInvocation) -> InvocationResult:
        """Run one invocation until its result is known; raises ``Throttled`` when there is no
        concurrency for it."""
        if self.observer is not None:
            self.observer.invocation_started(self.spec.name, self.spec.memory_size, invocation)
        try:
            if self._closed:
                raise EmulatorError(f"function {self.spec.name} is shutting down")
            lane = self.lane(invocation)
            self._take_concurrency()
        except EmulatorError as error:  # the console shows it ended as the Invoke API says
            if self.observer is not None:
                self.observer.invocation_refused(invocation, error)
            raise
        try:
            queue = self._queues.get(lane)
            if queue is None:
                queue = self._queues[lane] = collections.deque()
            queue.append(invocation)
            await self._dispatch(lane)
            # Not shielded: a caller that is cancelled (the server closing) abandons the
            # result, and a late answer is then ignored by ``resolve``.
            result = await invocation.future
        except BaseException as error:
            self._give_back_concurrency()
            if isinstance(error, Exception) and self.observer is not None:
                self.observer.invocation_refused(invocation, error)  # it never ran
            raise
        self._release(invocation, result)
        return result

    def invoke_now(self, invocation: PendingInvocation) -> asyncio.Future[InvocationResult] | None:
        """``invoke`` without a task (the Invoke API's immediate way), where no environment
        needs starting: an idle one takes the invocation at once, or it waits in the queue for
        a busy one that has answered and asks for work in a moment. Returns the invocation's
        future, whose end gives its concurrency back; None, with nothing done, when it would
        need a new environment or be refused (``invoke`` then does either)."""
        if self._closed:
            return None
        try:
            lane = self.lane(invocation)
        except EmulatorError:
            return None
        idle = self._idle.get(lane)
        if not self._takes_now(lane, invocation, bool(idle)):
            return None
        try:
            self._take_concurrency()
        except Throttled:
            return None
        if self.observer is not None:
            self.observer.invocation_started(self.spec.name, self.spec.memory_size, invocation)
        if idle:
            self._take_idle(lane).deliver(invocation)
        else:
            self._queues[lane].append(invocation)
        invocation.future.add_done_callback(functools.partial(self._ended_now, invocation))
        return invocation.future

    def _takes_now(self, lane: Lane, invocation: PendingInvocation, idle: bool) -> bool:
        """Whether an environment of LANE takes INVOCATION without one being started: an idle
        one with nothing queued before it, or a busy one that has answered."""
        queue = self._queues.get(lane)
        if idle:
            return not queue
        if self.reserved is not None:
            return False  # room may have to be made for it (_make_room): ``invoke`` does that
        if queue is None:
            queue = self._queues[lane] = collections.deque()
        queue.append(invocation)  # tentatively: is an environment coming for it?
        short = self._short_of_environments(lane)
        queue.pop()
        if short and not queue:
            del self._queues[lane]
        return not short

    def _ended_now(
        self, invocation: PendingInvocation, future: asyncio.Future[InvocationResult]
    ) -> None:
        error = None if future.cancelled() else future.exception()
        if isinstance(error, Exception) and self.observer is not None:
            self.observer.invocation_refused(invocation, error)  # as ``invoke`` says it
        ended = future.cancelled() or error is not None
        self._release(invocation, None if ended else future.result())

    def _release(self, invocation: PendingInvocation, result: InvocationResult | None) -> None:
        """Give the invocation's concurrency back: now, or once the stream of RESULT ends (the
        function is still running until then). None: it never got a result."""
        if result is None or result.stream is None:
            self._give_back_concurrency()
        else:
            self._background(self._give_back_when_ended(invocation))

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

    # --- provisioned concurrency ---------------------------------------------------------------

    async def provision(self) -> int:
        """Start the function's provisioned environments (``ProvisionedConcurrencyConfig``) and
        wait until each has run its init; returns how many are ready."""
        count = self.spec.provisioned_concurrency or 0
        for _ in range(count):
            await self.account.start_slot()
            await self._spawn((PUBLISHED, None), provisioned=True)
        if self._provisioning:
            await self._provisioned_ready.wait()
        return sum(e.provisioned for e in self.environments if e.state is not EnvState.DEAD)

    # --- dispatch ------------------------------------------------------------------------------

    async def _dispatch(
        self,
        lane: Lane,
        *,
        first: PendingInvocation | None = None,
        init_limit: float | None = None,
    ) -> None:
        while self._queues.get(lane) and self._idle.get(lane):
            self._take_idle(lane).deliver(self._pop(lane))
        while self._short_of_environments(lane):
            await self.account.start_slot()
            if not self._short_of_environments(lane):  # others became free while it waited
                self.account.started()
                return
            await self._spawn(lane, first=first, init_limit=init_limit)

    def _take_idle(self, lane: Lane) -> ExecutionEnvironment:
        """A provisioned environment first (that is what they are for), else the most recently
        used one: its caches are warm."""
        idle = self._idle[lane]
        chosen = next((e for e in reversed(idle) if e.provisioned), None) or idle[-1]
        self._not_idle(chosen)
        return chosen

    def _not_idle(self, environment: ExecutionEnvironment) -> None:
        if self._idle_since.pop(environment, None) is None:
            return
        lane = self._lanes[environment]
        idle = self._idle[lane]
        idle.remove(environment)
        if not idle:
            del self._idle[lane]  # tenants come and go: keep no empty deque per tenant

    def _short_of_environments(self, lane: Lane) -> bool:
        """Whether queued invocations outnumber the environments that will take them: those
        starting, and busy ones that have answered and will ask for work again in a moment.
        At the function's reserved concurrency an idle environment of another lane makes
        room."""
        queue = self._queues.get(lane)
        if not queue or self._closed:
            return False
        coming = sum(
            e.state is EnvState.STARTING or (e.state is EnvState.BUSY and e.current() is None)
            for e in self.environments
            if self._lanes.get(e) == lane
        )
        if len(queue) <= coming:
            return False
        if self.reserved is not None and len(self.environments) >= self.reserved:
            return self._make_room(lane)
        return True

    def _make_room(self, lane: Lane) -> bool:
        """Shut down an idle environment of another lane (an on-demand one first)."""
        others = [e for e in self._idle_since if self._lanes.get(e) != lane]
        if not others:
            return False
        victim = min(others, key=lambda e: (e.provisioned, self._idle_since[e]))
        self._forget(victim)
        victim.provisioned = False  # not replaced: its place went to another lane
        self._background(victim.shutdown())
        return True

    async def _spawn(
        self,
        lane: Lane,
        *,
        first: PendingInvocation | None = None,
        init_limit: float | None = None,
        provisioned: bool = False,
    ) -> None:
        environment = ExecutionEnvironment(
            self.spec, settings=self.settings, limiter=self.limiter, printer=self.printer,
            events=Events(self._ready, self._dead), init_limit=init_limit, first=first,
            version=lane[0], provisioned=provisioned, observer=self.observer,
        )  # fmt: skip
        self.environments.add(environment)
        self._lanes[environment] = lane
        self._starting.add(environment)
        if provisioned:
            self._provisioning.add(environment)
            self._provisioned_ready.clear()
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
        self._not_idle(environment)
        self._init_over(environment)
        if environment in self.environments:
            self.environments.discard(environment)
            self.account.died()

    def _init_over(self, environment: ExecutionEnvironment) -> None:
        if environment in self._starting:
            self._starting.discard(environment)
            self.account.started()
        if environment in self._provisioning:
            self._provisioning.discard(environment)
            if not self._provisioning:
                self._provisioned_ready.set()

    def _ready(self, environment: ExecutionEnvironment) -> None:
        self._init_over(environment)
        lane = self._lanes[environment]
        queue = self._queues.get(lane)
        if queue:
            environment.deliver(self._pop(lane))
            return
        self._idle.setdefault(lane, collections.deque()).append(environment)
        self._idle_since[environment] = time.monotonic()
        if self.reserved is not None:  # another lane may be waiting for room
            for waiting in [k for k, q in self._queues.items() if q and k != lane]:
                self._background(self._dispatch(waiting))

    def _pop(self, lane: Lane) -> PendingInvocation:
        queue = self._queues[lane]
        invocation = queue.popleft()
        if not queue and lane[1] is not None:
            del self._queues[lane]  # tenants come and go: keep no empty queue per tenant
        return invocation

    def _dead(
        self, environment: ExecutionEnvironment, invocation: PendingInvocation | None
    ) -> None:
        self._forget(environment)
        lane = self._lanes.pop(environment, (LATEST, None))
        if self._closed:
            return
        if environment.provisioned and not environment.died_in_init():
            # Lambda keeps provisioned concurrency allocated: an environment that ends (a
            # crash, a timeout, new code under --watch) is replaced.
            self._background(self._replace_provisioned())
        if environment.died_in_init() and self._queues.get(lane):
            self._init_failed(environment, lane)
        elif self._queues.get(lane):
            self._background(self._dispatch(lane))

    async def _replace_provisioned(self) -> None:
        await self.account.start_slot()
        if self._closed:
            self.account.started()
            return
        await self._spawn((PUBLISHED, None), provisioned=True)

    def _init_failed(self, environment: ExecutionEnvironment, lane: Lane) -> None:
        head = self._queues[lane][0]
        if environment.init_timed_out():
            if environment.suppressed_for is head:  # the retry ran out of the invocation's time
                self._pop(lane)
                from lambdakit.emulator.invocations import timeout_result

                environment.fail_init(head, timeout_result(head.request_id, self.spec.timeout))
            else:  # Lambda retries init inside the first invocation, under its timeout
                task = self._dispatch(lane, first=head, init_limit=self.spec.timeout)
                self._background(task)
                return
        else:
            self._pop(lane)
            environment.fail_init(head)
        if self._queues.get(lane):
            self._background(self._dispatch(lane))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- reaping and shutdown ----------------------------------------------------------------

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        while self.environments and not self._closed:
            await asyncio.sleep(min(self.idle_timeout, 30.0))
            now = time.monotonic()
            for environment, since in list(self._idle_since.items()):
                if environment.provisioned or now - since < self.idle_timeout:
                    continue
                if environment in self._idle_since:
                    self._not_idle(environment)
                    await environment.shutdown()

    async def close(self) -> list[PendingInvocation]:
        """Shut every environment down; return the invocations that never started."""
        self._closed = True
        self._provisioned_ready.set()
        if self._reaper is not None:
            self._reaper.cancel()
        waiting = [invocation for queue in self._queues.values() for invocation in queue]
        self._queues.clear()
        for invocation in waiting:
            if not invocation.future.done():
                error = EmulatorError("the emulator is shutting down")
                invocation.future.set_exception(error)
                invocation.future.exception()  # retrieved here: its caller may be gone
                if self.observer is not None:
                    self.observer.invocation_refused(invocation, error)
        await asyncio.gather(*(e.shutdown() for e in list(self.environments)))
        return waiting

    async def restart(self) -> None:
        """Replace the environments (code changed): idle ones now, busy ones when they finish
        (provisioned ones are replaced as they end)."""
        for environment in list(self._idle_since):
            self._not_idle(environment)
            await environment.shutdown()
        for environment in list(self.environments):
            environment.retire = True
