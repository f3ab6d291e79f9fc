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
import json
import os
import signal
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Literal

from lambdakit.emulator import debugging, freezing, reports, sandbox
from lambdakit.emulator._http import bound_port, start_server
from lambdakit.emulator.errors import ContainerEngineError, EntrypointError, FunctionConfigError
from lambdakit.emulator.extensions import ExtensionFailure, Extensions, ExtensionsAPI
from lambdakit.emulator.invocations import (
    InvocationResult,
    Outcome,
    PendingInvocation,
    ResponseStream,
    entrypoint_result,
    exit_reason,
    exit_result,
    timeout_result,
)
from lambdakit.emulator.output_log import OutputLog
from lambdakit.emulator.platform_log import PlatformLog, application_filter
from lambdakit.emulator.process_env import (
    Launch,
    launch,
    log_stream_name,
    process_environment,
)
from lambdakit.emulator.runtime_api import TIMEOUTS, RuntimeAPI
from lambdakit.emulator.runtime_process import RuntimeProcess
from lambdakit.emulator.settings import Settings

if TYPE_CHECKING:
    from lambdakit.emulator.limits import MemoryGuard, MemoryLimiter
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
    ) -> None:
        self.spec = spec
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
        self.freezing = freezing.choose(limiter) if spec.image is None else freezing.OFF
        if debugging.attached(settings.debug, spec):  # the IDE talks to it while it is idle
            self.freezing = freezing.OFF
        self._frozen = False
        if spec.image is not None:  # the engine limits the container itself (run -m)
            from lambdakit.emulator.limits import NoLimiter

            limiter = NoLimiter()
        self.guard: MemoryGuard = limiter.prepare(f"{spec.name}-{self.id}", spec.memory_size)
        self.runtime = RuntimeProcess(self.output, self.guard)
        self.extensions = Extensions((), self._extension_metadata)
        self.extension_error: ExtensionFailure | None = None  # what ended init or invocation
        self.runtime.on_extension_exit = self._extension_exited
        self._shutdown_phase: asyncio.Task[None] | None = None
        self.init_error_body: tuple[bytes, str | None] | None = None
        self._init_report: str | None = None  # the INIT_REPORT line of a failed init
        self.init_limit = settings.init_timeout if init_limit is None else init_limit
        # A suppressed init (after an init timeout) runs inside the first invocation's time.
        self.suppressed_for = first
        self.log_stream = log_stream_name(version)
        self._current: PendingInvocation | None = None
        self._stream: ResponseStream | None = None
        self._work: asyncio.Future[PendingInvocation] | None = None
        self._started = time.monotonic()
        self._init_ms: float | None = None
        self._invoke_started = 0.0
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._pending_end: Callable[[], None] | None = None  # END and REPORT, due this turn
        self._death_reason: str | None = None
        self._died_starting = False
        self.init_exit_code = 1
        self.retire = False  # replace when next idle (the code changed under --watch)
        self.entrypoint_error: str | None = None  # Lambda's words, when there is no bootstrap

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the Runtime API listener and spawn the runtime process."""
        api = RuntimeAPI(self, ExtensionsAPI(self.extensions))
        self._server = await start_server(api.handle, "127.0.0.1", 0, timeouts=TIMEOUTS)
        address = f"127.0.0.1:{bound_port(self._server)}"
        try:
            started = self._launch(address)
        except EntrypointError as error:  # Lambda's init fails, and says why: so does this one
            self._tasks = [asyncio.create_task(self._no_entrypoint(error))]
            return
        unique = {"AWS_LAMBDA_RUNTIME_API": address, "AWS_LAMBDA_LOG_STREAM_NAME": self.log_stream}
        self.extensions.external = tuple(extension.name for extension in started.extensions)
        await self.runtime.spawn(
            started.argv, cwd=self.spec.code_dir, environ=started.environ, unique=unique,
            sandbox=started.sandbox, extensions=started.extensions,
        )  # fmt: skip
        self._tasks = [*self.runtime.pumps, asyncio.create_task(self._watch_exit())]
        if started.extensions:
            self._tasks.append(asyncio.create_task(self._start_runtime()))
        self.output.platform(None, self.platform_log.init_start())
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.init_limit, self._init_timed_out)
        if self._death_reason == "shutdown":  # shut down while it was being spawned
            self.runtime.signal(signal.SIGKILL)

    def _launch(self, address: str) -> Launch:
        """The spec's bootstrap (in the sandbox where there is one), or its image run by a
        container engine: the engine's process takes the variables from ENVIRON by name, and
        ends its container when killed."""
        spec, settings, stream = self.spec, self.settings, self.log_stream
        if spec.image is None:
            return launch(
                spec, settings, sandbox.choose(), api_address=address, log_stream=stream,
                version=self.version, provisioned=self.provisioned,
            )  # fmt: skip
        from lambdakit.emulator import containers

        environ = process_environment(
            spec, settings, api_address=address, log_stream=stream, version=self.version,
            provisioned=self.provisioned,
        )  # fmt: skip
        name = containers.container_name(self.spec.name, self.id)
        try:
            return Launch(containers.run_command(spec.image, environ, name=name), environ)
        except ContainerEngineError as error:
            raise FunctionConfigError(f"function {self.spec.name!r}: {error}") from error

    async def _no_entrypoint(self, error: EntrypointError) -> None:
        """No process: the init fails at once with Runtime.InvalidEntrypoint, as on Lambda,
        and the developer reads what to do in the log."""
        self.output.platform(None, self.platform_log.init_start())
        self.output.platform(None, f"lambdakit: {error}")
        self.entrypoint_error = error.lambda_message
        self._died_starting = True
        self._enter(EnvState.DEAD)
        self._init_failed(1)
        await self._close()
        self.events.dead(self, None)

    async def _start_runtime(self) -> None:
        """Lambda starts the runtime once every external extension has registered (the
        launcher waits for this); an extension that exits first fails the init."""
        try:
            await self.extensions.until(self.extensions.all_external_registered)
        except (ExtensionFailure, asyncio.CancelledError):
            return
        self.runtime.release()

    def _extension_metadata(self) -> dict[str, str]:
        """The register response (runtimes-extensions-api.html#extensions-registration-api-a)."""
        return {
            "functionName": self.spec.name, "functionVersion": self.version,
            "handler": self.spec.handler or "", "accountId": self.settings.account_id,
        }  # fmt: skip

    def _extension_exited(self, name: str, returncode: int) -> None:
        """An external extension's process ended: outside the Shutdown phase that fails the
        init or the invocation (Extension.Crash, or what it reported), and the environment."""
        agent = self.extensions.exited(name, returncode)
        if self._death_reason is not None or self.state is EnvState.DEAD:
            return
        error_type = (agent.error_type if agent else None) or "Extension.Crash"
        failure = ExtensionFailure(
            error_type, f"extension {name} exited: {exit_reason(returncode)}"
        )
        self.extension_error = failure
        self.extensions.fail(failure)
        self.output.platform(None, f"lambdakit: {failure}")
        asyncio.get_running_loop().create_task(self.kill("extension"))

    def _enter(self, state: EnvState) -> None:
        if state not in _ALLOWED[self.state]:
            raise RuntimeError(f"environment {self.id}: {self.state.name} -> {state.name}")
        self.state = state

    async def shutdown(self) -> None:
        """Lambda's Shutdown phase (``_shutdown``). What the runtime started goes with it
        (``_watch_exit``)."""
        if self.runtime.process is None:  # not spawned yet: start() kills it once it is
            self._death_reason = "shutdown"
        if self.state is EnvState.DEAD or self.runtime.process is None:
            await self._close()
            return
        if self._pending_end is not None:  # an invocation's extensions finish it first
            with contextlib.suppress(ConnectionError, asyncio.TimeoutError):
                left = max(0.0, self._deadline - time.monotonic())
                await asyncio.wait_for(self._extensions_settled(), left)
                await self.runtime.settle()
                self._finish_end()
        self._death_reason = "shutdown"
        if not self.extensions.any():  # no extension: no Shutdown phase, SIGKILL at once
            self._thaw()
            self.runtime.signal(signal.SIGKILL)
        else:
            self._thaw(for_signal=True)  # a stopped process would not run its SIGTERM handler
            self._shutdown_phase = asyncio.create_task(self._shutdown("spindown"))
            await asyncio.shield(self._shutdown_phase)
        await self._finished()

    async def _shutdown(self, reason: str, *, runtime_gone: bool = False) -> None:
        """Lambda's Shutdown phase with extensions (lambda-runtime-environment.html, "Shutdown
        phase"; reference §2.1): SIGTERM and its share of the time to the runtime, then
        SHUTDOWN (REASON, the deadline) to the external extensions subscribed to it, SIGKILL
        at the deadline. Extensions not subscribed to SHUTDOWN are killed at once (as RIE)."""
        settings, external = self.settings, bool(self.extensions.external_agents())
        share = settings.runtime_share_internal
        if external and not self.extensions.internal():
            share = settings.runtime_share
        total = settings.shutdown_grace if external else share
        started = time.monotonic()
        deadline_ms = int((time.time() + total) * 1000)
        if not runtime_gone:
            self.runtime.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self.runtime.wait()), share)
            except asyncio.TimeoutError:
                self.runtime.kill_runtime()
        if external:
            event = {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
            told = {a.name for a in self.extensions.dispatch(event, external_only=True)}
            for name, group in self.runtime.extension_groups().items():
                if name not in told:
                    with contextlib.suppress(OSError):
                        os.killpg(group, signal.SIGKILL)
            left = max(0.0, total - (time.monotonic() - started))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.runtime.ended(), left)
        self.runtime.signal(signal.SIGKILL)

    async def kill(self, reason: str) -> None:
        self._death_reason = reason
        self._thaw()
        # With external extensions only the runtime: they get their SHUTDOWN (``_watch_exit``).
        self.runtime.kill_runtime()
        if self.runtime.process is None:  # the spawn failed: close what start() opened before it
            await self._close()
        await self._finished()

    def stop_at_once(self) -> None:
        """End now, without the rest of a grace period (a second Ctrl-C): SIGKILL the runtime
        and what the guard holds; the ending then runs as after any kill."""
        self._thaw()
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
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._work is not None and not self._work.done():
            self._work.cancel()
        self.extensions.close()
        self.guard.close()

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
            await self._extensions_settled()  # init ends once every extension called next
            if self.state is EnvState.STARTING:
                self._init_done()
        if self._work is not None and not self._work.done():
            return await asyncio.shield(self._work)
        if self.state is EnvState.BUSY:
            await self._extensions_settled()  # the invocation lasts until they called next
            self._enter(EnvState.IDLE)
        self._work = asyncio.get_running_loop().create_future()
        if self.retire:
            asyncio.get_running_loop().create_task(self.shutdown())
        else:
            self.events.ready(self)
        self._freeze_if_idle()  # unless ready() delivered work at once
        invocation = await self._work
        self._work = None
        return invocation

    async def _extensions_settled(self) -> None:
        """Until every extension has called next since its last event; an extension's failure
        ends this request (the environment is being ended: ``_extension_exited``)."""
        if self.extensions.any():
            try:
                await self.extensions.until(self.extensions.settled)
            except ExtensionFailure as failure:
                raise ConnectionError(str(failure)) from None

    def _invoke_event(self, invocation: PendingInvocation) -> dict[str, object]:
        """The INVOKE event (runtimes-extensions-api.html#extensions-api-next); like RIE, no
        ``tracing`` without a trace id."""
        event: dict[str, object] = {
            "eventType": "INVOKE", "deadlineMs": self.deadline_ms(),
            "requestId": invocation.request_id, "invokedFunctionArn": self.function_arn(),
        }  # fmt: skip
        if invocation.trace_id:
            event["tracing"] = {"type": "X-Amzn-Trace-Id", "value": invocation.trace_id}
        return event

    def deliver(self, invocation: PendingInvocation) -> None:
        """Give an idle environment an invocation (called by the pool)."""
        assert self._work is not None and not self._work.done(), "environment not waiting"
        self._thaw()  # complete before the event goes out: the runtime's first steps run thawed
        self._finish_end()  # the previous invocation's END and REPORT come before this START
        self.output.close_partial_line()  # what was written since belongs to no invocation
        self._enter(EnvState.BUSY)
        self._current = invocation
        self.output.target = invocation  # it outlives _current until END
        self._invoke_started = time.monotonic()
        timeout = self.spec.timeout
        if invocation is self.suppressed_for:  # its init already used part of its time
            timeout = max(0.0, timeout - (self._invoke_started - self._started))
        self._deadline = self._invoke_started + timeout
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(timeout, self._invocation_timed_out)
        # No guard.reset_peak(): Max Memory Used is the environment's high-water mark, as on
        # Lambda, where a warm invocation reports the peak of the environment so far.
        self._work.set_result(invocation)
        if self.extensions.subscribed("INVOKE"):
            self.extensions.dispatch(self._invoke_event(invocation))
        # START in the next turn of the loop, once the runtime has been sent its event, and
        # still before any output of the function can have been read.
        loop.call_soon(
            self.output.platform, invocation, self.platform_log.start(invocation.request_id)
        )

    def _freeze_if_idle(self) -> None:
        """Freeze (freezing.py) once idle as Lambda means it: the runtime waits in GET /next
        and the last invocation has ended (its END written, so a streamed response is over
        and the output it wrote is read)."""
        process = self.runtime.process
        if (
            self._frozen or self.retire or self._death_reason is not None  # ending: SIGTERM sent
            or self.state is not EnvState.IDLE or not self.polling()
            or self.output.target is not None or process is None or process.returncode is not None
        ):  # fmt: skip
            return
        self._frozen = True
        # The runtime's group: in the sandbox, not bwrap's own (sandbox.py, --new-session).
        self.freezing.freeze(self.guard, self.runtime.group)

    def _thaw(self, *, for_signal: bool = False) -> None:
        process = self.runtime.process
        if self._frozen and process is not None:
            self._frozen = False
            group = self.runtime.group
            if for_signal:  # the SIGTERM that follows must reach the runtime's main thread
                main = self.runtime.main
                freezing.thaw_for_signal(self.freezing, self.guard, group, main=main)
            else:
                self.freezing.thaw(self.guard, group)

    def current(self) -> PendingInvocation | None:
        return self._current

    def deadline_ms(self) -> int:
        return int((time.time() + (self._deadline - time.monotonic())) * 1000)

    def function_arn(self) -> str:
        """The ARN the current invocation was made with, its qualifier included (the context's
        ``invoked_function_arn``); without one, the function's unqualified ARN."""
        current = getattr(self, "_current", None)  # None too while the constructor runs
        qualifier = current.qualifier if current is not None else None
        return self.settings.function_arn(self.spec.name, qualifier)

    def owns_client(self, client: tuple[str, int], server: tuple[str, int]) -> bool:
        """Whether the Runtime API client at ``client`` is a process of this environment (or
        that cannot be told: a container's processes are the engine's, not our children)."""
        if self.spec.image is not None or self.runtime.process is None:
            return True
        from lambdakit.emulator import peers
        from lambdakit.emulator.reaping import process_tree

        ours = peers.client_is_one_of(client, server, process_tree(self.runtime.process.pid))
        if ours is False:
            self.output.platform(
                None,
                f"lambdakit: refused a Runtime API request from {client[0]}:"
                f"{client[1]}, a process outside this execution environment",
            )
        return ours is not False

    def answer(self, invocation: PendingInvocation, result: InvocationResult) -> None:
        """The runtime answered: the caller gets the result now; END and REPORT follow once the
        output the runtime wrote before answering has been read (a caller that wants the log
        tail waits for ``invocation.reported``)."""
        if self._timer is not None:
            self._timer.cancel()
        self._current = None
        duration_ms = (time.monotonic() - self._invoke_started) * 1000
        invocation.resolve(result)
        # A function error (the runtime reported it) leaves REPORT without a status, as on
        # Lambda; timeouts and runtime exits have theirs.
        held = not self.extensions.settled()  # END and REPORT once the extensions are done,
        self._pending_end = functools.partial(  # their time counted in the Duration (AWS)
            self._end, invocation, status=None, error_type=None,
            duration_ms=None if held else duration_ms,
        )  # fmt: skip
        if held:
            asyncio.get_running_loop().create_task(self._end_after_extensions())
        else:
            asyncio.get_running_loop().call_soon(self._end_once_logs_are_read)

    async def _end_after_extensions(self) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            await self._extensions_settled()
        self._end_once_logs_are_read()

    def _end_once_logs_are_read(self) -> None:
        if self.runtime.unread():
            asyncio.get_running_loop().create_task(self._finish())
        else:
            self._finish_end()

    async def _finish(self) -> None:
        await self.runtime.settle()
        self._finish_end()

    def _finish_end(self) -> None:
        end, self._pending_end = self._pending_end, None
        if end is not None:
            end()

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
            await self._extensions_settled()
        await self.runtime.settle()
        self._end(invocation, status=None, error_type=None)

    def _break_stream(self, result: InvocationResult) -> None:
        """End a stream in progress with the platform's error (timeout, crash)."""
        if self._stream is not None:
            self._stream.end(result.error_type, result.body)
            self._stream = None

    def init_error(self, body: bytes, error_type: str | None) -> None:
        self.init_error_body = (body, error_type)

    def _init_done(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._init_ms = (time.monotonic() - self._started) * 1000
        if (records := self.platform_log.init_done(self._init_ms)) is not None:
            self.output.platform(None, records)
        if self.provisioned:  # no cold start: REPORT has no Init Duration, as on Lambda
            self._init_ms = None
        self._enter(EnvState.IDLE)

    # --- endings -----------------------------------------------------------------------------

    def _init_timed_out(self) -> None:
        if self.state is not EnvState.STARTING:
            return
        if debugging.suspends_timeout(self.settings.debug, self.spec):
            return  # a debugger holds it (SAM CLI, too, has no timeout while debugging)
        phase: Literal["init", "invoke"] = "invoke" if self.suppressed_for else "init"
        line = self.platform_log.init_report(
            init_duration_ms=self.init_limit * 1000, phase=phase, status="timeout"
        )
        self._init_report = line
        self.output.platform(None, line)
        asyncio.get_running_loop().create_task(self.kill("init timeout"))

    def _invocation_timed_out(self) -> None:
        invocation = self._current
        if invocation is None:
            return
        if debugging.suspends_timeout(self.settings.debug, self.spec):
            return  # a debugger holds it (SAM CLI, too, has no timeout while debugging)
        self._current = None
        timed_out = self.platform_log.timeout(invocation.request_id, self.spec.timeout)
        self.output.platform(invocation, timed_out)
        result = timeout_result(invocation.request_id, self.spec.timeout)
        self._break_stream(result)
        self._end(invocation, status="timeout", error_type=None)
        invocation.resolve(result)
        asyncio.get_running_loop().create_task(self.kill("timeout"))

    async def _watch_exit(self) -> None:
        returncode = await self.runtime.wait()
        if self.runtime.launcher:  # the external extensions' Shutdown phase comes first
            await self._extensions_shutdown()
        await self.runtime.end_leftovers()
        await self.runtime.drain()  # the output comes before the lines about the end
        previous = self.state
        self._died_starting = previous is EnvState.STARTING
        self._enter(EnvState.DEAD)
        invocation = self._current
        self._current = None
        if invocation is not None:
            self._crashed(invocation, returncode)
        elif previous is EnvState.STARTING and (
            self._death_reason is None or self.extension_error is not None
        ):
            self._init_failed(returncode)
        self._finish_end()  # an END held for the extensions (one crashed meanwhile)
        await self._close()
        self.events.dead(self, invocation)

    async def _extensions_shutdown(self) -> None:
        """The runtime ended: the Shutdown phase of ``shutdown()`` goes on, or the one of a
        reset (timeout, crash) begins, with its reason."""
        if self._shutdown_phase is not None:
            await asyncio.shield(self._shutdown_phase)
            return
        reason = "timeout" if self._death_reason == "timeout" else "failure"
        if self._death_reason == "shutdown":
            reason = "spindown"
        await self._shutdown(reason, runtime_gone=True)

    def _crashed(self, invocation: PendingInvocation, returncode: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        oom = self.guard.oom_killed()
        reason = exit_reason(returncode)
        self.output.platform(
            invocation,
            f"RequestId: {invocation.request_id} Error: Runtime exited with error: {reason}",
        )
        result = exit_result(invocation.request_id, reason, out_of_memory=oom)
        if self.extension_error is not None:
            result = self._extension_result(invocation)
        self._break_stream(result)
        self._end(invocation, status="error", error_type=result.error_type)
        invocation.resolve(result)

    def _init_failed(self, returncode: int) -> None:
        """The runtime exited during init: report it as Lambda does (INIT_REPORT)."""
        error_type = "Runtime.ExitError"
        if self.extension_error is not None:
            error_type = self.extension_error.error_type
        elif self.entrypoint_error is not None:
            error_type = "Runtime.InvalidEntrypoint"
        elif self.init_error_body is not None and self.init_error_body[1]:
            error_type = self.init_error_body[1]
        self._init_report = self.platform_log.init_report(
            init_duration_ms=(time.monotonic() - self._started) * 1000,
            phase="invoke" if self.suppressed_for else "init", status="error",
            error_type=error_type,
        )  # fmt: skip
        self.output.platform(None, self._init_report)
        self.init_exit_code = returncode

    def died_in_init(self) -> bool:
        """The process ended before its runtime first asked for work (and not on request)."""
        return self._died_starting and self._death_reason != "shutdown"

    def init_timed_out(self) -> bool:
        return self._death_reason == "init timeout"

    def init_failure(self, invocation: PendingInvocation) -> InvocationResult:
        """What the invocation that waited for this environment's init receives."""
        if self.extension_error is not None:
            return self._extension_result(invocation)
        if self.entrypoint_error is not None:
            return entrypoint_result(invocation.request_id, self.entrypoint_error)
        if self.init_error_body is not None:
            body, error_type = self.init_error_body
            return InvocationResult(
                outcome=Outcome.ERROR, body=body, error_type=error_type or "Runtime.Unknown"
            )
        return exit_result(invocation.request_id, exit_reason(self.init_exit_code))

    def _extension_result(self, invocation: PendingInvocation) -> InvocationResult:
        assert self.extension_error is not None
        error_type = self.extension_error.error_type
        message = f"RequestId: {invocation.request_id} Error: {self.extension_error}"
        body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
        return InvocationResult(outcome=Outcome.CRASH, body=body, error_type=error_type)

    def fail_init(
        self, invocation: PendingInvocation, result: InvocationResult | None = None
    ) -> None:
        """Answer the invocation that waited for this environment's failed init (``result``,
        else ``init_failure``), with the log Lambda writes for an init that failed in the
        invoke phase: START, the init's output and INIT_REPORT (in its log tail), END, and a
        REPORT with the status. A caller that asked for the log tail gets it complete."""
        result = result or self.init_failure(invocation)
        self.output.platform(invocation, self.platform_log.start(invocation.request_id))
        invocation.tail.append(self.output.init_output.value())
        if self._init_report is not None:
            invocation.tail.append(self._init_report.encode() + b"\n")
        timed_out = result.outcome is Outcome.TIMEOUT
        self._init_ms = None  # REPORT's Init Duration is for a successful init only
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
        duration = duration_ms
        if duration is None:
            duration = (time.monotonic() - self._invoke_started) * 1000
        init_ms, self._init_ms = self._init_ms, None
        peak = self.guard.peak_bytes()
        used = reports.bytes_to_mb(peak) if peak is not None else self.spec.memory_size
        lines = self.platform_log.end(
            invocation.request_id, duration_ms=duration, memory_size_mb=self.spec.memory_size,
            max_memory_used_mb=used, init_duration_ms=init_ms, status=status,
            error_type=error_type,
        )  # fmt: skip
        # platform() first ends a partial line, still in the log of the invocation it belongs to.
        self.output.platform(invocation, lines)
        self.output.target = None
        invocation.reported.set()
        # Checked in the next turn: deliver() ends the previous invocation just before it
        # hands out the next one, and must not freeze what it is about to thaw.
        asyncio.get_running_loop().call_soon(self._freeze_if_idle)
