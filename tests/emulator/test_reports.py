"""Lambda's platform lines byte for byte, the 4 KB log tail, and the printer."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import threading
import time
from collections.abc import Callable, Iterator

import click
import pytest

from lambdakit.emulator import reports
from lambdakit.emulator.reports import (
    LogLine,
    LogPrinter,
    LogTail,
    billed_duration_ms,
    bytes_to_mb,
    end_line,
    init_report_line,
    report_line,
    start_line,
    timeout_line,
)

RID = "c6af9ac6-7b61-11e6-9a41-93e812345678"
MIB = 1024 * 1024


def test_start_and_end() -> None:
    assert start_line(RID) == f"START RequestId: {RID} Version: $LATEST"
    assert start_line(RID, "7") == f"START RequestId: {RID} Version: 7"
    assert end_line(RID) == f"END RequestId: {RID}"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            {"duration_ms": 26.73},
            "Duration: 26.73 ms\tBilled Duration: 27 ms\tMemory Size: 128 MB\t"
            "Max Memory Used: 75 MB\t",
            id="warm",
        ),
        pytest.param(  # custom runtimes bill Init: ceil(26.73 + 166.62) = 194
            {"duration_ms": 26.73, "init_duration_ms": 166.62},
            "Duration: 26.73 ms\tBilled Duration: 194 ms\tMemory Size: 128 MB\t"
            "Max Memory Used: 75 MB\tInit Duration: 166.62 ms\t",
            id="cold",
        ),
        pytest.param(
            {"duration_ms": 3000.0, "status": "timeout"},
            "Duration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\t"
            "Max Memory Used: 75 MB\tStatus: timeout",
            id="timeout",
        ),
        pytest.param(
            {"duration_ms": 5.5, "init_duration_ms": 100.0, "status": "error",
             "error_type": "Runtime.OutOfMemory"},
            "Duration: 5.50 ms\tBilled Duration: 106 ms\tMemory Size: 128 MB\t"
            "Max Memory Used: 75 MB\tInit Duration: 100.00 ms\tStatus: error\t"
            "Error Type: Runtime.OutOfMemory",
            id="oom",
        ),
        pytest.param(
            {"duration_ms": 1.0, "status": "success"},
            "Duration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\t"
            "Max Memory Used: 75 MB\t",
            id="success-is-not-shown",
        ),
    ],
)  # fmt: skip
def test_report_line(options: dict[str, object], expected: str) -> None:
    line = report_line(RID, memory_size_mb=128, max_memory_used_mb=75, **options)  # type: ignore[arg-type]
    assert line == f"REPORT RequestId: {RID}\t{expected}"


@pytest.mark.parametrize(
    ("duration", "init", "billed"),
    [
        (26.73, None, 27),
        (27.0, None, 27),
        (0.0, None, 1),  # Lambda bills at least 1 ms
        (0.2, None, 1),
        (1.1, 1.9, 3),  # no float noise: 1.1 + 1.9 is 3.0000000000000004
        (2.07, 171.02, 174),
    ],
)
def test_billed_duration(duration: float, init: float | None, billed: int) -> None:
    assert billed_duration_ms(duration, init) == billed


@pytest.mark.parametrize(
    ("size", "mb"),
    [(0, 0), (1, 1), (MIB, 1), (MIB + 1, 2), (75 * MIB + MIB // 2, 76), (-5, 0)],
)
def test_bytes_to_mb_rounds_up(size: int, mb: int) -> None:
    assert bytes_to_mb(size) == mb


@pytest.mark.parametrize(
    ("now", "timeout", "stamp", "seconds"),
    [
        (0.0, 3, "1970-01-01T00:00:00.000Z", "3.00"),
        (1795887429.9489, 0.5, "2026-11-28T17:37:09.948Z", "0.50"),
        (1795887429.0, 900, "2026-11-28T17:37:09.000Z", "900.00"),
    ],
)
def test_timeout_line(now: float, timeout: float, stamp: str, seconds: str) -> None:
    assert timeout_line(RID, timeout, now=now) == (
        f"{stamp} {RID} Task timed out after {seconds} seconds"
    )


def test_timeout_line_uses_the_time_now() -> None:
    assert timeout_line(RID, 3).endswith("Z " + RID + " Task timed out after 3.00 seconds")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            {"init_duration_ms": 154.03, "phase": "init", "status": "error",
             "error_type": "Runtime.ExitError"},
            "INIT_REPORT Init Duration: 154.03 ms\tPhase: init\tStatus: error\t"
            "Error Type: Runtime.ExitError",
        ),
        (
            {"init_duration_ms": 10000, "phase": "init", "status": "timeout"},
            "INIT_REPORT Init Duration: 10000.00 ms\tPhase: init\tStatus: timeout",
        ),
        (
            {"init_duration_ms": 3000.004, "phase": "invoke", "status": "timeout"},
            "INIT_REPORT Init Duration: 3000.00 ms\tPhase: invoke\tStatus: timeout",
        ),
    ],
)  # fmt: skip
def test_init_report_line(options: dict[str, object], expected: str) -> None:
    assert init_report_line(**options) == expected  # type: ignore[arg-type]


# --- the tail ----------------------------------------------------------------------------------


def test_tail_keeps_everything_up_to_4_kb() -> None:
    tail = LogTail()
    assert tail.value() == b"" and tail.base64() == ""
    data = ("é" * 2048).encode()  # exactly 4096 bytes
    tail.append(data)
    assert tail.value() == data
    assert base64.b64decode(tail.base64()) == data


def test_tail_keeps_the_last_4096_bytes() -> None:
    tail, everything = LogTail(), b""
    for n in range(300):  # enough to trim the buffer several times
        chunk = b"line %d\n" % n
        tail.append(chunk)
        everything += chunk
    assert tail.value() == everything[-4096:]


@pytest.mark.parametrize("partial", [1, 2, 3])
def test_tail_drops_a_utf8_sequence_cut_in_two(partial: int) -> None:
    # A 4-byte character whose last `partial` bytes are all that fits in the window.
    rest = b"x" * (4096 - partial)
    tail = LogTail()
    tail.append(b"START\n" + "😀".encode() + rest)
    assert tail.value() == rest
    tail.value().decode("utf-8")


def test_tail_after_a_trim_still_cuts_cleanly() -> None:
    tail = LogTail()
    for _ in range(5):
        tail.append(("€" * 1000).encode())  # 3000 bytes each, trimmed past 8192
    value = tail.value()
    assert len(value) == 4095 and value.decode("utf-8") == "€" * 1365


# --- printing ----------------------------------------------------------------------------------


def line(text: str, stream: reports.Stream = "stdout", function: str = "hello") -> LogLine:
    return LogLine(function=function, env_id="0001", stream=stream, text=text, time=0.0)


def test_printer_plain() -> None:
    out = io.StringIO()
    printer = LogPrinter(out, color=False)
    printer.print(line("hi there"))
    printer.print(line(start_line(RID), "platform"))
    printer.print(line("Traceback:\n  boom", "stderr", "other-fn"))
    assert out.getvalue() == (
        "[hello] hi there\n"
        f"[hello] START RequestId: {RID} Version: $LATEST\n"
        "[other-fn] Traceback:\n[other-fn]   boom\n"
    )


class CountingWrites(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_printer_in_a_loop_writes_its_lines_together_a_moment_later() -> None:
    async def scenario() -> tuple[str, CountingWrites]:
        out = CountingWrites()
        printer = LogPrinter(out, color=False)
        printer.print(line("one"))
        printer.print(line(end_line(RID), "platform"))
        before = out.getvalue()
        await asyncio.sleep(printer.FLUSH_DELAY * 5)
        return before, out

    before, out = asyncio.run(scenario())
    assert before == ""
    assert out.getvalue() == f"[hello] one\n[hello] END RequestId: {RID}\n"
    assert out.writes == 1


def test_printer_waits_longer_while_lines_keep_coming() -> None:
    """A batch that begins soon after the last one waits BUSY_FLUSH_DELAY; once the printer
    has been quiet for BUSY_WINDOW, FLUSH_DELAY again (the loop's clock and timers recorded)."""
    loop = asyncio.SelectorEventLoop()
    now, delays = [1000.0], []
    loop.time = lambda: now[0]  # type: ignore[method-assign]
    loop.call_later = lambda delay, *_: delays.append(delay)  # type: ignore[assignment,method-assign]

    async def scenario() -> str:
        out = io.StringIO()
        printer = LogPrinter(out, color=False)
        for pause in (0.0, 0.01, 0.05, printer.BUSY_WINDOW + 0.01):
            now[0] += pause
            printer.print(line(f"after {pause}"))
            printer.flush()  # the timer's work, done here
        return out.getvalue()

    try:
        written = loop.run_until_complete(scenario())
    finally:
        loop.close()
    quiet, busy = LogPrinter.FLUSH_DELAY, LogPrinter.BUSY_FLUSH_DELAY
    assert delays == [quiet, busy, busy, quiet]
    assert written.count("[hello] after") == 4


def test_printer_flush_writes_what_is_pending() -> None:
    async def scenario() -> str:
        out = io.StringIO()
        printer = LogPrinter(out, color=False)
        printer.print(line("last words"))
        printer.flush()
        return out.getvalue()

    assert asyncio.run(scenario()) == "[hello] last words\n"


def test_printer_colours_the_prefix_and_dims_platform_lines() -> None:
    out = io.StringIO()
    printer = LogPrinter(out, color=True)
    printer.print(line("hi"))
    printer.print(line("END", "platform"))
    prefix = click.style("[hello]", fg=reports.function_colour("hello"), bold=True)
    assert out.getvalue() == f"{prefix} hi\n{prefix} {click.style('END', dim=True)}\n"


def test_function_colours_are_stable_and_spread() -> None:
    assert reports.function_colour("hello") == "cyan"  # crc32, the same in every run
    colours = {reports.function_colour(f"fn-{n}") for n in range(40)}
    assert len(colours) >= 5 and "red" not in colours


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_printer_colours_only_terminals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert LogPrinter(Terminal()).color
    assert not LogPrinter(io.StringIO()).color
    monkeypatch.setenv("NO_COLOR", "1")
    assert not LogPrinter(Terminal()).color
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not LogPrinter(Terminal()).color


def test_emit_stamps_lines_with_the_clock() -> None:
    out = io.StringIO()
    printer = LogPrinter(out, color=False, clock=lambda: 42.5)
    emitted = printer.emit("fn", "0002", "stderr", "oops")
    assert emitted == LogLine("fn", "0002", "stderr", "oops", 42.5)
    assert out.getvalue() == "[fn] oops\n"


# --- a reader that does not keep up ------------------------------------------------------------


@pytest.fixture
def unread_pipe() -> Iterator[io.TextIOWrapper]:
    """The write end of a pipe nobody reads. Closing the read end at the end breaks whatever
    write is still blocked, so that no thread is left behind."""
    read_fd, write_fd = os.pipe()
    stream = open(write_fd, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        yield stream
    finally:
        os.close(read_fd)
        with contextlib.suppress(OSError):
            stream.close()


def finishes_within(seconds: float, action: Callable[[], object]) -> bool:
    """Whether ``action`` returns within ``seconds``: a blocked write fails the test rather
    than hanging it."""
    thread = threading.Thread(target=action, daemon=True)
    thread.start()
    thread.join(seconds)
    return not thread.is_alive()


def test_printer_in_a_loop_never_blocks_on_an_unread_pipe(
    unread_pipe: io.TextIOWrapper,
) -> None:
    async def scenario() -> None:
        printer = LogPrinter(unread_pipe, color=False)
        for n in range(100):  # 100 flushes of 2,000 lines: 20 MB, far more than a pipe holds
            for _ in range(2000):
                printer.emit("hello", "0001", "stdout", f"line {n} " + "x" * 90)
            await asyncio.sleep(printer.FLUSH_DELAY * 2)

    assert finishes_within(10, lambda: asyncio.run(scenario()))


def test_printer_close_waits_at_most_its_timeout(unread_pipe: io.TextIOWrapper) -> None:
    printer = LogPrinter(unread_pipe, color=False)
    closed: list[bool] = []

    def shut_down() -> None:
        for _ in range(10_000):  # 1 MB, printed outside a loop: written at once
            printer.print(line("y" * 90))
        closed.append(printer.close(timeout=0.2))

    started = time.monotonic()
    assert finishes_within(5, shut_down)
    assert closed == [False] and time.monotonic() - started < 2


def test_printer_close_writes_what_is_pending() -> None:
    async def scenario() -> tuple[bool, str]:
        out = io.StringIO()
        printer = LogPrinter(out, color=False)
        printer.print(line("last words"))  # pending for FLUSH_DELAY
        return printer.close(), out.getvalue()

    assert asyncio.run(scenario()) == (True, "[hello] last words\n")
