"""Benchmark: the lambdakit runtime against awslambdaric 4.2.2, side by side in one run.

Each runtime is a real child process talking to a stub Runtime API served by this script on
127.0.0.1: one listener per process, blocking sockets with TCP_NODELAY and keep-alive, the
``GET /next`` answer pre-built (per request the stub finds the end of the head, formats a
request id and makes one ``sendall``). The runtimes alternate (ABBA) so that drift on a noisy
machine hits both alike; every figure is a median. The stub and the runtimes are pinned to one
CPU (``--no-pin`` to not): see ``pin()``. Measured:

1. cold start: from ``Popen`` to the stub receiving the first ``GET /next``, and to the first
   response arriving; also for the shipped ``bootstrap`` script;
2. memory: VmRSS and VmHWM of the runtime (``/proc/<pid>/status``), read when the response to
   the first invocation has arrived and before the stub acknowledges it;
3. throughput on one kept-alive process, after a warm-up: invocations/s and the runtime's own
   CPU time per invocation (``/proc/<pid>/schedstat``) of a no-op handler
   (``return None``, small event) and of an echo handler (``return event``) with a ~1 MiB
   JSON object of small records and with a ~1 MiB JSON string;
4. the stub's ceiling: invocations/s of a null runtime (raw socket, no handler);
5. flags (skip with ``--no-flags``): lambdakit's cold start and memory under interpreter flag
   variants (``-S``, ``-E``, ``-I``, ``-X frozen_modules=on``, ``-m`` or ``-c``, the shipped
   bootstrap) next to a floor (a raw-socket script that only does GET /next and POST), to
   choose the flags of the bootstrap.

What each side runs: a virtual environment each under ``bench/.venvs/``, made on first use
with ``python -m venv`` from the interpreter running this script (the same Python), setuptools
removed from both, and reused. ``awslambdaric`` gets awslambdaric==4.2.2 and its dependencies
from PyPI through pip; ``lambdakit`` gets a ``.pth`` file putting this checkout's ``src`` on
``sys.path`` (what ``pip install -e`` leaves, without the CLI's dependencies). Commands:
``python -m awslambdaric <handler>`` and ``python -m lambdakit.runtime <handler>``, with cwd
and ``LAMBDA_TASK_ROOT`` a temporary function directory and the environment Lambda sets for a
custom runtime (nothing is inherited from this process). Linux only (``/proc``).

Usage: ``python bench/runtime.py [--quick] [--write] [--no-flags] [--no-pin] [--rebuild-venvs]``.
The exit status is 0 even when a target is missed (this is a benchmark, not a test); 1 means
the benchmark itself failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

REPO = Path(__file__).resolve().parent.parent
SRC = REPO / "src"
VENVS = REPO / "bench" / ".venvs"
DOC = REPO / "docs" / "benchmarks.md"
R = TypeVar("R")  # a script's results
BOOTSTRAP = SRC / "lambdakit" / "runtime" / "bootstrap"
AWSLAMBDARIC = "awslambdaric==4.2.2"
PIP_TIMEOUT = 300.0
START_MARK = "<!-- bench/runtime.py --write: start -->"
END_MARK = "<!-- bench/runtime.py --write: end -->"

HANDLERS = {
    "noop.py": "def handler(event, context):\n    return None\n",
    "echo.py": "def handler(event, context):\n    return event\n",
}
# The Lambda console's "hello-world" test event.
SMALL_EVENT = b'{"key1":"value1","key2":"value2","key3":"value3"}'

# lambdakit started without ``-m`` (no runpy) and, with -S/-I, without site-packages.
LAMBDAKIT_C = (
    f"import sys; sys.path.insert(0, {str(SRC)!r}); "
    "from lambdakit.runtime.__main__ import main; sys.exit(main())"
)
# The least any Python runtime can do: connect, GET /next, POST a response, wait.
FLOOR_C = r"""import _socket, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
s = _socket.socket()
s.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
s.connect((host, int(port)))
get = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
s.sendall(get)
rid = s.recv(65536).split(b"Request-Id: ", 1)[1].split(b"\r\n", 1)[0]
path = b"/2018-06-01/runtime/invocation/" + rid + b"/response"
s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnull")
s.recv(65536)
s.sendall(get)
s.recv(1)
"""


# A runtime that does nothing but the protocol, in a loop: the stub's ceiling.
NULL_LOOP_C = r"""import _socket, os
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
s = _socket.socket()
s.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
s.connect((host, int(port)))
get = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n"
while True:
    s.sendall(get)
    rid = s.recv(65536).split(b"Request-Id: ", 1)[1].split(b"\r\n", 1)[0]
    path = b"/2018-06-01/runtime/invocation/" + rid + b"/response"
    s.sendall(b"POST " + path + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nnull")
    s.recv(65536)
"""


class BenchError(Exception):
    """The benchmark itself failed (not a missed target)."""


# --- plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much of everything to run."""

    name: str
    cold_starts: int  # per side
    rounds: int  # throughput rounds per side (no-op and echo)
    invocations: int  # timed no-op invocations per round
    warmup: int  # untimed invocations before the timed ones
    echo_invocations: int  # timed 1 MB echo invocations per round
    flag_rounds: int  # cold starts per flag variant


QUICK = Plan("quick", cold_starts=3, rounds=2, invocations=300, warmup=50, echo_invocations=10,
             flag_rounds=1)  # fmt: skip
FULL = Plan("full", cold_starts=31, rounds=9, invocations=10_000, warmup=1_000,
            echo_invocations=120, flag_rounds=21)  # fmt: skip


@dataclass(frozen=True)
class Command:
    """How to start one runtime: the argv without the handler, and extra environment."""

    label: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()


# --- the stub Runtime API -------------------------------------------------------------------


@dataclass
class Session:
    """What the stub saw during the life of one runtime process (perf_counter seconds)."""

    spawned: float = 0.0
    first_next: float | None = None
    first_post: float | None = None
    window_start: float | None = None
    window_end: float | None = None
    cpu_start: float = 0.0  # CPU seconds the runtime had used when the window opened
    cpu_end: float = 0.0
    rss_kb: int = 0
    hwm_kb: int = 0
    response_length: int = 0

    def cold_start_ms(self) -> float:
        assert self.first_next is not None
        return (self.first_next - self.spawned) * 1000.0

    def first_response_ms(self) -> float:
        assert self.first_post is not None
        return (self.first_post - self.spawned) * 1000.0

    def rate(self, invocations: int) -> float:
        assert self.window_start is not None and self.window_end is not None
        return invocations / (self.window_end - self.window_start)

    def cpu_us(self, invocations: int) -> float:
        """The runtime's own CPU time per invocation in the window (user + system)."""
        return (self.cpu_end - self.cpu_start) / invocations * 1e6


ACCEPTED = b'HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"status":"OK"}'  # noqa: E501
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
NEXT_REQUEST = b"GET /2018-06-01/runtime/invocation/next "
FUNCTION_ARN = b"arn:aws:lambda:us-east-1:123456789012:function:bench"
# 64 KiB a read: CPython allocates the whole size asked for on every recv(), and past glibc's
# mmap threshold (128 KiB) that is an mmap, an mremap and a munmap per read, which made the stub
# some 18 µs slower per invocation of the lambdakit runtime (stub costs are not the runtime's).
RECV_SIZE = 64 * 1024
SMALL = 64 * 1024


def next_head_template(event_length: int) -> bytes:
    """The ``GET /next`` answer's head, with ``%(n)08d`` where the request number goes.

    It has the headers Lambda sends (lambda-wire-protocol.md) and the emulator sends, the trace
    id and the invocation id included: a runtime sets ``_X_AMZN_TRACE_ID`` from the one and
    echoes the other on its ``/response``, so without them it would do less work here than
    behind a Runtime API that is Lambda's, and bench/emulator.py's efficiency (the emulator's
    rate ÷ this stub's) would charge that work to the emulator."""
    deadline_ms = int(time.time() * 1000) + 15 * 60 * 1000
    epoch = int(time.time())
    return (
        b"HTTP/1.1 200 OK\r\n"
        b"Lambda-Runtime-Aws-Request-Id: %%(n)08d-0000-4000-8000-000000000000\r\n"
        b"Lambda-Runtime-Deadline-Ms: %d\r\n"
        b"Lambda-Runtime-Invoked-Function-Arn: %s\r\n"
        b"Lambda-Runtime-Trace-Id: Root=1-%08x-0000000000000000%%(n)08x;"
        b"Parent=%%(n)016x;Sampled=0\r\n"
        b"Lambda-Runtime-Invocation-Id: %%(n)032x\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % (deadline_ms, FUNCTION_ARN, epoch, event_length)
    )


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in KiB."""
    fields = {}
    with open(f"/proc/{pid}/status", "rb") as status:
        for line in status:
            name, _, value = line.partition(b":")
            if name in (b"VmRSS", b"VmHWM"):
                fields[name] = int(value.split()[0])
    return fields[b"VmRSS"], fields[b"VmHWM"]


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used: from schedstat (ns) if the kernel keeps it, else ticks."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as schedstat:
            return int(schedstat.read().split()[0]) / 1e9
    except OSError:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Connection:
    """One runtime connection: whole request heads and bodies out of a blocking socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def head(self) -> bytes | None:
        """The next request's head (without the blank line), or None at end of stream."""
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        while end < 0:
            data = self.sock.recv(RECV_SIZE)
            if not data:
                return None
            buffer += data
            end = buffer.find(b"\r\n\r\n", max(0, len(buffer) - len(data) - 3))
        head = bytes(buffer[:end])
        del buffer[: end + 4]
        return head

    def body(self, length: int) -> bytes:
        buffer = self.buffer
        if len(buffer) >= length:
            body = bytes(buffer[:length])
            del buffer[:length]
            return body
        whole = bytearray(length)
        view = memoryview(whole)
        have = len(buffer)
        view[:have] = buffer
        buffer.clear()
        while have < length:
            received = self.sock.recv_into(view[have:])
            if not received:
                raise BenchError("the runtime closed the connection in the middle of a body")
            have += received
        return bytes(whole)

    def park(self) -> None:
        """Hold the connection open, unanswered, until the runtime goes away."""
        while self.sock.recv(RECV_SIZE):
            pass


def content_length(head: bytes) -> int:
    lower = head.lower()
    start = lower.find(b"\r\ncontent-length:")
    if start < 0:
        if b"transfer-encoding" in lower:
            raise BenchError("the stub does not take chunked request bodies")
        return 0
    end = lower.find(b"\r\n", start + 2)
    return int(lower[start + 17 : end if end > 0 else None])


class StubRuntimeAPI:
    """Answers ``GET /next`` with ``event`` ``invocations`` times, then leaves the next one
    unanswered; acknowledges every ``POST .../response`` with 202; anything else fails."""

    def __init__(self, event: bytes, invocations: int, window_start: int) -> None:
        self.event = event
        self.invocations = invocations
        self.window_start = window_start
        self.template = next_head_template(len(event))
        self.session = Session()
        self.done = threading.Event()
        self.started = threading.Event()
        self.error: str | None = None
        self.pid = 0
        self.nexts = 0
        self.posts = 0
        self.closed = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.address = "127.0.0.1:%d" % self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.listener.close()

    def fail(self, message: str) -> None:
        self.error = self.error or message
        self.done.set()

    def _accept(self) -> None:
        while not self.closed:
            try:
                sock, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        connection = Connection(sock)
        try:
            self._requests(connection)
        except OSError:
            pass  # the runtime was killed: the session is over
        except Exception as exc:
            self.fail(f"stub Runtime API: {exc!r}")
        finally:
            sock.close()

    def _requests(self, connection: Connection) -> None:
        while True:
            head = connection.head()
            if head is None:
                return
            if head.startswith(NEXT_REQUEST):
                if not self._next(connection.sock):
                    connection.park()
                    return
            elif head.startswith(b"POST "):
                length = content_length(head)
                if b"100-continue" in head.lower():
                    connection.sock.sendall(CONTINUE)
                self._post(connection.sock, head, connection.body(length))
            else:
                self.fail(f"unexpected request: {head[:200]!r}")
                return

    def _next(self, sock: socket.socket) -> bool:
        """Answer one ``GET /next``; False once the script is played out."""
        now = time.perf_counter()
        index = self.nexts
        self.nexts = index + 1
        if index == 0:
            self.session.first_next = now
        if index == self.window_start:
            self.session.window_start = now
            self.session.cpu_start = cpu_seconds(self.pid)
        if index >= self.invocations:
            self.session.window_end = now
            self.session.cpu_end = cpu_seconds(self.pid)
            self.done.set()
            return False
        head = self.template % {b"n": index}
        if len(self.event) <= SMALL:
            sock.sendall(head + self.event)
        else:
            sock.sendall(head)
            sock.sendall(self.event)
        return True

    def _post(self, sock: socket.socket, head: bytes, body: bytes) -> None:
        now = time.perf_counter()
        request_line = head[: head.find(b"\r\n")]
        if not request_line.endswith(b"/response HTTP/1.1"):
            self.fail(f"the runtime sent {request_line.decode()}: {body[:3000].decode()}")
            return
        self.posts += 1
        if self.posts == 1:
            self._first_post(now, len(body))
        sock.sendall(ACCEPTED)

    def _first_post(self, now: float, length: int) -> None:
        self.session.first_post = now
        self.session.response_length = length
        self.started.wait(5)
        self.session.rss_kb, self.session.hwm_kb = memory_kb(self.pid)


# --- child processes ------------------------------------------------------------------------

LIVE: set[subprocess.Popen[bytes]] = set()


def lambda_environment(address: str, handler: str, task_root: Path) -> dict[str, str]:
    """What Lambda sets for a custom runtime (no AWS_EXECUTION_ENV: awslambdaric then polls
    on the main thread, its fastest mode)."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_RUNTIME_API": address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef",
    }


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            pass
    LIVE.discard(process)


def stop_all() -> None:
    for process in list(LIVE):
        stop(process)


@dataclass
class Workspace:
    """The temporary function directory and the log file of the current child."""

    root: Path
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "runtime.log"
        for name, source in HANDLERS.items():
            (self.root / name).write_text(source)

    def log_tail(self) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return text[-3000:].strip() or "(no output)"


def run_session(
    workspace: Workspace,
    command: Command,
    handler: str,
    event: bytes,
    invocations: int = 1,
    window_start: int = 1,
    timeout: float = 30.0,
) -> Session:
    """Start ``command``, play ``invocations`` events to it, stop it; what the stub saw."""
    stub = StubRuntimeAPI(event, invocations, window_start)
    env = lambda_environment(stub.address, handler, workspace.root) | dict(command.env)
    argv = [*command.argv, handler]
    try:
        with workspace.log.open("wb") as log:
            stub.session.spawned = time.perf_counter()
            try:
                process = subprocess.Popen(
                    argv, cwd=workspace.root, env=env, stdin=subprocess.DEVNULL, stdout=log,
                    stderr=subprocess.STDOUT,
                )  # fmt: skip
            except OSError as exc:
                raise BenchError(f"{command.label}: cannot start {argv[0]}: {exc}") from exc
        LIVE.add(process)
        stub.pid = process.pid
        stub.started.set()
        try:
            wait(stub, process, timeout)
        finally:
            stop(process)
    finally:
        stub.close()
    if stub.error:
        raise BenchError(
            f"{command.label}: {stub.error}\n--- its output ---\n{workspace.log_tail()}"
        )
    return stub.session


def wait(stub: StubRuntimeAPI, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not stub.done.wait(0.05):
        if process.poll() is not None:
            stub.done.wait(0.2)  # a last request may still be in flight
            if not stub.done.is_set():
                stub.fail(f"the runtime exited with status {process.returncode}")
        elif time.monotonic() > deadline:
            stub.fail(f"no progress after {timeout:.0f} s (served {stub.nexts} GET /next)")


# --- virtual environments -------------------------------------------------------------------


def run_checked(argv: Sequence[str], what: str, timeout: float) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{what} did not finish within {timeout:.0f} s") from exc
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()[-3000:]
        raise BenchError(f"{what} failed (exit {result.returncode}):\n{output}")


def pip(venv: Path, *args: str) -> list[str]:
    return [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", *args]


def site_packages(venv: Path) -> Path:
    return venv / "lib" / ("python%d.%d" % sys.version_info[:2]) / "site-packages"


def install_awslambdaric(venv: Path) -> None:
    try:
        run_checked(pip(venv, "install", "--quiet", AWSLAMBDARIC), AWSLAMBDARIC, PIP_TIMEOUT)
    except BenchError as exc:
        raise BenchError(
            f"pip could not install {AWSLAMBDARIC} from PyPI into {venv}: {exc}\n"
            "Check network access and pip's configuration (index-url, proxy), then run again."
        ) from exc


def install_lambdakit(venv: Path) -> None:
    # What `pip install -e .` leaves behind with hatchling: a path entry for src/.
    (site_packages(venv) / "_lambdakit.pth").write_text(f"{SRC}\n")


def ensure_venv(name: str, stamp: str, install: Callable[[Path], None], rebuild: bool) -> Path:
    """``bench/.venvs/<name>``, made with ``python -m venv`` and ``install`` unless a previous
    run left a complete one for the same stamp and interpreter.

    setuptools is removed from both: its ``distutils-precedence.pth`` imports ``_distutils_hack``
    into every process, and neither Python 3.12+ venvs nor a Lambda deployment have it.
    """
    venv = VENVS / name
    python = venv / "bin" / "python"
    marker = venv / ".bench-stamp"
    expected = f"{stamp}\n{sys.version}\n{getattr(sys, '_base_executable', sys.executable)}\n"
    if not rebuild and python.exists() and marker.exists() and marker.read_text() == expected:
        return python
    print(f"setting up {venv.relative_to(REPO)} ({stamp})...", file=sys.stderr, flush=True)
    shutil.rmtree(venv, ignore_errors=True)
    run_checked([sys.executable, "-m", "venv", str(venv)], f"python -m venv {venv}", 180.0)
    run_checked(pip(venv, "uninstall", "--yes", "--quiet", "setuptools"), "pip uninstall", 120.0)
    install(venv)
    marker.write_text(expected)
    return python


def runtimes(rebuild: bool) -> list[Command]:
    """lambdakit and awslambdaric, each in its own virtual environment, then lambdakit's shipped
    ``bootstrap`` (if this checkout has one) with the lambdakit environment's interpreter."""
    ours = ensure_venv("lambdakit", f"pth {SRC}", install_lambdakit, rebuild)
    theirs = ensure_venv("awslambdaric", AWSLAMBDARIC, install_awslambdaric, rebuild)
    commands = [
        Command("lambdakit", (str(ours), "-m", "lambdakit.runtime")),
        Command("awslambdaric", (str(theirs), "-m", "awslambdaric")),
    ]
    if BOOTSTRAP.exists():
        commands.append(bootstrap_command(str(ours)))
    return commands


def bootstrap_command(python: str) -> Command:
    """The shipped ``bootstrap`` in its container-image layout (package in LAMBDA_RUNTIME_DIR)."""
    env = (("LAMBDAKIT_PYTHON", python), ("LAMBDA_RUNTIME_DIR", str(SRC)))
    return Command("bootstrap", ("/bin/sh", str(BOOTSTRAP)), env)


def pin() -> int | None:
    """Put this process, and so the stub's threads and every runtime, on one CPU.

    A no-op invocation is two request/response ping-pongs; across CPUs each of the four
    wake-ups costs tens of microseconds on a VM, which would dominate what is measured. On one
    CPU the measurement is of work done, the way a small Lambda function (a fraction of one
    vCPU) shares its CPU with the Runtime API.
    """
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


# --- measurements ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A goal for lambdakit: on the ratio lambdakit/awslambdaric, or on lambdakit's value."""

    kind: str  # "ratio>=", "ratio<=" or "value<="
    bound: float

    def describe(self, unit: str) -> str:
        if self.kind == "value<=":
            return f"≤ {self.bound:g} {unit}"
        return ("≥ " if self.kind == "ratio>=" else "≤ ") + f"{self.bound:g}×"

    def met(self, value: float, ratio: float) -> bool:
        if self.kind == "ratio>=":
            return ratio >= self.bound
        if self.kind == "ratio<=":
            return ratio <= self.bound
        return value <= self.bound


@dataclass
class Metric:
    """Samples of one measurement for both sides (index 0: lambdakit, 1: awslambdaric)."""

    name: str
    unit: str
    target: Target | None = None
    digits: int = 1
    samples: tuple[list[float], list[float]] = field(default_factory=lambda: ([], []))


@dataclass
class FlagResult:
    command: Command
    start_ms: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)


