"""Benchmark: the local Lambda (``lambdakit serve`` and ``lambdakit invoke``) against its targets.

Targets (medians of one run; results in docs/benchmarks.md):

1. sequential invocations through the Invoke API from one keep-alive client, with awslambdaric
   and with the lambdakit runtime inside: invocations/s, p50/p99 latency, and the emulator's
   *efficiency* = that rate ÷ the rate of the same runtime process against a bare stub Runtime
   API, which must be ≥ 0.5 for each runtime;
2. 4 concurrent clients against ``--concurrency 4``: 0 errors, every invocation answered exactly
   once with its own payload, and a rate ≥ 1.5 times the sequential one;
3. a one-shot ``lambdakit invoke examples/hello``: ≤ 400 ms wall time;
4. with the browser console open and following the logs (a page reading ``B/api/stream`` and
   fetching ``B/api/overview`` every second), the sequential rate of the lambdakit runtime
   ≥ 0.9 times the rate of a ``serve --no-console``, three servers in the same run, ABBA.

Environments are frozen between invocations (emulator/freezing.py), so target 1 is measured
with freezing on, the default (as is busy polling, emulator/_http/spinning.py); for
comparison, the sequential rate with freezing on and with it off (``LAMBDAKIT_FREEZE=0``), two
servers in the same run, rounds alternating ABBA.

And, for information, what a burst costs: 50 parallel invocations of a cold function (it sleeps
``BURST_SLEEP`` so that they overlap) against a ``serve`` with the default account limit: the
time from the first request to the last answer, the environments started, and the peak of the
summed VmRSS of their processes (sampled every 20 ms), with the server's own RSS.

How. A temporary SAM project holds two echo functions (``return event``; with a ~25 byte event
this is a no-op that lets the client check every answer): ``lambdakit-echo`` (``python3.X``, the
version of the interpreter running this script: the emulator runs lambdakit's runtime on that
CPython, found as for any function, with ``-S`` and the function's own search path) and
``awslambdaric-echo`` (``provided.al2023``: a ``bootstrap`` that execs ``python -m awslambdaric``
from ``bench/.venvs/awslambdaric``, the awslambdaric==4.2.2 environment bench/runtime.py makes and
shares, created on first use). ``python -m lambdakit serve PROJECT --port 0`` runs in a child
process; its log (START/END/REPORT lines) goes to a file, which the script also uses to count
the invocations the emulator ran.

The clients are child processes (no GIL shared with anything) speaking HTTP/1.1 over one raw
keep-alive socket each with ``TCP_NODELAY``: a pre-built request head, a unique JSON payload
(``{"client": c, "seq": n}``), and a check that the answer is 200, not a function error, and
echoes that payload. boto3 is far too slow a client to measure the emulator with (its signing
and parsing cost more than an invocation); a boto3 row is printed for information only.

The stub side is bench/runtime.py's stub Runtime API (imported from there, as are its venv
handling, its child-process clean-up and its table format): the *same* commands (the same
interpreter and ``-m lambdakit.runtime``; the same ``bootstrap`` for awslambdaric) play the same
number of events against it. Rounds alternate ABBA between emulator and stub and between the
runtimes; ratios are medians of per-round ratios (both sides of a round ran next to each
other, so drift cancels). Everything sequential is measured twice: on all CPUs (a developer's
machine; the targets are judged there, and the 4-client phase needs them) and with this
script, the emulator, the clients and the runtimes pinned to one CPU (``--no-pin`` to skip),
where a rate is the inverse of the summed CPU cost of all parties (see bench/runtime.py
``pin()``); there the emulator's side also pays for a client process, so its efficiency is for
information. CPU time per invocation of the emulator, runtime and client processes comes from
``/proc`` and ``time.process_time()``.

One-shot: the installed console script (``.venv/bin/lambdakit``) and ``python -m lambdakit``,
alternated, after one untimed warm-up each; the environment is this one except that byte-code
caching is on (``PYTHONDONTWRITEBYTECODE`` removed, ``PYTHONPYCACHEPREFIX`` a temporary
directory), as on a developer's machine. The timeline comes from the timestamps at which the
START and REPORT lines (stderr) and the answer (stdout) arrive, plus the REPORT's Init
Duration; ``lambdakit --version`` gives the CLI's own start-up and ``python -X importtime`` the
import cost by package.

Usage: ``python bench/emulator.py [--quick] [--write] [--no-pin] [--rebuild-venvs]`` with the
project's virtual environment (``.venv/bin/python``). Linux only (``/proc``). The exit status
is 0 even when a target is missed (a benchmark, not a test); 1 means the benchmark broke.
Every child (servers, runtimes, clients) is killed and reaped, also on errors and signals.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import itertools
import json
import os
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import runtime as rt  # bench/runtime.py: venvs, the stub Runtime API, tables

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

REPO = rt.REPO
DOC = rt.DOC
HEADING = "## The emulator (bench/emulator.py)"
START_MARK = "<!-- bench/emulator.py --write: start -->"
END_MARK = "<!-- bench/emulator.py --write: end -->"
HELLO = REPO / "examples" / "hello"
HELLO_EVENT = '{"name":"world"}'
HELLO_ANSWER = {"message": "Hello, world!"}
ECHO = "def handler(event, context):\n    return event\n"
BOOTSTRAP = '#!/bin/sh\nexec "$BENCH_PYTHON" -m awslambdaric "$_HANDLER"\n'
TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  LambdakitEcho:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: lambdakit-echo
      CodeUri: lambdakit
      Handler: echo.handler
      Runtime: {python_runtime}
      Timeout: 30
  AwslambdaricEcho:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: awslambdaric-echo
      CodeUri: awslambdaric
      Handler: echo.handler
      Runtime: provided.al2023
      Timeout: 30
  LambdakitBurst:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: lambdakit-burst
      CodeUri: lambdakit
      Handler: burst.handler
      Runtime: {python_runtime}
      Timeout: 30
"""
PYTHON_RUNTIME = "python%d.%d" % sys.version_info[:2]
BURST = 50  # parallel invocations of a cold function
BURST_SLEEP = 1.0  # seconds each of them lasts, so that all 50 are in flight together
BURST_HANDLER = f"import time\n\ndef handler(event, context):\n    time.sleep({BURST_SLEEP})\n"
CONCURRENCY = 4
URL_LINE = re.compile(rb"Invoke API at http://127\.0\.0\.1:(\d+)")

# Reading one answer from a raw keep-alive socket ``sock`` into ``buffer`` (a bytearray): the
# head, lower-cased, and the body by its Content-Length. Shared with bench/soak.py's clients.
# recv() asks for 64 KiB: CPython allocates the whole size asked for on every call, and past
# glibc's mmap threshold (128 KiB) that is an mmap, an mremap and a munmap per read. With
# 256 KiB the client spent about 45 µs more CPU per invocation (95 against 55 µs), all of it on
# the emulator side's critical path (docs/benchmarks.md, 2026-12-07, third session).
READER_C = r"""
def fill():
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("the emulator closed the connection")
    buffer.extend(data)

def read_response():
    end = buffer.find(b"\r\n\r\n")
    while end < 0:
        fill()
        end = buffer.find(b"\r\n\r\n")
    top = bytes(buffer[:end]).lower()
    del buffer[:end + 4]
    start = top.find(b"\r\ncontent-length:")
    if start < 0:
        raise ValueError("no Content-Length: %r" % top[:300])
    stop = top.find(b"\r\n", start + 2)
    length = int(top[start + 17:stop if stop > 0 else None])
    while len(buffer) < length:
        fill()
    body = bytes(buffer[:length])
    del buffer[:length]
    return top, body
"""

