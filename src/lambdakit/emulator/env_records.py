"""What the platform writes and answers about one execution environment's init and invocations.

``ExecutionEnvironment`` (environments.py) decides when its init and its invocations end (its
states and transitions); this keeps the facts those endings are told with, and tells them as
Lambda does (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html;
reference §1): INIT_REPORT for an init that failed or timed out, START / END / REPORT (with
Init Duration after a cold start, Max Memory Used from the guard), the error line of a runtime
that exited, and the answer the waiting invocation receives (``init_failure``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from lambdakit.emulator import reports
from lambdakit.emulator.env_extensions import ExtensionPhases
from lambdakit.emulator.invocations import (
    InvocationResult,
    Outcome,
    PendingInvocation,
    entrypoint_result,
    exit_reason,
    exit_result,
    timeout_result,
)
from lambdakit.emulator.output_log import OutputLog
from lambdakit.emulator.platform_log import PlatformLog

if TYPE_CHECKING:
    from lambdakit.emulator.limits import MemoryGuard
    from lambdakit.template import FunctionSpec

__all__ = ["EnvRecords", "Phase"]

Phase = Literal["init", "invoke"]
"""The phase an init ran in: ``invoke`` for a suppressed init, retried in an invocation."""


class EnvRecords:
    """The record of one environment: its init's outcome, and the lines that end its init and
    its invocations. PHASES says whether an extension's failure ended them."""

    def __init__(
        self,
        spec: FunctionSpec,
        platform_log: PlatformLog,
        output: OutputLog,
        guard: MemoryGuard,
        phases: ExtensionPhases,
    ) -> None:
        self.spec = spec
        self.platform_log = platform_log
        self.output = output
        self.guard = guard
        self.phases = phases
        self.started = time.monotonic()  # the init's start
        self.init_ms: float | None = None  # for the next REPORT's Init Duration (cold start)
        self.init_error_body: tuple[bytes, str | None] | None = None  # from /init/error
        self.entrypoint_error: str | None = None  # Lambda's words, when there is no bootstrap
        self.init_exit_code = 1
        self._init_report: str | None = None  # the INIT_REPORT line of a failed init
        self.max_memory_mb: int | None = None  # the last REPORT's Max Memory Used
        # The Logs API's platform.fault, for the subscribers (telemetry_hub.Telemetry.fault).
        self.fault: Callable[[str], None] | None = None

    # --- init --------------------------------------------------------------------------------

    def init_begins(self) -> None:
        """The Init phase begins now (an image's: once its container starts, not at the spawn)."""
        self.started = time.monotonic()

    def init_done(self, *, provisioned: bool) -> None:
        self.init_ms = (time.monotonic() - self.started) * 1000
        if (records := self.platform_log.init_done(self.init_ms)) is not None:
            self.output.platform(None, records)
        if provisioned:  # no cold start: REPORT has no Init Duration, as on Lambda
            self.init_ms = None

    def init_timed_out(self, limit: float, phase: Phase) -> None:
        line = self.platform_log.init_report(
            init_duration_ms=limit * 1000, phase=phase, status="timeout"
        )
        self._init_report = line
        self.output.platform(None, line)

    def init_failed(self, returncode: int, phase: Phase) -> None:
        """The runtime exited during init: report it as Lambda does (INIT_REPORT)."""
        error_type = "Runtime.ExitError"
        if self.phases.failure is not None:
            error_type = self.phases.failure.error_type
        elif self.entrypoint_error is not None:
            error_type = "Runtime.InvalidEntrypoint"
        elif self.init_error_body is not None and self.init_error_body[1]:
            error_type = self.init_error_body[1]
        self._init_report = self.platform_log.init_report(
            init_duration_ms=(time.monotonic() - self.started) * 1000,
            phase=phase, status="error", error_type=error_type,
        )  # fmt: skip
        self.output.platform(None, self._init_report)
        self.init_exit_code = returncode

    def init_failure(self, invocation: PendingInvocation) -> InvocationResult:
        """What the invocation that waited for this environment's init receives."""
        if self.phases.failure is not None:
            return self.phases.failure_result(invocation)
        if self.entrypoint_error is not None:
            return entrypoint_result(invocation.request_id, self.entrypoint_error)
        if self.init_error_body is not None:
            body, error_type = self.init_error_body
            return InvocationResult(
                outcome=Outcome.ERROR, body=body, error_type=error_type or "Runtime.Unknown"
            )
        return exit_result(invocation.request_id, exit_reason(self.init_exit_code))

    def start_failed_init(self, invocation: PendingInvocation) -> None:
        """START for the invocation that waited for a failed init, with the init's output and
        INIT_REPORT in its log tail; its END and REPORT (``end``) carry no Init Duration."""
        self.output.platform(invocation, self.platform_log.start(invocation.request_id))
        tail = invocation.tail
        if tail is not None:
            tail.append(self.output.init_output.value())
            if self._init_report is not None:
                tail.append(self._init_report.encode() + b"\n")
        self.init_ms = None  # REPORT's Init Duration is for a successful init only

    # --- invocations -------------------------------------------------------------------------

    def timed_out(self, invocation: PendingInvocation) -> InvocationResult:
        """The invocation ran out of time: the platform's line, and what its caller gets."""
        timed_out = self.platform_log.timeout(invocation.request_id, self.spec.timeout)
        self.output.platform(invocation, timed_out)
        return timeout_result(invocation.request_id, self.spec.timeout)

    def crashed(self, invocation: PendingInvocation, returncode: int) -> InvocationResult:
        """The runtime exited during the invocation: Lambda's line, and what its caller gets
        (the extension's failure, when one ended it)."""
        oom = self.guard.oom_killed()
        reason = exit_reason(returncode)
        self.output.platform(
            invocation,
            f"RequestId: {invocation.request_id} Error: Runtime exited with error: {reason}",
        )
        if self.fault is not None:  # the Logs API's example of platform.fault, word for word
            self.fault(
                f"RequestId: {invocation.request_id} Process exited before completing request"
            )
        if self.phases.failure is not None:
            return self.phases.failure_result(invocation)
        return exit_result(invocation.request_id, reason, out_of_memory=oom)

    def end(
        self,
        invocation: PendingInvocation,
        *,
        status: str | None,
        error_type: str | None,
        duration_ms: float,
    ) -> None:
        """END and REPORT; the invocation's output ends with them."""
        init_ms, self.init_ms = self.init_ms, None
        peak = self.guard.peak_bytes()
        used = reports.bytes_to_mb(peak) if peak is not None else self.spec.memory_size
        self.max_memory_mb = used
        lines = self.platform_log.end(
            invocation.request_id, duration_ms=duration_ms, memory_size_mb=self.spec.memory_size,
            max_memory_used_mb=used, init_duration_ms=init_ms, status=status,
            error_type=error_type,
        )  # fmt: skip
        # platform() first ends a partial line, still in the log of the invocation it belongs to.
        self.output.platform(invocation, lines)
        self.output.target = None
        invocation.reported.set()
