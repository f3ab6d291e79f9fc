"""Response streaming end to end: InvokeWithResponseStream with boto3, and Function URLs."""

from __future__ import annotations

import base64
import http.client
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.emulator.conftest import Server, client_for
from tests.helpers import FUNCTIONS

PROJECT = FUNCTIONS / "streaming"


@pytest.fixture(scope="module")
def streaming_server() -> Iterator[Server]:
    server = Server(PROJECT)
    yield server
    server.stop()


@pytest.fixture
def client(streaming_server: Server) -> Any:
    return client_for(streaming_server.url, read_timeout=30)


def stream_events(
    client: Any, name: str, event: object, **kwargs: Any
) -> list[tuple[float, dict[str, Any]]]:
    start = time.monotonic()
    response = client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps(event), **kwargs
    )
    assert response["StatusCode"] == 200
    return [(time.monotonic() - start, event) for event in response["EventStream"]]


def test_chunks_arrive_while_the_handler_is_still_running(client: Any) -> None:
    events = stream_events(client, "slow", {"pause": 1.0, "chunks": 3})
    chunks = [(t, e["PayloadChunk"]["Payload"]) for t, e in events if "PayloadChunk" in e]
    assert [c.split(b" at ")[0] for _, c in chunks] == [b"chunk 0", b"chunk 1", b"chunk 2"]
    first_arrival = chunks[0][0]
    assert first_arrival < 1.0  # the handler was still sleeping before its second chunk
    assert events[-1][1] == {"InvokeComplete": {}}


def test_a_mid_stream_error_shows_in_invoke_complete(client: Any) -> None:
    events = [e for _, e in stream_events(client, "fails-mid", {}, LogType="Tail")]
    assert events[0] == {"PayloadChunk": {"Payload": b"partial "}}
    complete = events[-1]["InvokeComplete"]
    assert complete["ErrorCode"] == "RuntimeError"
    assert json.loads(complete["ErrorDetails"])["errorMessage"] == "broke in the middle"
    log = base64.b64decode(complete["LogResult"]).decode()
    assert "REPORT RequestId:" in log


def test_an_error_before_the_first_byte(client: Any) -> None:
    events = [e for _, e in stream_events(client, "fails-first", {})]
    assert len(events) == 1
    assert events[0]["InvokeComplete"]["ErrorCode"] == "ValueError"


def test_a_buffered_function_through_the_streaming_api(
    client: Any, streaming_server: Server
) -> None:
    events = [
        e
        for _, e in stream_events(
            client,
            "url-echo",
            {
                "rawPath": "/",
                "rawQueryString": "",
                "requestContext": {"http": {"method": "GET", "userAgent": "x"}},
                "isBase64Encoded": False,
            },
        )
    ]
    assert json.loads(events[0]["PayloadChunk"]["Payload"])["statusCode"] == 200
    assert events[-1] == {"InvokeComplete": {}}


def test_buffered_invoke_of_a_streaming_function_gets_the_whole_body(client: Any) -> None:
    response = client.invoke(FunctionName="gen", Payload=b"{}")
    assert response["Payload"].read() == b"alpha beta gamma"
    assert "FunctionError" not in response
    failed = client.invoke(FunctionName="fails-mid", Payload=b"{}")
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read())["errorType"] == "RuntimeError"


def test_timeout_mid_stream(client: Any) -> None:
    events = [e for _, e in stream_events(client, "slow-timeout", {"pause": 0.6, "chunks": 5})]
    assert "PayloadChunk" in events[0]
    complete = events[-1]["InvokeComplete"]
    assert complete["ErrorCode"] == "Sandbox.Timedout"


def test_a_large_stream(client: Any) -> None:
    size = 20 * 1024 * 1024
    events = [e for _, e in stream_events(client, "sized", {"size": size})]
    total = sum(len(e["PayloadChunk"]["Payload"]) for e in events if "PayloadChunk" in e)
    assert total == size and events[-1] == {"InvokeComplete": {}}


# --- Function URLs --------------------------------------------------------------------------


def url_of(server: Server, name: str) -> str:
    line = server.wait_for_output(f"{name} Function URL")
    for row in line.splitlines():
        if f"lambdakit: {name} Function URL" in row:
            return row.rsplit(" ", 1)[1]
    raise AssertionError(line)


def connect(url: str) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)


def test_function_url_buffered_request_and_response(streaming_server: Server) -> None:
    url = url_of(streaming_server, "url-echo")
    connection = connect(url)
    connection.request(
        "POST", "/some/path?a=1&a=2&b=x", body=b'{"k": "v"}',
        headers={"Cookie": "c1=1; c2=2", "User-Agent": "tests", "Content-Type": "application/json"},
    )  # fmt: skip
    response = connection.getresponse()
    body = json.loads(response.read())
    assert response.status == 200
    assert response.getheader("x-seen-path") == "/some/path"
    assert response.getheader("set-cookie") == "seen=1; Path=/"
    assert body["method"] == "POST" and body["rawPath"] == "/some/path"
    assert body["rawQueryString"] == "a=1&a=2&b=x"
    assert body["query"] == {"a": "1,2", "b": "x"}
    assert body["cookies"] == ["c1=1", "c2=2"]
    assert body["body"] == '{"k": "v"}' and body["isBase64Encoded"] is False
    assert body["userAgent"] == "tests"
    connection.close()


def test_function_url_streams_status_headers_cookies_then_body(streaming_server: Server) -> None:
    connection = connect(url_of(streaming_server, "http"))
    connection.request("GET", "/")
    response = connection.getresponse()
    assert response.status == 201
    assert response.getheader("content-type") == "text/html"
    assert response.getheader("x-custom") == "yes"
    assert response.msg.get_all("set-cookie") == ["session=abc; Path=/", "theme=dark"]
    assert response.read() == b"<p>first</p><p>second</p>"
    connection.close()


def test_function_url_time_to_first_byte(streaming_server: Server) -> None:
    url = url_of(streaming_server, "http-slow")
    warm = connect(url)  # a cold start first, so that what follows measures the stream alone
    warm.request("GET", "/")
    warm.getresponse().read()
    connection = connect(url)
    connection.request("POST", "/", body=json.dumps({"pause": 1.0}))
    start = time.monotonic()
    response = connection.getresponse()
    first = response.read1(100)  # type: ignore[attr-defined]
    ttfb = time.monotonic() - start
    assert first.startswith(b"data: 0")
    assert response.getheader("content-type") == "text/event-stream"
    assert ttfb < 0.5, ttfb  # the handler then waits 1 s before its next chunk
    rest = response.read()
    assert b"data: 2" in rest
    connection.close()
    warm.close()
