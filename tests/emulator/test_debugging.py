"""Debugging a function: an IDE's debugger attaches over debugpy (`--debug-port`), and
`breakpoint()` opens pdb on the terminal of `lambdakit invoke`.

The debugger here is a small DAP client (debugpy ships none): JSON messages framed by a
``Content-Length`` header, as VS Code and PyCharm speak them."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdakit.emulator import sandbox

HANDLER = """import time
INIT = "init"  # line 2: a breakpoint here is hit only if the init waited for the debugger
def handler(event, context):
    value = event["value"]  # line 4
    time.sleep(context.get_remaining_time_in_millis() / 1000 + 1)  # past the timeout
    return {"doubled": value * 2}
"""
PDB_HANDLER = """import time
def handler(event, context):
    breakpoint()
    time.sleep(context.get_remaining_time_in_millis() / 1000 + 1)  # past the timeout
    return {"seen": event["value"]}
"""
TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Resources:
  Debugged:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: debugged
      CodeUri: .
      Handler: app.handler
      Runtime: {runtime}
      Timeout: 1
"""
ROOT = Path(__file__).parent.parent.parent
BOOTSTRAP = ROOT / "src" / "lambdakit" / "runtime" / "bootstrap"


def function(tmp_path: Path, code: str, runtime: str = "python3.11") -> Path:
    (tmp_path / "app.py").write_text(code)
    (tmp_path / "template.yaml").write_text(TEMPLATE.format(runtime=runtime))
    if runtime.startswith("provided"):  # lambdakit's own bootstrap, as `init` writes it
        (tmp_path / "bootstrap").write_bytes(BOOTSTRAP.read_bytes())
        (tmp_path / "bootstrap").chmod(0o755)
    return tmp_path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DapClient:
    """The Debug Adapter Protocol over a socket: requests out, responses and events in."""

    def __init__(self, port: int, deadline: float) -> None:
        while True:  # debugpy listens once the function's process has started
            try:
                self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.buffer = b""
        self.seq = 0
        self.seen: list[dict[str, Any]] = []

    def send(self, command: str, **arguments: Any) -> int:
        self.seq += 1
        body = json.dumps(
            {"seq": self.seq, "type": "request", "command": command, "arguments": arguments}
        ).encode()
        self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return self.seq

    def receive(self) -> dict[str, Any]:
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._read()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = int(head.split(b":")[1])
        while len(rest) < length:
            rest += self._read()
        self.buffer = rest[length:]
        message: dict[str, Any] = json.loads(rest[:length])
        self.seen.append(message)
        return message

    def _read(self) -> bytes:
        data = self.sock.recv(65536)
        assert data, f"debugpy closed the connection; it sent {self.seen}"
        return data

    def wait_for(self, kind: str, name: str) -> dict[str, Any]:
        """The next response to command NAME (KIND "response") or event NAME."""
        key = "command" if kind == "response" else "event"
        while True:
            message = self.receive()
            if message["type"] == kind and message.get(key) == name:
                return message

    def request(self, command: str, **arguments: Any) -> dict[str, Any]:
        self.send(command, **arguments)
        response = self.wait_for("response", command)
        assert response["success"], response
        return response

    def stopped_at(self) -> tuple[str, int]:
        """Wait for a ``stopped`` event; the path and line of the top frame."""
        stopped = self.wait_for("event", "stopped")
        assert stopped["body"]["reason"] == "breakpoint", stopped
        thread = stopped["body"]["threadId"]
        frames = self.request("stackTrace", threadId=thread)["body"]["stackFrames"]
        return frames[0]["source"]["path"], frames[0]["line"]

    def resume(self) -> None:
        self.request("continue", threadId=0)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.mark.parametrize("runtime", ["python3.11", "provided.al2023"])
