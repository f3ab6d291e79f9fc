"""Benchmark: response streaming through the local Lambda, from a handler to boto3 and to a
Function URL client.

What (the issue): "Time to first byte and throughput (MB/s) of a 50 MB stream from the handler
to boto3 and to a Function URL client, on this machine." Target: a warm environment's first
byte reaches the client in under 50 ms while the handler waits 1 s between its chunks (i.e.
chunks are passed on as they are produced, not buffered). MB here is 2**20 bytes.

How. A temporary SAM project holds lambdakit handlers run by the emulator's own interpreter
(runtime ``python3.X`` of this interpreter): ``bulk``, a generator yielding N bytes in 64 KiB
chunks; ``slow``, a generator yielding a small chunk, sleeping 1 s, yielding a second one;
``url-bulk`` and ``url-slow``, the same as ``StreamingResponse`` bodies behind Function URLs
with ``InvokeMode: RESPONSE_STREAM``; ``buffered``, which returns an N-byte JSON string (for
context: a plain buffered ``Invoke``); ``tick`` and ``small`` for a back-to-back check.
``python -m lambdakit serve PROJECT --port 0`` runs in a child process (default concurrency),
its log in a file; the script reads the Invoke API and Function URL addresses from it, and the
REPORT lines to check that every timed invocation ran on a warm environment.

Clients, in this process: boto3 (``invoke_with_response_stream``, one client, keep-alive, no
retries) and ``http.client`` (a new connection per request, connected before the clock
starts; ``read1`` with 64 KiB blocks for time to first byte, 1 MiB blocks for throughput).

1. Time to first byte (TTFB): from the request being sent (boto3: botocore's ``before-send``
   event, after building and signing; URL: just before ``request()``) to the first payload
   byte (boto3: the first ``PayloadChunk`` event; URL: the first body byte), against ``slow``
   and ``url-slow``, after one untimed invocation of each (its cold start). Also the gap
   between the arrivals of the first and the second chunk (1000 ms when nothing is buffered).
2. Throughput: an N MB stream (``bulk`` / ``url-bulk``), bytes ÷ (last byte - request sent),
   with the CPU time the emulator process, the function's runtime process and this client
   spent on it (``/proc/<pid>/task/*/schedstat``), in ms per MB, to show which one limits.
3. For context: a buffered ``Invoke`` of ``buffered`` (5 MB) through boto3.
4. Back-to-back: streamed (``tick``) and buffered (``small``) invocations sent one right after
   the other (the handlers answer with their pid): how many were cold starts, on how many
   environments they ran, and how many ran on another environment than the one before.

The boto3 and URL runs alternate (ABBA); between two timed invocations the script waits 50 ms,
so that the environment is back in ``GET /next`` (see 4 for why). Every figure is a median;
nothing is pinned (the emulator, the runtime and the client are three processes on 2 CPUs);
the load average at the start is printed with the results, since other work on the machine
moves the throughput a lot.

Usage: ``.venv/bin/python bench/streaming.py [--quick] [--write]`` (``--quick``: a 5 MB stream
and 3 runs of each, for CI, well under a minute; ``--write``: rewrite the results between the
markers of the "Response streaming" section of docs/benchmarks.md). Linux only (``/proc``).
The exit status is 0 even when a target is missed (a benchmark, not a test); 1 means the
benchmark itself broke. The server and its runtimes are stopped and reaped on every exit,
and a watchdog (SIGALRM) ends a run that exceeds its time budget.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import runtime as rt  # bench/runtime.py: BenchError, table(), machine()

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from types import FrameType

REPO = rt.REPO
DOC = rt.DOC
HEADING = "## Response streaming (bench/streaming.py)"
START_MARK = "<!-- bench/streaming.py --write: start -->"
END_MARK = "<!-- bench/streaming.py --write: end -->"

MB = 1024 * 1024
CHUNK = 64 * 1024  # what the bulk handlers yield at a time
PAUSE = 1.0  # seconds the slow handlers sleep between their two chunks (the test)
TTFB_TARGET_MS = 50.0
SLOW_SIZE = len(b"first chunk\nsecond chunk\n")  # what the slow handlers send
TTFB_TARGET = f"< {TTFB_TARGET_MS:g} ms"
SETTLE = 0.05  # seconds between timed invocations: the runtime is back in GET /next
START_TIMEOUT = 30.0  # for the server to print its addresses
IO_TIMEOUT = 60.0  # any single socket operation
LOG_TIMEOUT = 5.0  # for the REPORT lines of finished invocations to reach the log


@dataclass(frozen=True)
class Plan:
    """How much to run."""

    name: str
    stream_mb: int  # size of the throughput stream
    ttfb_runs: int  # per client
    throughput_runs: int  # per client
    buffered_runs: int
    buffered_mb: int
    back_to_back: int  # invocations per kind
    budget: int  # seconds: the watchdog's limit for the whole run


QUICK = Plan("quick", stream_mb=5, ttfb_runs=3, throughput_runs=3, buffered_runs=3,
             buffered_mb=5, back_to_back=10, budget=90)  # fmt: skip
FULL = Plan("full", stream_mb=50, ttfb_runs=11, throughput_runs=7, buffered_runs=7,
            buffered_mb=5, back_to_back=30, budget=600)  # fmt: skip

APP = '''\
"""Handlers for bench/streaming.py."""

import os
import time

from lambdakit import StreamingResponse


def _body(size, chunk):
    piece = b"x" * chunk
    sent = 0
    while sent < size:
        left = size - sent
        yield piece if left >= chunk else piece[:left]
        sent += min(chunk, left)


def _slow(pause):
    yield b"first chunk\\n"
    time.sleep(pause)
    yield b"second chunk\\n"


def _query(event):
    return event.get("queryStringParameters") or {}


def bulk(event, context):
    yield from _body(event["size"], event.get("chunk", 65536))


def slow(event, context):
    yield from _slow(event.get("pause", 1.0))


def url_bulk(event, context):
    query = _query(event)
    body = _body(int(query["size"]), int(query.get("chunk", "65536")))
    return StreamingResponse(body, headers={"content-type": "application/octet-stream"})


def url_slow(event, context):
    body = _slow(float(_query(event).get("pause", "1")))
    return StreamingResponse(body, headers={"content-type": "text/plain"})


def buffered(event, context):
    return "x" * event["size"]


def tick(event, context):
    yield str(os.getpid())


def small(event, context):
    return os.getpid()
'''

FUNCTIONS = {
    "bulk": "app.bulk",
    "slow": "app.slow",
    "url-bulk": "app.url_bulk",
    "url-slow": "app.url_slow",
    "buffered": "app.buffered",
    "tick": "app.tick",
    "small": "app.small",
}
URL_FUNCTIONS = ("url-bulk", "url-slow")


def template() -> str:
    runtime = "python%d.%d" % sys.version_info[:2]
    lines = [
        'AWSTemplateFormatVersion: "2010-09-09"',
        "Transform: AWS::Serverless-2016-10-31",
        "Globals:",
        "  Function:",
        "    CodeUri: .",
        f"    Runtime: {runtime}",
        "    Timeout: 60",
        "    MemorySize: 1024",
        "Resources:",
    ]
    for number, (name, handler) in enumerate(FUNCTIONS.items()):
        lines += [
            f"  Fn{number}:",
            "    Type: AWS::Serverless::Function",
            "    Properties:",
            f"      FunctionName: {name}",
            f"      Handler: {handler}",
        ]
        if name in URL_FUNCTIONS:
            lines.append("      FunctionUrlConfig: {AuthType: NONE, InvokeMode: RESPONSE_STREAM}")
    return "\n".join(lines) + "\n"


# --- the server -----------------------------------------------------------------------------

INVOKE_LINE = re.compile(r"Invoke API at (http://127\.0\.0\.1:\d+)")
URL_LINE = re.compile(r"lambdakit: (\S+) Function URL \((\w+)\): http://127\.0\.0\.1:(\d+)/")
REPORT_LINE = re.compile(r"REPORT RequestId: ([0-9a-f-]+)\t(.*)")


def proc_stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rpartition(b")")[2].split()
    except OSError:
        return None


def descendants(pid: int) -> dict[int, bytes]:
    """pid -> start time (clock ticks since boot) of every descendant of ``pid``."""
    parents: dict[int, tuple[int, bytes]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = proc_stat(int(entry))
            if fields is not None:
                parents[int(entry)] = (int(fields[1]), fields[19])
    found: dict[int, bytes] = {}
    frontier = {pid}
    while frontier:
        children = {p for p, (parent, _) in parents.items() if parent in frontier}
        children -= found.keys()
        found.update((p, parents[p][1]) for p in children)
        frontier = children
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread, ns precision) a process has used; 0 if gone."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", "rb") as schedstat:
                total += int(schedstat.read().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return total / 1e9


def function_name(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as environ:
            for item in environ.read().split(b"\0"):
                if item.startswith(b"AWS_LAMBDA_FUNCTION_NAME="):
                    return item.partition(b"=")[2].decode()
    except OSError:
        pass
    return None


def _die_with_parent() -> None:
    """In the server's child: SIGTERM it if this script dies without cleaning up (SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    """``python -m lambdakit serve PROJECT --port 0`` in a child process, logging to a file."""

    def __init__(self, project: Path) -> None:
        self.project = project
        self.log = project / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.invoke_url = ""
        self.url_ports: dict[str, int] = {}
        self.seen: dict[int, bytes] = {}  # every descendant seen (pid -> start time)

    def start(self) -> None:
        env = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1")
        argv = [sys.executable, "-m", "lambdakit", "serve", str(self.project), "--port", "0"]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                argv, cwd=self.project, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = self.log_text()
            invoke = INVOKE_LINE.search(text)
            urls = {m[0]: (m[1], int(m[2])) for m in URL_LINE.findall(text)}
            if invoke and all(name in urls for name in URL_FUNCTIONS):
                break
            if self.process.poll() is not None:
                self.fail(f"lambdakit serve exited with status {self.process.returncode}")
            if time.monotonic() > deadline:
                self.fail(f"lambdakit serve printed no addresses within {START_TIMEOUT:.0f} s")
            time.sleep(0.05)
        for name in URL_FUNCTIONS:
            mode, port = urls[name]
            if mode != "RESPONSE_STREAM":
                self.fail(f"{name}'s Function URL is {mode}, not RESPONSE_STREAM")
            self.url_ports[name] = port
        self.invoke_url = invoke.group(1)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def fail(self, message: str) -> None:
        tail = self.log_text()[-3000:].strip() or "(no output)"
        raise rt.BenchError(f"{message}\n--- lambdakit serve's output ---\n{tail}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def runtime_pids(self, function: str) -> list[int]:
        """The processes of ``function``'s execution environments."""
        found = descendants(self.pid)
        self.seen.update(found)
        return [pid for pid in found if function_name(pid) == function]

    def reports(self, request_ids: Sequence[str]) -> dict[str, str]:
        """request id -> the rest of its REPORT line, waiting for them to be logged."""
        deadline = time.monotonic() + LOG_TIMEOUT
        while True:
            lines = dict(REPORT_LINE.findall(self.log_text()))
            if all(rid in lines for rid in request_ids) or time.monotonic() > deadline:
                return {rid: lines[rid] for rid in request_ids if rid in lines}
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (the emulator stops its environments), SIGKILL to what is left after 10 s."""
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            self.seen.update(descendants(process.pid))
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for pid, started in self.seen.items():  # an environment the emulator did not stop
            fields = proc_stat(pid)
            if fields is not None and fields[19] == started:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


# --- clients --------------------------------------------------------------------------------


@dataclass
class Run:
    """One streamed invocation as the client saw it (seconds since the request was sent)."""

    request_id: str
    first: float  # first payload byte
    end: float  # last byte
    size: int
    arrivals: list[float] = field(default_factory=list)  # of the first few reads with data
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds it used
    head: bytes = b""  # the first bytes of the body

    def ttfb_ms(self) -> float:
        return self.first * 1000

    def gap_ms(self) -> float:
        """From the first chunk's arrival to the second's."""
        return (self.arrivals[1] - self.arrivals[0]) * 1000 if len(self.arrivals) > 1 else 0.0

    def mb_per_s(self) -> float:
        return self.size / MB / self.end


class Boto3:
    """A boto3 Lambda client for the emulator (keep-alive, no retries) that notes when each
    request leaves: botocore's ``before-send`` event fires after the request is built and
    signed, just before it is written to the connection."""

    def __init__(self, endpoint: str) -> None:
        try:
            import boto3  # type: ignore[import-untyped]
            from botocore.config import Config  # type: ignore[import-untyped]
        except ImportError as exc:
            raise rt.BenchError(
                f"boto3 is not importable by {sys.executable}: run this script with the "
                "project's virtual environment (.venv/bin/python) or pip install boto3"
            ) from exc
        config = Config(
            connect_timeout=10, read_timeout=IO_TIMEOUT, retries={"total_max_attempts": 1}
        )
        self.client = boto3.client(
            "lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
            aws_secret_access_key="x", config=config,
        )  # fmt: skip
        self.sent = 0.0
        self.client.meta.events.register("before-send", self._sending)

    def _sending(self, **kwargs: Any) -> None:
        self.sent = time.perf_counter()  # returning None lets botocore send the request

    def stream(self, function: str, event: dict[str, object]) -> Run:
        """``InvokeWithResponseStream``, reading the event stream to its end."""
        payload = json.dumps(event).encode()
        arrivals: list[float] = []
        size = 0
        complete: dict[str, Any] | None = None
        head = b""
        response = self.client.invoke_with_response_stream(FunctionName=function, Payload=payload)
        for item in response["EventStream"]:
            if "PayloadChunk" in item:
                data = item["PayloadChunk"]["Payload"]
                if data:
                    if size < 64:
                        head += data[:64]
                    size += len(data)
                    if len(arrivals) < 8:
                        arrivals.append(time.perf_counter() - self.sent)
            elif "InvokeComplete" in item:
                complete = item["InvokeComplete"]
        end = time.perf_counter() - self.sent
        if complete is None:
            raise rt.BenchError(f"{function}: the event stream ended without InvokeComplete")
        if complete.get("ErrorCode"):
            raise rt.BenchError(f"{function} failed: {complete}")
        if not arrivals:
            raise rt.BenchError(f"{function}: no payload arrived")
        request_id = response["ResponseMetadata"]["RequestId"]
        return Run(request_id, arrivals[0], end, size, arrivals, head=head[:64])

    def invoke(self, function: str, event: dict[str, object], size: int | None = None) -> Run:
        """A plain ``Invoke``; ``size``: the length the answer must have."""
        response = self.client.invoke(FunctionName=function, Payload=json.dumps(event))
        body = response["Payload"].read()
        end = time.perf_counter() - self.sent
        if response.get("FunctionError") or (size is not None and len(body) != size):
            raise rt.BenchError(f"{function}: {response.get('FunctionError')} {body[:300]!r}")
        request_id = response["ResponseMetadata"]["RequestId"]
        return Run(request_id, end, end, len(body), head=body[:64])


def url_stream(port: int, query: str, block: int) -> Run:
    """GET a Function URL with http.client, reading the body with ``read1(block)``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT)
    try:
        connection.connect()
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        arrivals: list[float] = []
        size = 0
        start = time.perf_counter()
        connection.request("GET", "/?" + query)
        response = connection.getresponse()
        while True:
            data = response.read1(block)
            if not data:
                break
            size += len(data)
            if len(arrivals) < 8:
                arrivals.append(time.perf_counter() - start)
        end = time.perf_counter() - start
        if response.status != 200:
            raise rt.BenchError(f"Function URL on port {port}: HTTP {response.status}")
        if not arrivals:
            raise rt.BenchError(f"Function URL on port {port}: an empty body")
        request_id = response.getheader("x-amzn-RequestId") or ""
        return Run(request_id, arrivals[0], end, size, arrivals)
    except (OSError, http.client.HTTPException) as exc:
        raise rt.BenchError(f"Function URL on port {port}: {exc!r}") from exc
    finally:
        connection.close()


