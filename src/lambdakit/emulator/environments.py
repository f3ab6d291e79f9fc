"""Execution environments: one child process each, with its own Runtime API listener.

An environment's life (``EnvState``) is the one Lambda gives it: it starts and runs the
runtime's init until the runtime first asks for work; then it alternates between idle (blocked
in ``GET /next``) and busy; it dies when its runtime exits, when an invocation times out, or
when it is shut down. Every transition happens in ``_enter``, which checks it is allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import signal
import time
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.emulator import debugging, freezing, reports, telemetry_hub
from lambdakit.emulator._http import bound_port, start_server
from lambdakit.emulator.env_ending import PendingEnd
from lambdakit.emulator.env_extensions import ExtensionPhases
from lambdakit.emulator.env_freezing import IdleFreezer
from lambdakit.emulator.env_launch import launch_environment, owns_client
from lambdakit.emulator.env_records import EnvRecords, Phase
from lambdakit.emulator.errors import EntrypointError
from lambdakit.emulator.extension_output import ExtensionOutput
from lambdakit.emulator.extensions import ExtensionsAPI
from lambdakit.emulator.invocations import (
    InvocationResult,
    Outcome,
    PendingInvocation,
    ResponseStream,
    call_hook,
)
from lambdakit.emulator.output_log import OutputLog
from lambdakit.emulator.platform_log import PlatformLog, application_filter
from lambdakit.emulator.process_env import log_stream_name
from lambdakit.emulator.runtime_api import TIMEOUTS, RuntimeAPI
from lambdakit.emulator.runtime_process import RuntimeProcess
from lambdakit.emulator.settings import Settings
from lambdakit.emulator.telemetry import TelemetryAPI

if TYPE_CHECKING:
    from lambdakit.emulator.extensions import ExtensionFailure
    from lambdakit.emulator.limits import MemoryGuard, MemoryLimiter
    from lambdakit.emulator.webconsole import Observer
    from lambdakit.template import FunctionSpec

_ids = itertools.count(1)


class EnvState(Enum):
    """Where an execution environment is in its life."""

    STARTING = "starting"
    """The process runs its init; it has not asked for an invocation yet."""
    IDLE = "idle"
    """The runtime waits in GET /next; the environment can take an invocation."""
    BUSY = "busy"
    """An invocation was handed out and the runtime has not asked for the next one yet."""
    DEAD = "dead"
    """The process is gone (exited, killed after a timeout, or shut down)."""


_ALLOWED = {
    EnvState.STARTING: {EnvState.IDLE, EnvState.BUSY, EnvState.DEAD},
    EnvState.IDLE: {EnvState.BUSY, EnvState.DEAD},
    EnvState.BUSY: {EnvState.IDLE, EnvState.BUSY, EnvState.DEAD},
    EnvState.DEAD: set(),
}


class Events:
    """What an environment tells its pool (set by the pool)."""

    def __init__(
        self,
        ready: Callable[[ExecutionEnvironment], None],
        dead: Callable[[ExecutionEnvironment, PendingInvocation | None], None],
    ) -> None:
        self.ready = ready
        self.dead = dead


class ExecutionEnvironment:
    """One running copy of a function: its process, listener, state and current invocation."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        settings: Settings,
        limiter: MemoryLimiter,
        printer: reports.LogPrinter,
        events: Events,
        init_limit: float | None = None,
        first: PendingInvocation | None = None,
        version: str = "$LATEST",
        provisioned: bool = False,
        observer: Observer | None = None,
    ) -> None:
        self.spec = spec
        self.observer = observer  # the browser console's hub (webconsole/hub.py), if any
        # On Lambda each version has environments of its own; provisioned ones start (and run
        # their init) before any invocation, and keep running (provisioned-concurrency.html).
        self.version = version
        self.provisioned = provisioned
        self.id = f"{next(_ids):04d}"
        self.settings = settings
        self.events = events
        self.platform_log = PlatformLog(
            spec.logging, function_name=spec.name, function_arn=self.function_arn(),
            version=version,
            initialization_type="provisioned-concurrency" if provisioned else "on-demand",
        )  # fmt: skip
        self.output = OutputLog(
            function=spec.name, env_id=self.id, printer=printer,
            in_init=lambda: self.state is EnvState.STARTING,
            app_filter=application_filter(spec.logging),
        )  # fmt: skip
        self.state = EnvState.STARTING
        # Frozen while idle, as on Lambda (freezing.py); an image's process is the engine's.
        mechanism = freezing.choose(limiter) if spec.image is None else freezing.OFF
        if debugging.attached(settings.debug, spec):  # the IDE talks to it while it is idle
            mechanism = freezing.OFF
        self._running_loop: asyncio.AbstractEventLoop | None = None  # _loop()'s
        if spec.image is not None:  # the engine limits the container itself (run -m)
            from lambdakit.emulator.limits import NoLimiter

            limiter = NoLimiter()
        self.guard: MemoryGuard = limiter.prepare(f"{spec.name}-{self.id}", spec.memory_size)
        # The external extensions' output has pipes of its own (extension_output.py).
        extension_output = ExtensionOutput(
            self.output, in_init=lambda: self.state is EnvState.STARTING
        )
        self.runtime = RuntimeProcess(self.output, self.guard, extension_output)
        self.freezer = IdleFreezer(
            mechanism, self.guard, self.runtime,
            idle=self._idle, on_frozen=self._announce_frozen, loop=self._loop,
        )  # fmt: skip
        # The Extensions API's phases and the Shutdown phase (env_extensions.py).
        self.phases = ExtensionPhases(self.runtime, settings, self._extension_metadata)
        self.extensions = self.phases.extensions
        self.runtime.on_extension_exit = self._extension_exited
        # Its Telemetry and Logs API subscribers (telemetry.py, telemetry_hub.py).
        self.telemetry = telemetry_hub.attach(
            self.platform_log, self.output, self.extensions, extension_output
        )
        # The facts its init and invocations end with, and their lines (env_records.py).
        self.records = EnvRecords(spec, self.platform_log, self.output, self.guard, self.phases)
        self.records.fault = self.telemetry.fault
        self.init_limit = settings.init_timeout if init_limit is None else init_limit
        # A suppressed init (after an init timeout) runs inside the first invocation's time.
        self.suppressed_for = first
        self.log_stream = log_stream_name(version)
        self._current: PendingInvocation | None = None
        self._stream: ResponseStream | None = None
        self._work: asyncio.Future[PendingInvocation] | None = None
        # Called by deliver itself with _work, done (on_work): the Runtime API's waiting poll.
        self._work_hook: Callable[[asyncio.Future[PendingInvocation]], None] | None = None
        self._invoke_started = 0.0
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # The last answered invocation's END and REPORT, until written (env_ending.py).
        self.ending = PendingEnd(self.output, self.runtime, self._loop)
        self._death_reason: str | None = None
        self._died_starting = False
        self._init_begun = False  # INIT_START written, the Init phase's limit counting
        self._id_file: Path | None = None  # an image's container id file (containers/run.py)
        self.retire = False  # replace when next idle (the code changed under --watch)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the Runtime API listener and spawn the runtime process."""
        telemetry = TelemetryAPI(self.telemetry, self.extensions)
        api = RuntimeAPI(self, ExtensionsAPI(self.extensions), telemetry)
        self._server = await start_server(
            api.handle, "127.0.0.1", 0, timeouts=TIMEOUTS, immediate=api.immediate
        )
        address = f"127.0.0.1:{bound_port(self._server)}"
        try:
            started = launch_environment(
                self.spec, self.settings, address=address, log_stream=self.log_stream,
                version=self.version, provisioned=self.provisioned, env_id=self.id,
            )  # fmt: skip
        except EntrypointError as error:  # Lambda's init fails, and says why: so does this one
            self._tasks = [asyncio.create_task(self._no_entrypoint(error))]
            return
        self._id_file = started.init_begins_at  # removed at the end (_close), spawned or not
        unique = {"AWS_LAMBDA_RUNTIME_API": address, "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream}
        self.extensions.external = tuple(extension.name for extension in started.extensions)
        await self.runtime.spawn(
            started.argv, cwd=self.spec.code_dir, environ=started.environ, unique=unique,
            sandbox=started.sandbox, extensions=started.extensions,
        )  # fmt: skip
        self._tasks = [*self.runtime.pumps, asyncio.create_task(self._watch_exit())]
        if self.observer is not None and self.state is EnvState.STARTING:
            self.observer.environment_changed(self, EnvState.STARTING.value)
        if started.extensions:
            self._tasks.append(asyncio.create_task(self.phases.start_runtime()))
        if self._id_file is None:
            self._begin_init()
        else:  # an image: once its engine has created the container and starts it
            self._tasks.append(asyncio.create_task(self._begin_init_when_created()))
        if self._death_reason == "shutdown":  # shut down while it was being spawned
            self.runtime.signal(signal.SIGKILL)

    def _begin_init(self) -> None:
        """The Init phase begins: INIT_START, and its limit counts from now."""
        self._init_begun = True
        self.output.platform(None, self.platform_log.init_start())
        self._timer = self._loop().call_later(self.init_limit, self._init_timed_out)

    async def _begin_init_when_created(self) -> None:
        """An image's Init begins as its container starts (containers/run.py, ``created``);
        an engine that has not created it after SETUP_LIMIT ends the environment."""
        from lambdakit.emulator import containers

        assert self._id_file is not None
        process = self.runtime.process
        if not await containers.created(self._id_file, process):
            limit = containers.SETUP_LIMIT
            self.output.platform(
                None, f"lambdakit: the container engine had not started the container after "
                f"{limit:.0f} s; this environment is given up",
            )  # fmt: skip
            self._loop().create_task(self.kill("container setup"))
            return
        # Not if it ended (its exit says why) or is ending, or its runtime called already.
        running = process is not None and process.returncode is None
        if running and not self._init_begun and self._death_reason is None:
            self.records.init_begins()  # Init Duration counts from here, as on Lambda
            self._begin_init()

    async def _no_entrypoint(self, error: EntrypointError) -> None:
        """No process: the init fails at once with Runtime.InvalidEntrypoint, as on Lambda,
        and the developer reads what to do in the log."""
        self.output.platform(None, self.platform_log.init_start())
        self.output.platform(None, f"lambdakit: {error}")
        self.records.entrypoint_error = error.lambda_message
        self._died_starting = True
        self._enter(EnvState.DEAD)
        self.records.init_failed(1, self._init_phase())
        await self._close()
        self.events.dead(self, None)

    def _extension_metadata(self) -> dict[str, str]:
        """The register response (runtimes-extensions-api.html#extensions-registration-api-a)."""
        return {
            "functionName": self.spec.name, "functionVersion": self.version,
            "handler": self.spec.handler or "", "accountId": self.settings.account_id,
        }  # fmt: skip

    @property
    def extension_error(self) -> ExtensionFailure | None:
        """What an extension ended the init or the invocation with, if one did."""
        return self.phases.failure

    def _extension_exited(self, name: str, returncode: int) -> None:
        """An external extension's process ended: outside the Shutdown phase that fails the
        init or the invocation, and the environment (``ExtensionPhases.exited``)."""
        ending = self._death_reason is not None or self.state is EnvState.DEAD
        failure = self.phases.exited(name, returncode, ending=ending)
        if failure is None:
            return
        self.output.platform(None, f"lambdakit: {failure}")
        asyncio.get_running_loop().create_task(self.kill("extension"))

    def _enter(self, state: EnvState) -> None:
        if state not in _ALLOWED[self.state]:
            raise RuntimeError(f"environment {self.id}: {self.state.name} -> {state.name}")
        self.state = state
        if self.observer is not None:
            self.observer.environment_changed(self, state.value)

    async def shutdown(self) -> None:
        """Lambda's Shutdown phase (``ExtensionPhases.phase``). What the runtime started goes
        with it (``_watch_exit``)."""
        if self.runtime.process is None:  # not spawned yet: start() kills it once it is
            self._death_reason = "shutdown"
        if self.state is EnvState.DEAD or self.runtime.process is None:
            await self._close()
            return
        if self.ending.end is not None:  # an invocation's extensions finish it first
            with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
                left = max(0.0, self._deadline - time.monotonic())
                await asyncio.wait_for(self.phases.settled(), left)
                await self.runtime.settle()
                self.ending.finish()
        self._death_reason = "shutdown"
        if self.observer is not None:
            self.observer.environment_changed(self, "shutting-down")
        if not self.phases.any():  # no extension: no Shutdown phase, SIGKILL at once
            self.freezer.thaw()
            self.runtime.signal(signal.SIGKILL)
        else:
            # A stopped process would not run its SIGTERM handler.
            self.freezer.thaw(for_signal=True)
            await self.phases.spindown()
        await self._finished()

    async def kill(self, reason: str) -> None:
        self._death_reason = reason
        if self.observer is not None and self.state is not EnvState.DEAD:
            self.observer.environment_changed(self, "shutting-down")
        self.freezer.thaw()
        # With external extensions only the runtime: they get their SHUTDOWN (``_watch_exit``).
        self.runtime.kill_runtime()
        if self.runtime.process is None:  # the spawn failed: close what start() opened before it
            await self._close()
        await self._finished()

    def stop_at_once(self) -> None:
        """End now, without the rest of a grace period (a second Ctrl-C): SIGKILL the runtime
        and what the guard holds; the ending then runs as after any kill."""
        self.freezer.thaw()
        self.runtime.signal(signal.SIGKILL)
        self.guard.kill()

    async def _finished(self) -> None:
        if self._tasks:
            # Shielded: a caller that is cancelled (the idle reaper, when the pool closes) must
            # not cancel the ending itself, which kills what is left and closes the listener.
            await asyncio.shield(asyncio.gather(*self._tasks, return_exceptions=True))

    async def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.freezer.cancel()
        if self._server is not None:
            self._server.close()
            self._server = None
        self._work_hook = None
        if self._work is not None and not self._work.done():
            self._work.cancel()
        self.extensions.close()
        self.telemetry.close()
        self.guard.close()
        if self._id_file is not None:
            from lambdakit.emulator.containers import remove_id_file

            remove_id_file(self._id_file)

    # --- the Runtime API side ----------------------------------------------------------------

    def polling(self) -> bool:
        """Whether a GET /next is waiting for work."""
        return self._work is not None and not self._work.done()

    async def next_invocation(self) -> PendingInvocation:
        """The runtime asks for work: init is over (first time); wait for an invocation. A
        poll that replaces one whose connection was lost waits for the same invocation: the
        pool was told once that this environment is ready, and it is."""
        if self.state is EnvState.STARTING:
            self.extensions.closed = True  # registration ends once the runtime is ready
            await self.phases.settled()  # init ends once every extension called next
            if self.state is EnvState.STARTING:
                self._init_done()
        if self._work is not None and not self._work.done():
            return await asyncio.shield(self._work)
        if self.state is EnvState.BUSY:
            await self.phases.settled()  # the invocation lasts until they called next
            self._enter(EnvState.IDLE)
        if self.ending.waits_for_output():
            # The runtime wrote all it will for the last invocation before it asked for the
            # next one: let the pumps take it, so that its END, which the next event would
            # otherwise bring, comes after it.
            await self.runtime.settle()
            self.ending.finish()
        work = self._ready_for_work()
        invocation = await work
        self.work_taken(work)
        return invocation

    def poll_now(self) -> asyncio.Future[PendingInvocation] | None:
        """``next_invocation`` without a task, where it would not wait before its future (the
        Runtime API's immediate way): that future, the caller then calls ``work_taken``; None
        while the init or an extension is not done, or a poll is already waiting."""
        if self.state is EnvState.STARTING or (self._work is not None and not self._work.done()):
            return None
        if self.ending.waits_for_output():
            return None  # next_invocation lets the pumps take the last output first
        if self.state is EnvState.BUSY:
            if self.extensions.any():  # next_invocation waits for them to call next
                return None
            self._enter(EnvState.IDLE)
        return self._ready_for_work()

    def on_work(
        self,
        work: asyncio.Future[PendingInvocation],
        hook: Callable[[asyncio.Future[PendingInvocation]], None],
    ) -> None:
        """Have ``deliver`` call HOOK with WORK (``poll_now``'s future, not done yet) once it
        has the invocation, there and then: the event goes out without waiting for a turn of
        the loop, as the future's callbacks would. Its failure still goes to those."""
        if self._work is work:
            self._work_hook = hook

    def _ready_for_work(self) -> asyncio.Future[PendingInvocation]:
        self._work_hook = None
        loop = self._loop()
        self._work = work = loop.create_future()
        self.freezer.idle_since = loop.time()
        if self.retire:
            asyncio.get_running_loop().create_task(self.shutdown())
        else:
            self.events.ready(self)
        self.freezer.freeze_if_idle()  # unless ready() delivered work at once
        return work

    def work_taken(self, work: asyncio.Future[PendingInvocation]) -> None:
        """The runtime's poll has the invocation of WORK (``poll_now``'s future)."""
        if self._work is work:
            self._work = None

    def deliver(self, invocation: PendingInvocation) -> None:
        """Give an idle environment an invocation (called by the pool)."""
        assert self._work is not None and not self._work.done(), "environment not waiting"
        self.freezer.thaw()  # done before the event goes out: the runtime runs thawed at once
        self._current = invocation  # before _enter: its observer asks which invocation
        self._enter(EnvState.BUSY)
        self._invoke_started = time.monotonic()
        timeout = self.spec.timeout
        if invocation is self.suppressed_for:  # its init already used part of its time
            timeout = max(0.0, timeout - (self._invoke_started - self.records.started))
        self._deadline = self._invoke_started + timeout
        loop = self._loop()
        self._timer = loop.call_later(timeout, self._invocation_timed_out)
        # No guard.reset_peak(): Max Memory Used is the environment's high-water mark, as on
        # Lambda, where a warm invocation reports the peak of the environment so far.
        work, hook, self._work_hook = self._work, self._work_hook, None
        work.set_result(invocation)
        self.phases.invoke(invocation, self.deadline_ms, self.function_arn)
        # The log moves on once the runtime has been sent its event: in the next turn of the
        # loop, or before, as the first line of this environment is passed on (OutputLog).
        self.output.write_first(functools.partial(self._begin_output, invocation))
        loop.call_soon(self.output.run_due)
        if hook is not None:
            call_hook(hook, work)

    def _begin_output(self, invocation: PendingInvocation) -> None:
        """The previous invocation's END and REPORT if they are still due, then this one's
        START; the output read from now on is this invocation's."""
        self.ending.finish()
        self.output.close_partial_line()  # what was written since belongs to no invocation
        self.output.target = invocation  # it outlives _current until END
        self.output.platform(invocation, self.platform_log.start(invocation.request_id))

    def _idle(self) -> bool:
        """Idle as Lambda means it: the runtime and every extension wait in their next, and the
        last invocation has ended (its END written, so a streamed response is over and the
        output it wrote is read; or only END_DELAY's time is left of a buffered answer, whose
        output can be read from the pipes of a frozen process)."""
        process = self.runtime.process
        return not (
            self.retire or self._death_reason is not None  # ending: SIGTERM sent
            or self.state is not EnvState.IDLE or not self.polling()
            or (self.output.target is not None and not self.ending.deferred)
            or process is None or process.returncode is not None
            or not self.extensions.settled()  # an extension is still at work on its event
        )  # fmt: skip

    def _announce_frozen(self) -> None:
        if self.observer is not None:
            self.observer.environment_changed(self, "frozen")

    def current(self) -> PendingInvocation | None:
        return self._current

    def _loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the environment runs in, kept: ``asyncio.get_running_loop()`` makes
        a system call (getpid) each time, and the hot path asks several times an invocation."""
        loop = self._running_loop
        if loop is None:
            loop = self._running_loop = asyncio.get_running_loop()
        return loop

    def deadline_ms(self) -> int:
        return int((time.time() + (self._deadline - time.monotonic())) * 1000)

    def function_arn(self) -> str:
        """The ARN the current invocation was made with, its qualifier included (the context's
        ``invoked_function_arn``); without one, the function's unqualified ARN."""
        current = getattr(self, "_current", None)  # None too while the constructor runs
        qualifier = current.qualifier if current is not None else None
        return self.settings.function_arn(self.spec.name, qualifier)

    def owns_client(self, client: tuple[str, int], server: tuple[str, int]) -> bool:
        """Whether the Runtime API client at ``client`` is a process of this environment."""
        return owns_client(self.spec, self.runtime, self.output, client, server)

    def answer(self, invocation: PendingInvocation, result: InvocationResult) -> None:
        """The runtime answered: the caller gets the result now; END and REPORT follow once the
        output the runtime wrote before answering has been read (a caller that wants the log
        tail waits for ``invocation.reported``)."""
        if self.output.due():  # an answer read before the turn that writes START
            self.output.run_due()
        if self._timer is not None:
            self._timer.cancel()
        self._current = None
        duration_ms = (time.monotonic() - self._invoke_started) * 1000
        invocation.resolve(result)
        # A function error (the runtime reported it) leaves REPORT without a status, as on
        # Lambda; timeouts and runtime exits have theirs.
        held = not self.extensions.settled()  # END and REPORT once the extensions are done,
        self.ending.end = functools.partial(  # their time counted in the Duration (AWS)
            self._end, invocation, status=None, error_type=None,
            duration_ms=None if held else duration_ms,
        )  # fmt: skip
        if held:
            # The function's timeout bounds the whole Invoke phase, the extensions' part
            # included (lambda-runtime-environment.html, "Invoke phase").
            loop = self._loop()
            left = max(0.0, self._deadline - time.monotonic())
            self._timer = loop.call_later(left, self._extensions_timed_out, invocation)
            loop.create_task(self._end_after_extensions())
        elif invocation.tail is not None:  # its caller waits for the tail, END included
            self.ending.after_this_turn()
        else:  # the next event takes it (_begin_output); the environment may freeze meanwhile
            self.ending.after_delay()

    def _extensions_timed_out(self, invocation: PendingInvocation) -> None:
        """An extension still held the invocation at its deadline, after the runtime answered
        (its caller has that answer): the Invoke phase times out, and the environment ends."""
        if invocation.reported.is_set() or self._death_reason is not None:
            return  # they finished in time (this is a stale timer), or it is ending anyway
        if debugging.suspends_timeout(self.settings.debug, self.spec):
            return
        self.ending.end = None
        self.records.timed_out(invocation)  # the platform's line; the result is not sent
        self._end(invocation, status="timeout", error_type=None)
        asyncio.get_running_loop().create_task(self.kill("timeout"))

    async def _end_after_extensions(self) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await self.phases.settled()
        self.ending.once_read()

    def begin_stream(self, invocation: PendingInvocation, stream: ResponseStream) -> None:
        """A streamed response started: its readers get it now; the invocation (and its
        timeout) lasts until the stream ends."""
        self._stream = stream
        result = InvocationResult(
            outcome=Outcome.SUCCESS, body=b"", content_type=stream.content_type, stream=stream
        )
        invocation.resolve(result)

    def end_stream(self, invocation: PendingInvocation) -> None:
        if self._current is not invocation:
            return  # it timed out or the runtime died first
        if self._timer is not None:
            self._timer.cancel()
        self._current = None
        self._stream = None
        asyncio.get_running_loop().create_task(self._finish_stream(invocation))

    async def _finish_stream(self, invocation: PendingInvocation) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await self.phases.settled()
        await self.runtime.settle()
        self._end(invocation, status=None, error_type=None)

    def _break_stream(self, result: InvocationResult) -> None:
        """End a stream in progress with the platform's error (timeout, crash)."""
        if self._stream is not None:
            self._stream.end(result.error_type, result.body)
            self._stream = None

    def init_error(self, body: bytes, error_type: str | None) -> None:
        self.records.init_error_body = (body, error_type)

    def _init_done(self) -> None:
        if not self._init_begun:  # an image's runtime that called before its id file was seen
            self._begin_init()
        if self._timer is not None:
            self._timer.cancel()
        self.records.init_done(provisioned=self.provisioned)
        self._enter(EnvState.IDLE)

    def _init_phase(self) -> Phase:
        """``invoke`` for a suppressed init, retried inside the first invocation's time."""
        return "invoke" if self.suppressed_for else "init"

    # --- endings -----------------------------------------------------------------------------

    def _init_timed_out(self) -> None:
        if self.state is not EnvState.STARTING:
            return
        if debugging.suspends_timeout(self.settings.debug, self.spec):
            return  # a debugger holds it (SAM CLI, too, has no timeout while debugging)
        self.records.init_timed_out(self.init_limit, self._init_phase())
        asyncio.get_running_loop().create_task(self.kill("init timeout"))

    def _invocation_timed_out(self) -> None:
        invocation = self._current
        if invocation is None:
            return
        if debugging.suspends_timeout(self.settings.debug, self.spec):
            return  # a debugger holds it (SAM CLI, too, has no timeout while debugging)
        self._current = None
        result = self.records.timed_out(invocation)
        self._break_stream(result)
        self._end(invocation, status="timeout", error_type=None)
        invocation.resolve(result)
        asyncio.get_running_loop().create_task(self.kill("timeout"))

    async def _watch_exit(self) -> None:
        returncode = await self.runtime.wait()
        invocation = self._current
        if self.runtime.launcher:
            if invocation is not None:
                # The invocation ends first: its lines, and the records the extensions'
                # listeners get before their SHUTDOWN (on Lambda the reset follows the invoke).
                await self.runtime.settle()
                self._crash_current(returncode)
            await self.phases.after_runtime_exit(self._death_reason)  # the Shutdown phase
        await self.runtime.end_leftovers()
        await self.runtime.drain()  # the output comes before the lines about the end
        previous = self.state
        self._died_starting = previous is EnvState.STARTING
        self._enter(EnvState.DEAD)
        if self._current is not None:
            self._crash_current(returncode)
        elif previous is EnvState.STARTING and (
            self._death_reason is None or self.extension_error is not None
        ):
            self.records.init_failed(returncode, self._init_phase())
        self.ending.finish()  # an END held for the extensions (one crashed meanwhile)
        await self._close()
        self.events.dead(self, invocation)

    def _crash_current(self, returncode: int) -> None:
        invocation, self._current = self._current, None
        assert invocation is not None
        self._crashed(invocation, returncode)

    def _crashed(self, invocation: PendingInvocation, returncode: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        result = self.records.crashed(invocation, returncode)
        self._break_stream(result)
        self._end(invocation, status="error", error_type=result.error_type)
        invocation.resolve(result)

    def died_in_init(self) -> bool:
        """The process ended before its runtime first asked for work (and not on request)."""
        return self._died_starting and self._death_reason != "shutdown"

    def init_timed_out(self) -> bool:
        return self._death_reason == "init timeout"

    def init_failure(self, invocation: PendingInvocation) -> InvocationResult:
        """What the invocation that waited for this environment's init receives."""
        return self.records.init_failure(invocation)

    def fail_init(
        self, invocation: PendingInvocation, result: InvocationResult | None = None
    ) -> None:
        """Answer the invocation that waited for this environment's failed init (``result``,
        else ``init_failure``), with the log Lambda writes for an init that failed in the
        invoke phase: START, the init's output and INIT_REPORT (in its log tail), END, and a
        REPORT with the status. A caller that asked for the log tail gets it complete."""
        result = result or self.init_failure(invocation)
        self.records.start_failed_init(invocation)
        timed_out = result.outcome is Outcome.TIMEOUT
        self._end(
            invocation, status="timeout" if timed_out else "error",
            error_type=None if timed_out else result.error_type,
            duration_ms=(time.monotonic() - invocation.accepted_at) * 1000,
        )  # fmt: skip
        invocation.resolve(result)

    def _end(
        self,
        invocation: PendingInvocation,
        *,
        status: str | None,
        error_type: str | None,
        duration_ms: float | None = None,
    ) -> None:
        if duration_ms is None:
            duration_ms = (time.monotonic() - self._invoke_started) * 1000
        init_ms = self.records.init_ms  # REPORT's Init Duration, taken by end()
        self.records.end(invocation, status=status, error_type=error_type, duration_ms=duration_ms)
        if self.observer is not None:
            self.observer.invocation_ended(self, invocation, status, duration_ms, init_ms)
        # Checked in the next turn: an END written as the next invocation begins
        # (_begin_output) finds the environment busy again, and freezes nothing.
        self._loop().call_soon(self.freezer.freeze_if_idle)
