"""Benchmark: a soak and fault run of the local Lambda (``lambdakit serve``) against its targets.

Targets (one run; results in docs/benchmarks.md):

1. no invocation lost and none duplicated, sequentially and with 16 concurrent clients (and a
   few hundred through boto3);
2. the ``serve`` process's VmRSS grows by less than 10 MB per 100,000 invocations, and its open
   file descriptors at the end are back at their start value (plus what the environments
   started in between hold, if any were);
3. connect-and-close churn against a ``serve`` limited to 1,024 open files: every invocation
   after it is answered and the descriptors are back near their start value;
4. SIGINT stops a ``serve`` whose function left stubborn descendants in under 3 s, in the
   default memory mode (cgroups when root) and with ``LAMBDAKIT_MEMORY_LIMITS=rlimit``, and
   no descendant survives it.

How. A temporary SAM project holds ``soak-echo`` (``return event``, ``Runtime: python3.12``,
which the emulator runs as ``python -m lambdakit.runtime`` on its own interpreter) and
``soak-stubborn``, whose handler starts ``sh -c "trap '' TERM; sleep 600"`` in a session of its
own (it ignores SIGTERM and keeps the environment's stdout pipe open) and a double-forked
daemon that ignores SIGTERM (reparented away from the runtime's process tree), and answers
with their session ids. ``python -m lambdakit serve PROJECT --port 0`` (the default account
concurrency limit) is bench/emulator.py's ``Server`` (a child process logging to a file; its
banner gives the port).

1. Invocations. Clients are child processes, each with one raw keep-alive HTTP/1.1 socket
   (``TCP_NODELAY``) and a payload ``{"client": c, "seq": n}`` unique in the run, which the
   function echoes. An answer is *answered* if it is a 200 without ``X-Amz-Function-Error``
   that carries the request's own number; an *error* if the status or the function says so;
   *duplicated* if it carries a number already answered or another request's (the client
   then keeps reading, since its own answer may follow); *lost* if none came within 5 s or
   the connection closed first (the client reconnects; after 10 losses in a row it gives up
   and the rest count as lost). START lines in serve's log beyond the requests sent count as
   duplicated too (an invocation run twice). Phases: a warm-up with 16 clients (it starts up to
   16 environments: one per request in flight, as on Lambda), one sequential client, 16
   concurrent clients, then a boto3 client.
2. Resources. VmRSS (``/proc/PID/status``), the number of entries in ``/proc/PID/fd`` and the
   sockets of serve's port in CLOSE-WAIT (``/proc/net/tcp``, state 08) before the warm-up,
   after it (start), after the sequential phase (middle) and at the end, each after the
   clients have exited and 0.5 s of quiet; environments alive = runtime processes among
   serve's descendants. An environment's own descriptors come from the warm-up: (FDs at the
   start - FDs before it) / environments. The RSS bound is 10 MB per 100,000 invocations
   between the start and the end, and never under 10 MB (a quick run cannot resolve less).
3. Churn. Another ``serve``, its RLIMIT_NOFILE set to 1,024 (soft and hard, with prlimit(2)
   right after its banner: the same limit a ``preexec_fn`` would set, and the environments it
   spawns later inherit it; ``/proc/PID/limits`` is checked), is warmed up with 5 invocations;
   then 10,000 TCP connections are opened and closed at once, in four runs of equal length:
   resets (SO_LINGER 0), a partial request line then a reset, plain closes, a partial request
   line then a close (``KINDS`` says why runs and not turns).
   A connect that does not succeed within 2 s counts as refused; after 5 in a row the churn
   stops (the server has stopped accepting). After 1 s, 50 invocations, each on a new
   connection with a 5 s timeout (after 3 failures in a row the rest count as unanswered);
   FDs and CLOSE-WAIT sockets before, after the churn and after the invocations.
4. Shutdown. Per memory mode a fresh ``serve``; one invocation of ``soak-stubborn``; SIGINT;
   the time until the process has exited, or "hung" after 15 s (then it and everything it
   started are killed). Then, after up to 0.5 s, which of the processes present before the
   SIGINT (serve's descendants and the members of the two sessions) are still alive. The
   memory mechanism in force is the one serve's log names; where it is not the one asked for
   (a serve that does not read ``LAMBDAKIT_MEMORY_LIMITS``), that run's rows say SKIP.

Usage: ``python bench/soak.py [--quick] [--write]`` with the project's virtual environment
(``.venv/bin/python``); ``PYTHONPATH=OTHER/src`` measures another tree's lambdakit (the
summary names it). Full mode: 100,000 sequential invocations and 100,000 across 16 clients
(about 2,500 and 2,800 invocations/s on this 2-CPU machine when it is quiet, so about 3 minutes
in all); ``--quick``: 2,000 and 2,000, 1,000 churn connections, under a minute (CI; about 15 s
when nothing hangs). Linux only (``/proc``). The exit status is 0 even when a target is missed
(a benchmark, not a test); 1 means the benchmark broke. Every child (servers, runtimes,
clients, the function's stubborn descendants) is killed and reaped, also on errors and signals.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import itertools
import json
import math
import os
import re
import resource
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import emulator as em  # bench/emulator.py: the serve child, clients, process trees, clean-up
import runtime as rt  # bench/runtime.py: tables, the machine, write_section

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

REPO = rt.REPO
DOC = rt.DOC
HEADING = "## Soak and faults (bench/soak.py)"
START_MARK = "<!-- bench/soak.py --write: start -->"
END_MARK = "<!-- bench/soak.py --write: end -->"
ECHO_FUNCTION = "soak-echo"
STUBBORN_FUNCTION = "soak-stubborn"
MARKER = b"lambdakit.runtime"  # in the command line of every runtime process
INVOKE_PATH = "/2015-03-31/functions/%s/invocations"
CLIENTS = 16
ANSWER_TIMEOUT = 5.0  # seconds a client waits for an answer before it counts as lost
SETTLE = 0.5  # seconds of quiet before a sample: serve closes the connections of gone clients
NOFILE = 1024  # RLIMIT_NOFILE of the churn server
CONNECT_TIMEOUT = 2.0
LATER = 50  # invocations after the churn
GIVE_UP = 15.0  # seconds a shutdown may take before it counts as hung
SHUTDOWN_TARGET = 3.0
RSS_TARGET_MB = 10.0  # per 100,000 invocations
FD_SLACK = 10  # churn: "back near the start"
MEMORY_VARIABLE = "LAMBDAKIT_MEMORY_LIMITS"
MEMORY_LINE = re.compile(rb"memory limits: ([^(\n;]+)")
TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  SoakEcho:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: soak-echo
      CodeUri: echo
      Handler: echo.handler
      Runtime: python3.12
      Timeout: 30
  SoakStubborn:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: soak-stubborn
      CodeUri: stubborn
      Handler: stubborn.handler
      Runtime: python3.12
      Timeout: 30
"""
STUBBORN = '''\
import os, signal, subprocess


def handler(event, context):
    """Leave two processes that outlive the runtime and ignore SIGTERM: a child in a session
    of its own that keeps the output pipe open, and a double-forked daemon."""
    stubborn = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 600"], start_new_session=True)
    read, write = os.pipe()
    first = os.fork()
    if first == 0:
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.write(write, b"%d" % os.getpid())
            os.execvp("sleep", ["sleep", "600"])
        os._exit(0)
    os.close(write)
    os.waitpid(first, 0)
    daemon = int(os.read(read, 32))
    os.close(read)
    return {"sessions": [stubborn.pid, os.getsid(daemon)]}
'''