# --- measurements ---------------------------------------------------------------------------

BOTO3 = "boto3"
URL = "Function URL"
CLIENTS = (BOTO3, URL)


@dataclass(frozen=True)
class BackToBack:
    invocations: int
    cold: int  # REPORT lines with Init Duration
    environments: int  # distinct processes that answered
    switches: int  # invocations that ran on another environment than the one before


@dataclass
class Results:
    plan: Plan
    ttfb: dict[str, list[Run]] = field(default_factory=lambda: {c: [] for c in CLIENTS})
    bulk: dict[str, list[Run]] = field(default_factory=lambda: {c: [] for c in CLIENTS})
    buffered: list[Run] = field(default_factory=list)
    back_to_back: dict[str, BackToBack] = field(default_factory=dict)
    cold_timed: list[str] = field(default_factory=list)  # timed invocations that were cold
    load: float = field(default_factory=lambda: os.getloadavg()[0])  # at the start


class Bench:
    def __init__(self, server: Server, plan: Plan) -> None:
        self.server = server
        self.plan = plan
        self.boto3 = Boto3(server.invoke_url)
        self.results = Results(plan)

    def slow(self, client: str) -> Run:
        if client == BOTO3:
            return self.boto3.stream("slow", {"pause": PAUSE})
        return url_stream(self.server.url_ports["url-slow"], f"pause={PAUSE}", CHUNK)

    def bulk(self, client: str, size: int) -> Run:
        if client == BOTO3:
            return self.boto3.stream("bulk", {"size": size, "chunk": CHUNK})
        return url_stream(self.server.url_ports["url-bulk"], f"size={size}&chunk={CHUNK}", MB)

    def warm_up(self) -> None:
        """One untimed invocation of each function: its cold start."""
        for client in CLIENTS:
            self.bulk(client, MB)
            if client == BOTO3:
                self.boto3.stream("slow", {"pause": 0.01})
            else:
                url_stream(self.server.url_ports["url-slow"], "pause=0.01", CHUNK)
        self.buffered_invoke(16)

    def ttfb(self) -> None:
        for client in alternate(CLIENTS, self.plan.ttfb_runs):
            time.sleep(SETTLE)
            run = self.check(self.slow(client), SLOW_SIZE, exact=True)
            self.results.ttfb[client].append(run)

    def throughput(self) -> None:
        size = self.plan.stream_mb * MB
        for client in alternate(CLIENTS, self.plan.throughput_runs):
            function = "bulk" if client == BOTO3 else "url-bulk"
            pids = self.server.runtime_pids(function)
            time.sleep(SETTLE)
            before = self.cpu(pids)
            run = self.bulk(client, size)
            after = self.cpu(pids)
            run.cpu = {name: after[name] - before[name] for name in before}
            self.results.bulk[client].append(self.check(run, size, exact=True))

    def cpu(self, runtime_pids: list[int]) -> dict[str, float]:
        return {
            "emulator": cpu_seconds(self.server.pid),
            "runtime": sum(cpu_seconds(pid) for pid in runtime_pids),
            "client": time.process_time(),
        }

    def buffered_invoke(self, size: int) -> Run:
        """``buffered`` returns a JSON string of ``size`` characters: ``size + 2`` bytes."""
        return self.boto3.invoke("buffered", {"size": size}, size + 2)

    def buffered(self) -> None:
        for _ in range(self.plan.buffered_runs):
            time.sleep(SETTLE)
            self.results.buffered.append(self.buffered_invoke(self.plan.buffered_mb * MB))

    def back_to_back(self) -> None:
        """Invocations sent one right after the other (after a warm-up): on how many
        environments did they run? The handlers answer with their process id."""
        kinds: dict[str, Callable[[], Run]] = {
            "streamed": lambda: self.boto3.stream("tick", {}),
            "buffered": lambda: self.boto3.invoke("small", {}),
        }
        for kind, invoke in kinds.items():
            invoke()
            time.sleep(0.2)
            runs = [invoke() for _ in range(self.plan.back_to_back)]
            reports = self.server.reports([run.request_id for run in runs])
            if len(reports) != len(runs):
                self.server.fail(f"{len(runs) - len(reports)} REPORT lines missing ({kind})")
            pids = [run.head for run in runs]
            self.results.back_to_back[kind] = BackToBack(
                invocations=len(runs),
                cold=sum("Init Duration" in line for line in reports.values()),
                environments=len(set(pids)),
                switches=sum(a != b for a, b in itertools.pairwise(pids)),
            )

    def check(self, run: Run, size: int, exact: bool = False) -> Run:
        if (run.size != size) if exact else (run.size < size):
            raise rt.BenchError(f"expected {size} bytes, received {run.size}")
        return run

    def verify_warm(self) -> None:
        """Every timed invocation's REPORT line, without Init Duration (a warm environment)."""
        results = self.results
        runs = [*results.buffered]
        for group in (*results.ttfb.values(), *results.bulk.values()):
            runs += group
        ids = [run.request_id for run in runs]
        if not all(ids):
            raise rt.BenchError("a response without x-amzn-RequestId")
        reports = self.server.reports(ids)
        missing = [rid for rid in ids if rid not in reports]
        if missing:
            self.server.fail(f"no REPORT line for {len(missing)} invocations, e.g. {missing[0]}")
        self.results.cold_timed = [rid for rid in ids if "Init Duration" in reports[rid]]

    def run(self) -> Results:
        self.warm_up()
        self.ttfb()
        self.throughput()
        self.buffered()
        self.verify_warm()
        self.back_to_back()
        return self.results