@dataclass
class Results:
    plan: Plan
    cpu: int | None
    metrics: list[Metric]
    ceiling: list[float]
    flags: list[FlagResult]


def alternate(commands: Sequence[Command], rounds: int) -> Iterator[tuple[int, Command]]:
    """(index, command) for ``rounds`` rounds, forwards then backwards (ABBA for a pair)."""
    indexes = list(range(len(commands)))
    for number in range(rounds):
        for index in indexes if number % 2 == 0 else indexes[::-1]:
            yield index, commands[index]


def warm_up(workspace: Workspace, commands: Sequence[Command]) -> None:
    """One untimed run of each command per handler: writes .pyc files, fills the page cache."""
    for command in commands:
        for handler in ("noop.handler", "echo.handler"):
            run_session(workspace, command, handler, SMALL_EVENT)


def cold_starts(workspace: Workspace, commands: Sequence[Command], rounds: int) -> list[Metric]:
    """Cold start and memory of lambdakit (``-m``), awslambdaric and, if there is one, the
    shipped bootstrap; the last two rows compare the bootstrap with awslambdaric."""
    sessions: list[list[Session]] = [[] for _ in commands]
    for index, command in alternate(commands, rounds):
        sessions[index].append(run_session(workspace, command, "noop.handler", SMALL_EVENT))

    def metric(
        name: str,
        unit: str,
        value: Callable[[Session], float],
        target: Target | None = None,
        side: int = 0,
    ) -> Metric:
        samples = ([value(s) for s in sessions[side]], [value(s) for s in sessions[1]])
        return Metric(name, unit, target, 2 if unit == "MB" else 1, samples)

    def cold(s: Session) -> float:
        return s.cold_start_ms()

    def rss(s: Session) -> float:
        return s.rss_kb / 1024

    metrics = [
        metric("spawn → first GET /next", "ms", cold, target=Target("ratio<=", 0.6)),
        metric("spawn → first response", "ms", lambda s: s.first_response_ms()),
        metric("VmRSS after 1st invocation", "MB", rss, target=Target("value<=", 10.5)),
        metric("VmHWM after 1st invocation", "MB", lambda s: s.hwm_kb / 1024),
    ]
    if len(commands) > 2:
        metrics.append(metric("bootstrap: spawn → first GET /next", "ms", cold, side=2))
        metrics.append(metric("bootstrap: VmRSS after 1st invocation", "MB", rss, side=2))
    return metrics