def test_a_debugger_attaches_before_the_init_and_stops_in_the_handler(
    tmp_path: Path, runtime: str, processes: list[subprocess.Popen[bytes]]
) -> None:
    code = function(tmp_path, HANDLER, runtime)
    port = free_port()
    argv = [sys.executable, "-m", "lambdakit", "invoke", str(code), "--event", '{"value": 21}']
    invoke = subprocess.Popen(
        [*argv, "--debug-port", str(port), "--debug-wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    processes.append(invoke)
    # Where the function's code is as its process sees it: the debugger's path mapping.
    inside = "/var/task" if sandbox.choose().active else str(code)
    client = DapClient(port, deadline=time.monotonic() + 120)
    try:
        client.request("initialize", adapterID="python", clientID="lambdakit-test")
        client.send("attach", justMyCode=False)
        client.wait_for("event", "initialized")
        source = {"path": f"{inside}/app.py"}
        client.request("setBreakpoints", source=source, breakpoints=[{"line": 2}, {"line": 4}])
        client.request("configurationDone")
        client.wait_for("response", "attach")
        # Line 2 runs in the init: stopping there proves the init waited for the debugger.
        assert client.stopped_at() == (f"{inside}/app.py", 2)
        client.resume()
        assert client.stopped_at() == (f"{inside}/app.py", 4)
        client.resume()
        out, err = invoke.communicate(timeout=120)
    finally:
        client.close()
    log = err.decode()
    # The handler ran past its 1 s timeout (and sat at the breakpoints): not enforced.
    assert invoke.returncode == 0, log
    assert json.loads(out) == {"doubled": 42}
    assert "Task timed out" not in log
    assert f"debugpy listens on 127.0.0.1:{port}" in log and "timeout is suspended" in log


def test_debug_port_needs_a_python_function(tmp_path: Path) -> None:
    (tmp_path / "bootstrap").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "bootstrap").chmod(0o755)
    (tmp_path / "template.yaml").write_text(TEMPLATE.format(runtime="provided.al2023"))
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "invoke", str(tmp_path), "--debug-port", "5678"],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "--debug-port needs a Python function" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()


def test_debug_wait_needs_a_port(tmp_path: Path) -> None:
    code = function(tmp_path, HANDLER)
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "invoke", str(code), "--debug-wait"],
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--debug-wait needs --debug-port" in done.stderr.decode()


class Terminal:
    """``lambdakit invoke`` on a pseudo-terminal, as a developer runs it."""

    def __init__(self, argv: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the terminal is its stdin, stdout and stderr
            os.execv(sys.executable, [sys.executable, *argv])
        self.text = ""

    def read_until(self, wanted: str, deadline: float) -> str:
        while wanted not in self.text:
            assert time.monotonic() < deadline, f"{wanted!r} never came:\n{self.text}"
            ready, _, _ = select.select([self.fd], [], [], 1)
            if ready:
                try:
                    data = os.read(self.fd, 65536)
                except OSError:  # EIO: the other side is closed
                    data = b""
                assert data, f"{wanted!r} never came:\n{self.text}"
                self.text += data.decode(errors="replace")
        return self.text

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode() + b"\n")

    def close(self) -> int:
        """Read to the end; the exit status."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                break
            if not data:
                break
            self.text += data.decode(errors="replace")
        os.close(self.fd)
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def test_breakpoint_opens_pdb_on_the_terminal_of_invoke(tmp_path: Path) -> None:
    code = function(tmp_path, PDB_HANDLER)
    terminal = Terminal(["-m", "lambdakit", "invoke", str(code), "--event", '{"value": 7}'])
    deadline = time.monotonic() + 120
    try:
        terminal.read_until("(Pdb) ", deadline)
        terminal.type("p event['value'] * 6")
        terminal.read_until("42", deadline)
        terminal.type("c")
        terminal.read_until('{"seen":7}', deadline)
    finally:
        status = terminal.close()
    # The handler went on past its 1 s timeout after pdb had opened: not enforced.
    assert status == 0, terminal.text
    assert "timeout is suspended" in terminal.text
    assert "Task timed out" not in terminal.text


def test_serve_debugs_the_function_its_invocations_run_in(tmp_path: Path) -> None:
    import threading
    import urllib.request

    from tests.emulator.conftest import Server

    code = function(tmp_path, HANDLER)
    port = free_port()
    server = Server(code, "--debug-port", str(port), "--debug-wait")
    answers: list[bytes] = []
    url = f"{server.url}/2015-03-31/functions/debugged/invocations"

    def invoke() -> None:
        with urllib.request.urlopen(url, data=b'{"value": 5}', timeout=120) as response:
            answers.append(response.read())

    caller = threading.Thread(target=invoke)
    caller.start()  # the environment starts, and its init waits for the debugger
    inside = "/var/task" if sandbox.choose().active else str(code)
    client = DapClient(port, deadline=time.monotonic() + 120)
    try:
        client.request("initialize", adapterID="python", clientID="lambdakit-test")
        client.send("attach", justMyCode=False)  # as the documented launch.json says
        client.wait_for("event", "initialized")
        source = {"path": f"{inside}/app.py"}
        client.request("setBreakpoints", source=source, breakpoints=[{"line": 4}])
        client.request("configurationDone")
        assert client.stopped_at() == (f"{inside}/app.py", 4)
        client.resume()
        caller.join(120)
    finally:
        client.close()
        server.stop()
    # It answers, though it ran past its 1 s timeout: not enforced while debugging.
    assert [json.loads(answer) for answer in answers] == [{"doubled": 10}]
    assert "debugpy listens on" in "".join(server.errors)
