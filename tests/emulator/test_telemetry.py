"""The Telemetry API and the Logs API: an external extension written in Python (stdlib only, as
AWS's samples) in a layer's ``extensions/`` registers, listens on a port of its own, subscribes
and loops on ``event/next``; what its listener receives it passes on to a collector of this
test. It sees the invocations' platform records with their request ids and the function's
lines, in the schema it asked for; a bad subscription gets Lambda's error; a buffer is
delivered once it holds ``maxItems`` records."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lambdakit.emulator import Emulator, EmulatorConfig
from lambdakit.emulator.reports import LogPrinter
from lambdakit.emulator.telemetry import (
    Api,
    Buffering,
    Destination,
    InvalidSubscription,
    parse_subscription,
)
from lambdakit.template import FunctionSpec, function_from_directory

EXTENSION = """#!{python}
import json, os, sys, threading, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

RUNTIME = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"]
COLLECTOR = "http://127.0.0.1:{collector}/"

def collect(document):
    urllib.request.urlopen(urllib.request.Request(
        COLLECTOR, data=json.dumps(document).encode(), method="POST"))

class Listener(BaseHTTPRequestHandler):
    def do_POST(self):
        batch = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        collect({{"batch": batch, "path": self.path}})
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass

request = urllib.request.Request(
    RUNTIME + "/2020-01-01/extension/register", method="POST",
    data=json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}).encode(),
    headers={{"Lambda-Extension-Name": os.path.basename(__file__)}},
)
with urllib.request.urlopen(request) as response:
    identifier = response.headers["Lambda-Extension-Identifier"]
server = HTTPServer(("127.0.0.1", 0), Listener)
threading.Thread(target=server.serve_forever, daemon=True).start()
subscription = {subscription}
subscription["destination"]["URI"] = subscription["destination"]["URI"].replace(
    "PORT", str(server.server_port))
request = urllib.request.Request(
    RUNTIME + "{path}", method="PUT", data=json.dumps(subscription).encode(),
    headers={{"Lambda-Extension-Identifier": identifier, "Content-Type": "application/json"}},
)
try:
    with urllib.request.urlopen(request) as response:
        collect({{"subscribed": response.status, "body": json.loads(response.read())}})
except urllib.error.HTTPError as error:
    collect({{"subscribed": error.code, "body": json.loads(error.read())}})
print("EXT subscribed", flush=True)
while True:
    request = urllib.request.Request(
        RUNTIME + "/2020-01-01/extension/event/next",
        headers={{"Lambda-Extension-Identifier": identifier}},
    )
    with urllib.request.urlopen(request) as response:
        event = json.loads(response.read())
    if event["eventType"] == "SHUTDOWN":
        sys.exit(0)
    print("EXT saw", event["requestId"], file=sys.stderr, flush=True)
"""

APP = """
import os

def handler(event, context):
    for number in range(event.get("lines", 1)):
        print("hello", number, "from", context.aws_request_id, flush=True)
    if event.get("exit"):
        os._exit(event["exit"])
    return {"id": context.aws_request_id}
"""


@dataclasses.dataclass
class Collector:
    """What the extension passed on: its subscription's answer, and each batch it received."""

    documents: list[dict[str, object]]
    port: int

    @property
    def answers(self) -> list[dict[str, object]]:
        return [doc for doc in self.documents if "subscribed" in doc]

    @property
    def batches(self) -> list[list[dict[str, object]]]:
        return [doc["batch"] for doc in self.documents if "batch" in doc]  # type: ignore[misc]

    @property
    def records(self) -> list[dict[str, object]]:
        return [record for batch in self.batches for record in batch]


