"""Table-driven tests of the sans-IO Runtime API module."""

from __future__ import annotations

import pytest

from lambdakit import _wire

REQUESTS = [
    (
        _wire.request_head("GET", _wire.NEXT_PATH, "127.0.0.1:9001", [("User-Agent", "ua")]),
        b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n"
        b"User-Agent: ua\r\n\r\n",
    ),
    (
        _wire.post_head(
            _wire.response_path("r1"), "h:1", [("Content-Type", "application/json")], 7
        ),
        b"POST /2018-06-01/runtime/invocation/r1/response HTTP/1.1\r\nHost: h:1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 7\r\n\r\n",
    ),
    (
        _wire.post_head(_wire.error_path("r2"), "h:1", [], 0),
        b"POST /2018-06-01/runtime/invocation/r2/error HTTP/1.1\r\nHost: h:1\r\n"
        b"Content-Length: 0\r\n\r\n",
    ),
    (
        _wire.post_head(_wire.INIT_ERROR_PATH, "h:1", [], 2),
        b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nHost: h:1\r\nContent-Length: 2\r\n\r\n",
    ),
    (_wire.encode_chunk(b"hello"), b"5\r\nhello\r\n"),
    (_wire.encode_chunk(b"x" * 26), b"1a\r\n" + b"x" * 26 + b"\r\n"),
    (_wire.encode_chunk(b""), b""),
    (_wire.encode_last_chunk(), b"0\r\n\r\n"),
    (
        _wire.encode_last_chunk([("Lambda-Runtime-Function-Error-Type", "Runtime.X")]),
        b"0\r\nLambda-Runtime-Function-Error-Type: Runtime.X\r\n\r\n",
    ),
]


@pytest.mark.parametrize(("built", "expected"), REQUESTS)
def test_request_building(built: bytes, expected: bytes) -> None:
    assert built == expected


def test_streaming_headers_declare_the_error_trailers() -> None:
    assert _wire.streaming_headers("text/plain") == [
        ("Lambda-Runtime-Function-Response-Mode", "streaming"),
        ("Content-Type", "text/plain"),
        ("Transfer-Encoding", "chunked"),
        ("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body"),
    ]


def test_invocation_id_is_echoed_only_when_present() -> None:
    assert _wire.invocation_headers(_wire.Invocation(request_id="r")) == []
    with_id = _wire.Invocation(request_id="r", invocation_id="n")
    assert _wire.invocation_headers(with_id) == [("Lambda-Runtime-Invocation-Id", "n")]


HEADS = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2", 200, "OK", {"content-length": "2"}),
    (b"HTTP/1.1 202 Accepted\r\nX-A: 1\r\nx-a: 2", 202, "Accepted", {"x-a": "1, 2"}),
    (b"HTTP/1.0 413 Payload Too Large\r\nA:b", 413, "Payload Too Large", {"a": "b"}),
    (b"HTTP/1.1 204", 204, "", {}),
]


@pytest.mark.parametrize(("raw", "status", "reason", "headers"), HEADS)
def test_response_head_parsing(
    raw: bytes, status: int, reason: str, headers: dict[str, str]
) -> None:
    head = _wire.parse_response_head(raw)
    assert (head.status, head.reason, head.headers) == (status, reason, headers)


@pytest.mark.parametrize(
    "raw",
    [
        b"HTP/1.1 200 OK",
        b"HTTP/1.1 20 OK",
        b"HTTP/1.1 200 OK\r\nno-colon",
        b"HTTP/1.1 200 OK\r\n :x",
    ],
)
def test_malformed_heads_are_protocol_errors(raw: bytes) -> None:
    with pytest.raises(_wire.ProtocolError):
        _wire.parse_response_head(raw)


def test_head_properties() -> None:
    head = _wire.parse_response_head(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close"
    )
    assert head.chunked and not head.keep_alive and head.content_length == 0
    with pytest.raises(_wire.ProtocolError):
        _ = _wire.parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Length: -1").content_length


def test_find_head_end() -> None:
    assert _wire.find_head_end(b"HTTP/1.1 200 OK\r\n\r\nbody") == 19
    assert _wire.find_head_end(b"HTTP/1.1 200 OK\r\n") == -1


CHUNKED = [
    (b"5\r\nhello\r\n0\r\n\r\n", [b"hello"], {}, b""),
    (b"5;ext=1\r\nhello\r\n1\r\n!\r\n0\r\n\r\nnext", [b"hello", b"!"], {}, b"next"),
    (
        b"3\r\nabc\r\n0\r\nLambda-Runtime-Function-Error-Type: Runtime.E\r\nB: x\r\n\r\n",
        [b"abc"],
        {"lambda-runtime-function-error-type": "Runtime.E", "b": "x"},
        b"",
    ),
    (b"A\r\n0123456789\r\n0\r\n\r\n", [b"0123456789"], {}, b""),
]


@pytest.mark.parametrize(("raw", "pieces", "trailers", "unused"), CHUNKED)
@pytest.mark.parametrize("step", [1, 3, 1000])
def test_chunked_decoding_in_any_slicing(
    raw: bytes, pieces: list[bytes], trailers: dict[str, str], unused: bytes, step: int
) -> None:
    decoder = _wire.ChunkedDecoder()
    got: list[bytes] = []
    for start in range(0, len(raw), step):
        got += decoder.feed(raw[start : start + step])
    assert b"".join(got) == b"".join(pieces)
    assert decoder.done and decoder.trailers == trailers and decoder.unused == unused


@pytest.mark.parametrize("raw", [b"zz\r\n", b"3\r\nabcXY0\r\n\r\n", b"1" * 2000])
def test_chunked_framing_errors(raw: bytes) -> None:
    with pytest.raises(_wire.ProtocolError):
        _wire.ChunkedDecoder().feed(raw)


def test_invocation_from_next_answer() -> None:
    headers = {
        "lambda-runtime-aws-request-id": "r",
        "lambda-runtime-deadline-ms": "1700000000000",
        "lambda-runtime-invoked-function-arn": "arn",
        "lambda-runtime-trace-id": "Root=1",
        "lambda-runtime-invocation-id": "n",
        "content-type": "application/json",
    }
    invocation = _wire.Invocation.from_response(headers, b"{}")
    assert (invocation.request_id, invocation.deadline_ms, invocation.function_arn) == (
        "r",
        1700000000000,
        "arn",
    )
    assert (invocation.trace_id, invocation.invocation_id, invocation.tenant_id) == (
        "Root=1",
        "n",
        None,
    )
    # The emulator's side renders the same headers back.
    rendered = {name.lower(): value for name, value in invocation.headers()}
    assert rendered == headers
    assert "2 bytes" in repr(invocation)


@pytest.mark.parametrize("deadline", [None, "", "soon"])
def test_missing_or_bad_deadline_means_no_time_left(deadline: str | None) -> None:
    headers = {"lambda-runtime-aws-request-id": "r"}
    if deadline is not None:
        headers["lambda-runtime-deadline-ms"] = deadline
    assert _wire.Invocation.from_response(headers, b"").deadline_ms == 0


def test_next_answer_without_request_id_is_a_protocol_error() -> None:
    with pytest.raises(_wire.ProtocolError, match="Lambda-Runtime-Aws-Request-Id"):
        _wire.Invocation.from_response({}, b"{}")


def test_error_document_key_order() -> None:
    assert list(_wire.error_document("m", "T", [])) == [
        "errorMessage",
        "errorType",
        "requestId",
        "stackTrace",
    ]
