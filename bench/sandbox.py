"""Benchmark: the cold start of an execution environment in the sandbox against a plain process.

Two ``lambdakit serve`` processes on one template, in the same run: one with the sandbox
(bubblewrap: /var/task, /opt, a private /tmp and process namespace), one with
``LAMBDAKIT_SANDBOX=0`` (plain processes). The template has one python3.12 function per
round, so that every invocation is the first of its function, a cold start: the client's
time from the request to the answer (spawn, interpreter start, init, the invoke). Within a
round the two servers alternate which goes first (ABBA), so drift of a noisy machine hits
both alike; the difference is taken per round, and its median reported. REPORT's Init
Duration (the emulator's own measure of the same start) is reported beside it.

Target (issue 10): the sandbox adds at most 10 ms to a cold start.

Usage: ``python bench/sandbox.py [--quick] [--write]``. The exit status is 0 even when the
target is missed (this is a benchmark, not a test); 1 means the benchmark itself failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import runtime as rt  # bench/runtime.py: tables, medians, the docs section, main()

HEADING = "## Sandbox cold start (bench/sandbox.py)"
START_MARK = "<!-- bench/sandbox.py --write: start -->"
END_MARK = "<!-- bench/sandbox.py --write: end -->"
TARGET_MS = 10.0
HANDLER = "def handler(event, context):\n    return {'ok': True}\n"


@dataclass
class Results:
    rounds: int
    mechanism: str = ""
    cold: dict[str, list[float]] = field(default_factory=lambda: {"sandbox": [], "plain": []})
    init: dict[str, list[float]] = field(default_factory=lambda: {"sandbox": [], "plain": []})
    load: tuple[float, float] = (0.0, 0.0)

    def differences(self) -> list[float]:
        return [s - p for s, p in zip(self.cold["sandbox"], self.cold["plain"], strict=True)]


class Server:
    """``lambdakit serve`` on a free port, its output kept."""

    def __init__(self, project: Path, sandboxed: bool) -> None:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
        env["LAMBDAKIT_SANDBOX"] = "1" if sandboxed else "0"
        argv = [sys.executable, "-m", "lambdakit", "serve", str(project), "--port", "0"]
        self.process = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, into in ((self.process.stdout, self.out), (self.process.stderr, self.err)):
            threading.Thread(target=self._read, args=(stream, into), daemon=True).start()
        self.port = self._wait_for_port()

    def _read(self, stream: object, into: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            into.append(line)

    def _wait_for_port(self) -> int:
        deadline = time.monotonic() + 120  # the first start prepares the SDK
        while time.monotonic() < deadline:
            for line in list(self.out):
                if found := re.search(r"Invoke API at http://127\.0\.0\.1:(\d+)", line):
                    return int(found.group(1))
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise rt.BenchError(f"lambdakit serve did not start: {''.join(self.err)[-2000:]}")

    def invoke(self, name: str) -> float:
        """Milliseconds from the request to the whole answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        started = time.perf_counter()
        connection.request("POST", f"/2015-03-31/functions/{name}/invocations", body=b"{}")
        response = connection.getresponse()
        body = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        connection.close()
        if response.status != 200 or json.loads(body) != {"ok": True}:
            raise rt.BenchError(f"{name}: {response.status} {body[:300]!r}")
        return elapsed

    def init_ms(self, name: str) -> float:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for line in list(self.out):
                if line.startswith(f"[{name}] REPORT") and "Init Duration" in line:
                    return float(re.search(r"Init Duration: ([\d.]+) ms", line).group(1))  # type: ignore[union-attr]
            time.sleep(0.01)
        raise rt.BenchError(f"{name}: no REPORT with an Init Duration")

    def stop(self) -> None:
        """As Ctrl-C would: the emulator ends its environments."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def write_project(root: Path, functions: int) -> None:
    (root / "code").mkdir()
    (root / "code" / "app.py").write_text(HANDLER)
    resources = "".join(
        f"  Fn{i}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: code\n      Handler: app.handler\n      Runtime: python3.12\n"
        for i in range(functions)
    )
    (root / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n" + resources
    )


def run(args: argparse.Namespace) -> Results:
    from lambdakit.emulator import sandbox

    box = sandbox.choose()
    results = Results(rounds=3 if args.quick else 30, mechanism=box.name)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="lambdakit-bench-sandbox-") as directory:
        root = Path(directory)
        write_project(root, results.rounds + 1)
        servers = {"sandbox": Server(root, True), "plain": Server(root, False)}
        try:
            for server in servers.values():  # the interpreter's files in the page cache
                server.invoke(f"Fn{results.rounds}")
            for index in range(results.rounds):
                order = ["sandbox", "plain"] if index % 2 == 0 else ["plain", "sandbox"]
                for label in order:
                    results.cold[label].append(servers[label].invoke(f"Fn{index}"))
                    results.init[label].append(servers[label].init_ms(f"Fn{index}"))
        finally:
            for server in servers.values():
                server.stop()
    results.load = (load, os.getloadavg()[0])
    return results


def report(results: Results, markdown: bool) -> str:
    added = rt.median(results.differences())
    verdict = "PASS" if added <= TARGET_MS else "MISS"
    summary = (
        f"{results.rounds} cold starts each of a python3.12 function, in the sandbox "
        f"({results.mechanism}) and as a plain process, alternating (ABBA); load average "
        f"{results.load[0]:.1f} before, {results.load[1]:.1f} after."
    )
    rows = [
        ["the sandbox adds to a cold invocation (median of differences)",
         f"{added:+.1f} ms", f"<= {TARGET_MS:g} ms", verdict],
    ]  # fmt: skip
    detail = [
        [
            label,
            f"{rt.median(results.cold[label]):.1f} ms",
            f"{rt.median(results.init[label]):.1f} ms",
        ]
        for label in ("plain", "sandbox")
    ]
    parts = [
        textwrap.fill(summary, 100),
        rt.table(["target", "measured", "bound", "result"], rows, markdown),
        rt.table(["cold start", "invocation (median)", "Init Duration (median)"], detail, markdown),
    ]
    return "\n\n".join(parts) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="three rounds, for CI")
    parser.add_argument("--write", action="store_true", help=f"rewrite the results in {rt.DOC}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from lambdakit.emulator import sandbox

    box = sandbox.choose()
    if not box.active:  # nothing to compare: said, and not a failure of the benchmark
        print(f"bench/sandbox.py: skipped, no sandbox on this machine ({box.detail})")
        return 0
    section = (START_MARK, END_MARK, HEADING)
    return rt.bench_main("bench/sandbox.py", parse_args(argv), run, report, section, lambda: None)


if __name__ == "__main__":
    sys.exit(main())