@pytest.fixture
def collector() -> Iterator[Collector]:
    documents: list[dict[str, object]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            documents.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Collector(documents, server.server_port)
    server.shutdown()
    server.server_close()


def function(
    tmp_path: Path, collector: Collector, subscription: dict[str, object], path: str
) -> FunctionSpec:
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(APP)
    spec = function_from_directory(code, timeout=30)
    layer = tmp_path / "layer"
    (layer / "extensions").mkdir(parents=True)
    script = layer / "extensions" / "recorder"
    script.write_text(
        EXTENSION.format(
            # The base interpreter (stdlib only): a venv's may lie under /tmp (sandboxed).
            python=os.path.realpath(sys.executable), collector=collector.port, path=path,
            subscription=repr(subscription),
        )
    )  # fmt: skip
    script.chmod(0o755)
    return dataclasses.replace(spec, layers=(layer,))


def run(spec: FunctionSpec, tmp_path: Path, events: list[bytes]) -> tuple[list[str], str]:
    """EVENTS invoked one after the other, then the emulator's close (the Shutdown phase, in
    which the last records are delivered); the request ids and the log."""
    log = io.StringIO()
    config = EmulatorConfig(port=0, state_dir=tmp_path / "state")
    emulator = Emulator([spec], config, printer=LogPrinter(log, color=False))

    async def scenario() -> list[str]:
        ids = []
        try:
            for event in events:
                _, invocation = await asyncio.wait_for(emulator.invoke(spec.name, event), 60)
                ids.append(invocation.request_id)
        finally:
            await asyncio.wait_for(emulator.close(), 30)
        return ids

    ids = asyncio.run(scenario())
    return ids, log.getvalue()


def subscription(
    *, schema: str, types: list[str], buffering: dict[str, int] | None = None
) -> dict[str, object]:
    return {
        "schemaVersion": schema,
        "types": types,
        "buffering": buffering or {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 25},
        "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:PORT/telemetry"},
    }


def of_type(records: list[dict[str, object]], kind: str) -> list[dict[str, object]]:
    return [record["record"] for record in records if record["type"] == kind]  # type: ignore[misc]


def test_a_telemetry_subscriber_receives_the_invocations(
    tmp_path: Path, collector: Collector
) -> None:
    wanted = subscription(schema="2022-12-13", types=["platform", "function"])
    spec = function(tmp_path, collector, wanted, "/2022-07-01/telemetry")
    ids, log = run(spec, tmp_path, [b"{}", b"{}"])
    assert collector.answers == [{"subscribed": 200, "body": "OK"}], log
    records = collector.records
    assert {doc["path"] for doc in collector.documents if "path" in doc} == {"/telemetry"}
    assert of_type(records, "platform.telemetrySubscription") == [
        {"name": "recorder", "state": "Subscribed", "types": ["function", "platform"]}
    ]
    (init,) = of_type(records, "platform.initStart")
    assert init["initializationType"] == "on-demand" and init["phase"] == "init"
    assert of_type(records, "platform.extension") == [
        {"name": "recorder", "state": "Ready", "events": ["INVOKE", "SHUTDOWN"]}
    ]
    assert of_type(records, "platform.initReport")[0]["status"] == "success"
    assert [r["requestId"] for r in of_type(records, "platform.start")] == ids
    done = of_type(records, "platform.runtimeDone")
    assert [r["requestId"] for r in done] == ids, records
    for record in done:
        assert record["status"] == "success"
        body = json.dumps({"id": record["requestId"]}, separators=(",", ":"))
        assert record["metrics"]["producedBytes"] == len(body)  # type: ignore[index]
        spans = [span["name"] for span in record["spans"]]  # type: ignore[attr-defined]
        assert spans == ["responseLatency", "responseDuration"]
    reports = of_type(records, "platform.report")
    assert [r["requestId"] for r in reports] == ids
    assert set(reports[0]["metrics"]) == {  # type: ignore[arg-type]
        "durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"
    }  # fmt: skip
    assert "initDurationMs" not in reports[1]["metrics"]  # type: ignore[operator]
    assert reports[0]["status"] == "success"
    lines = of_type(records, "function")
    assert [f"hello 0 from {request_id}" for request_id in ids] == lines
    assert not of_type(records, "platform.end")  # the Logs API's own