def alternate(items: Sequence[str], rounds: int) -> Iterator[str]:
    """``rounds`` of each item, forwards then backwards (ABBA)."""
    for number in range(rounds):
        yield from items if number % 2 == 0 else items[::-1]


# --- report ---------------------------------------------------------------------------------

HEADER = ["metric", "client", "median", "min–max", "target", "result"]
CPU_HEADER = ["stream", "emulator", "runtime", "client", "wall", "emulator busy", "MB/s"]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], digits: int) -> str:
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}" if values else "–"


def rows(results: Results) -> list[list[str]]:
    plan = results.plan
    table: list[list[str]] = []

    def add(metric: str, client: str, values: list[float], digits: int, target: str = "") -> None:
        verdict = ""
        if target:  # the TTFB target: the median must be under it
            verdict = "PASS" if median(values) < TTFB_TARGET_MS else "FAIL"
        text = f"{median(values):.{digits}f}"
        table.append([metric, client, text, spread(values, digits), target, verdict])

    for client in CLIENTS:
        values = [run.ttfb_ms() for run in results.ttfb[client]]
        add(f"TTFB, {PAUSE:g} s between chunks (ms)", client, values, 1, TTFB_TARGET)
    for client in CLIENTS:
        values = [run.gap_ms() for run in results.ttfb[client]]
        add(f"2nd chunk after the 1st (ms; ≈ {PAUSE * 1000:g})", client, values, 0)
    for client in CLIENTS:
        values = [run.ttfb_ms() for run in results.bulk[client]]
        add(f"TTFB of the {plan.stream_mb} MB stream (ms)", client, values, 1)
    for client in CLIENTS:
        values = [run.mb_per_s() for run in results.bulk[client]]
        add(f"throughput, {plan.stream_mb} MB stream (MB/s)", client, values, 0)
    values = [run.mb_per_s() for run in results.buffered]
    add(f"buffered Invoke, {plan.buffered_mb} MB (MB/s, for context)", BOTO3, values, 0)
    return table


