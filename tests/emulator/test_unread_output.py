"""Output nobody reads never blocks the emulator: the console writer, and a real ``serve``."""

from __future__ import annotations

import io
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lambdakit.emulator import console
from lambdakit.emulator.console import ConsoleWriter
from tests.emulator.conftest import client_for

PROJECT = Path(__file__).parent.parent / "functions" / "emulator"
LINE = "x" * 99 + "\n"  # 100 bytes
MB = 1_000_000


@pytest.fixture
def pipe() -> Iterator[tuple[int, io.TextIOWrapper]]:
    """The read end (a descriptor nobody reads until the test does) and the write end as a
    text stream. Closing the read end at the end breaks a writer thread still blocked."""
    read_fd, write_fd = os.pipe()
    stream = open(write_fd, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    try:
        yield read_fd, stream
    finally:
        os.close(read_fd)
        stream.close()


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def test_an_unread_pipe_takes_50_mb_at_once_and_counts_what_it_drops(
    pipe: tuple[int, io.TextIOWrapper],
) -> None:
    read_fd, stream = pipe
    writer = ConsoleWriter(stream)
    batch, batches = LINE * 1000, 500  # 50 MB in all
    started = time.monotonic()
    for _ in range(batches):
        writer.write(batch)
    assert time.monotonic() - started < 2  # nothing blocked
    assert writer.dropped >= (50 * MB - console.MAX_QUEUED) // len(LINE)

    dropped = writer.dropped
    with ThreadPoolExecutor(1) as pool:
        reader = pool.submit(read_all, read_fd)
        assert writer.flush(timeout=30)  # the reader caught up: the notice is out
        writer.write("after the drops\n")
        assert writer.close(timeout=10)
        stream.close()  # and the writer's own descriptor: end of file for the reader
        lines = reader.result(timeout=10).decode().splitlines(keepends=True)

    notice = (
        f"lambdakit: {dropped} lines of log output were dropped because nobody was reading "
        "this output\n"
    )
    assert lines[-2:] == [notice, "after the drops\n"]
    assert set(lines[:-2]) == {LINE}  # whole lines only, none cut
    assert len(lines) - 2 + dropped == batches * 1000


def test_close_gives_up_after_its_timeout_when_nobody_reads(
    pipe: tuple[int, io.TextIOWrapper],
) -> None:
    _, stream = pipe
    writer = ConsoleWriter(stream)
    writer.write(LINE * 10_000)  # 1 MB: far more than the pipe holds
    started = time.monotonic()
    assert not writer.close(timeout=0.2)
    assert 0.15 < time.monotonic() - started < 2
    writer.write("after close\n")
    assert writer.dropped == 0  # text after close is not queued, nor counted


def test_the_notice_names_a_single_line(pipe: tuple[int, io.TextIOWrapper]) -> None:
    read_fd, stream = pipe
    writer = ConsoleWriter(stream, limit=10)
    writer.write("0123456789ab")  # over the limit, and no newline: one line
    assert writer.dropped == 1
    assert writer.close(timeout=5)
    stream.close()
    assert read_all(read_fd) == (
        b"lambdakit: 1 line of log output was dropped because nobody was reading this output\n"
    )


def test_text_is_encoded_as_the_stream_says_with_replacements(
    pipe: tuple[int, io.TextIOWrapper],
) -> None:
    read_fd, utf8 = pipe
    ascii_stream = open(os.dup(utf8.fileno()), "w", encoding="ascii")  # noqa: SIM115
    with ascii_stream:
        writer = ConsoleWriter(ascii_stream)
        writer.write("café\n")
        assert writer.close(timeout=5)
    utf8.close()
    assert read_all(read_fd) == b"caf?\n"


def test_what_the_stream_buffered_before_goes_out_first(
    pipe: tuple[int, io.TextIOWrapper],
) -> None:
    read_fd, stream = pipe
    stream.write("printed before\n")  # in the stream's buffer, not yet in the pipe
    writer = ConsoleWriter(stream)
    writer.write("written after\n")
    assert writer.close(timeout=5)
    stream.close()
    assert read_all(read_fd) == b"printed before\nwritten after\n"


def test_a_reader_that_goes_away_breaks_nothing() -> None:
    read_fd, write_fd = os.pipe()
    with open(write_fd, "w", encoding="utf-8") as stream:
        writer = ConsoleWriter(stream)
        os.close(read_fd)
        writer.write("nobody\n")  # EPIPE in the thread
        assert writer.flush(timeout=5)
        writer.write("still nobody\n")
        assert writer.close(timeout=5)


def test_streams_without_a_descriptor_are_written_directly() -> None:
    out = io.StringIO()
    writer = ConsoleWriter(out)
    assert not writer.threaded
    writer.write("at once\n")
    assert out.getvalue() == "at once\n"
    assert writer.close(timeout=0)


def test_one_writer_per_stream_until_it_is_closed(pipe: tuple[int, io.TextIOWrapper]) -> None:
    _, stream = pipe
    first, second = console.writer_for(stream), console.writer_for(stream)
    assert first is second and first.threaded  # one queue: the lines of both keep their order
    stream.close()  # the registry lets the writer of a closed stream go
    assert console.writer_for(stream) is not first
    assert first.flush(timeout=5)


def test_echo_and_warn_use_the_current_streams(capsys: pytest.CaptureFixture[str]) -> None:
    console.echo("lambdakit: hello")
    console.warn("careful")
    assert capsys.readouterr() == ("lambdakit: hello\n", "lambdakit: careful\n")


# --- a real `lambdakit serve` whose stdout and stderr nobody reads -----------------------------


def read_banner(process: subprocess.Popen[bytes], timeout: float = 30) -> str:
    """The Invoke API's URL, from the banner on stdout; stdout is read no further."""
    assert process.stdout is not None
    fd, seen = process.stdout.fileno(), b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([fd], [], [], 0.1)[0]:
            seen += os.read(fd, 4096)
            match = re.search(rb"Invoke API at (http://\S+)", seen)
            if match:
                return match.group(1).decode()
        if process.poll() is not None:
            break
    raise AssertionError(f"no banner from lambdakit serve; stdout so far: {seen!r}")


@pytest.fixture
def unread_server() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    command = [sys.executable, "-m", "lambdakit", "serve", str(PROJECT), "--port", "0"]
    command += ["--function", "echo", "--concurrency", "2"]
    process = subprocess.Popen(
        command, env=environ, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        yield process, read_banner(process)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            stream.close()


@pytest.mark.slow
def test_serve_answers_and_stops_while_nobody_reads_its_output(
    unread_server: tuple[subprocess.Popen[bytes], str],
) -> None:
    process, url = unread_server
    client = client_for(url, read_timeout=15)
    for n in range(60):  # ~200 KB of log each: 12 MB, past the pipe and the writer's queue
        payload = json.dumps({"n": n, "lines": 2000}).encode()
        response = client.invoke(FunctionName="echo", Payload=payload)
        assert json.loads(response["Payload"].read()) == {"n": n, "lines": 2000}

    process.send_signal(signal.SIGTERM)
    try:  # the output gets a second or two at exit, no more (console.EXIT_TIMEOUT)
        assert process.wait(timeout=10) == 0
    except subprocess.TimeoutExpired as stuck:
        raise AssertionError("lambdakit serve ignored SIGTERM while nobody read it") from stuck