def throughput(
    workspace: Workspace,
    pair: tuple[Command, Command],
    metrics: tuple[Metric, Metric],
    event: bytes,
    counts: tuple[int, int, int],
) -> None:
    """Invocations/s, and the runtime's CPU time per invocation, over ``timed`` invocations
    after ``1 + warmup`` untimed ones."""
    rounds, warmup, timed = counts
    handler = "noop.handler" if len(event) <= SMALL else "echo.handler"
    window_start = 1 + warmup
    timeout = 60.0 + timed * (0.01 if len(event) <= SMALL else 0.5)
    rate, cpu = metrics
    for side, command in alternate(pair, rounds):
        session = run_session(
            workspace, command, handler, event, window_start + timed, window_start, timeout
        )
        if handler == "echo.handler" and session.response_length < len(event) * 0.9:
            raise BenchError(f"{command.label} did not echo the event")
        rate.samples[side].append(session.rate(timed))
        cpu.samples[side].append(session.cpu_us(timed))


def records_event(size: int = 1024 * 1024) -> bytes:
    """A JSON object of about ``size`` bytes: a list of small, varied records."""
    records: list[dict[str, object]] = []
    length = 0
    while length < size:
        index = len(records)
        record = {
            "id": index,
            "sku": f"SKU-{index:08d}",
            "price": index * 0.25 + 0.99,
            "qty": index % 17,
            "active": index % 3 == 0,
            "tags": ["bench", f"t{index % 7}"],
        }
        records.append(record)
        length += len(json.dumps(record, separators=(",", ":"))) + 1
    return json.dumps({"records": records}, separators=(",", ":")).encode()