# One client: a raw keep-alive socket. argv[1] is its configuration; it warms up, prints
# "ready", waits for "go START END" on stdin, then runs ``count`` invocations (START/END
# ignored) or as many as fit between the monotonic times START and END; prints a JSON result.
CLIENT_C = (
    r"""
import json, socket, sys, time
config = json.loads(sys.argv[1])
port, me = config["port"], config["client"]
head = ("POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
        "Content-Type: application/json\r\nContent-Length: " % (config["function"], port))
head = head.encode()
state = {"sent": 0, "answered": 0, "errors": 0, "error": ""}
buffer = bytearray()
sock = None

def connect():
    global sock
    if sock is not None:
        sock.close()
    buffer.clear()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

"""
    + READER_C
    + r"""
def call(seq):
    body = b'{"client":%d,"seq":%d}' % (me, seq)
    sock.sendall(head + b"%d\r\n\r\n" % len(body) + body)
    state["sent"] += 1
    response, payload = read_response()
    state["answered"] += 1
    text = payload[:300].decode("utf-8", "replace")
    if not response.startswith(b"http/1.1 200 ") or b"\r\nx-amz-function-error:" in response:
        raise ValueError(response[:12].decode() + " " + text)
    if json.loads(payload) != {"client": me, "seq": seq}:
        raise ValueError("not its own payload: " + text)

def attempt(seq):
    try:
        call(seq)
        return True
    except (OSError, ValueError) as error:
        state["errors"] += 1
        state["error"] = state["error"] or repr(error)
        if state["errors"] >= 50:
            finish(0, 0.0, [])
        connect()
        return False

def finish(n, elapsed, latencies):
    cpu = time.process_time() - cpu_start
    print(json.dumps(dict(state, n=n, elapsed=elapsed, lat=latencies, cpu=cpu)), flush=True)
    sys.exit(0)

connect()
for seq in range(config["warmup"]):
    attempt(seq)
print("ready", flush=True)
start, end = map(float, sys.stdin.readline().split()[1:3])
cpu_start = time.process_time()
latencies = []
seq = config["warmup"]
if config["count"]:
    began = time.perf_counter()
    for seq in range(seq, seq + config["count"]):
        sent = time.perf_counter()
        if attempt(seq):
            latencies.append(int((time.perf_counter() - sent) * 1e6))
    finish(len(latencies), time.perf_counter() - began, latencies)
time.sleep(max(0.0, start - time.monotonic()))
while True:
    sent = time.monotonic()
    if sent >= end:
        break
    ok = attempt(seq)
    seq += 1
    done = time.monotonic()
    if ok and done <= end:
        latencies.append(int((done - sent) * 1e6))
finish(len(latencies), end - start, latencies)
"""
)

# boto3 for information: the rate a boto3 user sees (signing and parsing included).
BOTO3_C = r"""
import json, sys, time
import boto3
from botocore.config import Config
port, name, warmup, count = json.loads(sys.argv[1])
client = boto3.client(
    "lambda", endpoint_url="http://127.0.0.1:%d" % port, region_name="us-east-1",
    aws_access_key_id="bench", aws_secret_access_key="bench",
    config=Config(retries={"max_attempts": 0}),
)
latencies = []
for seq in range(warmup + count):
    sent = time.perf_counter()
    answer = client.invoke(FunctionName=name, Payload=b'{"seq":%d}' % seq)
    assert json.loads(answer["Payload"].read()) == {"seq": seq}, answer
    latencies.append(time.perf_counter() - sent)
print(json.dumps(latencies[warmup:]))
"""


# --- plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much of everything to run."""

    name: str
    rounds: int  # sequential rounds per runtime, side (emulator / stub) and CPU mode
    warmup: int  # untimed invocations before each timed round
    invocations: int  # timed sequential invocations per round
    window_rounds: int  # concurrency phase: rounds of (1 client, 4 clients) per runtime
    window: float  # seconds of each concurrency-phase window
    oneshots: int  # timed one-shot runs per variant
    importtime_runs: int
    boto3: int  # timed boto3 invocations (0: skip)


QUICK = Plan(
    "quick",
    rounds=1,
    warmup=50,
    invocations=300,
    window_rounds=1,
    window=1.0,
    oneshots=3,
    importtime_runs=1,
    boto3=0,
)
FULL = Plan(
    "full",
    rounds=7,
    warmup=300,
    invocations=3000,
    window_rounds=7,
    window=3.0,
    oneshots=11,
    importtime_runs=5,
    boto3=300,
)


@dataclass(frozen=True)
class Runtime:
    """One runtime under test: its column label, function, process marker and stub command."""

    label: str
    function: str
    marker: bytes  # in the command line of its processes
    command: rt.Command  # the same process, for the stub


# --- processes ------------------------------------------------------------------------------

CHILDREN: set[subprocess.Popen[bytes]] = set()
SERVERS: list[Server] = []
SERVER_NUMBERS = itertools.count()


def process_table() -> dict[int, tuple[int, bytes]]:
    """pid -> (parent pid, command line) of every process (Linux /proc)."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                parent = int(stat.read().rpartition(b")")[2].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                table[int(entry)] = (parent, cmdline.read().replace(b"\0", b" "))
        except (OSError, ValueError, IndexError):
            continue  # gone in the meantime
    return table


def descendants(pid: int) -> dict[int, bytes]:
    """pid -> command line of every descendant of ``pid``."""
    table = process_table()
    found: dict[int, bytes] = {}
    parents = {pid}
    while parents:
        children = {p for p, (parent, _) in table.items() if parent in parents and p not in found}
        found.update((p, table[p][1]) for p in children)
        parents = children
    return found


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used; 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            pass
    CHILDREN.discard(process)


def kill_pids(pids: Sequence[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def clean_up() -> None:
    for server in list(SERVERS):
        server.stop()
    for process in list(CHILDREN):
        kill(process)
    rt.stop_all()


def bench_environment(pycache: Path) -> dict[str, str]:
    """This environment with byte-code caching on, in a directory of our own."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


class Child:
    """A child process spoken to through stdin and read line by line with deadlines."""

    def __init__(self, label: str, argv: Sequence[str], env: dict[str, str]) -> None:
        self.label = label
        self.process = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
        )
        CHILDREN.add(self.process)
        self.buffer = b""

    def line(self, timeout: float) -> str:
        stdout = self.process.stdout
        assert stdout is not None
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fail(f"no answer within {timeout:.0f} s")
            if select.select([stdout], [], [], remaining)[0]:
                data = os.read(stdout.fileno(), 1 << 20)
                if not data:
                    self.fail("exited")
                self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(text.encode())

    def result(self, timeout: float) -> dict[str, object]:
        answer = json.loads(self.line(timeout))
        kill(self.process)
        assert isinstance(answer, dict)
        return answer

    def fail(self, what: str) -> None:
        kill(self.process)
        stderr = self.process.stderr.read() if self.process.stderr else b""
        raise rt.BenchError(f"{self.label}: {what}\n{stderr.decode(errors='replace')[-3000:]}")


