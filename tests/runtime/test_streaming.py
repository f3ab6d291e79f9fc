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
