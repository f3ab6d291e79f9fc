"""Benchmark (diagnostic): how far the emulator is from the least a Python relay must do.

``bench/emulator.py`` judges the emulator by its *efficiency*: its sequential rate ÷ the rate of
the same runtime against a bare stub Runtime API (target ≥ 0.5 times). The emulator's side also pays
for a client hop the stub side does not have, so what is the best any Python emulator could
score on this machine? This script measures three things in one run, rounds rotating:

1. **stub**: the lambdakit runtime against bench/runtime.py's stub Runtime API (no client);
2. **floor**: the same runtime behind ``FLOOR``, a relay on uvloop that does only what relaying
   needs (parse a request head and its Content-Length, hand the client's event to the runtime's
   waiting ``GET /next``, pass the response back, ``202``): no validation, timeouts, logs,
   freezing, limits or ids beyond a UUID;
3. **emulator**: ``lambdakit serve`` (``--no-console``) with the same echo function, with busy
   polling off (``LAMBDAKIT_BUSY_POLL_US=0``): the floor sleeps in ``epoll_wait`` between
   requests, as the emulator did before it polled, so that the two compare like with like.

Sides 2 and 3 are driven by the same client, a child process with one raw keep-alive socket (as
bench/emulator.py's). It prints the rates, their ratios to the stub (the floor's is the best
efficiency a relay of this shape reaches here) and the relay's and the emulator's CPU per
invocation. No target: a diagnostic for docs/benchmarks.md.

Usage: ``.venv/bin/python bench/relay_floor.py [--quick]``. Linux only (``/proc``).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import runtime as rt  # bench/runtime.py: the stub Runtime API, child-process clean-up

ECHO = "def handler(event, context):\n    return event\n"
EVENT = b'{"client":0,"seq":0}'

FLOOR = r"""
import asyncio, sys, time, uuid
import uvloop

waiting = []  # the runtime's transport, parked in GET /next
queued = []  # (request id, event, client transport)
running = {}  # request id -> client transport


