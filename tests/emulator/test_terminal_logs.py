"""A multi-line log record on a terminal and in a pipe (``reports.LogPrinter``).

Lambda's runtimes write a multi-line record (a traceback) as one line whose lines are separated
by ``\\r``, so that CloudWatch keeps it one event. On a terminal (here a pseudo-terminal, as a
developer's shell gives ``lambdakit invoke`` and ``serve``) those lines are printed one below
the other, indented under the record's first; in a pipe the record stays one line, ``\\r`` and
all. The functions run on lambdakit's runtime and on awslambdaric from PyPI.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from lambdakit.emulator.reports import LogLine, LogPrinter, unfold

APP = """def raises(event, context):
    raise ValueError("boom")


def prints(event, context):
    print("first line\\rsecond line\\r  third, indented")
    return "printed"
"""
TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Timeout: 30
Resources:
  Raises:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: raises, CodeUri: ., Handler: app.raises, Runtime: python3.11}
  Prints:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: prints, CodeUri: ., Handler: app.prints, Runtime: python3.11}
  Ric:
    Type: AWS::Serverless::Function
    Properties: {FunctionName: ric, CodeUri: ric, Handler: app.raises, Runtime: provided.al2023}
"""
RIC_BOOTSTRAP = '#!/bin/sh\nexec "$TEST_PYTHON" -m awslambdaric "$_HANDLER"\n'
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DEADLINE = 90  # seconds: a bound on a hung child, not a measure of speed
NBSP = "\u00a0"  # the runtimes indent a traceback's lines with NO-BREAK SPACE


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("terminal_logs")
    (root / "app.py").write_text(APP)
    (root / "template.yaml").write_text(TEMPLATE)
    (root / "ric").mkdir()
    (root / "ric" / "app.py").write_text(APP)
    (root / "ric" / "bootstrap").write_text(RIC_BOOTSTRAP)
    (root / "ric" / "bootstrap").chmod(0o755)
    return root


