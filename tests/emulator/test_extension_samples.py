"""AWS's own sample extensions, unchanged, in a layer of a function served by `lambdakit serve`:
each receives what Lambda would send it over two invocations, a timeout (its environment's
Shutdown phase, reason timeout), a cold start and the server's stop (reason spindown).

- python-example-extension: an external extension (requests) that prints every event;
- python-example-telemetry-api-extension: a Telemetry API subscriber listening on
  ``sandbox.localdomain:4243`` that posts what it received to ``DISPATCH_POST_URI`` (here, a
  collector of this test);
- python-example-logs-api-extension: a Logs API subscriber listening on ``sandbox:4243`` that
  prints each batch (``BATCH RECEIVED: [...]``) once ``next`` returns.

The samples are fetched, not vendored: LAMBDAKIT_EXTENSION_SAMPLES names a checkout or a bare
git directory of https://github.com/aws-samples/aws-lambda-extensions (extracted here with
``git archive``). Each layer is laid out as the samples' READMEs package it (``extensions/`` for
/opt/extensions, the code and its pip-installed requirements for /opt/<name>). The samples
start /opt/<name>/extension.py by that path: they need the bubblewrap sandbox.
"""

from __future__ import annotations

import ast
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.conftest import Server, client_for

VARIABLE = "LAMBDAKIT_EXTENSION_SAMPLES"
EXAMPLE = "python-example-extension"
TELEMETRY = "python-example-telemetry-api-extension"
LOGS = "python-example-logs-api-extension"
LISTENER_PORT = 4243  # where the Telemetry and Logs samples listen (fixed in their code)
TIMEOUT = 2  # the function's Timeout, in seconds

pytestmark = pytest.mark.slow  # pip installs the samples' requirements; ~10 s of Lambda phases

APP = """
import time

def handler(event, context):
    print("handler", context.aws_request_id, flush=True)
    time.sleep(event.get("sleep", 0))
    return {"id": context.aws_request_id}
"""


# --- the samples and their layers ------------------------------------------------------------


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the three samples (a checkout, or what ``git archive`` extracts)."""
    from lambdakit.emulator import sandbox

    named = os.environ.get(VARIABLE)
    if not named:
        pytest.skip(f"{VARIABLE} is unset: point it at a checkout (or a bare git directory) of "
                    "aws-samples/aws-lambda-extensions to run AWS's sample extensions")  # fmt: skip
    if not sandbox.choose().active:
        pytest.skip(f"the samples start /opt/<name>/extension.py: no sandbox here "
                    f"({sandbox.choose().detail})")  # fmt: skip
    source = Path(named)
    if (source / EXAMPLE).is_dir():
        return source
    if not (source / "HEAD").is_file() and not (source / ".git").exists():
        pytest.fail(f"{VARIABLE}={named} is neither a checkout nor a git directory")
    archive = subprocess.run(
        ["git", f"--git-dir={source / '.git' if (source / '.git').exists() else source}",
         "archive", "--format=tar", "HEAD", EXAMPLE, TELEMETRY, LOGS],
        capture_output=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    into = tmp_path_factory.mktemp("aws-lambda-extensions")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="tar")  # keeps the executables' modes
    return into


def pip_install(requirements: Path, target: Path) -> None:
    """REQUIREMENTS into TARGET, as the READMEs say (``pip3 install -r ... -t``), for the
    ``python3`` the extensions will run on (the first on Lambda's PATH, here this machine's)."""
    python3 = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin") or sys.executable
    version = subprocess.run(
        [python3, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(target), "--python-version", version, "--only-binary=:all:",
         "-r", str(requirements)],
        check=True, timeout=300,
    )  # fmt: skip


def layer(samples: Path, sample: str, into: Path, code: str | None) -> Path:
    """The layer of SAMPLE: its ``extensions/`` and, for CODE, its directory of code with its
    requirements installed in it (the READMEs' "Layer Setup Process")."""
    root = into / "layer"
    shutil.copytree(samples / sample / "extensions", root / "extensions")
    if code is not None:
        shutil.copytree(samples / sample / code, root / code)
        (root / code / "extension.py").chmod(0o755)  # the README's chmod +x
        requirements = root / code / "requirements.txt"
        if requirements.is_file():
            pip_install(requirements, root / code)
    for entry in (root / "extensions").iterdir():
        if entry.is_file():
            entry.chmod(0o755)
    return root


def project(tmp_path: Path, variables: dict[str, str] | None = None) -> Path:
    """A python3.x function (this interpreter's version) with the layer at tmp_path/layer."""
    (tmp_path / "fn").mkdir()
    (tmp_path / "fn" / "app.py").write_text(APP)
    environment = ""
    if variables:
        lines = "".join(f"          {name}: '{value}'\n" for name, value in variables.items())
        environment = f"      Environment:\n        Variables:\n{lines}"
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n"
        "  Layer:\n    Type: AWS::Serverless::LayerVersion\n    Properties:\n"
        "      ContentUri: layer\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      CodeUri: fn\n      Handler: app.handler\n"
        f"      Runtime: python3.{sys.version_info.minor}\n      Timeout: {TIMEOUT}\n"
        f"      Layers: [!Ref Layer]\n{environment}"
    )
    return tmp_path


