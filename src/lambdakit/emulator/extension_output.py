"""What an environment's external extensions write: the same log as the runtime's, told apart.

On Lambda an external extension's stdout and stderr go to the function's log stream in
CloudWatch, as the runtime's do, and to the Telemetry and Logs API subscribers as records of
their own kind: ``"type": "extension"``, which a subscriber gets only if it asked for
``extension`` (https://docs.aws.amazon.com/lambda/latest/dg/telemetry-api.html, "Telemetry API
event types"; runtimes-logs-api.html, "Log stream types"). The launcher gives the extensions
pipes of their own (extension_launcher.py); this is their ``OutputLog``: it prints their lines
as the runtime's are printed and puts them in the same log (the invocation's tail, or the
init's output), but keeps its own partial lines, so that a line the runtime has not ended is
never joined to one of an extension's, and tells its telemetry sink the lines are the
extensions'.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lambdakit.emulator.output_log import OutputLog

if TYPE_CHECKING:
    from lambdakit.emulator.invocations import PendingInvocation

__all__ = ["ExtensionOutput"]


class ExtensionOutput(OutputLog):
    """The extensions' output of the environment whose runtime's output is RUNTIME: its
    invocation (``target``) and its init's output are RUNTIME's. ``telemetry`` is the sink of
    ``extension`` records (``telemetry_hub.Telemetry.extension_output``)."""

    def __init__(self, runtime: OutputLog, *, in_init: Callable[[], bool]) -> None:
        self._runtime = runtime
        # LoggingConfig's level filter is for the function's own lines; none here.
        super().__init__(
            function=runtime.function, env_id=runtime.env_id, printer=runtime.printer,
            in_init=in_init,
        )  # fmt: skip
        self.init_output = runtime.init_output

    @property
    def target(self) -> PendingInvocation | None:
        """The invocation whose log the output belongs to: the runtime's."""
        return self._runtime.target

    @target.setter
    def target(self, invocation: PendingInvocation | None) -> None:
        """Set by the runtime's log alone (START and END are written there)."""
