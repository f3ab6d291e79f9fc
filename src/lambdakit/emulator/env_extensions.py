"""An execution environment's extensions: the gates of its phases, and its Shutdown phase.

``ExecutionEnvironment`` (environments.py) owns one ``ExtensionPhases``: it holds the states and
every transition; this holds what the Extensions API adds to them
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html;
lambda-runtime-environment.html; reference §2.1):

- the runtime starts once every external extension has registered (``start_runtime``);
- init ends, and each invocation ends, only when every extension has called ``next`` since its
  last event (``settled``); each invocation is an INVOKE event to its subscribers (``invoke``);
- an extension that exits outside the Shutdown phase fails the init or the invocation
  (``exited``, ``failure_result``: ``Extension.Crash`` or what it reported);
- the Shutdown phase: with no extension there is none (SIGKILL at once); otherwise SIGTERM and
  its share of the time to the runtime, SHUTDOWN with its reason and deadline to the external
  extensions, SIGKILL at the deadline (``spindown``, ``after_runtime_exit``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable

from lambdakit.emulator.extensions import ExtensionFailure, Extensions
from lambdakit.emulator.invocations import (
    InvocationResult,
    Outcome,
    PendingInvocation,
    exit_reason,
)
from lambdakit.emulator.runtime_process import RuntimeProcess
from lambdakit.emulator.settings import Settings

__all__ = ["ExtensionPhases"]


class ExtensionPhases:
    """The extensions of one environment and the phases they hold open. METADATA is the
    register response's document (runtimes-extensions-api.html#extensions-registration-api-a)."""

    def __init__(
        self,
        runtime: RuntimeProcess,
        settings: Settings,
        metadata: Callable[[], dict[str, str]],
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.extensions = Extensions((), metadata)
        self.failure: ExtensionFailure | None = None  # what ended init or invocation
        self._shutdown: asyncio.Task[None] | None = None
        self.shutting_down = False  # in the Shutdown phase: an extension's exit is expected

    def any(self) -> bool:
        """Whether an extension registered: the environment then has a Shutdown phase."""
        return self.extensions.any()

    async def start_runtime(self) -> None:
        """Lambda starts the runtime once every external extension has registered (the
        launcher waits for this); an extension that exits first fails the init."""
        try:
            await self.extensions.until(self.extensions.all_external_registered)
        except (ExtensionFailure, asyncio.CancelledError):
            return
        self.runtime.release()

    def exited(self, name: str, returncode: int, *, ending: bool) -> ExtensionFailure | None:
        """An external extension's process ended: outside the Shutdown phase (unless the
        environment is ENDING anyway) that fails the init or the invocation (Extension.Crash,
        or what it reported); the failure, which the environment ends with."""
        agent = self.extensions.exited(name, returncode)
        if ending or self.shutting_down:
            return None
        error_type = (agent.error_type if agent else None) or "Extension.Crash"
        failure = ExtensionFailure(
            error_type, f"extension {name} exited: {exit_reason(returncode)}"
        )
        self.failure = failure
        self.extensions.fail(failure)
        return failure

    async def settled(self) -> None:
        """Until every extension has called next since its last event; an extension's failure
        ends this request (the environment is being ended: ``exited``)."""
        if self.extensions.any():
            try:
                await self.extensions.until(self.extensions.settled)
            except ExtensionFailure as failure:
                raise ConnectionError(str(failure)) from None

    def invoke(
        self,
        invocation: PendingInvocation,
        deadline_ms: Callable[[], int],
        arn: Callable[[], str],
    ) -> None:
        """The INVOKE event (runtimes-extensions-api.html#extensions-api-next) to the
        extensions subscribed to it; like RIE, no ``tracing`` without a trace id. The
        deadline and the ARN are asked for only when some extension is."""
        if not self.extensions.subscribed("INVOKE"):
            return
        event: dict[str, object] = {
            "eventType": "INVOKE", "deadlineMs": deadline_ms(),
            "requestId": invocation.request_id, "invokedFunctionArn": arn(),
        }  # fmt: skip
        if invocation.trace_id:
            event["tracing"] = {"type": "X-Amzn-Trace-Id", "value": invocation.trace_id}
        self.extensions.dispatch(event)

    def failure_result(self, invocation: PendingInvocation) -> InvocationResult:
        """What an invocation that an extension's failure ended receives."""
        assert self.failure is not None
        error_type = self.failure.error_type
        message = f"RequestId: {invocation.request_id} Error: {self.failure}"
        body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
        return InvocationResult(outcome=Outcome.CRASH, body=body, error_type=error_type)

    # --- the Shutdown phase ------------------------------------------------------------------

    async def spindown(self) -> None:
        """The Shutdown phase of an environment shut down on purpose (reason ``spindown``);
        the runtime's exit, which comes in the middle of it, waits for it
        (``after_runtime_exit``)."""
        if self._shutdown is None:  # else the one of a reset is under way: it is the one
            self._shutdown = asyncio.create_task(self.phase("spindown"))
        await asyncio.shield(self._shutdown)

    async def after_runtime_exit(self, death_reason: str | None) -> None:
        """The runtime ended: the Shutdown phase of ``spindown`` goes on, or the one of a
        reset (timeout, crash) begins, with its reason."""
        if self._shutdown is not None:
            await asyncio.shield(self._shutdown)
            return
        reason = "timeout" if death_reason == "timeout" else "failure"
        if death_reason == "shutdown":
            reason = "spindown"
        self._shutdown = asyncio.create_task(self.phase(reason, runtime_gone=True))
        await asyncio.shield(self._shutdown)

    async def phase(self, reason: str, *, runtime_gone: bool = False) -> None:
        """Lambda's Shutdown phase with extensions (lambda-runtime-environment.html, "Shutdown
        phase"; reference §2.1): SIGTERM and its share of the time to the runtime, then
        SHUTDOWN (REASON, the deadline) to the external extensions subscribed to it, SIGKILL
        at the deadline. Extensions not subscribed to SHUTDOWN are killed at once (as RIE)."""
        self.shutting_down = True
        settings, external = self.settings, bool(self.extensions.external_agents())
        share = settings.runtime_share_internal
        if external and not self.extensions.internal():
            share = settings.runtime_share
        total = settings.shutdown_grace if external else share
        started = time.monotonic()
        deadline_ms = int((time.time() + total) * 1000)
        if not runtime_gone:
            await self._terminate_runtime(share)
        if external:
            self._tell_external(reason, deadline_ms)
            left = max(0.0, total - (time.monotonic() - started))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.runtime.ended(), left)
        self.runtime.signal(signal.SIGKILL)

    async def _terminate_runtime(self, share: float) -> None:
        """SIGTERM, and SIGKILL once the runtime's SHARE of the phase is over."""
        self.runtime.signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(self.runtime.wait()), share)
        except asyncio.TimeoutError:
            self.runtime.kill_runtime()

    def _tell_external(self, reason: str, deadline_ms: int) -> None:
        """SHUTDOWN to the external extensions subscribed to it; the others are killed."""
        event = {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
        told = {agent.name for agent in self.extensions.dispatch(event, external_only=True)}
        for name, group in self.runtime.extension_groups().items():
            if name not in told:
                with contextlib.suppress(OSError):
                    os.killpg(group, signal.SIGKILL)
