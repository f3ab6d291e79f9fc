r"""The emulator's platform log lines in Lambda's format, the 4 KB log tail, and the printer.

Formats (lambda-wire-protocol.md §4.5 and §6.1; awsdocs ``nodejs-logging.md``)::

    START RequestId: <id> Version: $LATEST
    END RequestId: <id>
    REPORT RequestId: <id>\tDuration: 26.73 ms\tBilled Duration: 194 ms\tMemory Size: 128 MB\t
        Max Memory Used: 75 MB\tInit Duration: 166.62 ms\t
    REPORT ...\tMax Memory Used: 75 MB\tStatus: error\tError Type: Runtime.OutOfMemory
    2026-11-27T18:17:09.948Z <id> Task timed out after 3.00 seconds
    INIT_REPORT Init Duration: 154.03 ms\tPhase: init\tStatus: error\tError Type: Runtime.ExitError

Where AWS documents no rule, these are the choices made here:

- Billed Duration is ceil(Duration + Init Duration) in whole milliseconds, and at least 1.
  Lambda has billed per millisecond, rounded up, since December 2020. Custom runtimes
  (``provided.*``) and container images have always had their Init phase billed on the first
  invocation ("When is the Lambda Init Phase Free, and when is it Billed", Bite-Sized
  Serverless). Since 1 August 2025 every on-demand function has (AWS Compute Blog, "AWS Lambda
  standardizes billing for INIT Phase"). This emulator runs ``bootstrap`` executables, so
  it always adds Init.
- Max Memory Used is the peak in bytes, rounded up to whole MiB (``bytes_to_mb``).
- A REPORT line without a status ends with a tab, as Lambda's always have. With a status, the
  line ends with the last field (``...\tStatus: timeout``), as in public log excerpts.
- X-Amz-Log-Result is the last 4096 bytes of the invocation's log. If the cut falls inside a
  UTF-8 sequence, that sequence's leading bytes are dropped, so the tail decodes cleanly.
"""

from __future__ import annotations

import asyncio
import base64
import math
import os
import sys
import time
import zlib
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Literal, NamedTuple, TextIO

import click

from lambdakit.emulator import console

__all__ = [
    "LogLine",
    "LogPrinter",
    "LogTail",
    "Stream",
    "billed_duration_ms",
    "bytes_to_mb",
    "end_line",
    "function_colour",
    "init_report_line",
    "iso_timestamp",
    "report_line",
    "start_line",
    "timeout_line",
    "unfold",
]

MIB = 1024 * 1024
TAIL_BYTES = 4096  # "the last 4 KB of the execution log" (Invoke API, LogType=Tail)

Stream = Literal["stdout", "stderr", "platform"]


# --- platform lines ----------------------------------------------------------------------------


def start_line(request_id: str, version: str = "$LATEST") -> str:
    return f"START RequestId: {request_id} Version: {version}"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}"


def report_line(
    request_id: str,
    *,
    duration_ms: float,
    memory_size_mb: int,
    max_memory_used_mb: int,
    init_duration_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
) -> str:
    """The REPORT line. Pass ``init_duration_ms`` only for the environment's first invocation.
    ``status`` is "timeout" or "error" ("success" is left out, as Lambda does)."""
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {billed_duration_ms(duration_ms, init_duration_ms)} ms\t"
        f"Memory Size: {memory_size_mb} MB\tMax Memory Used: {max_memory_used_mb} MB"
    )
    if init_duration_ms is not None:
        line += f"\tInit Duration: {init_duration_ms:.2f} ms"
    if status is None and error_type is None:  # every successful invocation: one format
        return line + "\t"
    outcome = _status_fields(status, error_type)
    return "\t".join([line, *outcome]) if outcome else line + "\t"


def timeout_line(request_id: str, timeout_s: float, *, now: float | None = None) -> str:
    """``<timestamp> <id> Task timed out after 3.00 seconds``; ``now`` is epoch seconds."""
    stamp = iso_timestamp(time.time() if now is None else now)
    return f"{stamp} {request_id} Task timed out after {timeout_s:.2f} seconds"


