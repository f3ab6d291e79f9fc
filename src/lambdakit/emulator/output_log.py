"""An environment's output on its way to the terminal and to the log it belongs to.

What a runtime writes to stdout and stderr, and the platform lines written about it (START,
END, REPORT...), go two ways: to the printer (the terminal, prefixed per line) and to the log
of the invocation it belongs to (its ``LogType: Tail``) or, while the runtime runs its init, to
the init's output, which the first invocation's tail begins with. On Lambda the invocation's
log is complete when it ends, newline or not, so a partial line is not kept waiting for one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from lambdakit.emulator import reports
from lambdakit.emulator.process_env import OUTPUT_PIECE, OutputPipe, pipe_pending

if TYPE_CHECKING:
    from lambdakit.emulator.invocations import PendingInvocation

__all__ = ["OutputLog"]


class OutputLog:
    """The output of one environment. TARGET is the invocation whose log the output belongs to
    (set at its START, cleared at its END); IN_INIT says whether the runtime is in its init;
    APP_FILTER is ``LoggingConfig``'s filter of the function's lines (``platform_log``)."""

    def __init__(
        self,
        *,
        function: str,
        env_id: str,
        printer: reports.LogPrinter,
        in_init: Callable[[], bool],
        app_filter: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.function = function
        self.env_id = env_id
        self.printer = printer
        self.init_output = reports.LogTail()  # what the runtime wrote during its init
        self.target: PendingInvocation | None = None
        self._in_init = in_init
        self._app_filter = app_filter
        # The environment's Telemetry and Logs API subscribers (telemetry_hub.py): told the
        # function's lines as they are written, after LoggingConfig's filter.
        self.telemetry: Callable[[bytes], None] | None = None
        # The output read after the last newline of one stream (``take``), and that stream.
        self._partial = b""
        self._partial_from: reports.Stream | None = None
        self._due: Callable[[], None] | None = None  # write_first's step

    def write_first(self, step: Callable[[], None]) -> None:
        """Have STEP, which writes lines of its own, run before any other line is passed on
        (``run_due``): the environment defers its END, REPORT and START this way, and they
        still come before the output and the lines that follow them."""
        self._due = step

    def due(self) -> bool:
        return self._due is not None

    def run_due(self) -> None:
        """Run the step ``write_first`` left, if it has not run yet."""
        step, self._due = self._due, None
        if step is not None:
            step()

    def platform(self, invocation: PendingInvocation | None, text: str | None) -> None:
        """A platform line; None (filtered out by SystemLogLevel) still ends a partial line."""
        if self._due is not None:
            self.run_due()
        if self._partial_from is not None:  # the output written before this line comes first
            self.close_partial_line()
        if text is None:
            return
        if invocation is not None and invocation.tail is not None:
            invocation.tail.append(text.encode() + b"\n")
        self.printer.print(self._line("platform", text))

    async def pump(self, pipe: asyncio.StreamReader, stream: reports.Stream) -> None:
        """Copy the process's output, as it arrives, to the printer and to the log it belongs
        to (``take``); a last line without a newline is passed on at the end."""
        try:
            while data := await pipe.read(OUTPUT_PIECE):
                self.take(stream, data)
        finally:  # also when cancelled (an escaped writer, _drain_outputs): keep what was read
            if self._partial_from == stream:
                self.close_partial_line()

    def take(self, stream: reports.Stream, data: bytes) -> None:
        """Pass on the complete lines of ``data`` and keep the rest as the partial line. A
        partial line ends when the other stream writes (which keeps the order in which the two
        were written), when a platform line is written (END above all), and at the end of the
        output. One longer than OUTPUT_PIECE goes in pieces, as asyncio would have read it."""
        if self._due is not None:
            self.run_due()
        if self._partial_from == stream:
            data = self._partial + data
        elif self._partial_from is not None:
            self.close_partial_line()
        cut = data.rfind(b"\n") + 1
        if cut:
            self._emit(stream, data[:cut])
        while len(data) - cut > OUTPUT_PIECE:
            self._emit(stream, data[cut : cut + OUTPUT_PIECE])
            cut += OUTPUT_PIECE
        self._partial = data[cut:]
        self._partial_from = stream if self._partial else None

    def close_partial_line(self) -> None:
        if self._due is not None:
            self.run_due()
        stream, self._partial_from = self._partial_from, None
        if stream is not None:
            self._emit(stream, self._partial + b"\n")
            self._partial = b""

    async def settle(
        self, process: asyncio.subprocess.Process | None, outputs: Sequence[OutputPipe]
    ) -> None:
        """Let the pumps catch up before END is written: a runtime writes its logs and then
        answers, but the answer can be read before the pipes are. Waits (50 ms at most) until
        no byte is left unread in the pipes or the stream buffers; END then ends a partial
        line as the invocation's last."""
        for _ in range(50):
            if not unread(process, outputs):
                return
            await asyncio.sleep(0.001)

    def _emit(self, stream: reports.Stream, output: bytes) -> None:
        """Output (whole lines, or a piece of a long one) to the log it belongs to (the
        invocation's until its END, the init's while it runs) and, as one entry, to the
        printer, which prefixes each of its lines."""
        if self._app_filter is not None:  # LogFormat JSON: Lambda drops lines below the level
            output = self._app_filter(output)
            if not output:
                return
        if self.telemetry is not None:
            self.telemetry(output)
        target = self.target
        if target is not None:
            if target.tail is not None:
                target.tail.append(output)
        elif self._in_init():
            self.init_output.append(output)
        text = output.decode("utf-8", "replace")
        self.printer.print(self._line(stream, text[:-1] if text.endswith("\n") else text))

    def _line(self, stream: reports.Stream, text: str) -> reports.LogLine:
        return reports.LogLine(
            function=self.function, env_id=self.env_id, stream=stream, text=text, time=time.time()
        )


def unread(process: asyncio.subprocess.Process | None, outputs: Sequence[OutputPipe]) -> bool:
    """Whether output of a running PROCESS is left in its pipes or their stream buffers."""
    if process is None or process.returncode is not None:
        return False
    for pipe in outputs:
        reader = pipe.reader
        if getattr(reader, "_buffer", None):  # read, not yet taken by the pump
            return True
        if not getattr(reader, "_eof", True) and pipe_pending(pipe.fd):
            return True  # once at EOF the descriptor is closed, perhaps reused
    return False