def parse(buffer):
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end])
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    length = int(lower[at + 17 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
    if len(buffer) < end + 4 + length:
        return None
    body = bytes(buffer[end + 4 : end + 4 + length])
    del buffer[: end + 4 + length]
    return head, body


def hand_out(runtime):
    request_id, event, client = queued.pop(0)
    running[request_id] = client
    runtime.write(
        b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: %s\r\n"
        b"Lambda-Runtime-Deadline-Ms: %d\r\nLambda-Runtime-Invoked-Function-Arn: "
        b"arn:aws:lambda:us-east-1:123456789012:function:echo\r\n"
        b"Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (request_id.encode(), int(time.time() * 1000) + 3000, len(event), event)
    )


class Runtime(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, bytearray()

    def data_received(self, data):
        self.buffer += data
        while (request := parse(self.buffer)) is not None:
            head, body = request
            if head.startswith(b"GET "):
                if queued:
                    hand_out(self.transport)
                else:
                    waiting.append(self.transport)
                continue
            request_id = head.split(b" ", 2)[1].split(b"/")[4].decode()
            running.pop(request_id).write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            self.transport.write(
                b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
                b'Content-Length: 16\r\n\r\n{"status":"OK"}\n'
            )


class Client(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, bytearray()

    def data_received(self, data):
        self.buffer += data
        while (request := parse(self.buffer)) is not None:
            queued.append((str(uuid.uuid4()), request[1], self.transport))
            if waiting:
                hand_out(waiting.pop())


async def main():
    loop = asyncio.get_running_loop()
    runtime = await loop.create_server(Runtime, "127.0.0.1", 0)
    client = await loop.create_server(Client, "127.0.0.1", 0)
    ports = (s.getsockname()[1] for s in (*runtime.sockets, *client.sockets))
    print(*ports, flush=True)
    await asyncio.Future()


uvloop.install()
asyncio.run(main())
"""

CLIENT = r"""
import json, socket, sys, time
port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sock = socket.create_connection(("127.0.0.1", port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: %d\r\n\r\n".encode()

def call(n):
    body = json.dumps({"client": 0, "seq": n}, separators=(",", ":")).encode()
    sock.sendall(head % len(body) + body)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    answer, rest = data.split(b"\r\n\r\n", 1)
    length = int(answer.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += sock.recv(65536)
    if not answer.startswith(b"HTTP/1.1 200") or rest != body:
        sys.exit(f"bad answer: {answer!r} {rest!r}")

for n in range(count // 10):
    call(n)
started = time.perf_counter()
for n in range(count):
    call(n)
print(count / (time.perf_counter() - started))
"""

INVOKE_PATH = "/2015-03-31/functions/echo/invocations"


def child(argv: list[str], env: dict[str, str], **kwargs: object) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    rt.LIVE.add(process)
    return process  # type: ignore[no-any-return]


def cpu(pid: int) -> float:
    return rt.cpu_seconds(pid)


def drive(port: int, count: int, path: str, server_pid: int) -> tuple[float, float]:
    """(rate, the server's CPU µs per invocation) of COUNT sequential calls to PORT."""
    before = cpu(server_pid)
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port), str(count), path],
        capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise rt.BenchError(f"client: {done.stderr.decode(errors='replace')[-2000:]}")
    used = cpu(server_pid) - before
    return float(done.stdout), used * 1e6 / (count * 1.1)


def floor_round(root: Path, count: int) -> tuple[float, float]:
    relay = child([sys.executable, "-c", FLOOR], dict(os.environ), stdout=subprocess.PIPE)
    try:
        assert relay.stdout is not None
        runtime_port, client_port = map(int, relay.stdout.readline().split())
        env = rt.lambda_environment(f"127.0.0.1:{runtime_port}", "app.handler", root)
        with (root / "floor-runtime.log").open("wb") as log:
            runtime = child(
                [sys.executable, "-m", "lambdakit.runtime", "app.handler"],
                env | {"PYTHONPATH": str(root)}, cwd=root, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            return drive(client_port, count, INVOKE_PATH, relay.pid)
        finally:
            rt.stop(runtime)
    finally:
        rt.stop(relay)


def emulator_round(root: Path, count: int) -> tuple[float, float]:
    log = (root / "serve.log").open("wb")
    serve = child(
        [sys.executable, "-m", "lambdakit", "serve", str(root / "project"), "--port", "0",
         "--no-console"],
        dict(os.environ, LAMBDAKIT_BUSY_POLL_US="0"), stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (match := re.search(rb"Invoke API at http://127.0.0.1:(\d+)", _read(root))):
            if serve.poll() is not None or time.monotonic() > deadline:
                raise rt.BenchError(f"serve did not start: {_read(root)[-2000:]!r}")
            time.sleep(0.05)
        return drive(int(match.group(1)), count, INVOKE_PATH, serve.pid)
    finally:
        rt.stop(serve)
        log.close()


def _read(root: Path) -> bytes:
    return (root / "serve.log").read_bytes()


def stub_round(root: Path, count: int) -> float:
    workspace = rt.Workspace(root / "stub")
    command = rt.Command("lambdakit", (sys.executable, "-m", "lambdakit.runtime"))
    session = rt.run_session(
        workspace, command, "echo.handler", EVENT, invocations=count + count // 10,
        window_start=count // 10, timeout=300,
    )  # fmt: skip
    return session.rate(count)


def project(root: Path) -> None:
    (root / "app.py").write_text(ECHO)
    function = root / "project" / "echo"
    function.mkdir(parents=True)
    (function / "app.py").write_text(ECHO)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (root / "project" / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Echo:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      FunctionName: echo\n"
        f"      CodeUri: echo/\n      Handler: app.handler\n      Runtime: {version}\n"
    )
    (root / "stub").mkdir()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round (CI)")
    args = parser.parse_args()
    rounds, count = (1, 500) if args.quick else (5, 5000)
    rates: dict[str, list[float]] = {"stub": [], "floor": [], "emulator": []}
    cpus: dict[str, list[float]] = {"floor": [], "emulator": []}
    try:
        with tempfile.TemporaryDirectory(prefix="lambdakit-floor-") as tmp:
            root = Path(tmp)
            project(root)
            for n in range(rounds):
                order = ["stub", "floor", "emulator"]
                for side in order[n % 3 :] + order[: n % 3]:
                    if side == "stub":
                        rates["stub"].append(stub_round(root, count))
                        continue
                    measure = floor_round if side == "floor" else emulator_round
                    rate, used = measure(root, count)
                    rates[side].append(rate)
                    cpus[side].append(used)
    except rt.BenchError as error:
        print(f"relay_floor: {error}", file=sys.stderr)
        return 1
    finally:
        rt.stop_all()
    median = {side: statistics.median(values) for side, values in rates.items()}
    print(f"{rounds} round(s) of {count} sequential invocations, lambdakit runtime, medians:")
    for side in ("stub", "floor", "emulator"):
        line = (
            f"  {side:9} {median[side]:7.0f} inv/s  {median[side] / median['stub']:.2f}× the stub"
        )
        if side in cpus:
            line += f"  server CPU {statistics.median(cpus[side]):.0f} µs/invocation"
        print(line)
    print(f"  emulator ÷ floor: {median['emulator'] / median['floor']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