# The clients are child processes: PRELUDE_C, then how one invocation is made (``call``: it
# counts an answer as answered, an error or duplicated, and raises when none came; ``recover``:
# what to do after that), then DRIVER_C. argv[1] is the configuration; a client prints "ready",
# waits for a line on stdin, runs ``count`` invocations and prints a JSON result.
PRELUDE_C = r"""
import json, sys, time
config = json.loads(sys.argv[1])
port, me = config["port"], config["client"]
state = {"sent": 0, "answered": 0, "errors": 0, "duplicated": 0, "error": ""}

def note(text):
    state["error"] = state["error"] or text[:300]
"""
DRIVER_C = r"""
print("ready", flush=True)
sys.stdin.readline()
cpu = time.process_time()
began = time.perf_counter()
deadline = time.monotonic() + config["deadline"]
latencies, failures = [], 0
for seq in range(config["first"], config["first"] + config["count"]):
    if failures >= 10 or time.monotonic() > deadline:
        note("gave up at seq %d" % seq)
        break
    sent = time.perf_counter()
    state["sent"] += 1
    try:
        call(seq)
        failures = 0
        latencies.append(int((time.perf_counter() - sent) * 1e6))
    except Exception as error:  # no answer
        failures += 1
        note("seq %d: %r" % (seq, error))
        recover()
elapsed = time.perf_counter() - began
cpu = time.process_time() - cpu
print(json.dumps(dict(state, elapsed=elapsed, lat=latencies, cpu=cpu)), flush=True)
"""