def test_a_logs_api_subscriber_receives_its_schema(tmp_path: Path, collector: Collector) -> None:
    wanted = subscription(schema="2021-03-18", types=["platform", "function"])
    spec = function(tmp_path, collector, wanted, "/2020-08-15/logs")
    (request_id,), log = run(spec, tmp_path, [b"{}"])
    assert collector.answers == [{"subscribed": 200, "body": "OK"}], log
    records = collector.records
    kinds = [record["type"] for record in records]
    assert "platform.initStart" not in kinds and "platform.telemetrySubscription" not in kinds
    assert of_type(records, "platform.logsSubscription")[0]["name"] == "recorder"
    assert of_type(records, "platform.start") == [{"requestId": request_id, "version": "$LATEST"}]
    assert of_type(records, "platform.runtimeDone") == [
        {"requestId": request_id, "status": "success"}
    ]
    assert of_type(records, "platform.end") == [{"requestId": request_id}]
    (report,) = of_type(records, "platform.report")
    assert report["requestId"] == request_id and report["metrics"]["memorySizeMB"] == 128  # type: ignore[index]
    assert of_type(records, "function") == [f"hello 0 from {request_id}\n"]
    order = [kinds.index(kind) for kind in ("platform.start", "function", "platform.runtimeDone",
                                            "platform.end", "platform.report")]  # fmt: skip
    assert order == sorted(order), kinds


def test_a_bad_subscription_gets_lambdas_error(tmp_path: Path, collector: Collector) -> None:
    wanted = subscription(schema="2022-12-13", types=["platform"], buffering={"maxItems": 10})
    wanted["destination"] = {"protocol": "HTTP", "URI": "http://example.com/PORT"}
    spec = function(tmp_path, collector, wanted, "/2022-07-01/telemetry")
    run(spec, tmp_path, [b"{}"])
    (answer,) = collector.answers
    assert answer["subscribed"] == 400
    body = answer["body"]
    assert body["errorType"] == "ValidationError"  # type: ignore[index]
    assert "buffering.maxItems must be an integer from 1000 to 10000" in body["errorMessage"]  # type: ignore[index]
    assert "host must be sandbox.localdomain" in body["errorMessage"]  # type: ignore[index]
    assert collector.batches == []  # no subscription, nothing delivered


def test_a_buffer_is_delivered_at_max_items(tmp_path: Path, collector: Collector) -> None:
    """With a timeout far away (30 s), only maxItems makes a batch during the invocation; the
    rest goes before the extension's SHUTDOWN, and nothing is lost."""
    buffering = {"maxItems": 1000, "maxBytes": 1048576, "timeoutMs": 30000}
    wanted = subscription(schema="2022-12-13", types=["function"], buffering=buffering)
    spec = function(tmp_path, collector, wanted, "/2022-07-01/telemetry")
    (request_id,), log = run(spec, tmp_path, [b'{"lines": 2500}'])
    batches = collector.batches
    assert len(batches[0]) == 1000, [len(batch) for batch in batches]
    lines = of_type(collector.records, "function")
    assert lines == [f"hello {n} from {request_id}" for n in range(2500)], log


@pytest.mark.parametrize(
    ("api", "document", "problem"),
    [
        (Api.TELEMETRY, {"types": ["platform"]}, "schemaVersion None is not supported"),
        (Api.TELEMETRY, {"schemaVersion": "2022-12-13", "types": []}, "types should not be empty"),
        (
            Api.LOGS,
            {
                "types": ["platform"],
                "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain/x"},
            },
            "URI port is not provided",
        ),
        (
            Api.TELEMETRY,
            {
                "schemaVersion": "2022-07-01",
                "types": ["platform"],
                "destination": {"protocol": "HTTP", "URI": "http://sandbox:9001"},
            },
            "reserved",
        ),
        (
            Api.TELEMETRY,
            {
                "schemaVersion": "2025-01-29",
                "types": ["platform"],
                "buffering": {"timeoutMs": 10},
                "destination": {"protocol": "TCP", "port": 4243},
            },
            "buffering.timeoutMs must be an integer from 25 to 30000",
        ),
    ],
)
def test_invalid_subscriptions_name_their_problem(
    api: Api, document: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidSubscription, match=problem):
        parse_subscription(json.dumps(document).encode(), api)


def test_a_subscription_takes_aws_defaults() -> None:
    body = {"types": ["function"], "destination": {"protocol": "HTTP",
            "URI": "http://sandbox.localdomain:8080/lambda_logs"}}  # fmt: skip
    parsed = parse_subscription(json.dumps(body).encode(), Api.LOGS)
    assert parsed.schema_version == "2020-08-15"
    assert parsed.buffering == Buffering(max_items=10_000, max_bytes=262_144, timeout_ms=1_000)
    assert parsed.destination == Destination("HTTP", 8080, "/lambda_logs")