def cpu_rows(results: Results) -> list[list[str]]:
    """CPU ms per MB streamed, by process, next to the wall time per MB."""
    table = []
    for client in CLIENTS:
        runs = results.bulk[client]

        def per_mb(seconds: Callable[[Run], float], runs: list[Run] = runs) -> str:
            return f"{median([seconds(run) / (run.size / MB) * 1000 for run in runs]):.2f}"

        table.append([
            f"{client} ({results.plan.stream_mb} MB)",
            per_mb(lambda run: run.cpu["emulator"]),
            per_mb(lambda run: run.cpu["runtime"]),
            per_mb(lambda run: run.cpu["client"]),
            per_mb(lambda run: run.end),
            f"{median([run.cpu['emulator'] / run.end * 100 for run in runs]):.0f}%",
            f"{median([run.mb_per_s() for run in runs]):.0f}",
        ])  # fmt: skip
    return table


def summary(results: Results) -> str:
    plan = results.plan
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return (
        f"Mode {plan.name}, {when}; {rt.machine()}; not pinned; load average "
        f"{results.load:.2f} at the start. {plan.ttfb_runs} TTFB and "
        f"{plan.throughput_runs} throughput runs per client, alternating, on warm environments "
        f"(after one cold invocation each); {plan.stream_mb} MB = {plan.stream_mb * MB:,} bytes "
        f"in {CHUNK // 1024} KiB chunks; {plan.buffered_runs} buffered invocations. Medians. "
        "boto3: invoke_with_response_stream; Function URL: http.client, read1()."
    )