# A raw keep-alive socket with a pre-built request head.
RAW_C = (
    r"""
import socket
head = ("POST /2015-03-31/functions/%s/invocations HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
        "Content-Type: application/json\r\nContent-Length: " % (config["function"], port))
head = head.encode()
answered = set()
buffer = bytearray()
sock = None

def connect():
    global sock
    if sock is not None:
        sock.close()
    buffer.clear()
    sock = socket.create_connection(("127.0.0.1", port), timeout=config["timeout"])
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

def recover():
    try:
        connect()
    except OSError:
        pass  # the next send fails and counts as lost

"""
    + em.READER_C
    + r"""

def call(seq):
    body = b'{"client":%d,"seq":%d}' % (me, seq)
    sock.sendall(head + b"%d\r\n\r\n" % len(body) + body)
    while True:  # more than one answer only if the emulator sent one that was not ours
        top, payload = read_response()
        if not top.startswith(b"http/1.1 200 ") or b"\r\nx-amz-function-error:" in top:
            state["errors"] += 1
            note(top[:12].decode() + " " + payload[:200].decode("utf-8", "replace"))
            return
        try:
            answer = json.loads(payload)
            key = (answer["client"], answer["seq"])
        except (ValueError, KeyError, TypeError):
            state["errors"] += 1
            note("not an echo: %r" % payload[:200])
            return
        if key == (me, seq):
            state["answered"] += 1
            answered.add(seq)
            return
        state["duplicated"] += 1
        again = key[0] == me and key[1] in answered
        note("seq %d: %s answer %r" % (seq, "an old" if again else "another request's", key))

connect()
"""
)

# The real client: boto3, with the same payloads and categories.
BOTO3_C = r"""
import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
client = boto3.client(
    "lambda", endpoint_url="http://127.0.0.1:%d" % port, region_name="us-east-1",
    aws_access_key_id="bench", aws_secret_access_key="bench",
    config=Config(retries={"max_attempts": 0}, read_timeout=config["timeout"],
                  connect_timeout=config["timeout"]),
)

def recover():
    pass  # botocore opens a new connection when it needs one

def call(seq):
    try:
        answer = client.invoke(
            FunctionName=config["function"], Payload=b'{"client":%d,"seq":%d}' % (me, seq)
        )
    except ClientError as error:  # an answer, with an error status
        state["errors"] += 1
        note(repr(error))
        return
    payload = json.loads(answer["Payload"].read())
    if answer["StatusCode"] != 200 or "FunctionError" in answer:
        state["errors"] += 1
        note(repr(payload))
    elif payload == {"client": me, "seq": seq}:
        state["answered"] += 1
    else:
        state["duplicated"] += 1
        note("seq %d: answer %r" % (seq, payload))
"""


# --- plan -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How much of everything to run."""

    name: str
    warmup: int  # invocations per client in the 16-client warm-up
    sequential: int
    concurrent: int  # in all, across the 16 clients
    boto3: int
    churn: int  # connections opened and closed


QUICK = Plan("quick", warmup=10, sequential=2_000, concurrent=2_000, boto3=100, churn=1_000)
FULL = Plan("full", warmup=100, sequential=100_000, concurrent=100_000, boto3=500, churn=10_000)


# --- processes ------------------------------------------------------------------------------

BLOCK = 1_000_000  # a client's sequence numbers: BLOCK * (a number unique in the run) + n
BLOCKS = itertools.count()
SESSIONS: set[int] = set()  # session ids the stubborn function reported: killed at the end