def child_env(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environ.update({"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}, **extra)
    return environ


def lambdakit(command: str, project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lambdakit", command, str(project), *args,
            "--env", f"TEST_PYTHON={sys.executable}"]  # fmt: skip


# --- a pseudo-terminal -------------------------------------------------------------------------


class Terminal:
    """A command on a pseudo-terminal (its stdin, stdout and stderr), as a shell runs it."""

    def __init__(self, argv: list[str], environ: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.execve(argv[0], argv, environ)
        self.raw = b""
        self.status: int | None = None
        self.deadline = time.monotonic() + DEADLINE

    def read_until(self, wanted: bytes) -> bytes:
        while wanted not in self.raw:
            assert self._read(), f"{wanted!r} never came:\n{self.text()}"
        return self.raw

    def finish(self) -> int:
        """Read to the end; the exit status."""
        while self._read():
            pass
        os.close(self.fd)
        self.status = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.status

    def stop(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGTERM)
            self.finish()

    def text(self) -> str:
        """What the terminal shows, colours left out; lines end with the tty's CR LF."""
        return ANSI.sub("", self.raw.decode(errors="replace"))

    def _read(self) -> bool:
        while time.monotonic() < self.deadline:
            ready, _, _ = select.select([self.fd], [], [], 1)
            if not ready:
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: the child has closed the terminal
                return False
            self.raw += data
            return bool(data)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"timed out:\n{self.text()}")


def shown_lines(terminal_text: str) -> list[str]:
    """The terminal's lines. The tty turns each newline into CR LF (ONLCR): any other CR is
    one that would have sent the cursor back over a line."""
    bare = re.findall(r"[^\n]{0,40}\r(?!\n)", terminal_text)
    assert not bare, f"a bare CR reached the terminal: {bare}"
    return terminal_text.split("\r\n")


def assert_traceback_unfolded(lines: list[str], function: str) -> None:
    prefix = f"[{function}] "
    first = lines.index(f"{prefix}[ERROR] ValueError: boom")
    indent = " " * len(prefix)
    assert lines[first + 1] == f"{indent}Traceback (most recent call last):"
    assert lines[first + 2].startswith(f'{indent}{NBSP * 2}File "')
    assert lines[first + 2].endswith("line 2, in raises")
    assert lines[first + 3] == f'{indent}{NBSP * 4}raise ValueError("boom")'


def assert_print_unfolded(lines: list[str]) -> None:
    first = lines.index("[prints] first line")
    assert lines[first + 1 : first + 3] == ["         second line", "           third, indented"]


# --- lambdakit invoke --------------------------------------------------------------------------


def test_invoke_on_a_terminal_unfolds_a_traceback(project: Path) -> None:
    terminal = Terminal(lambdakit("invoke", project, "--function", "raises"), child_env())
    assert terminal.finish() == 1  # the function failed
    assert_traceback_unfolded(shown_lines(terminal.text()), "raises")


def test_invoke_on_a_terminal_unfolds_a_printed_record_without_colour(project: Path) -> None:
    # NO_COLOR turns colours off, not the terminal's rendering.
    environ = child_env(NO_COLOR="1")
    terminal = Terminal(lambdakit("invoke", project, "--function", "prints"), environ)
    assert terminal.finish() == 0
    assert "\x1b[" not in terminal.raw.decode()
    assert_print_unfolded(shown_lines(terminal.text()))


@pytest.mark.parametrize("function", ["raises", "ric"])
def test_invoke_in_a_pipe_keeps_the_traceback_one_line(project: Path, function: str) -> None:
    command = lambdakit("invoke", project, "--function", function)
    done = subprocess.run(command, env=child_env(), capture_output=True, timeout=DEADLINE)
    assert done.returncode == 1, done.stderr
    [record] = [line for line in done.stderr.split(b"\n") if b"[ERROR] ValueError" in line]
    assert record.startswith(f"[{function}] [ERROR] ValueError: boom\r".encode())
    assert record.count(b"\r") == 3  # four lines in one record
    assert b"\rTraceback (most recent call last):\r" in record


def test_invoke_in_a_pipe_keeps_the_printed_record_one_line(project: Path) -> None:
    command = lambdakit("invoke", project, "--function", "prints")
    done = subprocess.run(command, env=child_env(), capture_output=True, timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    assert b"\n[prints] first line\rsecond line\r  third, indented\n" in done.stderr


# --- lambdakit serve ---------------------------------------------------------------------------


def invoke_served(url: str, function: str) -> None:
    request = urllib.request.Request(
        f"{url}/2015-03-31/functions/{function}/invocations", data=b"{}", method="POST"
    )
    with urllib.request.urlopen(request, timeout=DEADLINE) as response:
        assert response.headers["X-Amz-Function-Error"] == "Unhandled"


def test_serve_on_a_terminal_unfolds_awslambdaric_traceback(project: Path) -> None:
    terminal = Terminal(lambdakit("serve", project, "--port", "0"), child_env())
    try:
        terminal.read_until(b"Invoke API at ")
        url = re.search(r"Invoke API at (http://\S+)", terminal.text())
        assert url is not None
        invoke_served(url.group(1), "ric")
        terminal.read_until(b"REPORT RequestId")
    finally:
        terminal.stop()
    assert_traceback_unfolded(shown_lines(terminal.text()), "ric")


def test_serve_in_a_pipe_keeps_awslambdaric_traceback_one_line(project: Path) -> None:
    command = lambdakit("serve", project, "--port", "0")
    with tempfile.TemporaryFile() as errors:
        server = subprocess.Popen(command, env=child_env(), stdout=subprocess.PIPE, stderr=errors)
        output = bytearray()
        seen = threading.Condition()

        def read() -> None:
            assert server.stdout is not None
            while data := os.read(server.stdout.fileno(), 65536):
                with seen:
                    output.extend(data)
                    seen.notify_all()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            with seen:
                assert seen.wait_for(lambda: re.search(rb"Invoke API at \S+ ", output), DEADLINE)
            url = re.search(rb"Invoke API at (http://\S+)", output)
            assert url is not None, bytes(output)
            invoke_served(url.group(1).decode(), "ric")
            with seen:
                assert seen.wait_for(lambda: b"REPORT RequestId" in output, DEADLINE)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(DEADLINE)
            reader.join(DEADLINE)
            server.stdout.close()  # type: ignore[union-attr]
    [record] = [line for line in output.split(b"\n") if b"[ERROR] ValueError" in line]
    assert record.startswith(b"[ric] [ERROR] ValueError: boom\rTraceback (most recent call")
    assert record.count(b"\r") == 3


# --- the rendering -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "lines"),
    [
        ("one line", ["one line"]),
        ("a\rb", ["a", "b"]),
        ("a\r  b\r", ["a", "  b"]),  # a record's own last \r ends it (LAMBDA_WARNING)
        ("a\r\rb", ["a", "", "b"]),
        ('{"message": "a\\rb"}', ['{"message": "a\\rb"}']),  # JSON escapes its \r
    ],
)
def test_unfold(record: str, lines: list[str]) -> None:
    assert unfold(record) == lines


def render(text: str, *, terminal: bool, stream: str = "stdout", color: bool = False) -> str:
    out = io.StringIO()
    printer = LogPrinter(out, color=color, terminal=terminal)
    printer.print(LogLine("fn", "0001", stream, text, 0.0))  # type: ignore[arg-type]
    return out.getvalue()


def test_a_terminal_gets_the_lines_of_a_record_indented() -> None:
    text = "[ERROR] E: x\rTraceback (most recent call last):\r\n[fn2] next"
    assert render(text, terminal=True) == (
        "[fn] [ERROR] E: x\n     Traceback (most recent call last):\n[fn] [fn2] next\n"
    )


def test_a_pipe_gets_the_record_as_written() -> None:
    text = "[ERROR] E: x\rTraceback (most recent call last):\r\nnext"
    assert render(text, terminal=False) == (
        "[fn] [ERROR] E: x\rTraceback (most recent call last):\r\n[fn] next\n"
    )


def test_colour_does_not_change_the_indent() -> None:
    rendered = ANSI.sub("", render("END\rmore", terminal=True, stream="platform", color=True))
    assert rendered == "[fn] END\n     more\n"


def test_the_terminal_is_the_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("NO_COLOR", "1")  # colour and the terminal's rendering are apart
    assert LogPrinter(Tty()).terminal and not LogPrinter(Tty()).color
    assert not LogPrinter(io.StringIO()).terminal