def notes(results: Results) -> str:
    cold = results.cold_timed
    warm = (
        "Every timed invocation ran on a warm environment (no Init Duration in its REPORT line)."
        if not cold
        else f"{len(cold)} timed invocation(s) found no idle environment and were cold starts."
    )
    b2b = "; ".join(
        f"{kind}, {b.invocations} invocations: {b.cold} cold start(s), {b.environments} "
        f"environment(s), {b.switches} ran on another environment than the one before"
        for kind, b in results.back_to_back.items()
    )
    return (
        f"{warm} Back-to-back (each invocation sent as soon as the previous answer ended, "
        f"default concurrency): {b2b}."
    )


def report(results: Results, markdown: bool) -> str:
    parts = [
        textwrap.fill(summary(results), 100),
        rt.table(HEADER, rows(results), markdown),
        textwrap.fill(
            "CPU time per MB streamed (ms), by process, next to the wall time per MB; emulator "
            "busy = its CPU time ÷ wall time (near 100%: the emulator is the bottleneck):",
            100,
        ),
        rt.table(CPU_HEADER, cpu_rows(results), markdown),
        textwrap.fill(notes(results), 100),
    ]
    return "\n\n".join(parts) + "\n"


# --- main -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 5 MB stream, 3 runs: for CI")
    parser.add_argument("--write", action="store_true", help=f"rewrite the results in {DOC}")
    return parser.parse_args(argv)


def watchdog(seconds: int) -> None:
    def expired(signum: int, frame: FrameType | None) -> None:
        raise rt.BenchError(f"the benchmark did not finish within {seconds} s")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


def run(plan: Plan) -> Results:
    with tempfile.TemporaryDirectory(prefix="lambdakit-streaming-") as directory:
        project = Path(directory)
        (project / "app.py").write_text(APP)
        (project / "template.yaml").write_text(template())
        server = Server(project)
        try:
            server.start()
            return Bench(server, plan).run()
        finally:
            signal.alarm(0)  # the clean-up below must not be interrupted
            server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    watchdog(plan.budget)
    try:
        results = run(plan)
        signal.alarm(0)
        print(report(results, markdown=False))
        if args.write:
            rt.write_section(report(results, markdown=True), START_MARK, END_MARK, HEADING)
            print(f"wrote the results to {DOC.relative_to(REPO)}")
    except rt.BenchError as exc:
        print(f"bench/streaming.py: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:  # a client error (botocore's, http.client's): the benchmark broke
        traceback.print_exc()
        return 1
    finally:
        signal.alarm(0)
    print(f"({time.monotonic() - started:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
