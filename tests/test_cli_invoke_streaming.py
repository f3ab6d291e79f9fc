"""`lambdakit invoke` prints a streamed response as it is produced, locally and --endpoint.

The proof that a chunk reached stdout before the next one was produced is causal, not timed:
the function yields its first chunk, then waits for the test to say "go" over a socket, which
the test does only once it has read that chunk from the command's stdout. A command that
buffers the answer never shows the first chunk in time, and the function then reports that it
went on without the go.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator.conftest import Server

APP = '''
import socket

from lambdakit.runtime.streaming import StreamingResponse


def went_on_after_go(port):
    """Wait (20 s at most) for the test to send "go": it does once it has read the first chunk."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=20) as connection:
            connection.settimeout(20)
            return connection.recv(2) == b"go"
    except OSError:
        return False


def handler(event, context):
    if event.get("fail") == "before":
        raise ValueError("broke before the answer")
    if event.get("fail") == "mid":
        return broken()
    if "port" not in event:
        return event
    if event.get("http"):
        return page(event["port"])
    return tokens(event["port"])


def tokens(port):
    yield "first\\n"
    yield f"second, after go: {went_on_after_go(port)}\\n"


def broken():
    yield "partial\\n"
    raise RuntimeError("broke in the middle")


def page(port):
    def body():
        yield "<p>first</p>\\n"
        yield f"<p>second, after go: {went_on_after_go(port)}</p>\\n"

    headers = {"content-type": "text/html", "x-custom": "yes"}
    cookies = ["session=abc; Path=/", "theme=dark"]
    return StreamingResponse(body(), status_code=201, headers=headers, cookies=cookies)