def status_fields(pid: int) -> list[bytes]:
    """/proc/PID/stat after the command name: state, ppid, pgrp, session, ...; [] if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()
    except OSError:
        return []


def alive(pid: int) -> bool:
    fields = status_fields(pid)
    return bool(fields) and fields[0] not in (b"Z", b"X")


def session_members(sessions: Iterable[int]) -> set[int]:
    wanted = {str(session).encode() for session in sessions}
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = status_fields(int(entry))
            if len(fields) > 3 and fields[3] in wanted:
                found.add(int(entry))
    return found


def kill_server(server: em.Server, extra: Iterable[int] = ()) -> None:
    """SIGKILL serve (if it still runs), what it started and ``extra``; no grace period."""
    family = set(em.descendants(server.process.pid)) | set(extra)
    if server.process.poll() is None:
        server.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(5)
    server.stop()  # takes it off bench/emulator.py's list; nothing is left for it to stop
    em.kill_pids(sorted(family))


def clean_up() -> None:
    for server in list(em.SERVERS):
        kill_server(server)
    em.clean_up()
    em.kill_pids(sorted(session_members(SESSIONS)))


def start_server(project: Path, env: dict[str, str]) -> em.Server:
    """bench/emulator.py's serve child, with the default account limit (BENCH_PYTHON is not
    used here)."""
    return em.Server(project, env, sys.executable, concurrency=None)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def close_wait(port: int) -> int:
    """Sockets whose local port is ``port`` in state CLOSE-WAIT (08), from /proc/net/tcp*."""
    count = 0
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name, "rb") as table:
            for line in table.readlines()[1:]:
                fields = line.split()
                if int(fields[1].rpartition(b":")[2], 16) == port and fields[3] == b"08":
                    count += 1
    return count


def serve_errors(server: em.Server) -> str:
    return server.errors.read_text(errors="replace")


def check_alive(server: em.Server) -> None:
    if server.process.poll() is not None:
        tail = serve_errors(server)[-3000:]
        raise rt.BenchError(f"lambdakit serve exited ({server.process.returncode}):\n{tail}")


# --- the project ----------------------------------------------------------------------------


def write_project(root: Path) -> Path:
    project = root / "project"
    for name, source in (("echo", em.ECHO), ("stubborn", STUBBORN)):
        (project / name).mkdir(parents=True)
        (project / name / f"{name}.py").write_text(source)
    (project / "template.yaml").write_text(TEMPLATE)
    return project


def invoke(port: int, function: str, payload: bytes, timeout: float) -> tuple[int, bytes]:
    """One invocation on a new connection: (status, body). Raises OSError, HTTPException."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"}
        connection.request("POST", INVOKE_PATH % function, payload, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def echoed(port: int, seq: int, timeout: float) -> str:
    """One echo invocation on a new connection: "" if answered with its own payload, else
    what went wrong."""
    payload = b'{"client":0,"seq":%d}' % seq
    try:
        status, body = invoke(port, ECHO_FUNCTION, payload, timeout)
        if status == 200 and json.loads(body) == json.loads(payload):
            return ""
        return f"{status} {body[:200]!r}"
    except (OSError, http.client.HTTPException, ValueError) as error:
        return repr(error)


# --- 1 and 2: invocations and resources -----------------------------------------------------


@dataclass
class Phase:
    """One load phase: counts over its clients, START lines in serve's log, timing."""

    name: str
    clients: int
    planned: int
    sent: int = 0
    answered: int = 0
    errors: int = 0
    duplicated: int = 0
    started: int = 0  # START lines of the echo function in serve's log
    elapsed: float = 0.0  # of the slowest client
    latencies: list[float] = field(default_factory=list)
    serve_cpu: float = 0.0
    note: str = ""

    @property
    def lost(self) -> int:
        """Requests without an answer, and requests a client gave up before sending."""
        return self.planned - self.answered - self.errors

    @property
    def twice(self) -> int:
        """Duplicated answers, and invocations the emulator ran more often than asked."""
        return self.duplicated + max(0, self.started - self.sent)

    def absorb(self, result: dict[str, object]) -> None:
        for name in ("sent", "answered", "errors", "duplicated"):
            setattr(self, name, getattr(self, name) + int(str(result[name])))
        self.elapsed = max(self.elapsed, float(str(result["elapsed"])))
        self.latencies += em.result_latencies(result)
        self.note = self.note or str(result["error"])


@dataclass(frozen=True)
class Sample:
    label: str
    invocations: int  # since the warm-up
    rss_kb: int
    fds: int
    close_wait: int
    environments: int


def sample(server: em.Server, label: str, invocations: int) -> Sample:
    time.sleep(SETTLE)
    check_alive(server)
    pid = server.process.pid
    rss, _ = rt.memory_kb(pid)
    environments = len(server.runtimes(MARKER))
    return Sample(label, invocations, rss, fd_count(pid), close_wait(server.port), environments)


def client(
    server: em.Server, env: dict[str, str], number: int, count: int, boto3: bool = False
) -> em.Child:
    config = {
        "port": server.port,
        "function": ECHO_FUNCTION,
        "client": number,
        "first": next(BLOCKS) * BLOCK,
        "count": count,
        "timeout": ANSWER_TIMEOUT,
        "deadline": 60.0 + count / 300,
    }
    source = PRELUDE_C + (BOTO3_C if boto3 else RAW_C) + DRIVER_C
    argv = [sys.executable, "-c", source, json.dumps(config)]
    return em.Child(f"{'boto3 ' if boto3 else ''}client {number}", argv, env)


def run_phase(server: em.Server, name: str, children: Sequence[em.Child], planned: int) -> Phase:
    """Start ``children`` together and collect their results; count START lines."""
    for child in children:
        if child.line(60.0) != "ready":
            child.fail("did not start")
    since, cpu = server.log_size(), server.cpu()
    for child in children:
        child.send("go\n")
    phase = Phase(name, len(children), planned)
    for child in children:
        phase.absorb(child.result(120.0 + planned / 300))
    time.sleep(0.3)  # the last START lines
    phase.started = server.count(f"[{ECHO_FUNCTION}] START RequestId".encode(), since)
    phase.serve_cpu = server.cpu() - cpu
    return phase


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def concurrent(server: em.Server, env: dict[str, str], name: str, total: int) -> Phase:
    counts = split(total, CLIENTS)
    children = [client(server, env, number, count) for number, count in enumerate(counts)]
    return run_phase(server, name, children, total)


@dataclass
class Soak:
    phases: list[Phase]
    samples: list[Sample]
    shutdown: float | None  # SIGINT -> exit of the soak server (information)


def soak(project: Path, env: dict[str, str], plan: Plan) -> Soak:
    server = start_server(project, env)
    try:
        samples = [sample(server, "before the warm-up", 0)]
        phases = [concurrent(server, env, f"warm-up, {CLIENTS} clients", plan.warmup * CLIENTS)]
        samples.append(sample(server, "start (after the warm-up)", 0))
        one = client(server, env, CLIENTS, plan.sequential)
        phases.append(run_phase(server, "sequential, 1 client", [one], plan.sequential))
        samples.append(sample(server, "middle", plan.sequential))
        phases.append(concurrent(server, env, f"{CLIENTS} clients", plan.concurrent))
        boto3 = client(server, env, CLIENTS + 1, plan.boto3, boto3=True)
        phases.append(run_phase(server, "boto3, 1 client", [boto3], plan.boto3))
        done = plan.sequential + plan.concurrent + plan.boto3
        samples.append(sample(server, "end", done))
        seconds, _ = interrupt(server)
        return Soak(phases, samples, seconds)
    finally:
        kill_server(server)


def interrupt(server: em.Server) -> tuple[float | None, int | None]:
    """SIGINT: (seconds until serve exited, its exit status), or (None, None) after GIVE_UP s."""
    began = time.monotonic()
    server.process.send_signal(signal.SIGINT)
    try:
        code = server.process.wait(GIVE_UP)
    except subprocess.TimeoutExpired:
        return None, None
    return time.monotonic() - began, code


# --- 3: connect-and-close churn -------------------------------------------------------------

PARTIAL = b"POST /2015-03-31/functions/soak-echo/invoc"
RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
# The churn is four runs of equal length, one kind each (see churn_once): the resets first,
# then the closes. Each kind meets the server on its own, as a run of health checks or a port
# scan would; interleaved, the resets make serve allocate enough that its cyclic garbage
# collector closes leaked sockets before they reach the limit, which hides a leak of closes.
KINDS = (1, 3, 0, 2)


def churn_once(port: int, kind: int) -> None:
    """Kinds 0-3: close; reset; partial request line and close; partial line and reset."""
    with socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT) as sock:
        if kind & 2:
            sock.sendall(PARTIAL)
        if kind & 1:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET)


