"""Benchmark: requests per second and p50/p99 latency through the local API Gateway.

What (issue 12): the same lambdakit-runtime function (``app.handler``, a small JSON proxy
response) behind the template's REST API, its HTTP API and its Function URL, in one
``lambdakit serve`` run; the APIs' rate against the URL's (target: >= 0.8x), and the figures
``sam local start-api`` users publish (no Docker engine runs here, so they are cited):

- aws/aws-sam-cli#362 (2018): "requests consistently take around 1 second to execute"
  https://github.com/aws/aws-sam-cli/issues/362
- aws/aws-sam-cli#2223 (2021, a maintainer's measurement of a warm hello world):
  ``curl http://127.0.0.1:3000/hello`` 1.339 s total https://github.com/aws/aws-sam-cli/issues/2223

How: ``python -m lambdakit serve PROJECT --port 0`` in a child process; one keep-alive
``http.client`` connection per target, sequential requests (what a developer's test suite
does), after a warm-up; the latency of each request from ``request()`` to the body read. The
targets take turns, ``ROUNDS`` rounds of an equal share each, so that load from elsewhere on
the machine falls on all of them alike and the ratios stay comparable within one run.
``--quick`` (CI) runs a few hundred requests only to prove the script works.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROUNDS = 10
REPO = Path(__file__).resolve().parent.parent
APP = """import json


def handler(event, context):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"ok": True})}
"""
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Bench:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: bench
      CodeUri: .
      Handler: app.handler
      Runtime: python{major}.{minor}
      FunctionUrlConfig: {{AuthType: NONE}}
      Events:
        Rest: {{Type: Api, Properties: {{Path: /hello, Method: get}}}}
        Http: {{Type: HttpApi, Properties: {{Path: /hello-http, Method: get}}}}
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few hundred requests (CI)")
    args = parser.parse_args()
    count, warmup = (300, 30) if args.quick else (5000, 300)
    with tempfile.TemporaryDirectory() as directory:
        project = Path(directory)
        (project / "app.py").write_text(APP)
        version = sys.version_info
        (project / "template.yaml").write_text(
            TEMPLATE.format(major=version.major, minor=version.minor)
        )
        server, log = start(project)
        try:
            output = wait_for(log, "  METHOD  PATH")
            api = re.search(r"REST API[^)]*\): http://([^/\s]+)", output)
            url = re.search(r"bench Function URL \([A-Z_]+\): http://([^/\s]+)/", output)
            if api is None or url is None:
                raise SystemExit(f"no API or URL address in the output:\n{output}")
            targets = {
                "Function URL": (url.group(1), "/hello"),
                "REST API": (api.group(1), "/hello"),
                "HTTP API": (api.group(1), "/hello-http"),
            }
            results = measure_all(targets, count, warmup)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    report(results)
    return 0


def start(project: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = project / "serve.log"
    command = [sys.executable, "-m", "lambdakit", "serve", str(project), "--port", "0"]
    environ = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=environ)
    return process, log


def wait_for(log: Path, text: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = log.read_text(errors="replace")
        if text in output:
            time.sleep(0.2)  # the rest of the start-up lines
            return log.read_text(errors="replace")
        time.sleep(0.05)
    raise SystemExit(f"lambdakit serve did not start:\n{log.read_text(errors='replace')}")


def measure_all(
    targets: dict[str, tuple[str, str]], count: int, warmup: int
) -> dict[str, tuple[float, float, float]]:
    """(requests per second, p50 ms, p99 ms) per target over COUNT sequential keep-alive
    requests, taken in ROUNDS turns."""
    connections = {name: _connect(address) for name, (address, _) in targets.items()}
    latencies: dict[str, list[float]] = {name: [] for name in targets}
    for name, (_, path) in targets.items():
        _requests(connections[name], path, warmup)
    for _ in range(ROUNDS):
        for name, (_, path) in targets.items():
            latencies[name] += _requests(connections[name], path, count // ROUNDS)
    for connection in connections.values():
        connection.close()
    return {name: _summary(values) for name, values in latencies.items()}


def _connect(address: str) -> http.client.HTTPConnection:
    host, _, port = address.rpartition(":")
    return http.client.HTTPConnection(host, int(port), timeout=60)


def _requests(connection: http.client.HTTPConnection, path: str, count: int) -> list[float]:
    latencies = []
    for _ in range(count):
        started = time.perf_counter()
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200 or b"ok" not in body:
            raise SystemExit(f"{connection.host}{path}: {response.status} {body[:200]!r}")
        latencies.append(time.perf_counter() - started)
    return latencies


def _summary(latencies: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return len(latencies) / sum(latencies), cuts[49] * 1000, cuts[98] * 1000


def report(results: dict[str, tuple[float, float, float]]) -> None:
    url_rate = results["Function URL"][0]
    print(f"{'target':<14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs URL':>7}")
    for name, (rate, p50, p99) in results.items():
        print(f"{name:<14} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {rate / url_rate:>6.2f}x")
    print("sam local start-api, as its users report it: ~1 s per request (aws-sam-cli#362);")
    print("1.339 s for a warm hello world (aws-sam-cli#2223).")
    for name in ("REST API", "HTTP API"):
        ratio = results[name][0] / url_rate
        verdict = "meets" if ratio >= 0.8 else "MISSES"
        print(f"{name}: {ratio:.2f}x the Function URL's rate, {verdict} the 0.8x target")


if __name__ == "__main__":
    raise SystemExit(main())