# --- the scenario ------------------------------------------------------------------------------


class Run:
    """What the scenario did: its request ids (the third timed out), when each was invoked
    (epoch ms, before and after), and the server's output."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.invoked: list[tuple[int, int]] = []
        self.output = ""


def port_free(port: int) -> bool:
    """Whether no process listens on PORT (as the samples' HTTPServer binds: connections it
    closed may linger in TIME_WAIT)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(condition: Any, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def scenario(directory: Path, *, listener: bool = False) -> Run:
    """Two invocations, one that times out (its environment ends: SHUTDOWN, reason timeout),
    one more (a cold start), then the server's stop (SHUTDOWN, reason spindown). LISTENER: the
    sample listens on port 4243, which the next environment can take only once the ended one
    let it go (the network is this machine's, not one per environment as on Lambda)."""
    if listener:
        wait_until(lambda: port_free(LISTENER_PORT), f"port {LISTENER_PORT} to be free")
    run = Run()
    server = Server(directory)
    try:
        client = client_for(server.url)
        for n, event in enumerate([{}, {}, {"sleep": 5}, {}]):
            if n == 3 and listener:
                wait_until(lambda: port_free(LISTENER_PORT), "the first environment's end")
            before = int(time.time() * 1000)
            answer = client.invoke(FunctionName="Fn", Payload=json.dumps(event))
            run.invoked.append((before, int(time.time() * 1000)))
            body = json.loads(answer["Payload"].read())
            if n == 2:
                assert answer.get("FunctionError") == "Unhandled", body
                assert body["errorType"] == "Sandbox.Timedout", body
                run.ids.append(body["errorMessage"].split()[1])  # RequestId: <id> Error: ...
            else:
                assert "FunctionError" not in answer, (body, server.output())
                run.ids.append(body["id"])
            server.wait_for_output(f"REPORT RequestId: {run.ids[-1]}")
    finally:
        server.stop()
    run.output = server.output() + "".join(server.errors)
    return run


# --- python-example-extension --------------------------------------------------------------


def test_the_python_example_extension_sees_each_event(samples: Path, tmp_path: Path) -> None:
    layer(samples, EXAMPLE, tmp_path, EXAMPLE)
    run = scenario(project(tmp_path))
    log = run.output
    prefix = f"[{EXAMPLE}] "
    assert log.count(f"{prefix}Registered with ID: ") == 2, log  # one per environment
    events = [json.loads(line.split("Received event: ", 1)[1])
              for line in log.splitlines() if f"{prefix}Received event: " in line]  # fmt: skip
    assert [event["requestId"] for event in events] == run.ids, log
    for event, (before, after) in zip(events, run.invoked, strict=True):
        assert event["eventType"] == "INVOKE"
        assert event["invokedFunctionArn"].endswith(":function:Fn")
        assert event["tracing"]["type"] == "X-Amzn-Trace-Id"
        # The deadline is the invocation's start plus its timeout.
        assert before + TIMEOUT * 1000 <= event["deadlineMs"] <= after + TIMEOUT * 1000
    for request_id in run.ids:  # each invocation ends once the extension is back in next
        received = log.index(f'"requestId": "{request_id}"')
        assert log.index(f"END RequestId: {request_id}") > received, log
    # One SHUTDOWN for the environment the timeout ended, one for the server's stop.
    shutdowns = [i for i, line in enumerate(log.splitlines())
                 if f"{prefix}Received SHUTDOWN event. Exiting." in line]  # fmt: skip
    assert len(shutdowns) == 2, log
    timed_out = next(i for i, line in enumerate(log.splitlines()) if "Task timed out" in line)
    assert timed_out < shutdowns[0], log
    assert "Traceback" not in log, log


# --- python-example-telemetry-api-extension -------------------------------------------------


@pytest.fixture
def collector() -> Iterator[tuple[list[Any], int]]:
    """What the Telemetry API sample dispatches (``DISPATCH_POST_URI``): its batches."""
    batches: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            batches.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield batches, server.server_port
    server.shutdown()
    server.server_close()


def records(batches: list[Any], kind: str) -> list[Any]:
    return [item["record"] for batch in batches for item in batch if item["type"] == kind]


def test_the_telemetry_api_sample_receives_the_telemetry(
    samples: Path, tmp_path: Path, collector: tuple[list[Any], int]
) -> None:
    batches, port = collector
    code = "python_example_telemetry_api_extension"
    layer(samples, TELEMETRY, tmp_path, code)
    variables = {"DISPATCH_POST_URI": f"http://127.0.0.1:{port}/", "DISPATCH_MIN_BATCH_SIZE": "1"}
    run = scenario(project(tmp_path, variables), listener=True)
    log = run.output
    assert "successfully subscribed to telemetry api" in log, log
    wait_until(lambda: len(records(batches, "platform.report")) == 4, "the four reports")
    # schemaVersion 2022-07-01, types platform, function and extension; two environments.
    subscribed = records(batches, "platform.telemetrySubscription")
    assert subscribed == [{"name": code, "state": "Subscribed",
                           "types": ["extension", "function", "platform"]}] * 2  # fmt: skip
    assert (
        records(batches, "platform.extension")
        == [{"name": code, "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}] * 2
    )
    assert [r["phase"] for r in records(batches, "platform.initStart")] == ["init", "init"]
    assert [r["requestId"] for r in records(batches, "platform.start")] == run.ids
    done = records(batches, "platform.runtimeDone")
    assert [(r["requestId"], r["status"]) for r in done] == [
        (run.ids[0], "success"), (run.ids[1], "success"),
        (run.ids[2], "timeout"), (run.ids[3], "success"),
    ]  # fmt: skip
    reports = records(batches, "platform.report")
    assert [r["requestId"] for r in reports] == run.ids
    assert all("status" not in r for r in reports)  # not in the 2022-07-01 schema
    assert [line for line in records(batches, "function") if line.startswith("handler")] == [
        f"handler {request_id}" for request_id in run.ids
    ]
    # The extension's own lines come back to it as extension records, not function ones.
    extension_lines = records(batches, "extension")
    assert "Extension Main: Handle Invoke Event" in extension_lines, extension_lines
    assert not any("Extension Main" in line for line in records(batches, "function"))
    assert log.count("Extension Main: Handle Shutdown Event") == 2, log


# --- python-example-logs-api-extension ------------------------------------------------------


def test_the_logs_api_sample_receives_the_logs(samples: Path, tmp_path: Path) -> None:
    layer(samples, LOGS, tmp_path, None)
    run = scenario(project(tmp_path), listener=True)
    log = run.output
    batches = [ast.literal_eval(line.split("BATCH RECEIVED: ", 1)[1])
               for line in log.splitlines() if "BATCH RECEIVED: " in line]  # fmt: skip
    name = "logs_api_http_extension.py"
    assert (
        records(batches, "platform.logsSubscription")
        == [{"name": name, "state": "Subscribed", "types": ["function", "platform"]}] * 2
    ), log
    assert (
        records(batches, "platform.extension")
        == [{"name": name, "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}] * 2
    )
    assert records(batches, "platform.start") == [
        {"requestId": request_id, "version": "$LATEST"} for request_id in run.ids
    ]
    assert records(batches, "platform.end") == [{"requestId": id_} for id_ in run.ids]
    reports = records(batches, "platform.report")
    assert [r["requestId"] for r in reports] == run.ids, log
    assert set(reports[0]["metrics"]) == {
        "durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"
    }  # fmt: skip
    assert not records(batches, "platform.runtimeDone")  # only with schema 2021-03-18
    assert [line for line in records(batches, "function") if line.startswith("handler")] == [
        f"handler {request_id}\n" for request_id in run.ids
    ]
    # The timed-out invocation's report reached it in its environment's Shutdown phase.
    assert any(
        item["type"] == "platform.report" and item["record"]["requestId"] == run.ids[2]
        for batch in batches for item in batch
    )  # fmt: skip
    for request_id in run.ids:
        uuid.UUID(request_id)
