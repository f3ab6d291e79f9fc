"""The browser console's HTTP API on a real `lambdakit serve` (webconsole/): the overview, the
invocations and their logs, the live stream, test events in the shareable format, the async
view and replay; and `--no-console`. Clients are boto3 (invoking) and urllib (the console)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.conftest import Server, client_for
from tests.helpers import FUNCTIONS

PROJECT = Path(__file__).parent.parent / "functions" / "console"
B = "/_lambdakit/console"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("console") / "project"
    shutil.copytree(PROJECT, copy)
    return copy


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    srv = Server(project, "--event-retry-delays", "0.05,0.05")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def lambda_client(server: Server) -> Any:
    return client_for(server.url)


def request(
    server: Server, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a console request; errors are answers too."""
    req = urllib.request.Request(server.url + B + path, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


def get(server: Server, path: str) -> Any:
    status, _, body = request(server, "GET", path)
    assert status == 200, body
    return json.loads(body)


def invoke(client: Any, name: str, event: object, **kwargs: Any) -> str:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event), **kwargs)
    response["Payload"].read()
    return str(response["ResponseMetadata"]["RequestId"])


def eventually(check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        else:
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError("never became true")
        time.sleep(0.05)


def test_start_up_prints_the_console_url(server: Server) -> None:
    port = server.url.rsplit(":", 1)[1]
    server.wait_for_output(f"Console: http://127.0.0.1:{port}{B}/")


def test_overview_shows_functions_with_secrets_masked(server: Server, lambda_client: Any) -> None:
    invoke(lambda_client, "talk", {"n": 0})
    document = get(server, "/api/overview")
    emulator = document["emulator"]
    assert emulator["invoke_port"] == int(server.url.rsplit(":", 1)[1])
    assert emulator["memory_limits"].startswith("memory limits: ")
    functions = {f["name"]: f for f in document["functions"]}
    assert set(functions) == {"talk", "fails", "sleepy"}
    talk = functions["talk"]
    assert (talk["logical_id"], talk["handler"]) == ("Talk", "app.talk")
    assert talk["runtime"] == "python3.12"
    assert (talk["memory_mb"], talk["timeout_s"], talk["package_type"]) == (256, 10.0, "Zip")
    variables = talk["environment"]
    assert (variables["PLAIN"], variables["API_TOKEN"]) == ("visible", "••••••")
    assert variables["SOMETHING"] == "••••••"  # it looks like an AWS secret access key
    assert talk["async"]["maximum_retry_attempts"] == 2
    (environment,) = talk["environments"]
    assert environment["state"] in ("idle", "frozen")
    assert environment["invocations"] >= 1
    assert isinstance(environment["pid"], int)


def test_invocation_list_and_detail_with_its_logs(server: Server, lambda_client: Any) -> None:
    request_id = invoke(lambda_client, "talk", {"n": 7})
    failed = invoke(lambda_client, "fails", {})
    listed = get(server, "/api/invocations?function=Talk&limit=5")["invocations"]
    assert all(item["function"] == "talk" for item in listed)
    assert listed[0]["request_id"] == request_id  # newest first
    detail = get(server, f"/api/invocations/{request_id}")
    assert (detail["status"], detail["kind"], detail["memory_mb"]) == ("success", "sync", 256)
    assert detail["duration_ms"] > 0 and detail["billed_ms"] >= 1
    assert detail["max_memory_mb"] >= 1
    assert json.loads(detail["event"]) == {"n": 7}
    assert json.loads(detail["response"]) == {"said": 7}
    assert detail["error"] is None
    texts = [line["text"] for line in detail["logs"]]
    assert texts[0].startswith(f"START RequestId: {request_id}")
    assert "plain line 7" in texts
    assert texts[-2:] == [f"END RequestId: {request_id}", texts[-1]]
    assert texts[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    error = get(server, f"/api/invocations/{failed}")
    assert (error["status"], error["error_type"]) == ("error", "ValueError")
    assert error["error"]["errorMessage"] == "failed on purpose"
    status, _, body = request(server, "GET", "/api/invocations/no-such-id")
    assert status == 404 and "no-such-id" in json.loads(body)["message"]


def test_cold_then_warm(server: Server, lambda_client: Any) -> None:
    first = invoke(lambda_client, "sleepy", {"seconds": 0})
    second = invoke(lambda_client, "sleepy", {"seconds": 0})
    one, two = (get(server, f"/api/invocations/{rid}") for rid in (first, second))
    assert one["cold"] and one["init_ms"] > 0
    assert not two["cold"] and two["init_ms"] is None
    assert one["environment"] == two["environment"]


def test_logs_filtered_by_level_and_request_id(server: Server, lambda_client: Any) -> None:
    request_id = invoke(lambda_client, "talk", {"n": 3})
    logs = get(server, f"/api/logs?request_id={request_id}")["logs"]
    by_text = {line["text"].split("\t")[-1]: line for line in logs}
    assert by_text["info line 3"]["level"] == "INFO"
    assert by_text["error line 3"]["level"] == "ERROR"
    json_line = next(line for line in logs if line["text"].startswith("{"))
    assert (json_line["level"], json_line["request_id"]) == ("WARN", request_id)
    assert all(line["request_id"] == request_id for line in logs)
    assert [line["seq"] for line in logs] == sorted(line["seq"] for line in logs)
    warned = get(server, f"/api/logs?request_id={request_id}&level=WARN")["logs"]
    assert {line["level"] for line in warned} == {"WARN", "ERROR"}
    assert len(get(server, "/api/logs?function=talk&limit=2")["logs"]) == 2
    status, _, _ = request(server, "GET", "/api/logs?level=LOUD")
    assert status == 400


def read_events(sock: socket.socket, until: Callable[[list[tuple[str, Any]]], bool]) -> list:
    """SSE events (name, data) read from SOCK until UNTIL holds for those read so far."""
    buffer, events = b"", []
    sock.settimeout(15)
    while not until(events):
        chunk = sock.recv(65536)
        assert chunk, "the stream ended"
        buffer += chunk
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.decode().split("\n") if ": " in line
            )
            if "event" in fields:
                events.append((fields["event"], json.loads(fields["data"])))
    return events


def open_stream(server: Server, query: str = "") -> tuple[socket.socket, bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(f"GET {B}/api/stream{query} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    return sock, head


def test_stream_sends_invocations_environments_and_logs(server: Server, lambda_client: Any) -> None:
    sock, head = open_stream(server)
    try:
        assert b"200 OK" in head and b"text/event-stream" in head
        request_id = invoke(lambda_client, "talk", {"n": 42})

        def done(events: list[tuple[str, Any]]) -> bool:
            ended = any(
                name == "invocation" and data["request_id"] == request_id
                and data["status"] == "success" for name, data in events
            )  # fmt: skip
            lines = [line for name, data in events if name == "logs" for line in data]
            return ended and any(line["text"].startswith("END RequestId") for line in lines)

        events = read_events(sock, done)
    finally:
        sock.close()
    names = {name for name, _ in events}
    assert {"invocation", "environment", "logs"} <= names
    environment = next(data for name, data in events if name == "environment")
    assert environment["function"] == "talk" and environment["state"]
    lines = [line for name, data in events if name == "logs" for line in data]
    assert "plain line 42" in [line["text"] for line in lines]


def test_stream_without_logs(server: Server, lambda_client: Any) -> None:
    sock, _ = open_stream(server, "?logs=0")
    try:
        request_id = invoke(lambda_client, "talk", {"n": 5})
        events = read_events(
            sock,
            lambda events: any(
                name == "invocation" and data["request_id"] == request_id
                and data["status"] != "running" for name, data in events
            ),
        )  # fmt: skip
    finally:
        sock.close()
    assert "logs" not in {name for name, _ in events}


def test_test_events_saved_in_the_shareable_format(server: Server, project: Path) -> None:
    event = {"order": {"id": 12, "items": ["a"]}, "paid": True}
    status, _, body = request(server, "PUT", "/api/functions/talk/events/order.created-1",
                              json.dumps(event).encode())  # fmt: skip
    assert (status, json.loads(body)) == (200, {"name": "order.created-1"})
    request(server, "PUT", "/api/functions/Talk/events/second", b'{"n": 2}')
    listing = get(server, "/api/functions/talk/events")
    path = project / "events" / "shareable" / "Talk.json"
    assert listing["file"] == str(path)
    sources = {(e["name"], e["source"]) for e in listing["events"]}
    assert {("order.created-1", "saved"), ("second", "saved"), ("event", "project")} <= sources
    assert ("sqs", "sample") in sources
    document = json.loads(path.read_text())
    assert document["openapi"] == "3.0.0" and document["paths"] == {}
    assert document["components"]["schemas"]["Event"]["type"] == "object"
    example = document["components"]["examples"]["order.created-1"]
    assert example == {"value": event, "x-metadata": {"invocationType": "RequestResponse"}}
    fetched = get(server, "/api/functions/talk/events/order.created-1?source=saved")
    assert fetched == {"name": "order.created-1", "source": "saved", "event": event}
    assert get(server, "/api/functions/talk/events/event?source=project")["event"] == {
        "from": "project"
    }
    sample = get(server, "/api/functions/talk/events/sqs?source=sample")["event"]
    assert sample["Records"][0]["eventSource"] == "aws:sqs"
    assert request(server, "DELETE", "/api/functions/talk/events/second")[0] == 204
    assert "second" not in json.loads(path.read_text())["components"]["examples"]
    assert request(server, "DELETE", "/api/functions/talk/events/order.created-1")[0] == 204
    assert not path.exists()  # the last event goes with its document, as in SAM CLI


@pytest.mark.parametrize(
    ("name", "body", "status", "message"),
    [
        ("bad", b'{"a": ', 400, "line 1 column 7"),
        ("has space", b"{}", 400, "invalid event name"),
        ("x" * 101, b"{}", 400, "invalid event name"),
    ],
)
def test_test_events_refused(
    server: Server, name: str, body: bytes, status: int, message: str
) -> None:
    answer, _, text = request(
        server, "PUT", f"/api/functions/talk/events/{urllib.request.quote(name)}", body
    )
    assert answer == status
    assert message in json.loads(text)["message"]


def test_unknown_function_and_path(server: Server) -> None:
    assert request(server, "GET", "/api/functions/nope/events")[0] == 404
    assert request(server, "GET", "/api/nothing")[0] == 404
    assert request(server, "DELETE", "/api/overview")[0] == 405


def test_async_pending_dead_letter_and_replay(
    server: Server, lambda_client: Any, project: Path
) -> None:
    slow = invoke(lambda_client, "sleepy", {"seconds": 1.5}, InvocationType="Event")
    pending = eventually(lambda: get(server, "/api/async")["pending"])
    assert pending[0]["id"] == f"pending:{slow}" and pending[0]["function"] == "sleepy"
    assert json.loads(pending[0]["event"]) == {"seconds": 1.5}
    failed = invoke(lambda_client, "fails", {"dead": 1}, InvocationType="Event")
    dead = eventually(lambda: get(server, "/api/async")["dead_letters"])
    letter = dead[0]
    assert letter["function"] == "fails" and json.loads(letter["event"]) == {"dead": 1}
    assert "failed on purpose" in letter["error"]
    attempts = get(server, "/api/invocations?function=fails")["invocations"]
    assert [a["kind"] for a in attempts if a["request_id"] == failed] == ["event"] * 3
    status, _, body = request(
        server, "POST", "/api/async/replay", json.dumps({"id": letter["id"]}).encode()
    )
    assert status == 202
    replayed = json.loads(body)["request_id"]
    detail = eventually(lambda: get(server, f"/api/invocations/{replayed}"))
    assert detail["kind"] == "event" and json.loads(detail["event"]) == {"dead": 1}
    assert request(server, "POST", "/api/async/replay", b'{"id": "dead:nope:1"}')[0] == 404
    assert request(server, "POST", "/api/async/replay", b"[]")[0] == 400


DLQ_FUNCTION = """
  Letters:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: letters
      Handler: app.fails
      DeadLetterQueue:
        Type: SQS
        TargetArn: arn:aws:sqs:us-east-1:123456789012:console-dlq
      EventInvokeConfig:
        MaximumRetryAttempts: 0
"""


def test_a_dead_letter_queue_message_names_its_function(tmp_path: Path) -> None:
    """A DLQ message does not name its function (only RequestID, ErrorCode, ErrorMessage): the
    function whose DeadLetterQueue it is does, so the Async view lists it and can replay it."""
    shutil.copytree(PROJECT, tmp_path / "project")
    template = tmp_path / "project" / "template.yaml"
    template.write_text(template.read_text() + DLQ_FUNCTION)
    srv = Server(tmp_path / "project")
    try:
        invoke(client_for(srv.url), "letters", {"letter": 1}, InvocationType="Event")
        (letter,) = eventually(lambda: get(srv, "/api/async")["dead_letters"])
        assert letter["id"].startswith("dlq:") and letter["function"] == "letters"
        assert json.loads(letter["event"]) == {"letter": 1}
        status, _, body = request(
            srv, "POST", "/api/async/replay", json.dumps({"id": letter["id"]}).encode()
        )
        assert status == 202
        replayed = json.loads(body)["request_id"]
        detail = eventually(lambda: get(srv, f"/api/invocations/{replayed}"))
        assert detail["function"] == "letters"
    finally:
        srv.stop()


def test_a_pending_retry_says_when_it_comes(tmp_path: Path) -> None:
    """Retries 30 s apart: between its attempts, the event shows its attempt count and when
    the next one comes (epoch ms, in the future)."""
    shutil.copytree(PROJECT, tmp_path / "project")
    srv = Server(tmp_path / "project", "--event-retry-delays", "30,30")
    try:
        failed = invoke(client_for(srv.url), "fails", {"retry": 1}, InvocationType="Event")

        def waiting() -> Any:
            pending = get(srv, "/api/async")["pending"]
            return [p for p in pending if p["next_attempt"] is not None]

        (event,) = eventually(waiting)
        now_ms = time.time() * 1000
        assert (event["id"], event["function"]) == (f"pending:{failed}", "fails")
        assert event["attempt"] == 1
        assert now_ms < event["next_attempt"] <= now_ms + 30_000
        assert json.loads(event["event"]) == {"retry": 1}
    finally:
        srv.stop()


def test_a_streamed_response_is_kept_up_to_64_kib(tmp_path: Path) -> None:
    shutil.copytree(FUNCTIONS / "streaming", tmp_path / "project")
    srv = Server(tmp_path / "project")
    client = client_for(srv.url)

    def streamed(name: str, event: object) -> Any:
        response = client.invoke_with_response_stream(FunctionName=name, Payload=json.dumps(event))
        list(response["EventStream"])
        request_id = response["ResponseMetadata"]["RequestId"]
        return eventually(
            lambda: (d := get(srv, f"/api/invocations/{request_id}"))["status"] != "running" and d
        )

    try:
        small = streamed("gen", {})
        assert (small["kind"], small["status"]) == ("stream", "success")
        assert (small["response"], small["response_truncated"]) == ("alpha beta gamma", False)
        large = streamed("sized", {"size": 200_000})
        assert large["response"] == "x" * 65536 and large["response_truncated"] is True
        failed = streamed("fails-mid", {})
        assert (failed["status"], failed["error_type"]) == ("error", "RuntimeError")
        assert (failed["response"], failed["response_truncated"]) == ("partial ", False)
        assert failed["error"]["errorMessage"] == "broke in the middle"
    finally:
        srv.stop()


def test_static_files(server: Server) -> None:
    status, _, _ = request(server, "GET", "")
    assert status == 200  # urllib followed the 308 to B/
    status, headers, _ = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-cache"
    status, headers, _ = request(server, "GET", "/static/app.js")
    assert status == 200 and headers["Content-Type"].startswith("text/javascript")
    assert request(server, "GET", "/static/../routes.py")[0] == 404
    assert request(server, "GET", "/static/nothing.js")[0] == 404


def test_other_hosts_are_refused(server: Server) -> None:
    req = urllib.request.Request(server.url + B + "/api/overview", headers={"Host": "evil.test"})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(req, timeout=5)
    with raised.value:
        assert raised.value.code == 403
        assert "local names" in json.loads(raised.value.read())["message"]


def test_no_console(tmp_path: Path) -> None:
    shutil.copytree(PROJECT, tmp_path / "project")
    srv = Server(tmp_path / "project", "--no-console")
    try:
        assert "Console:" not in srv.output()
        status, _, body = request(srv, "GET", "/api/overview")
        assert status == 404
        assert b"no operation" in body
    finally:
        srv.stop()


def test_a_page_that_hangs_up_is_forgotten_and_close_ends_the_rest(tmp_path: Path) -> None:
    """In-process: the stream's clients leave the broadcaster when they hang up (the hub then
    has no watcher: nothing is batched for nobody), and ``Emulator.close`` ends the others."""
    from lambdakit.emulator import Emulator, EmulatorConfig
    from lambdakit.emulator.reports import LogPrinter
    from lambdakit.emulator.webconsole import EventSources
    from lambdakit.template import load_template

    specs = load_template(PROJECT / "template.yaml").functions

    async def open_page(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET {B}/api/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert b" 200 " in head.split(b"\r\n")[0]
        await reader.readuntil(b"retry: 2000\n\n")
        return reader, writer

    async def scenario() -> None:
        with open(os.devnull, "w") as null:
            config = EmulatorConfig(port=0, state_dir=tmp_path / ".lambdakit",
                                    console=EventSources(project_dir=tmp_path))  # fmt: skip
            emulator = Emulator(specs, config, printer=LogPrinter(null))
            await emulator.start()
            assert emulator.console is not None and emulator.hub is not None
            broadcaster = emulator.console.broadcaster
            port = int(emulator.url.rsplit(":", 1)[1])
            try:
                _, first = await open_page(port)
                reader, second = await open_page(port)
                assert len(broadcaster.clients) == 2 and emulator.hub.watcher is broadcaster
                first.close()
                for _ in range(100):
                    if len(broadcaster.clients) == 1:
                        break
                    await asyncio.sleep(0.02)
                assert len(broadcaster.clients) == 1
            finally:
                await emulator.close()
            # The server ended the response: its last chunk came.
            await asyncio.wait_for(reader.readuntil(b"\r\n0\r\n\r\n"), 5)
            assert not broadcaster.clients and emulator.hub.watcher is None
            second.close()

    asyncio.run(scenario())