def init_report_line(
    *,
    init_duration_ms: float,
    phase: Literal["init", "invoke"],
    status: str,
    error_type: str | None = None,
) -> str:
    """The line Lambda logs when init fails ("error") or overruns ("timeout"). ``phase`` is
    "invoke" for a suppressed init that was retried inside the first invocation."""
    fields = [f"INIT_REPORT Init Duration: {init_duration_ms:.2f} ms", f"Phase: {phase}"]
    return "\t".join(fields + _status_fields(status, error_type))


def _status_fields(status: str | None, error_type: str | None) -> list[str]:
    fields = [f"Status: {status}"] if status and status != "success" else []
    return fields + ([f"Error Type: {error_type}"] if error_type else [])


def billed_duration_ms(duration_ms: float, init_duration_ms: float | None = None) -> int:
    """Whole milliseconds, rounded up, Init included (see the module docstring)."""
    total = duration_ms + (init_duration_ms or 0.0)
    # Round away float noise first: 1.1 + 1.9 must bill 3 ms, not 4.
    return max(1, math.ceil(round(total, 6)))


def bytes_to_mb(n: int) -> int:
    """Bytes to whole MiB, rounded up: any use shows as at least 1 MB."""
    return -(-max(0, n) // MIB)


def iso_timestamp(epoch: float) -> str:
    """``2026-11-27T18:17:09.948Z``: UTC with milliseconds, as Lambda stamps its lines."""
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the log tail ------------------------------------------------------------------------------


class LogTail:
    """The last 4 KB of one invocation's log (function output and the START/END/REPORT lines)
    for the X-Amz-Log-Result header."""

    def __init__(self, limit: int = TAIL_BYTES) -> None:
        self._limit = limit
        self._buffer = bytearray()
        self._cut = False

    def append(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > 2 * self._limit:  # trim now and then: amortised O(1)
            del self._buffer[: -self._limit]
            self._cut = True

    def value(self) -> bytes:
        """The last ``limit`` bytes, without the partial UTF-8 sequence the cut may leave."""
        tail = bytes(self._buffer[-self._limit :])
        if self._cut or len(self._buffer) > self._limit:
            tail = _drop_partial_sequence(tail)
        return tail

    def base64(self) -> str:
        return base64.b64encode(self.value()).decode("ascii")


def _drop_partial_sequence(data: bytes) -> bytes:
    # Continuation bytes are 10xxxxxx; a UTF-8 sequence has at most three of them.
    start = 0
    while start < min(3, len(data)) and data[start] & 0xC0 == 0x80:
        start += 1
    return data[start:]


# --- printing ----------------------------------------------------------------------------------


class LogLine(NamedTuple):
    """One line of an environment's output, or one platform line (START, END, REPORT...). A
    named tuple, not a frozen dataclass: three or more are made per invocation, and a frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``."""

    function: str
    env_id: str
    stream: Stream
    text: str
    time: float  # epoch seconds


# Colours that read on dark and light terminals; red stays free for errors.
_PALETTE = (
    "cyan", "green", "yellow", "blue", "magenta",
    "bright_cyan", "bright_green", "bright_yellow", "bright_blue", "bright_magenta",
)  # fmt: skip


def function_colour(function: str) -> str:
    """A colour per function, stable across runs (crc32, not the salted ``hash``)."""
    return _PALETTE[zlib.crc32(function.encode()) % len(_PALETTE)]


class LogPrinter:
    r"""Writes lines as ``[function] text``: coloured per function on a terminal (platform lines
    dimmed), plain otherwise. ``color`` forces either; NO_COLOR (no-color.org) turns it off.

    Lambda's runtimes write a multi-line record (a traceback) as one line whose lines are
    separated by ``\r``, so that CloudWatch keeps it one event (awslambdaric's
    ``StandardLogSink``). Printed raw on a terminal, each ``\r`` sends the cursor back and the
    next line overwrites the last; so on a terminal (``terminal``, by default whether the
    stream is a tty) those lines are printed one below the other, aligned under the record's
    first (``unfold``). In a pipe or a file the record stays one line, ``\r`` and all, as
    CloudWatch has it and tools parse it.

    Inside an event loop, lines are rendered and written together ``FLUSH_DELAY`` after the
    first of them: one system call for many lines (even on an unbuffered stream, as with
    PYTHONUNBUFFERED), made after the invocation's answer has gone out rather than before.
    While lines keep coming (a batch began less than ``BUSY_WINDOW`` before), the batch waits
    ``BUSY_FLUSH_DELAY`` instead: each write wakes the writer's thread, and at thousands of
    invocations a second those wake-ups were a tenth of the emulator's CPU
    (docs/benchmarks.md).
    The writing is the stream's ``console.ConsoleWriter``'s, so a reader that does not keep up
    costs dropped lines, never a blocked event loop.
    """

    FLUSH_DELAY = 0.002  # seconds: far below what a reader notices
    BUSY_FLUSH_DELAY = 0.02  # seconds: still below what a reader notices
    BUSY_WINDOW = 0.1  # seconds between the starts of two batches that make the printer busy

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        color: bool | None = None,
        terminal: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self._writer = console.writer_for(self.stream)
        self._flush_pending = False
        self._batch_began = -math.inf  # loop time at which the last batch began
        self._pending: list[LogLine] = []
        self.color = _wants_color(self.stream) if color is None else color
        self.terminal = _isatty(self.stream) if terminal is None else terminal
        self._clock = clock
        # Told every line as it is printed: the browser console's hub (webconsole/hub.py).
        self.tap: Callable[[LogLine], None] | None = None

    def print(self, line: LogLine) -> None:
        self._pending.append(line)
        if self.tap is not None:
            self.tap(line)
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._flush_pending = True
        now = loop.time()
        busy = now - self._batch_began < self.BUSY_WINDOW
        self._batch_began = now
        loop.call_later(self.BUSY_FLUSH_DELAY if busy else self.FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Hand the lines printed so far to the writer."""
        self._flush_pending = False
        lines, self._pending = self._pending, []
        if lines:
            self._writer.write("".join([self.render(line) + "\n" for line in lines]))

    def close(self, timeout: float = 1.0) -> bool:
        """Flush, and wait at most ``timeout`` seconds for a reader to take the lines; returns
        whether it did. The printer stays usable."""
        self.flush()
        return self._writer.flush(timeout)

    def emit(self, function: str, env_id: str, stream: Stream, text: str) -> LogLine:
        """Print a line stamped with the printer's clock; returns it."""
        line = LogLine(function, env_id, stream, text, self._clock())
        self.print(line)
        return line

    def render(self, line: LogLine) -> str:
        r"""The line as printed (without the newline): every physical line gets the prefix; on
        a terminal, a record's ``\r``-separated lines are indented under its first."""
        if not self.color and not self.terminal:  # a file or a pipe: each line prefixed
            prefix = f"[{line.function}] "
            return prefix + line.text.replace("\n", "\n" + prefix)
        prefix = f"[{line.function}]"
        indent = " " * (len(prefix) + 1)
        if self.color:
            prefix = click.style(prefix, fg=function_colour(line.function), bold=True)
        dim = self.color and line.stream == "platform"
        rendered = []
        for part in line.text.split("\n"):
            rows = unfold(part) if self.terminal else [part]
            if dim:
                rows = [click.style(row, dim=True) for row in rows]
            rendered.append(f"\n{indent}".join(rows))
        return "\n".join(f"{prefix} {part}" for part in rendered)


def unfold(record: str) -> list[str]:
    r"""The lines of a record whose lines are separated by ``\r`` (``"a\rb"`` -> a, b). A
    ``\r`` that ends the record (awslambdaric's LAMBDA_WARNING, a ``\r\n`` line end) ends
    its last line and makes no empty one."""
    return record.removesuffix("\r").split("\r")


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _wants_color(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return _isatty(stream)