'''

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Streamer:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: streamer
      CodeUri: .
      Handler: app.handler
      Runtime: python3.12
      Timeout: 60
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("streamer")
    (path / "app.py").write_text(APP)
    (path / "template.yaml").write_text(TEMPLATE)
    return path


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    srv = Server(project)
    yield srv
    srv.stop()


def lambdakit(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "lambdakit", *args]
    return subprocess.run(command, input=stdin, capture_output=True, timeout=120)


class Streamed:
    """`lambdakit invoke` running, its stdout read as it comes, its stderr collected."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-m", "lambdakit", "invoke", *args]
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.out = b""
        self._err: list[bytes] = []
        assert self.process.stderr is not None
        self._reader = threading.Thread(target=self._err.extend, args=(self.process.stderr,))
        self._reader.start()

    def read_until(self, marker: bytes, deadline: float) -> bytes:
        """stdout so far, once MARKER is in it (or the deadline, or the end, has come)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while marker not in self.out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                data = os.read(fd, 65536)
                if not data:
                    break
                self.out += data
        return self.out

    def finish(self) -> tuple[int, bytes, str]:
        self.read_until(b"\0never\0", time.monotonic() + 60)
        code = self.process.wait(60)
        self._reader.join(10)
        for pipe in (self.process.stdout, self.process.stderr):
            assert pipe is not None
            pipe.close()
        return code, self.out, b"".join(self._err).decode("utf-8", "replace")


def run_with_go(args: list[str], first: bytes) -> tuple[int, bytes, str, bytes]:
    """Invoke with a "go" listener; send go once FIRST has been read from stdout. Returns the
    exit status, the whole stdout, stderr, and stdout as it was when go was sent."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(60)
        port = listener.getsockname()[1]
        event = json.loads(args[-1]) | {"port": port}
        streamed = Streamed(*args[:-1], json.dumps(event))
        seen = streamed.read_until(first, time.monotonic() + 90)
        try:
            connection, _ = listener.accept()
            with connection:
                connection.sendall(b"go")
        except OSError:
            pass  # the function gave up waiting (a buffered invoke): the output says so
        code, out, err = streamed.finish()
    return code, out, err, seen


def test_a_local_stream_reaches_stdout_chunk_by_chunk(project: Path) -> None:
    code, out, err, seen = run_with_go([str(project), "--event", "{}"], b"first\n")
    assert code == 0, err
    assert seen == b"first\n"
    assert out == b"first\nsecond, after go: True\n"


def check_http(code: int, out: bytes, err: str, seen: bytes) -> None:
    assert code == 0, err
    assert seen == b"<p>first</p>\n"  # the body alone: no prelude, no NUL bytes
    assert out == b"<p>first</p>\n<p>second, after go: True</p>\n"
    lines = err.splitlines()
    prelude = ["HTTP 201 Created", "content-type: text/html", "x-custom: yes"]
    cookies = ["set-cookie: session=abc; Path=/", "set-cookie: theme=dark"]
    start = lines.index(prelude[0])
    assert lines[start : start + 5] == prelude + cookies


def test_a_local_http_stream_puts_its_prelude_on_stderr(project: Path) -> None:
    check_http(*run_with_go([str(project), "--event", '{"http": true}'], b"<p>first</p>\n"))


def test_an_endpoint_stream_without_function_reaches_stdout_chunk_by_chunk(
    project: Path, server: Server
) -> None:
    args = [str(project), "--endpoint", server.url, "--event", '{"http": true}']
    check_http(*run_with_go(args, b"<p>first</p>\n"))
    code, out, err, seen = run_with_go([*args[:-1], "{}"], b"first\n")
    assert (code, seen, out) == (0, b"first\n", b"first\nsecond, after go: True\n"), err
    assert "REPORT RequestId:" in err  # the log tail, from InvokeComplete


@pytest.mark.parametrize("where", ["local", "endpoint"])
def test_answers_and_errors(project: Path, server: Server, where: str) -> None:
    endpoint = ["--endpoint", server.url] if where == "endpoint" else []
    done = lambdakit("invoke", str(project), *endpoint, "--event", '{"a": 1}')
    assert (done.returncode, json.loads(done.stdout)) == (0, {"a": 1}), done.stderr
    # A buffered error is the answer: on stdout, as before.
    done = lambdakit("invoke", str(project), *endpoint, "--event", '{"fail": "before"}')
    assert done.returncode == 1
    assert json.loads(done.stdout)["errorMessage"] == "broke before the answer"
    # A stream that fails after its first byte: the body so far on stdout, the error on stderr.
    done = lambdakit("invoke", str(project), *endpoint, "--event", '{"fail": "mid"}')
    assert (done.returncode, done.stdout) == (1, b"partial\n")
    assert "broke in the middle" in done.stderr.decode()


@pytest.mark.parametrize("args", [["--event", ""], ["--event", " \n"], ["--event-file", "-"], []])
def test_an_empty_event_is_an_empty_object(project: Path, args: list[str]) -> None:
    done = lambdakit("invoke", str(project), *args)
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == {}


def test_serve_and_endpoint_pass_an_empty_event_as_an_empty_object(
    project: Path, server: Server
) -> None:
    import urllib.request

    url = f"{server.url}/2015-03-31/functions/streamer/invocations"
    with urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST")) as answer:
        assert json.loads(answer.read()) == {}  # what serve does with an empty body
    done = lambdakit("invoke", str(project), "--endpoint", server.url, "--event", "")
    assert (done.returncode, json.loads(done.stdout)) == (0, {}), done.stderr


def test_endpoint_with_several_functions_needs_function(tmp_path: Path) -> None:
    functions = "".join(
        f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      CodeUri: .\n      Handler: app.handler\n      Runtime: python3.12\n"
        for name in ("One", "Two")
    )
    (tmp_path / "template.yaml").write_text(f"Resources:\n{functions}")
    done = lambdakit("invoke", str(tmp_path), "--endpoint", "http://127.0.0.1:9")
    assert done.returncode == 2
    assert "several functions (One, Two); choose one with --function" in done.stderr.decode()