@dataclass
class Churn:
    limit: str  # serve's "Max open files" (soft, hard)
    planned: int
    opened: int = 0
    refused: int = 0  # connects that failed or timed out
    stopped: str = ""  # why the churn stopped early
    seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    tried: int = 0  # later invocations tried
    answered: int = 0
    error: str = ""
    peak_fds: int = 0  # serve's FDs, read every 100 connections
    shutdown: float | None = None
    died: str = ""  # serve exited during the churn


def open_files_limit(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return f"{soft} / {hard}"
    return "unknown"


def connections(server: em.Server, into: Churn) -> None:
    began = time.monotonic()
    in_a_row = 0
    for index in range(into.planned):
        if index % 100 == 0:
            with contextlib.suppress(OSError):
                into.peak_fds = max(into.peak_fds, fd_count(server.process.pid))
        try:
            churn_once(server.port, KINDS[index * len(KINDS) // into.planned])
            into.opened += 1
            in_a_row = 0
        except OSError as error:
            into.refused += 1
            in_a_row += 1
            if in_a_row >= 5:
                into.stopped = f"after {index + 1} connections: {error!r}"
                break
    into.seconds = time.monotonic() - began


def later_invocations(port: int, into: Churn) -> None:
    in_a_row = 0
    for seq in range(LATER):
        if in_a_row >= 3:
            break
        into.tried += 1
        error = echoed(port, seq, ANSWER_TIMEOUT)
        into.answered += not error
        in_a_row = in_a_row + 1 if error else 0
        into.error = into.error or error


def churn(project: Path, env: dict[str, str], plan: Plan) -> Churn:
    server = start_server(project, env)
    try:
        pid = server.process.pid
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
        result = Churn(open_files_limit(pid), plan.churn)
        for seq in range(5):
            if echoed(server.port, seq, 30.0):
                raise rt.BenchError(f"the churn server's warm-up failed: {serve_errors(server)}")
        result.samples.append(sample(server, "before the churn", 0))
        connections(server, result)
        time.sleep(1.0)
        try:
            result.samples.append(sample(server, "after the churn", 0))
            later_invocations(server.port, result)
            result.samples.append(sample(server, "after the later invocations", result.tried))
        except rt.BenchError as error:  # serve died: a finding, not a broken benchmark
            result.died = str(error)[:300]
        if not result.died:
            result.shutdown, _ = interrupt(server)
        return result
    finally:
        kill_server(server)


# --- 4: shutdown with stubborn descendants --------------------------------------------------


@dataclass
class Shutdown:
    mode: str  # what was asked: "default" or "rlimit"
    limiter: str = "unknown"  # what serve said is in force
    seconds: float | None = None  # SIGINT -> exit; None: hung
    code: int | None = None
    watched: int = 0  # processes of the environment and the two sessions before the SIGINT
    left: list[str] = field(default_factory=list)  # those alive after serve exited
    error: str = ""


def stubborn_sessions(port: int) -> list[int]:
    status, body = invoke(port, STUBBORN_FUNCTION, b"{}", 30.0)
    answer = json.loads(body)
    if status != 200 or not isinstance(answer, dict) or "sessions" not in answer:
        raise ValueError(f"{status} {body[:300]!r}")
    return [int(session) for session in answer["sessions"]]


def limiter_in_force(server: em.Server) -> str:
    for path in (server.errors, server.log):
        match = MEMORY_LINE.search(path.read_bytes())
        if match:
            return match.group(1).decode().strip()
    return "unknown"


def survivors(pids: Iterable[int], wait: float) -> list[int]:
    deadline = time.monotonic() + wait
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def shutdown(project: Path, env: dict[str, str], mode: str) -> Shutdown:
    environ = {k: v for k, v in env.items() if k != MEMORY_VARIABLE}
    if mode != "default":
        environ[MEMORY_VARIABLE] = mode
    result = Shutdown(mode)
    server = start_server(project, environ)
    sessions: list[int] = []
    try:
        try:
            sessions = stubborn_sessions(server.port)
        except (OSError, http.client.HTTPException, ValueError) as error:
            result.error = f"the stubborn function failed: {error!r}"
        SESSIONS.update(sessions)
        time.sleep(0.2)
        result.limiter = limiter_in_force(server)
        table = em.process_table()
        watched = set(em.descendants(server.process.pid)) | session_members(sessions)
        result.watched = len(watched)
        result.seconds, result.code = interrupt(server)
        if result.seconds is not None:
            left = survivors(watched | session_members(sessions), 0.5)
            result.left = [table.get(pid, (0, b"?"))[1].decode(errors="replace") for pid in left]
        return result
    finally:
        kill_server(server, session_members(sessions))


# --- report ---------------------------------------------------------------------------------


@dataclass
class Results:
    plan: Plan
    soak: Soak
    churn: Churn
    shutdowns: list[Shutdown]
    load: tuple[float, float] = (0.0, 0.0)


verdict = em.verdict


def mb(kb: float) -> str:
    return f"{kb / 1024:.1f}"


def seconds(value: float | None) -> str:
    return f"hung (> {GIVE_UP:.0f} s)" if value is None else f"{value:.2f} s"


def rss_row(soak: Soak) -> list[str]:
    start, end = soak.samples[1], soak.samples[-1]
    count = end.invocations - start.invocations
    growth = (end.rss_kb - start.rss_kb) / 1024
    bound = RSS_TARGET_MB * max(1.0, count / 100_000)
    per = growth / count * 100_000 if count else 0.0
    return [
        f"serve VmRSS growth, start → end ({count:,} invocations)",
        f"{growth:+.2f} MB ({per:+.1f} MB per 100,000)",
        f"< {bound:.0f} MB",
        verdict(growth < bound),
    ]


def fd_row(soak: Soak) -> list[str]:
    before, start, end = soak.samples[0], soak.samples[1], soak.samples[-1]
    per_env = (start.fds - before.fds) / start.environments if start.environments else 0.0
    added = max(0, end.environments - start.environments)
    bound = start.fds + math.ceil(per_env * added)
    return [
        f"serve FDs, start → end (environments {start.environments} → {end.environments})",
        f"{start.fds} → {end.fds}",
        f"≤ {bound}",
        verdict(end.fds <= bound),
    ]


def phase_rows(soak: Soak) -> list[list[str]]:
    rows = []
    for phase in soak.phases[1:]:
        ok = phase.lost == 0 and phase.twice == 0
        rows.append(
            [
                f"{phase.name}: lost; duplicated",
                f"{phase.lost}; {phase.twice}",
                "0; 0",
                verdict(ok),
            ]
        )
    return rows


def churn_rows(churn: Churn) -> list[list[str]]:
    before, end = churn.samples[0], churn.samples[-1]
    bound = before.fds + FD_SLACK
    fds = "serve died" if churn.died else f"{before.fds} → {end.fds} ({end.close_wait})"
    return [
        [
            f"churn: later invocations answered (after {churn.opened:,} connections)",
            f"{churn.answered} / {LATER}",
            f"{LATER} / {LATER}",
            verdict(churn.answered == LATER),
        ],
        [
            "churn: serve FDs back near the start (CLOSE-WAIT sockets at the end)",
            fds,
            f"≤ {bound}",
            verdict(not churn.died and end.fds <= bound),
        ],
    ]


def mode_label(result: Shutdown) -> str:
    if result.mode == "default":
        return f"default ({result.limiter})"
    asked = f"{MEMORY_VARIABLE}={result.mode}"
    return asked if in_force(result) else f"{asked} (not read: {result.limiter} in force)"


def in_force(result: Shutdown) -> bool:
    """Whether serve used the memory mode asked for (a serve that does not read the variable
    yet runs the default mode, which then says nothing about the mode asked for)."""
    return result.mode == "default" or result.limiter.startswith(result.mode)


def shutdown_rows(results: Sequence[Shutdown]) -> list[list[str]]:
    rows = []
    for result in results:
        label = mode_label(result)
        judge = verdict if in_force(result) else (lambda ok: "SKIP")
        fast = result.seconds is not None and result.seconds < SHUTDOWN_TARGET and not result.error
        rows.append(
            [
                f"shutdown, {label}: SIGINT → exit",
                seconds(result.seconds),
                f"< {SHUTDOWN_TARGET:.0f} s",
                judge(fast),
            ]
        )
        left = "n/a (hung)" if result.seconds is None else str(len(result.left))
        clean = result.seconds is not None and not result.left and not result.error
        rows.append([f"shutdown, {label}: descendants left alive", left, "0", judge(clean)])
    return rows


def target_rows(results: Results) -> list[list[str]]:
    return [
        *phase_rows(results.soak),
        rss_row(results.soak),
        fd_row(results.soak),
        *churn_rows(results.churn),
        *shutdown_rows(results.shutdowns),
    ]


def phase_table(soak: Soak) -> list[list[str]]:
    rows = []
    for phase in soak.phases:
        rate = phase.answered / phase.elapsed if phase.elapsed else 0.0
        p50 = em.percentile(phase.latencies, 0.5) / 1000
        p99 = em.percentile(phase.latencies, 0.99) / 1000
        cpu = phase.serve_cpu / phase.sent * 1e6 if phase.sent else 0.0
        rows.append(
            [
                phase.name,
                f"{phase.sent:,}",
                f"{phase.answered:,}",
                str(phase.lost),
                str(phase.errors),
                str(phase.twice),
                f"{phase.started:,}",
                f"{rate:.0f}",
                f"{p50:.2f} / {p99:.2f}",
                f"{cpu:.0f}",
            ]
        )
    return rows


PHASE_HEADER = [
    "phase",
    "sent",
    "answered",
    "lost",
    "errors",
    "duplicated",
    "START lines",
    "inv/s",
    "p50 / p99 ms",
    "serve CPU µs/inv",
]
SAMPLE_HEADER = ["invocations", "VmRSS MB", "FDs", "CLOSE-WAIT", "environments"]


def sample_table(samples: Sequence[Sample]) -> list[list[str]]:
    return [
        [
            s.label,
            f"{s.invocations:,}",
            mb(s.rss_kb),
            str(s.fds),
            str(s.close_wait),
            str(s.environments),
        ]
        for s in samples
    ]


def shutdown_table(results: Sequence[Shutdown]) -> list[list[str]]:
    rows = []
    for result in results:
        code = "" if result.code is None else str(result.code)
        rows.append(
            [
                result.mode,
                result.limiter,
                seconds(result.seconds),
                code,
                str(result.watched),
                ", ".join(result.left) or ("–" if result.seconds is not None else "n/a"),
            ]
        )
    return rows


def notes(results: Results) -> list[str]:
    soak, churn = results.soak, results.churn
    lines = [
        f"Churn: serve's open-files limit (soft / hard) {churn.limit}; {churn.opened:,} of "
        f"{churn.planned:,} connections opened in {churn.seconds:.1f} s, {churn.refused} "
        f"refused or timed out{'; stopped ' + churn.stopped if churn.stopped else ''}; "
        f"{churn.tried} later invocations tried, {churn.answered} answered"
        f"{' (first failure: ' + churn.error + ')' if churn.error else ''}; "
        f"serve's FDs during the churn at most {churn.peak_fds}; SIGINT → exit of the churn "
        f"server: {seconds(churn.shutdown)}"
        f"{'; serve died: ' + churn.died if churn.died else ''}.",
        f"SIGINT → exit of the soak server ({soak.samples[-1].environments} environments, "
        f"no stubborn descendants): {seconds(soak.shutdown)}.",
    ]
    errors = [f"{phase.name}: {phase.note}" for phase in soak.phases if phase.note]
    errors += [f"shutdown {s.mode}: {s.error}" for s in results.shutdowns if s.error]
    if errors:
        lines.append("First problem per phase: " + "; ".join(errors))
    return lines


def summary(results: Results) -> str:
    plan = results.plan
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"Mode {plan.name}, {when}; {rt.machine()}; source {source()}. `lambdakit serve` "
        f"(default account limit) with a Python echo function; raw keep-alive clients: a "
        f"warm-up of {plan.warmup} invocations from each of {CLIENTS}, {plan.sequential:,} "
        f"sequential, {plan.concurrent:,} across {CLIENTS} clients; then {plan.boto3} through "
        f"boto3. Churn: {plan.churn:,} connections against a serve limited to {NOFILE} open "
        f"files, then {LATER} invocations. Shutdown: a function with a setsid grandchild and a "
        f"daemon that ignore SIGTERM, per memory mode. Load average (1 min) at the start and the "
        f"end: {em.pair(results.load, 1)}."
    )


def source() -> str:
    """The checkout's state, or where serve's lambdakit comes from if not from it (PYTHONPATH:
    another tree can be measured while this one is being edited)."""
    spec = importlib.util.find_spec("lambdakit")
    origin = Path(spec.origin).resolve().parent.parent if spec and spec.origin else None
    if origin is None or origin == REPO / "src":
        return em.source_state()
    return f"lambdakit from {origin} (this checkout: {em.source_state()})"


def report(results: Results, markdown: bool) -> str:
    parts = [
        textwrap.fill(summary(results), 100),
        rt.table(["target", "measured", "bound", "result"], target_rows(results), markdown),
        rt.table(PHASE_HEADER, phase_table(results.soak), markdown),
        rt.table(["soak server", *SAMPLE_HEADER], sample_table(results.soak.samples), markdown),
        rt.table(["churn server", *SAMPLE_HEADER], sample_table(results.churn.samples), markdown),
        rt.table(
            ["memory mode asked", "in force", "SIGINT → exit", "status", "watched", "left alive"],
            shutdown_table(results.shutdowns),
            markdown,
        ),
        *(textwrap.fill(line, 100) for line in notes(results)),
    ]
    return "\n\n".join(parts) + "\n"


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, for CI (< 60 s)")
    parser.add_argument("--write", action="store_true", help=f"rewrite the results in {DOC}")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> Results:
    plan = QUICK if args.quick else FULL
    em.check_interpreter()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lambdakit-bench-soak-") as directory:
        root = Path(directory)
        project = write_project(root)
        env = em.bench_environment(root / "pycache")
        soaked = soak(project, env, plan)
        churned = churn(project, env, plan)
        shutdowns = [shutdown(project, env, mode) for mode in ("default", "rlimit")]
    return Results(plan, soaked, churned, shutdowns, (load, os.getloadavg()[0]))


def main(argv: list[str] | None = None) -> int:
    section = (START_MARK, END_MARK, HEADING)
    return rt.bench_main("bench/soak.py", parse_args(argv), run, report, section, clean_up)


if __name__ == "__main__":
    sys.exit(main())