def string_event(size: int = 1024 * 1024) -> bytes:
    """A JSON string of ``size`` bytes: transport and copying, next to no parsing."""
    return json.dumps("lambdakit " * ((size - 2) // 10)).encode()


def measure(workspace: Workspace, commands: Sequence[Command], plan: Plan) -> list[Metric]:
    pair = (commands[0], commands[1])
    noop = Metric("no-op throughput", "inv/s", Target("ratio>=", 1.35), digits=0)
    records = Metric("1 MB JSON object echo", "inv/s", Target("ratio>=", 1.0))
    text = Metric("1 MB JSON string echo", "inv/s", Target("ratio>=", 1.0))
    cpu = [Metric(f"{name}: runtime CPU per invocation", "µs", digits=0)
           for name in ("no-op", "1 MB object echo", "1 MB string echo")]  # fmt: skip
    warm_up(workspace, commands)
    start, first, rss, hwm, *shipped = cold_starts(workspace, commands, plan.cold_starts)
    small = (plan.rounds, plan.warmup, plan.invocations)
    throughput(workspace, pair, (noop, cpu[0]), SMALL_EVENT, small)
    large = (plan.rounds, 2, plan.echo_invocations)
    throughput(workspace, pair, (records, cpu[1]), records_event(), large)
    throughput(workspace, pair, (text, cpu[2]), string_event(), large)
    return [start, *shipped[:1], first, rss, *shipped[1:], hwm, noop, records, text, *cpu]


def ceiling(workspace: Workspace, python: str, plan: Plan) -> list[float]:
    """Invocations/s of a null runtime (raw socket, no handler): what the stub allows."""
    command = Command("null runtime", (python, "-S", "-E", "-c", NULL_LOOP_C))
    rates = []
    for _ in range(max(1, plan.rounds // 3)):
        session = run_session(
            workspace, command, "noop.handler", SMALL_EVENT,
            1 + plan.warmup + plan.invocations, 1 + plan.warmup,
        )  # fmt: skip
        rates.append(session.rate(plan.invocations))
    return rates


# --- interpreter flags ----------------------------------------------------------------------


def flag_variants(python: str) -> list[Command]:
    m = ("-m", "lambdakit.runtime")
    c = ("-c", LAMBDAKIT_C)
    pythonpath = (("PYTHONPATH", str(SRC)),)
    variants = [
        ("-m (site)", m, ()),
        ("-c (site)", c, ()),
        ("-E -m", ("-E", *m), ()),
        ("-X frozen_modules=on -m", ("-X", "frozen_modules=on", *m), ()),
        ("-I -m", ("-I", *m), ()),
        ("-S -m (PYTHONPATH=src)", ("-S", *m), pythonpath),
        ("-S -c", ("-S", *c), ()),
        ("-S -E -c", ("-S", "-E", *c), ()),
        ("-I -S -c", ("-I", "-S", *c), ()),
        ("-S -E -X frozen_modules=on -c", ("-S", "-E", "-X", "frozen_modules=on", *c), ()),
        ("floor: -c raw socket (site)", ("-c", FLOOR_C), ()),
        ("floor: -S -E -c raw socket", ("-S", "-E", "-c", FLOOR_C), ()),
    ]
    commands = [Command(label, (python, *argv), env) for label, argv, env in variants]
    if BOOTSTRAP.exists():
        shipped = bootstrap_command(python)
        commands.insert(-2, Command("bootstrap (sh, then -S -c)", shipped.argv, shipped.env))
    return commands


def flags(workspace: Workspace, python: str, rounds: int) -> list[FlagResult]:
    """Cold start and memory of each variant, round robin from a rotating first variant."""
    results = [FlagResult(command) for command in flag_variants(python)]
    for result in results:  # warm-up
        run_session(workspace, result.command, "noop.handler", SMALL_EVENT)
    for number in range(rounds):
        shift = number % len(results)
        for result in results[shift:] + results[:shift]:
            session = run_session(workspace, result.command, "noop.handler", SMALL_EVENT)
            result.start_ms.append(session.cold_start_ms())
            result.rss_mb.append(session.rss_kb / 1024)
    return results


# --- report ---------------------------------------------------------------------------------

MAIN_HEADER = ["metric", "lambdakit", "awslambdaric", "ratio", "target", "result"]
FLAG_HEADER = ["lambdakit started as", "spawn → /next ms", "IQR ms", "vs -m (site)", "VmRSS MB"]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def metric_row(metric: Metric) -> list[str]:
    ours, theirs = (median(values) for values in metric.samples)
    ratio = ours / theirs
    verdict = ""
    if metric.target:
        verdict = "PASS" if metric.target.met(ours, ratio) else "FAIL"
    return [
        f"{metric.name} ({metric.unit})",
        f"{ours:.{metric.digits}f}",
        f"{theirs:.{metric.digits}f}",
        f"{ratio:.2f}×",
        metric.target.describe(metric.unit) if metric.target else "",
        verdict,
    ]


def quartiles(values: list[float]) -> str:
    if len(values) < 4:
        return "–"
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:.1f}–{high:.1f}"


def flag_row(result: FlagResult, baseline: float) -> list[str]:
    value = median(result.start_ms)
    return [
        result.command.label,
        f"{value:.1f}",
        quartiles(result.start_ms),
        f"{value - baseline:+.1f}",
        f"{median(result.rss_mb):.2f}",
    ]


def table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        rule = ["---", *["---:"] * (len(header) - 1)]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in [header, rule, *rows])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for cells in [header, ["-" * width for width in widths], *rows]:
        padded = [cells[0].ljust(widths[0])]
        padded += [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        lines.append("  ".join(padded))
    return "\n".join(lines)


def machine() -> str:
    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def summary(results: Results) -> str:
    plan = results.plan
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    pinned = (
        "not pinned" if results.cpu is None else f"stub and runtimes pinned to CPU {results.cpu}"
    )
    return (
        f"Mode {plan.name}, {when}; {machine()}; {pinned}. Per side: {plan.cold_starts} cold "
        f"starts, {plan.rounds} rounds of {plan.invocations} no-op and {plan.echo_invocations} "
        "echo invocations, alternating. Medians; ratio = lambdakit / awslambdaric."
    )


def ceiling_note(results: Results) -> str:
    noop = next(metric for metric in results.metrics if metric.name == "no-op throughput")
    top = median(results.ceiling)
    ours, theirs = (1e6 / median(values) - 1e6 / top for values in noop.samples)
    return (
        f"Stub ceiling: a null runtime (raw socket, no handler) does {top:.0f} invocations/s, "
        f"so {1e6 / top:.0f} µs of every invocation are the stub's and the kernel's. Net of "
        f"that, a no-op invocation costs lambdakit {ours:.0f} µs and awslambdaric {theirs:.0f} µs "
        f"({theirs / ours:.2f}×)."
    )


def report(results: Results, markdown: bool) -> str:
    parts = [
        textwrap.fill(summary(results), 100),
        table(MAIN_HEADER, [metric_row(metric) for metric in results.metrics], markdown),
    ]
    if results.ceiling:
        parts.append(textwrap.fill(ceiling_note(results), 100))
    if results.flags:
        baseline = median(results.flags[0].start_ms)
        rows = [flag_row(result, baseline) for result in results.flags]
        rounds = results.plan.flag_rounds
        parts.append(f"Interpreter flags, lambdakit only (cold starts per variant: {rounds}):")
        parts.append(table(FLAG_HEADER, rows, markdown))
    return "\n\n".join(parts) + "\n"


def write_section(text: str, start_mark: str, end_mark: str, heading: str | None = None) -> None:
    """Rewrite what stands between ``start_mark`` and ``end_mark`` in docs/benchmarks.md; the
    rest of the file (other scripts' sections) is left as read just before writing. Without
    the marks: append a new section under ``heading``, or fail when there is none."""
    document = DOC.read_text() if DOC.exists() else ""
    start, end = document.find(start_mark), document.find(end_mark)
    if start < 0 or end < start:
        if heading is None:
            raise BenchError(f"{DOC} has no '{start_mark}' ... '{end_mark}' section to rewrite")
        section = f"\n{heading}\n\n{start_mark}\n\n{text}\n{end_mark}\n"
        with DOC.open("a") as doc:  # append only: never rewrite what others own
            doc.write(section if document.endswith("\n") or not document else "\n" + section)
        return
    DOC.write_text(f"{document[: start + len(start_mark)]}\n\n{text}\n{document[end:]}")


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, for CI")
    parser.add_argument("--write", action="store_true", help=f"rewrite the results in {DOC}")
    parser.add_argument("--no-flags", action="store_true", help="skip the interpreter flags")
    parser.add_argument("--no-pin", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--rebuild-venvs", action="store_true", help="recreate bench/.venvs/*")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Results:
    plan = QUICK if args.quick else FULL
    commands = runtimes(args.rebuild_venvs)
    cpu = None if args.no_pin else pin()
    python = commands[0].argv[0]
    with tempfile.TemporaryDirectory(prefix="lambdakit-bench-") as directory:
        workspace = Workspace(Path(directory))
        metrics = measure(workspace, commands, plan)
        top = ceiling(workspace, python, plan)
        flag_results = [] if args.no_flags else flags(workspace, python, plan.flag_rounds)
    return Results(plan, cpu, metrics, top, flag_results)


def main(argv: list[str] | None = None) -> int:
    return bench_main(
        "bench/runtime.py", parse_args(argv), run, report, (START_MARK, END_MARK, None), stop_all
    )


def bench_main(
    name: str,
    args: argparse.Namespace,
    run: Callable[[argparse.Namespace], R],
    report: Callable[[R, bool], str],
    section: tuple[str, str, str | None],
    clean_up: Callable[[], None],
) -> int:
    """What every bench script's main() does: run, print the report, write it into its
    ``section`` (start mark, end mark, heading) of docs/benchmarks.md with --write, and clean
    up whatever happens; SIGTERM ends it as an exception would."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    try:
        results = run(args)
        print(report(results, False))
        if args.write:
            write_section(report(results, True), *section)
            print(f"wrote the results to {DOC.relative_to(REPO)}")
    except BenchError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        clean_up()
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