class Server:
    """``python -m lambdakit serve PROJECT --port 0`` in a child process, logging to a file."""

    def __init__(
        self,
        project: Path,
        env: dict[str, str],
        awslambdaric: str,
        concurrency: int | None = CONCURRENCY,  # None: the default account limit
        extra: Sequence[str] = (),  # more options of serve
    ) -> None:
        number = next(SERVER_NUMBERS)
        self.log = project / f"serve-{number}.log"
        self.errors = project / f"serve-{number}.err"
        argv = [
            sys.executable,
            "-m",
            "lambdakit",
            "serve",
            str(project),
            "--port",
            "0",
            *(["--concurrency", str(concurrency)] if concurrency else []),
            "--env",
            f"BENCH_PYTHON={awslambdaric}",
            *extra,
        ]
        with self.log.open("wb") as log, self.errors.open("wb") as errors:
            self.process = subprocess.Popen(
                argv, cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=errors
            )
        SERVERS.append(self)
        self.port = self._wait_for_url(30.0)

    def _wait_for_url(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = URL_LINE.search(self.log.read_bytes())
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        tail = self.errors.read_text(errors="replace")[-3000:]
        raise rt.BenchError(f"lambdakit serve did not start within {timeout:.0f} s:\n{tail}")

    def runtimes(self, marker: bytes) -> list[int]:
        """The runtime processes of one function (by their command line), one per environment:
        not the sandbox's two bubblewrap processes around each, whose command lines hold the
        runtime's too (counted, they made 50 environments look like 120 to 150)."""
        return [
            pid
            for pid, cmd in descendants(self.process.pid).items()
            if marker in cmd and not cmd.split(b" ", 1)[0].endswith(b"bwrap")
        ]

    def cpu(self) -> float:
        return process_cpu(self.process.pid)

    def log_size(self) -> int:
        return self.log.stat().st_size

    def count(self, text: bytes, since: int) -> int:
        with self.log.open("rb") as log:
            log.seek(since)
            return log.read().count(text)

    def stop(self) -> None:
        """SIGTERM (the emulator shuts its environments down), then SIGKILL what is left."""
        if self in SERVERS:
            SERVERS.remove(self)
        family = list(descendants(self.process.pid))
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        kill_pids(family)


# --- the project ----------------------------------------------------------------------------


def write_project(root: Path) -> Path:
    project = root / "project"
    for name in ("lambdakit", "awslambdaric"):
        (project / name).mkdir(parents=True)
        (project / name / "echo.py").write_text(ECHO)
    (project / "lambdakit" / "burst.py").write_text(BURST_HANDLER)
    bootstrap = project / "awslambdaric" / "bootstrap"
    bootstrap.write_text(BOOTSTRAP)
    bootstrap.chmod(0o755)
    # The function runs on this interpreter's version, as the stub side does (the emulator finds
    # that CPython itself: interpreters.py), so that both sides run the same Python.
    (project / "template.yaml").write_text(TEMPLATE.replace("{python_runtime}", PYTHON_RUNTIME))
    return project


def runtimes(project: Path, awslambdaric: str) -> tuple[Runtime, Runtime]:
    """The two runtimes; the stub commands are the processes the emulator starts."""
    ours = rt.Command(
        "lambdakit",
        (sys.executable, "-m", "lambdakit.runtime"),
        (("AWS_EXECUTION_ENV", f"AWS_Lambda_{PYTHON_RUNTIME}"),),
    )
    bootstrap = str(project / "awslambdaric" / "bootstrap")
    theirs = rt.Command("awslambdaric", ("/bin/sh", bootstrap), (("BENCH_PYTHON", awslambdaric),))
    return (
        Runtime("lambdakit", "lambdakit-echo", b"lambdakit.runtime", ours),
        Runtime("awslambdaric", "awslambdaric-echo", b"awslambdaric", theirs),
    )


# --- measurements ---------------------------------------------------------------------------


@dataclass
class Sequential:
    """One runtime, one CPU mode: samples per round."""

    rate: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    emulator_us: list[float] = field(default_factory=list)  # emulator CPU per invocation
    client_us: list[float] = field(default_factory=list)  # the client's CPU per invocation
    runtime_us: list[float] = field(default_factory=list)  # runtimes' CPU per invocation
    stub_rate: list[float] = field(default_factory=list)
    stub_runtime_us: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    environments: int = 0


@dataclass
class Concurrent:
    """One runtime: 1 client against 4 clients in alternating windows."""

    one_rate: list[float] = field(default_factory=list)
    four_rate: list[float] = field(default_factory=list)
    four_p50_ms: list[float] = field(default_factory=list)
    four_p99_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    sent: int = 0
    answered: int = 0
    started: int = 0  # START lines the emulator logged
    reported: int = 0  # REPORT lines
    environments: int = 0


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def alternate(items: Sequence[tuple[int, int]], rounds: int) -> Iterator[tuple[int, int]]:
    """The items ``rounds`` times, forwards then backwards (ABBA)."""
    for number in range(rounds):
        yield from (items if number % 2 == 0 else items[::-1])


def client(
    server: Server, env: dict[str, str], function: str, number: int, warmup: int, count: int
) -> Child:
    config = {
        "port": server.port,
        "function": function,
        "client": number,
        "warmup": warmup,
        "count": count,
    }
    argv = [sys.executable, "-c", CLIENT_C, json.dumps(config)]
    return Child(f"client {number} of {function}", argv, env)


def runtime_cpu(server: Server, marker: bytes) -> dict[int, float]:
    return {pid: process_cpu(pid) for pid in server.runtimes(marker)}


def emulator_round(
    server: Server, env: dict[str, str], runtime: Runtime, plan: Plan, into: Sequential
) -> None:
    """One keep-alive client, ``plan.invocations`` invocations after a warm-up."""
    child = client(server, env, runtime.function, 0, plan.warmup, plan.invocations)
    if child.line(60.0) != "ready":
        child.fail("did not warm up")
    cpu, runtimes = server.cpu(), runtime_cpu(server, runtime.marker)
    child.send("go 0 0\n")
    result = child.result(60.0 + plan.invocations * 0.05)
    count = plan.invocations
    after = runtime_cpu(server, runtime.marker)
    used = sum(value - runtimes.get(pid, 0.0) for pid, value in after.items())
    latencies = result_latencies(result)
    into.rate.append(len(latencies) / float(str(result["elapsed"])))
    into.p50_ms.append(percentile(latencies, 0.5) / 1000)
    into.p99_ms.append(percentile(latencies, 0.99) / 1000)
    into.emulator_us.append((server.cpu() - cpu) / count * 1e6)
    into.runtime_us.append(used / count * 1e6)
    into.client_us.append(float(str(result["cpu"])) / count * 1e6)
    into.errors += int(str(result["errors"]))
    into.first_error = into.first_error or str(result["error"])
    into.environments = max(into.environments, len(after))


def result_latencies(result: dict[str, object]) -> list[float]:
    values = result["lat"]
    assert isinstance(values, list)
    return [float(value) for value in values]


def stub_round(workspace: rt.Workspace, runtime: Runtime, plan: Plan, into: Sequential) -> None:
    """The same runtime process against bench/runtime.py's stub Runtime API."""
    window_start = 1 + plan.warmup
    session = rt.run_session(
        workspace,
        runtime.command,
        "echo.handler",
        rt.SMALL_EVENT,
        window_start + plan.invocations,
        window_start,
        60.0 + plan.invocations * 0.02,
    )
    into.stub_rate.append(session.rate(plan.invocations))
    into.stub_runtime_us.append(session.cpu_us(plan.invocations))


def sequential(
    server: Server,
    env: dict[str, str],
    workspace: rt.Workspace,
    pair: tuple[Runtime, Runtime],
    plan: Plan,
) -> dict[str, Sequential]:
    """Emulator and stub rounds of both runtimes, alternating ABBA."""
    results = {runtime.label: Sequential() for runtime in pair}
    items = [(index, side) for index in range(len(pair)) for side in (0, 1)]
    for index, side in alternate(items, plan.rounds):
        runtime = pair[index]
        if side == 0:
            emulator_round(server, env, runtime, plan, results[runtime.label])
        else:
            stub_round(workspace, runtime, plan, results[runtime.label])
    return results


def window_round(
    server: Server,
    env: dict[str, str],
    runtime: Runtime,
    clients: int,
    plan: Plan,
    into: Concurrent,
) -> None:
    """``clients`` clients for ``plan.window`` seconds, started together."""
    children = [client(server, env, runtime.function, n, 20, 0) for n in range(clients)]
    for child in children:
        if child.line(60.0) != "ready":
            child.fail("did not warm up")
    start = time.monotonic() + 0.05
    for child in children:
        child.send(f"go {start} {start + plan.window}\n")
    results = [child.result(plan.window + 60.0) for child in children]
    count = sum(int(str(result["n"])) for result in results)
    latencies = [value for result in results for value in result_latencies(result)]
    (into.one_rate if clients == 1 else into.four_rate).append(count / plan.window)
    if clients > 1:
        into.four_p50_ms.append(percentile(latencies, 0.5) / 1000)
        into.four_p99_ms.append(percentile(latencies, 0.99) / 1000)
    for result in results:
        into.errors += int(str(result["errors"]))
        into.first_error = into.first_error or str(result["error"])
        into.sent += int(str(result["sent"]))
        into.answered += int(str(result["answered"]))


def concurrency(
    server: Server, env: dict[str, str], pair: tuple[Runtime, Runtime], plan: Plan
) -> dict[str, Concurrent]:
    """1 client and 4 clients in alternating windows; the log must show every invocation
    started and reported exactly once."""
    results = {runtime.label: Concurrent() for runtime in pair}
    since = server.log_size()
    items = [(index, clients) for index in range(len(pair)) for clients in (1, CONCURRENCY)]
    for index, clients in alternate(items, plan.window_rounds):
        runtime = pair[index]
        window_round(server, env, runtime, clients, plan, results[runtime.label])
    time.sleep(0.2)  # the last END/REPORT lines
    for runtime in pair:
        result = results[runtime.label]
        prefix = f"[{runtime.function}] ".encode()
        result.started = server.count(prefix + b"START RequestId", since)
        result.reported = server.count(prefix + b"REPORT RequestId", since)
        result.environments = len(server.runtimes(runtime.marker))
    return results


def boto3_rate(server: Server, env: dict[str, str], runtime: Runtime, count: int) -> float:
    """Sequential invocations/s through boto3 (information only)."""
    argv = [sys.executable, "-c", BOTO3_C, json.dumps([server.port, runtime.function, 30, count])]
    try:
        result = subprocess.run(argv, env=env, capture_output=True, timeout=120, check=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise rt.BenchError(f"the boto3 client failed: {exc}") from exc
    latencies: list[float] = json.loads(result.stdout)
    return float(len(latencies) / sum(latencies))


# --- one-shot `lambdakit invoke` ------------------------------------------------------------


@dataclass(frozen=True)
class OneShot:
    """One ``lambdakit invoke examples/hello``: the timeline, in ms from the spawn."""

    wall: float
    start_line: float  # START arrived (on stderr)
    report_line: float  # REPORT arrived
    answer: float  # the response arrived (on stdout)
    init: float  # REPORT's Init Duration: environment spawn -> first GET /next
    duration: float  # REPORT's Duration


INIT = re.compile(r"Init Duration: ([\d.]+) ms")
DURATION = re.compile(r"\tDuration: ([\d.]+) ms")


def timed_output(
    process: subprocess.Popen[bytes], timeout: float
) -> list[tuple[float, int, bytes]]:
    """(time, fd, line) of everything the process writes, until it closes both pipes."""
    assert process.stdout is not None and process.stderr is not None
    open_fds = {process.stdout.fileno(): b"", process.stderr.fileno(): b""}
    lines: list[tuple[float, int, bytes]] = []
    deadline = time.monotonic() + timeout
    while open_fds:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise rt.BenchError(f"lambdakit invoke did not finish within {timeout:.0f} s")
        for fd in select.select(list(open_fds), [], [], remaining)[0]:
            data = os.read(fd, 65536)
            now = time.perf_counter()
            if not data:
                del open_fds[fd]
                continue
            *complete, open_fds[fd] = (open_fds[fd] + data).split(b"\n")
            lines.extend((now, fd, line) for line in complete)
    return lines


def one_shot(argv: Sequence[str], env: dict[str, str]) -> OneShot:
    spawned = time.perf_counter()
    process = subprocess.Popen(
        argv,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    CHILDREN.add(process)
    try:
        lines = timed_output(process, 30.0)
        process.wait(10)
    finally:
        kill(process)
    exited = time.perf_counter()
    assert process.stdout is not None
    out = [(t, line) for t, fd, line in lines if fd == process.stdout.fileno()]
    err = [
        (t, line.decode(errors="replace")) for t, fd, line in lines if fd != process.stdout.fileno()
    ]
    text = "\n".join(line for _, line in err)[-3000:]
    if process.returncode != 0 or not out or json.loads(out[0][1]) != HELLO_ANSWER:
        raise rt.BenchError(f"{' '.join(argv)} failed ({process.returncode}):\n{text}")
    start = next((t for t, line in err if "] START RequestId" in line), None)
    report = next(((t, line) for t, line in err if "] REPORT RequestId" in line), None)
    init = INIT.search(report[1]) if report else None
    duration = DURATION.search(report[1]) if report else None
    if start is None or report is None or init is None or duration is None:
        raise rt.BenchError(f"no START, or no REPORT with Init Duration, in:\n{text}")

    def ms(moment: float) -> float:
        return (moment - spawned) * 1000

    return OneShot(
        wall=ms(exited),
        start_line=ms(start),
        report_line=ms(report[0]),
        answer=ms(out[0][0]),
        init=float(init.group(1)),
        duration=float(duration.group(1)),
    )


@dataclass
class OneShots:
    variants: dict[str, list[OneShot]]
    version_ms: list[float]
    imports: list[tuple[str, float]]  # (package, ms of own import time), largest first


def console_script() -> Path:
    script = Path(sys.executable).with_name("lambdakit")
    if not script.exists():
        raise rt.BenchError(f"no console script {script}: run with the project's venv python")
    return script


def one_shot_variants() -> dict[str, list[str]]:
    invoke = ["invoke", str(HELLO.relative_to(REPO)), "--event", HELLO_EVENT]
    return {
        "console script": [str(console_script()), *invoke],
        "python -m lambdakit": [sys.executable, "-m", "lambdakit", *invoke],
    }


def wall_ms(argv: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, capture_output=True, timeout=30, check=True)
    return (time.perf_counter() - started) * 1000


def one_shots(env: dict[str, str], plan: Plan) -> OneShots:
    """The variants round robin after one untimed run each (which also fills the .pyc cache)."""
    variants = one_shot_variants()
    version = [str(console_script()), "--version"]
    for argv in variants.values():
        one_shot(argv, env)
    wall_ms(version, env)
    results: dict[str, list[OneShot]] = {label: [] for label in variants}
    version_ms = []
    for _ in range(plan.oneshots):
        for label, argv in variants.items():
            results[label].append(one_shot(argv, env))
        version_ms.append(wall_ms(version, env))
    return OneShots(results, version_ms, import_times(env, plan.importtime_runs))


def import_times(env: dict[str, str], runs: int) -> list[tuple[str, float]]:
    """Own import time (``-X importtime`` self column) of what ``lambdakit invoke`` imports
    (``lambdakit.cli.invoke``; the other subcommands are imported on use), by package."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        argv = [sys.executable, "-X", "importtime", "-c", "import lambdakit.cli.invoke"]
        result = subprocess.run(argv, env=env, capture_output=True, timeout=30, check=True)
        totals: dict[str, float] = {}
        for line in result.stderr.decode().splitlines():
            parts = line.split("|")
            if len(parts) != 3 or not parts[0].strip().split(":")[-1].strip().isdigit():
                continue
            group = package(parts[2].strip())
            totals[group] = totals.get(group, 0.0) + int(parts[0].split(":")[1]) / 1000
        for group, value in totals.items():
            samples.setdefault(group, []).append(value)
    ranked = {group: statistics.median(values) for group, values in samples.items()}
    return sorted(ranked.items(), key=lambda item: -item[1])


def package(module: str) -> str:
    parts = module.split(".")
    if parts[0] == "lambdakit" and len(parts) > 1:
        return ".".join(parts[:2])
    if parts[0] in sys.stdlib_module_names or parts[0].startswith("_"):
        return f"{parts[0]} (stdlib)"
    return parts[0]


# --- report ---------------------------------------------------------------------------------

median = rt.median


@dataclass
class Burst:
    """What a burst of parallel invocations of a cold function cost."""

    answered: int
    seconds: float  # from the first request to the last answer
    environments: int  # runtime processes at the peak
    peak_mb: float  # summed VmRSS of the environments' processes, at its peak
    serve_mb: float  # the server's own VmRSS at the peak


def vm_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmRSS:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def burst(root: Path, env: dict[str, str], awslambdaric: str) -> Burst:
    """BURST parallel invocations of lambdakit-burst on a fresh server (so every environment
    starts cold), while the environments' memory is sampled."""
    import http.client
    from concurrent.futures import ThreadPoolExecutor

    server = Server(root / "project", env, awslambdaric, concurrency=None)

    def invoke(_: int) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request("POST", "/2015-03-31/functions/lambdakit-burst/invocations", b"{}")
            response = connection.getresponse()
            response.read()
            return response.status == 200 and not response.getheader("X-Amz-Function-Error")
        finally:
            connection.close()

    peak = (0, 0.0, 0.0)
    try:
        started = time.monotonic()
        with ThreadPoolExecutor(BURST) as pool:
            answers = [pool.submit(invoke, n) for n in range(BURST)]
            while not all(answer.done() for answer in answers):
                pids = server.runtimes(b"lambdakit.runtime")
                total = sum(vm_rss_mb(pid) for pid in pids)
                if total > peak[1]:
                    peak = (len(pids), total, vm_rss_mb(server.process.pid))
                time.sleep(0.02)
            elapsed = time.monotonic() - started
            answered = sum(answer.result() for answer in answers)
    finally:
        server.stop()
    return Burst(answered, elapsed, *peak)


@dataclass
class FreezeRates:
    """One runtime's sequential rates (inv/s, all CPUs) with freezing on and off, per round, and
    the p50 latency (ms) of paced invocations, each after a pause of PAUSE."""

    on: list[float] = field(default_factory=list)
    off: list[float] = field(default_factory=list)
    paced_on: list[float] = field(default_factory=list)
    paced_off: list[float] = field(default_factory=list)
    met_frozen: int = 0  # paced invocations with freezing on that met a frozen environment
    paced: int = 0  # paced invocations with freezing on
    mechanism: str = ""  # what the server's start-up line names


FREEZING_LINE = re.compile(rb"freezing between invocations: ([^(]+?) \(")
PAUSE = 0.005  # seconds before each paced invocation: the environment is frozen by then

# The paced client: before each invocation it sleeps PAUSE and notes whether the runtime's
# processes are frozen (SIGSTOP: state T; cgroup v2 freezer: "frozen 1" in the cgroup.events of
# their cgroup), outside the timed part; then it times the invocation. Back-to-back invocations
# (the rate above) rarely meet a frozen environment: the next request is usually queued before
# the runtime asks for it, and a queued invocation is handed over without a freeze, as on AWS.
PACED_C = (
    r"""
import json, socket, sys, time
config = json.loads(sys.argv[1])
port, pids = config["port"], config["pids"]
head = ("POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
        "Content-Type: application/json\r\nContent-Length: " % (config["function"], port))
head = head.encode()
buffer = bytearray()
sock = socket.create_connection(("127.0.0.1", port), timeout=30)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
unified = [line.split()[4] for line in open("/proc/self/mountinfo") if " - cgroup2 " in line]
"""
    + READER_C
    + r"""
def frozen(pid):
    try:
        if open("/proc/%d/stat" % pid).read().rpartition(")")[2].split()[0] == "T":
            return True
        where = [l[3:].strip() for l in open("/proc/%d/cgroup" % pid) if l.startswith("0::")]
        events = open(unified[0] + where[0] + "/cgroup.events").read()
        return "frozen 1" in events.splitlines()
    except (OSError, IndexError):
        return False

def call(seq):
    body = b'{"client":0,"seq":%d}' % seq
    sock.sendall(head + b"%d\r\n\r\n" % len(body) + body)
    response, payload = read_response()
    expected = {"client": 0, "seq": seq}
    if not response.startswith(b"http/1.1 200 ") or json.loads(payload) != expected:
        raise ValueError(response[:12].decode() + " " + payload[:300].decode("utf-8", "replace"))

latencies, met = [], 0
for seq in range(config["warmup"] + config["count"]):
    time.sleep(config["pause"])
    timed = seq >= config["warmup"]
    met += timed and any(frozen(pid) for pid in pids)
    sent = time.perf_counter()
    call(seq)
    if timed:
        latencies.append(time.perf_counter() - sent)
print(json.dumps({"lat": latencies, "met": met}), flush=True)
"""
)


def paced_round(
    server: Server, env: dict[str, str], runtime: Runtime, count: int
) -> tuple[float, int]:
    """COUNT invocations, each after PAUSE: their p50 latency (ms) and how many met a frozen
    environment."""
    config = {
        "port": server.port,
        "function": runtime.function,
        "pids": server.runtimes(runtime.marker),
        "warmup": 10,
        "count": count,
        "pause": PAUSE,
    }
    child = Child(
        f"paced client of {runtime.function}",
        [sys.executable, "-c", PACED_C, json.dumps(config)],
        env,
    )
    result = child.result(60.0 + count * (PAUSE + 0.05))
    latencies = [float(value) for value in result["lat"]]  # type: ignore[attr-defined]
    return percentile(latencies, 0.5) * 1000, int(str(result["met"]))


def freezing_rates(
    root: Path, env: dict[str, str], awslambdaric: str, plan: Plan
) -> dict[str, FreezeRates]:
    """Sequential rounds against a server with freezing on (the default) and one with
    LAMBDAKIT_FREEZE=0, alternating ABBA between them and between the runtimes; each round
    back to back (the rate) and then paced (PAUSE before each invocation: the latency of an
    invocation that thaws its environment)."""
    project = root / "project"
    pair_ = runtimes(project, awslambdaric)
    off = {**env, "LAMBDAKIT_FREEZE": "0"}
    servers = [Server(project, off, awslambdaric), Server(project, env, awslambdaric)]
    results = {runtime.label: FreezeRates() for runtime in pair_}
    paced = max(50, plan.invocations // 10)
    try:
        items = [(index, on) for index in range(len(pair_)) for on in (1, 0)]
        for index, on in alternate(items, plan.rounds):
            samples = Sequential()
            emulator_round(servers[on], env, pair_[index], plan, samples)
            rates = results[pair_[index].label]
            (rates.on if on else rates.off).append(samples.rate[0])
            p50, met = paced_round(servers[on], env, pair_[index], paced)
            (rates.paced_on if on else rates.paced_off).append(p50)
            if on:
                rates.met_frozen, rates.paced = rates.met_frozen + met, rates.paced + paced
        match = FREEZING_LINE.search(servers[1].errors.read_bytes())
        for rates in results.values():
            rates.mechanism = match.group(1).decode() if match else "?"
    finally:
        for server in servers:
            server.stop()
    return results


def freezing_note(rates: dict[str, FreezeRates]) -> str:
    cells = [
        f"{label} {median(r.on):.0f} / {median(r.off):.0f} inv/s "
        f"({median(ratios(r.on, r.off)):.2f}×)"
        for label, r in rates.items()
    ]
    paced = [
        f"{label} {median(r.paced_on):.2f} / {median(r.paced_off):.2f} ms "
        f"({r.met_frozen} of {r.paced} met a frozen environment)"
        for label, r in rates.items()
    ]
    mechanism = next(iter(rates.values())).mechanism
    return (
        f"Freezing between invocations ({mechanism}): sequential rate with freezing on / off, "
        f"all CPUs, medians (on ÷ off per round): {'; '.join(cells)}. Back to back, an "
        f"invocation seldom meets a frozen environment (the next one is queued before the "
        f"runtime asks, as on AWS); with a {PAUSE * 1000:.0f} ms pause before each, p50 "
        f"latency with freezing on / off: {'; '.join(paced)}."
    )


@dataclass
class ConsoleRates:
    """The lambdakit runtime's sequential rates (inv/s, all CPUs) per round against a server
    without the browser console (``--no-console``), one with it but no page open, and one with
    a page open (``FOLLOWER_C``); and what the page received."""

    off: list[float] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)
    open: list[float] = field(default_factory=list)
    cpu_us: tuple[list[float], ...] = field(default_factory=lambda: ([], [], []))  # server, µs/inv
    log_batches: int = 0  # `event: logs` the page received in its rounds
    dropped: int = 0  # `event: dropped` notices
    overviews: int = 0  # B/api/overview answers
    received_kb: float = 0.0


OVERVIEW_EVERY = 1.0  # seconds between the page's overview fetches (the page itself: once)

# A console page following the logs: B/api/stream (logs included) read as fast as it comes,
# and B/api/overview fetched every OVERVIEW_EVERY seconds on a keep-alive connection. Prints
# "ready" once the stream's head has come, runs until a line on stdin, prints its counts.
FOLLOWER_C = (
    r"""
import json, select, socket, sys, time
port, every = json.loads(sys.argv[1])
base = "/_lambdakit/console"
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s
stream = connect()
stream.sendall(b"GET %s/api/stream HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (base.encode(), port))
head = b""
while b"\r\n\r\n" not in head:
    head += stream.recv(65536)
sock, buffer = connect(), bytearray()
ask = b"GET %s/api/overview HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (base.encode(), port)
"""
    + READER_C
    + r"""
counts = {"received": len(head), "logs": 0, "dropped": 0, "overviews": 0}
tail = b""
due = time.monotonic()
print("ready", flush=True)
while True:
    ready = select.select([stream, sys.stdin], [], [], max(0.0, due - time.monotonic()))[0]
    if sys.stdin in ready:
        break
    if stream in ready:
        data = stream.recv(65536)  # not more: see READER_C
        if not data:
            break
        counts["received"] += len(data)
        seen = tail + data
        counts["logs"] += seen.count(b"event: logs\n")
        counts["dropped"] += seen.count(b"event: dropped\n")
        tail = data[-15:]
    if time.monotonic() >= due:
        sock.sendall(ask)
        top, _ = read_response()
        assert top.startswith(b"http/1.1 200 "), top[:100]
        counts["overviews"] += 1
        due = time.monotonic() + every
print(json.dumps(counts), flush=True)
"""
)


def console_rates(root: Path, env: dict[str, str], awslambdaric: str, plan: Plan) -> ConsoleRates:
    """Sequential rounds of the lambdakit runtime against three servers, alternating ABBA:
    --no-console, the console on but no page, and a page following the logs (started before
    the round's client warms up, stopped after its last invocation)."""
    project = root / "project"
    ours = runtimes(project, awslambdaric)[0]
    servers = [
        Server(project, env, awslambdaric, extra=("--no-console",)),
        Server(project, env, awslambdaric),
        Server(project, env, awslambdaric),
    ]
    rates = ConsoleRates()
    # Rounds of a second or more, so that the page gets batches and overviews in each (quick
    # mode's 300 invocations take a fifth of that); two at least, for ABBA.
    rounds = max(plan.rounds, 2)
    plan = dataclasses.replace(plan, invocations=max(plan.invocations, 1500))
    try:
        for which, _ in alternate([(0, 0), (1, 0), (2, 0)], rounds):
            samples = Sequential()
            page = None
            if which == 2:
                config = json.dumps([servers[2].port, OVERVIEW_EVERY])
                page = Child("console page", [sys.executable, "-c", FOLLOWER_C, config], env)
                if page.line(30.0) != "ready":
                    page.fail("did not open the stream")
            emulator_round(servers[which], env, ours, plan, samples)
            (rates.off, rates.idle, rates.open)[which].append(samples.rate[0])
            rates.cpu_us[which].append(samples.emulator_us[0])
            if page is not None:
                page.send("stop\n")
                counts = page.result(30.0)
                rates.log_batches += int(str(counts["logs"]))
                rates.dropped += int(str(counts["dropped"]))
                rates.overviews += int(str(counts["overviews"]))
                rates.received_kb += float(str(counts["received"])) / 1024
    finally:
        for server in servers:
            server.stop()
    return rates


def console_ratio(rates: ConsoleRates) -> float:
    return median(ratios(rates.open, rates.off))


def console_note(rates: ConsoleRates) -> str:
    cpu = " / ".join(f"{median(values):.0f}" for values in rates.cpu_us)
    return (
        f"Browser console (lambdakit runtime, sequential, all CPUs; medians): "
        f"{median(rates.off):.0f} inv/s with --no-console, {median(rates.idle):.0f} with the "
        f"console on and no page open ({median(ratios(rates.idle, rates.off)):.2f}×), "
        f"{median(rates.open):.0f} with a page following the logs "
        f"({console_ratio(rates):.2f}×; it received {rates.log_batches} log batches, "
        f"{rates.received_kb:.0f} KB, {rates.dropped} drop notices, and {rates.overviews} "
        f"overviews, one every {OVERVIEW_EVERY:g} s). The server's CPU per invocation, "
        f"which a busy machine disturbs less than a rate: {cpu} µs (off / on / open)."
    )


def burst_note(cost: Burst) -> str:
    per = cost.peak_mb / cost.environments if cost.environments else 0.0
    return (
        f"A burst of {BURST} parallel invocations of a cold function (each sleeps "
        f"{BURST_SLEEP:.0f} s; default account limit): {cost.answered} answered, the last after "
        f"{cost.seconds:.2f} s; {cost.environments} environments at the peak, their processes' "
        f"RSS summing to {cost.peak_mb:.0f} MB ({per:.1f} MB each); the server itself "
        f"{cost.serve_mb:.0f} MB."
    )


@dataclass(frozen=True)
class Results:
    plan: Plan
    cpu: int | None
    sequential: dict[str, dict[str, Sequential]]  # mode -> runtime -> samples
    concurrent: dict[str, Concurrent]
    oneshots: OneShots
    boto3: float | None
    burst: Burst
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at the start and the end
    freezing: dict[str, FreezeRates] = field(default_factory=dict)  # runtime -> on / off
    console: ConsoleRates | None = None  # the browser console: off / on, idle / a page open


ALL, ONE = "all CPUs", "one CPU"
LABELS = ("lambdakit", "awslambdaric")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Per-round ratios: both sides of a round ran next to each other, so drift of a noisy
    machine cancels out of them better than out of a ratio of medians."""
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def spread(values: Sequence[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else "–"


def efficiency(samples: Sequential) -> float:
    return median(ratios(samples.rate, samples.stub_rate))


def scaling(conc: Concurrent) -> float:
    return median(ratios(conc.four_rate, conc.one_rate))


def target_rows(results: Results) -> list[list[str]]:
    """PASS/FAIL per target. Efficiency is judged on all CPUs: on one CPU the emulator's side
    also pays for a client process (about 100 µs per invocation here) where the stub's side
    pays for a stub thread, so even a free emulator would stay below 0.5 there."""
    rows = []
    for label, samples in results.sequential[ALL].items():
        value = efficiency(samples)
        name = f"efficiency, {label} runtime (emulator ÷ stub, all CPUs)"
        rows.append([name, f"{value:.2f}×", "≥ 0.5×", verdict(value >= 0.5)])
    for label, conc in results.concurrent.items():
        once = conc.sent == conc.answered == conc.started == conc.reported
        ok = conc.errors == 0 and once
        rows.append(
            [
                f"4 clients, {label}: errors; answered once",
                f"{conc.errors}; {'yes' if once else 'NO'}",
                "0; yes",
                verdict(ok),
            ]
        )
        ratio = scaling(conc)
        rows.append(
            [
                f"4 clients, {label}: rate ÷ 1 client",
                f"{ratio:.2f}×",
                "≥ 1.5×",
                verdict(ratio >= 1.5),
            ]
        )
    if results.console is not None and results.console.open:
        value = console_ratio(results.console)
        name = "rate with a console page following the logs ÷ --no-console"
        rows.append([name, f"{value:.2f}×", "≥ 0.9×", verdict(value >= 0.9)])
    for label in ("console script", "python -m lambdakit"):
        wall = median([shot.wall for shot in results.oneshots.variants[label]])
        rows.append(
            [
                f"one-shot invoke examples/hello, {label}",
                f"{wall:.0f} ms",
                "≤ 400 ms",
                verdict(wall <= 400),
            ]
        )
    return rows


def pair(values: tuple[float, float], digits: int = 0) -> str:
    return " / ".join(f"{value:.{digits}f}" for value in values)


def sequential_rows(results: Results) -> list[list[str]]:
    rows = []
    for mode, by in results.sequential.items():
        cells = [by[label] for label in LABELS if label in by]

        def row(
            name: str,
            text: Callable[[Sequential], str],
            cells: list[Sequential] = cells,
            mode: str = mode,
        ) -> list[str]:
            return [f"{mode}: {name}", *(text(samples) for samples in cells)]

        rows += [
            row("via the emulator (inv/s)", lambda s: f"{median(s.rate):.0f}"),
            row("latency p50 / p99 (ms)", lambda s: pair((median(s.p50_ms), median(s.p99_ms)), 2)),
            row("against the stub Runtime API (inv/s)", lambda s: f"{median(s.stub_rate):.0f}"),
            row(
                "efficiency (emulator ÷ stub), per round: median (range)",
                lambda s: f"{efficiency(s):.2f}× ({spread(ratios(s.rate, s.stub_rate))})",
            ),
            row("emulator CPU per invocation (µs)", lambda s: f"{median(s.emulator_us):.0f}"),
            row("client CPU per invocation (µs)", lambda s: f"{median(s.client_us):.0f}"),
            row(
                "runtime CPU per invocation, in the emulator / against the stub (µs)",
                lambda s: pair((median(s.runtime_us), median(s.stub_runtime_us))),
            ),
            row("runtime processes serving 1 sequential client", lambda s: str(s.environments)),
            row("errors", lambda s: str(s.errors) + (f" ({s.first_error})" if s.errors else "")),
        ]
    return rows


def concurrency_rows(results: Results) -> list[list[str]]:
    cells = [results.concurrent[label] for label in LABELS if label in results.concurrent]

    def row(name: str, text: Callable[[Concurrent], str]) -> list[str]:
        return [name, *(text(conc) for conc in cells)]

    return [
        row("1 client (inv/s)", lambda c: f"{median(c.one_rate):.0f}"),
        row("4 clients (inv/s)", lambda c: f"{median(c.four_rate):.0f}"),
        row(
            "4 clients ÷ 1 client, per round: median (range)",
            lambda c: f"{scaling(c):.2f}× ({spread(ratios(c.four_rate, c.one_rate))})",
        ),
        row(
            "4 clients: latency p50 / p99 (ms)",
            lambda c: pair((median(c.four_p50_ms), median(c.four_p99_ms)), 2),
        ),
        row(
            "invocations sent / answered / START lines / REPORT lines",
            lambda c: f"{c.sent} / {c.answered} / {c.started} / {c.reported}",
        ),
        row("errors", lambda c: str(c.errors) + (f" ({c.first_error})" if c.errors else "")),
        row("runtime processes at the end", lambda c: str(c.environments)),
    ]


def oneshot_rows(shots: OneShots) -> list[list[str]]:
    def row(name: str, value: Callable[[OneShot], float]) -> list[str]:
        return [
            name,
            *(f"{median([value(s) for s in runs]):.0f}" for runs in shots.variants.values()),
        ]

    return [
        row("wall time, spawn → exit", lambda s: s.wall),
        row(
            "spawn → START line (CLI, template, emulator, environment init)", lambda s: s.start_line
        ),
        row("… of which the environment's Init Duration", lambda s: s.init),
        row("START → REPORT line (the invocation)", lambda s: s.report_line - s.start_line),
        row("REPORT → answer on stdout (environment shutdown)", lambda s: s.answer - s.report_line),
        row("answer → exit (interpreter teardown)", lambda s: s.wall - s.answer),
    ]


def summary(results: Results) -> str:
    plan = results.plan
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    pinned = "" if results.cpu is None else f" (one CPU: CPU {results.cpu})"
    return (
        f"Mode {plan.name}, {when}; {rt.machine()}; source {source_state()}. Sequential: "
        f"{plan.rounds} rounds of {plan.invocations} invocations (after {plan.warmup}) per "
        f"runtime and side, on all CPUs and on one{pinned}; concurrency: {plan.window_rounds} "
        f"rounds of {plan.window:g} s windows of 1 and of {CONCURRENCY} clients against "
        f"--concurrency {CONCURRENCY}; one-shot: {plan.oneshots} runs per variant. Medians. "
        f"Load average (1 min) at the start and the end: {pair(results.load, 1)}."
    )


def source_state() -> str:
    try:
        result = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() or "unknown"


def oneshot_notes(shots: OneShots) -> str:
    top = ", ".join(f"{name} {ms:.0f}" for name, ms in shots.imports[:8])
    total = sum(ms for _, ms in shots.imports)
    return (
        f"`lambdakit --version` (interpreter, CLI imports, exit): "
        f"{median(shots.version_ms):.0f} ms. Own import time of `lambdakit.cli.invoke` by package "
        f"(`-X importtime`, which inflates it; total {total:.0f} ms): {top}."
    )


def report(results: Results, markdown: bool) -> str:
    labels = [label for label in LABELS if label in results.concurrent]
    parts = [
        textwrap.fill(summary(results), 100),
        rt.table(["target", "measured", "bound", "result"], target_rows(results), markdown),
        rt.table(["sequential, 1 keep-alive client", *labels], sequential_rows(results), markdown),
        rt.table([f"--concurrency {CONCURRENCY}", *labels], concurrency_rows(results), markdown),
        rt.table(
            ["lambdakit invoke examples/hello (ms)", *results.oneshots.variants],
            oneshot_rows(results.oneshots),
            markdown,
        ),
        textwrap.fill(oneshot_notes(results.oneshots), 100),
    ]
    if results.boto3 is not None:
        parts.append(
            f"boto3 as the client (information): {results.boto3:.0f} invocations/s, "
            "lambdakit runtime, sequential, all CPUs."
        )
    parts.append(textwrap.fill(burst_note(results.burst), 100))
    if results.freezing:
        parts.append(textwrap.fill(freezing_note(results.freezing), 100))
    if results.console is not None:
        parts.append(textwrap.fill(console_note(results.console), 100))
    return "\n\n".join(parts) + "\n"


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for CI (< 60 s)")
    parser.add_argument("--write", action="store_true", help=f"rewrite the results in {DOC}")
    parser.add_argument("--no-pin", action="store_true", help="skip the one-CPU measurements")
    parser.add_argument("--rebuild-venvs", action="store_true", help="recreate bench/.venvs/*")
    return parser.parse_args(argv)


def check_interpreter() -> None:
    if (
        importlib.util.find_spec("lambdakit") is None
        or importlib.util.find_spec("httptools") is None
    ):
        raise rt.BenchError(
            f"{sys.executable} cannot import lambdakit and its dependencies; "
            "run this script with the project's virtual environment (.venv/bin/python)"
        )


def mode(
    root: Path, env: dict[str, str], awslambdaric: str, plan: Plan, concurrent: bool
) -> tuple[dict[str, Sequential], dict[str, Concurrent], float | None]:
    """One CPU mode: a fresh server; sequential rounds; the concurrency phase if asked."""
    project = root / "project"
    pair_ = runtimes(project, awslambdaric)
    workspace = rt.Workspace(Path(tempfile.mkdtemp(prefix="stub-", dir=root)))
    server = Server(project, env, awslambdaric)
    try:
        results = sequential(server, env, workspace, pair_, plan)
        if not concurrent:
            return results, {}, None
        conc = concurrency(server, env, pair_, plan)
        boto3 = boto3_rate(server, env, pair_[0], plan.boto3) if plan.boto3 else None
        return results, conc, boto3
    finally:
        server.stop()


def run(args: argparse.Namespace) -> Results:
    plan = QUICK if args.quick else FULL
    check_interpreter()
    load = os.getloadavg()[0]
    awslambdaric = str(
        rt.ensure_venv("awslambdaric", rt.AWSLAMBDARIC, rt.install_awslambdaric, args.rebuild_venvs)
    )
    with tempfile.TemporaryDirectory(prefix="lambdakit-bench-emulator-") as directory:
        root = Path(directory)
        write_project(root)
        env = bench_environment(root / "pycache")
        shots = one_shots(env, plan)
        by_mode: dict[str, dict[str, Sequential]] = {}
        by_mode[ALL], conc, boto3 = mode(root, env, awslambdaric, plan, concurrent=True)
        frozen = freezing_rates(root, env, awslambdaric, plan)
        console = console_rates(root, env, awslambdaric, plan)
        cost = burst(root, env, awslambdaric)
        cpu = None
        if not args.no_pin:
            everything = os.sched_getaffinity(0)
            cpu = max(everything)
            os.sched_setaffinity(0, {cpu})  # children inherit it
            try:
                by_mode[ONE] = mode(root, env, awslambdaric, plan, concurrent=False)[0]
            finally:
                os.sched_setaffinity(0, everything)
    load_end = os.getloadavg()[0]
    return Results(plan, cpu, by_mode, conc, shots, boto3, cost, (load, load_end), frozen, console)


def main(argv: list[str] | None = None) -> int:
    section = (START_MARK, END_MARK, HEADING)
    return rt.bench_main("bench/emulator.py", parse_args(argv), run, report, section, clean_up)


if __name__ == "__main__":
    sys.exit(main())