def test_extension_lines_are_extension_records(tmp_path: Path, collector: Collector) -> None:
    """What an external extension writes (stdout and stderr) reaches the subscribers that
    asked for ``extension`` as such, apart from the function's lines; and the log, as on
    Lambda, where it goes to CloudWatch with the function's."""
    wanted = subscription(schema="2022-12-13", types=["function", "extension"])
    spec = function(tmp_path, collector, wanted, "/2022-07-01/telemetry")
    ids, log = run(spec, tmp_path, [b"{}", b"{}"])
    assert of_type(collector.records, "extension") == [
        "EXT subscribed",
        *(f"EXT saw {request_id}" for request_id in ids),
    ], log
    assert of_type(collector.records, "function") == [f"hello 0 from {i}" for i in ids]
    assert "EXT subscribed" in log and f"EXT saw {ids[1]}" in log
    assert not of_type(collector.records, "platform.start")  # not asked for


def test_a_platform_subscriber_gets_no_extension_lines(
    tmp_path: Path, collector: Collector
) -> None:
    wanted = subscription(schema="2022-12-13", types=["platform", "function"])
    spec = function(tmp_path, collector, wanted, "/2022-07-01/telemetry")
    run(spec, tmp_path, [b"{}"])
    assert not of_type(collector.records, "extension")
    assert not [line for line in of_type(collector.records, "function") if "EXT" in line]


def test_a_runtime_crash_is_a_platform_fault_for_the_logs_api(
    tmp_path: Path, collector: Collector
) -> None:
    """runtimes-logs-api.html: ``platform.fault``, a string record; the Telemetry API has no
    such record."""
    wanted = subscription(schema="2021-03-18", types=["platform"])
    spec = function(tmp_path, collector, wanted, "/2020-08-15/logs")
    (request_id,), log = run(spec, tmp_path, [b'{"exit": 3}'])
    assert of_type(collector.records, "platform.fault") == [
        f"RequestId: {request_id} Process exited before completing request"
    ], log
    (done,) = of_type(collector.records, "platform.runtimeDone")
    assert done == {"requestId": request_id, "status": "failure"}


def _hub_parts() -> tuple[object, object, object]:
    from types import SimpleNamespace

    platform_log = SimpleNamespace(json=False, sink=None)
    output = SimpleNamespace(telemetry=None)
    extensions = SimpleNamespace(agents={}, before_shutdown=None)
    return platform_log, output, extensions


def test_an_init_without_subscribers_leaves_the_invocations_unrecorded() -> None:
    """Nobody can subscribe after the Init phase: with no subscriber by then, the environment
    stops making records for the hub (each invocation would otherwise pay for them)."""
    from lambdakit.emulator import telemetry_hub

    platform_log, output, extensions = _hub_parts()
    extension_output = dataclasses.make_dataclass("Out", [("telemetry", object)])(None)
    hub = telemetry_hub.attach(platform_log, output, extensions, extension_output)  # type: ignore[arg-type]
    assert platform_log.sink is not None and output.telemetry is not None  # type: ignore[attr-defined]
    assert hub.listening
    hub.platform("platform.initReport", {"initializationType": "on-demand", "phase": "init"})
    assert not hub.listening
    assert platform_log.sink is None and output.telemetry is None  # type: ignore[attr-defined]
    assert extension_output.telemetry is None


def test_an_init_with_a_subscriber_keeps_recording() -> None:
    from lambdakit.emulator import telemetry_hub

    async def scenario() -> None:
        platform_log, output, extensions = _hub_parts()
        hub = telemetry_hub.attach(platform_log, output, extensions)  # type: ignore[arg-type]
        wanted = subscription(schema="2022-12-13", types=["platform"])
        wanted["destination"] = {"protocol": "HTTP", "URI": "http://sandbox.localdomain:4243/"}
        hub.subscribe(
            "agent-1", "recorder", parse_subscription(json.dumps(wanted).encode(), Api.TELEMETRY)
        )
        hub.platform("platform.initReport", {"initializationType": "on-demand", "phase": "init"})
        assert hub.listening and platform_log.sink == hub.platform  # type: ignore[attr-defined]
        hub.close()

    asyncio.run(scenario())
