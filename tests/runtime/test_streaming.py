"""Streamed responses on the wire, checked byte for byte against the recording stub."""

from __future__ import annotations

import base64
import json

import pytest

from tests.helpers import FUNCTIONS, RuntimeProcess
from tests.stub import RecordedRequest, StubRuntimeAPI

STREAMING = FUNCTIONS / "streaming"
TRAILER_DECLARATION = "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"


def stream(handler: str, event: object = None, **push: object) -> RecordedRequest:
    with StubRuntimeAPI() as api, RuntimeProcess(handler, api.address, cwd=STREAMING):
        api.push(event if event is not None else {}, request_id="s-1", **push)  # type: ignore[arg-type]
        (answer,) = api.wait_for_answers(1)
        api.wait_for_next(2)  # the runtime went on to the next event
    return answer


def assert_streaming_request(answer: RecordedRequest, content_type: str) -> None:
    assert answer.path == "/2018-06-01/runtime/invocation/s-1/response"
    assert answer.header("Lambda-Runtime-Function-Response-Mode") == "streaming"
    assert answer.header("Transfer-Encoding") == "chunked"
    assert answer.header("Trailer") == TRAILER_DECLARATION
    assert answer.header("Content-Type") == content_type
    assert answer.header("Content-Length") is None
    assert answer.chunked


@pytest.mark.parametrize(
    ("handler", "content_type", "chunks"),
    [
        ("app.gen", "application/octet-stream", [b"alpha ", b"beta ", b"gamma"]),
        ("app.generator_handler", "application/octet-stream", [b"one", b"two"]),
        ("app.agen", "application/octet-stream", [b"async ", b"chunks"]),
        ("app.typed", "text/plain; charset=utf-8", [b"plain ", b"text"]),
    ],
)
def test_streams_send_each_chunk_as_produced(
    handler: str, content_type: str, chunks: list[bytes]
) -> None:
    answer = stream(handler)
    assert_streaming_request(answer, content_type)
    assert answer.chunks == chunks  # one HTTP chunk per piece, as the handler produced it
    assert answer.trailers == {}


def test_http_shaped_stream_has_the_prelude_and_delimiter() -> None:
    answer = stream("app.http")
    assert_streaming_request(answer, "application/vnd.awslambda.http-integration-response")
    prelude, _, body = answer.body.partition(b"\x00" * 8)
    assert json.loads(prelude) == {
        "statusCode": 201,
        "headers": {"content-type": "text/html", "x-custom": "yes"},
        "cookies": ["session=abc; Path=/", "theme=dark"],
    }
    assert body == b"<p>first</p><p>second</p>"
    assert answer.chunks[0].endswith(b"\x00" * 8 + b"<p>first</p>")


def test_an_error_mid_stream_ends_the_body_with_trailers() -> None:
    answer = stream("app.fails_mid")
    assert answer.body == b"partial "
    assert answer.trailers["lambda-runtime-function-error-type"] == "RuntimeError"
    error = json.loads(base64.b64decode(answer.trailers["lambda-runtime-function-error-body"]))
    assert (error["errorType"], error["errorMessage"]) == ("RuntimeError", "broke in the middle")
    assert error["requestId"] == "s-1"


def test_a_bad_chunk_type_is_a_stream_error() -> None:
    answer = stream("app.bad_chunk")
    assert answer.body == b"ok "
    assert answer.trailers["lambda-runtime-function-error-type"] == "TypeError"


def test_an_error_before_the_first_byte_is_an_ordinary_error() -> None:
    answer = stream("app.fails_first")
    assert answer.path == "/2018-06-01/runtime/invocation/s-1/error"
    assert answer.json()["errorType"] == "ValueError"
    assert answer.header("Lambda-Runtime-Function-Response-Mode") is None


def test_an_empty_stream() -> None:
    answer = stream("app.empty")
    assert_streaming_request(answer, "application/octet-stream")
    assert answer.body == b"" and answer.trailers == {}


def test_chunks_leave_while_the_handler_is_still_running() -> None:
    answer = stream("app.slow", {"pause": 0.3, "chunks": 3})
    assert len(answer.chunks) == 3
    produced = [float(chunk.split(b" at ")[1]) for chunk in answer.chunks]
    assert produced[2] - produced[0] >= 0.5  # the handler paused between chunks
    # ... and each chunk reached the stub on its own (how early is the emulator tests' job).


def test_streaming_then_buffered_invocations_on_the_same_runtime() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("app.gen", api.address, cwd=STREAMING):
        api.push({})
        api.push({})
        first, second = api.wait_for_answers(2)
    assert first.body == second.body == b"alpha beta gamma"
    assert api.connections >= 2  # the connection is closed after each stream, as Lambda asks


def test_the_streamed_request_on_the_wire_byte_for_byte() -> None:
    """A raw socket records exactly what the runtime sends for a failing HTTP-shaped stream."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    raw = bytearray()

    def serve() -> None:
        connection, _ = server.accept()
        connection.recv(65536)  # GET /next
        event = b"{}"
        connection.sendall(
            b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r-raw\r\n"
            b"Lambda-Runtime-Deadline-Ms: 0\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(event), event)
        )
        while not raw.endswith(b"\r\n\r\n") or b"\r\n0\r\n" not in raw:
            data = connection.recv(65536)
            if not data:
                break
            raw.extend(data)
        connection.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
        connection.close()
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with RuntimeProcess("app.http_fails", f"127.0.0.1:{port}", cwd=STREAMING) as runtime:
        thread.join(15)
        runtime.process.kill()
    head, _, body = bytes(raw).partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"POST /2018-06-01/runtime/invocation/r-raw/response HTTP/1.1"
    assert b"\r\nLambda-Runtime-Function-Response-Mode: streaming" in head
    assert b"\r\nTransfer-Encoding: chunked" in head
    assert b"\r\nTrailer: " + TRAILER_DECLARATION.encode() in head
    prelude = b'{"statusCode":200,"headers":{"content-type":"text/plain"}}' + b"\x00" * 8
    first = prelude + b"hello"
    error_type, _, rest = body.partition(b"\r\n0\r\n")[2].partition(b"\r\n")
    assert body.startswith(b"%x\r\n%s\r\n" % (len(first), first))
    assert error_type == b"Lambda-Runtime-Function-Error-Type: OSError"
    assert rest.startswith(b"Lambda-Runtime-Function-Error-Body: ")
    assert rest.endswith(b"\r\n\r\n")
