"""The event-stream codec: round trips, incremental decoding, corruption, and botocore's own
parser (alone, and behind a real boto3 ``invoke_with_response_stream`` call) reading our bytes."""

from __future__ import annotations

import json
import random
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import boto3
import botocore.config
import botocore.eventstream
import botocore.exceptions
import pytest

from lambdakit._eventstream import (
    MAX_HEADERS_LENGTH,
    MAX_PAYLOAD_LENGTH,
    EventStreamDecoder,
    EventStreamError,
    Message,
    encode_message,
    invoke_complete,
    payload_chunk,
)

# --- an independent encoder, written from the format description, to check ours against ----


def frame(header_block: bytes, payload: bytes) -> bytes:
    """A message around an already-encoded header block, CRCs computed with zlib and struct."""
    lengths = struct.pack("!II", 16 + len(header_block) + len(payload), len(header_block))
    prelude = lengths + struct.pack("!I", zlib.crc32(lengths))
    body = prelude + header_block + payload
    return body + struct.pack("!I", zlib.crc32(body))


def header(name: str, kind: int, value: bytes) -> bytes:
    raw = name.encode()
    return struct.pack("!B", len(raw)) + raw + struct.pack("!B", kind) + value


def string(name: str, value: str) -> bytes:
    data = value.encode()
    return header(name, 7, struct.pack("!H", len(data)) + data)


# --- round trips ------------------------------------------------------------------------------

ROUND_TRIPS = {
    "no headers, no payload": ([], b""),
    "string": ([(":event-type", "PayloadChunk")], b"data"),
    "empty string": ([("empty", "")], b"x"),
    "unicode": ([("na\u00efve-\u540d\u524d", "v\u00e4lue \u2603")], "\u00fcber".encode()),
    "bytes": ([("blob", b"\x00\x01\xff")], b"\x00" * 8),
    "empty bytes": ([("blob", b"")], b""),
    "true": ([("flag", True)], b""),
    "false": ([("flag", False)], b""),
    "int32": ([("n", 7), ("neg", -(2**31)), ("max", 2**31 - 1)], b"{}"),
    "int64": ([("big", 2**31), ("small", -(2**31) - 1), ("max", 2**63 - 1)], b""),
    "every encodable type": (
        [("s", "text"), ("b", b"\xfe"), ("t", True), ("f", False), ("i", 42), ("l", 2**40)],
        bytes(range(256)),
    ),
    "1 MiB payload": ([(":message-type", "event")], b"\xab" * (1 << 20)),
    "long string header": ([("long", "x" * 65535)], b""),
}


@pytest.mark.parametrize(("headers", "payload"), ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_round_trip(headers: list[tuple[str, object]], payload: bytes) -> None:
    encoded = encode_message(headers, payload)  # type: ignore[arg-type]
    assert EventStreamDecoder().feed(encoded) == [Message(dict(headers), payload)]


@pytest.mark.parametrize(("headers", "payload"), ROUND_TRIPS.values(), ids=ROUND_TRIPS.keys())
def test_botocore_decodes_what_we_encode(headers: list[tuple[str, object]], payload: bytes) -> None:
    buffer = botocore.eventstream.EventStreamBuffer()
    buffer.add_data(encode_message(headers, payload))  # type: ignore[arg-type]
    (message,) = list(buffer)
    assert message.headers == dict(headers)
    assert message.payload == payload


def test_our_encoding_matches_an_independent_one() -> None:
    headers = string(":event-type", "PayloadChunk") + header("n", 4, struct.pack("!i", -5))
    headers += header("t", 0, b"") + header("b", 6, b"\x00\x02hi")
    expected = frame(headers, b"payload")
    ours = encode_message(
        [(":event-type", "PayloadChunk"), ("n", -5), ("t", True), ("b", b"hi")], b"payload"
    )
    assert ours == expected


# Types we decode but never produce: int8, int16, int64, timestamp (ms), uuid.
FOREIGN = {
    "int8": (header("v", 2, struct.pack("!b", -3)), -3),
    "int16": (header("v", 3, struct.pack("!h", 1234)), 1234),
    "int64": (header("v", 5, struct.pack("!q", -(2**40))), -(2**40)),
    "timestamp": (header("v", 8, struct.pack("!q", 1_700_000_000_123)), 1_700_000_000_123),
    "uuid": (header("v", 9, bytes(range(16))), bytes(range(16))),
    "bytes": (header("v", 6, b"\x00\x03abc"), b"abc"),
}


@pytest.mark.parametrize(("block", "value"), FOREIGN.values(), ids=FOREIGN.keys())
def test_decodes_every_header_type(block: bytes, value: object) -> None:
    message = frame(block, b"p")
    assert EventStreamDecoder().feed(message) == [Message({"v": value}, b"p")]
    # ... and agrees with botocore on the value.
    buffer = botocore.eventstream.EventStreamBuffer()
    buffer.add_data(message)
    assert next(iter(buffer)).headers == {"v": value}


# --- incremental decoding ---------------------------------------------------------------------


def stream_of_messages() -> tuple[bytes, list[Message]]:
    messages = [
        Message({":event-type": "PayloadChunk", "n": i}, bytes([i]) * i) for i in range(0, 40, 7)
    ]
    return b"".join(map(encoded, messages)), messages


def encoded(message: Message) -> bytes:
    return encode_message(list(message.headers.items()), message.payload)  # type: ignore[arg-type]


def test_byte_by_byte() -> None:
    data, expected = stream_of_messages()
    decoder = EventStreamDecoder()
    decoded: list[Message] = []
    for i in range(len(data)):
        decoded += decoder.feed(data[i : i + 1])
        assert decoder.pending == i + 1 - sum(len(encoded(m)) for m in decoded)
    assert decoded == expected
    decoder.eof()


@pytest.mark.parametrize("seed", range(5))
def test_random_splits(seed: int) -> None:
    data, expected = stream_of_messages()
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), 12))
    decoder = EventStreamDecoder()
    decoded: list[Message] = []
    for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
        decoded += decoder.feed(data[start:end])
    assert decoded == expected


def test_several_messages_in_one_feed() -> None:
    data, expected = stream_of_messages()
    assert EventStreamDecoder().feed(data) == expected


def test_a_partial_message_waits_for_the_rest() -> None:
    message = payload_chunk(b"hello")
    decoder = EventStreamDecoder()
    assert decoder.feed(message[:5]) == []
    assert decoder.feed(message[5:-1]) == []
    assert decoder.pending == len(message) - 1
    assert [m.payload for m in decoder.feed(message[-1:])] == [b"hello"]
    assert decoder.pending == 0


# --- the Lambda events ------------------------------------------------------------------------


def test_payload_chunk() -> None:
    (message,) = EventStreamDecoder().feed(payload_chunk(b"\x00bytes\xff"))
    assert message.headers == {
        ":event-type": "PayloadChunk",
        ":content-type": "application/octet-stream",
        ":message-type": "event",
    }
    assert message.payload == b"\x00bytes\xff"


INVOKE_COMPLETE = {
    "success": ((), {}),
    "error": (
        ("Function.Boom", "it broke"),
        {"ErrorCode": "Function.Boom", "ErrorDetails": "it broke"},
    ),
    "log only": ((None, None, "U1RBUlQ="), {"LogResult": "U1RBUlQ="}),
    "all": (
        ("E", "d\u00e9tail", "bG9n"),
        {"ErrorCode": "E", "ErrorDetails": "d\u00e9tail", "LogResult": "bG9n"},
    ),
}


@pytest.mark.parametrize(("args", "document"), INVOKE_COMPLETE.values(), ids=INVOKE_COMPLETE.keys())
def test_invoke_complete(args: tuple[str | None, ...], document: dict[str, str]) -> None:
    (message,) = EventStreamDecoder().feed(invoke_complete(*args))
    assert message.headers[":event-type"] == "InvokeComplete"
    assert message.headers[":content-type"] == "application/json"
    assert message.headers[":message-type"] == "event"
    assert json.loads(message.payload) == document


# --- malformed streams ------------------------------------------------------------------------


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def prelude(total: int, headers_length: int) -> bytes:
    lengths = struct.pack("!II", total, headers_length)
    return lengths + struct.pack("!I", zlib.crc32(lengths))


GOOD = encode_message([(":event-type", "PayloadChunk")], b"payload")

MALFORMED = {
    "prelude CRC": (flip(GOOD, 9), "prelude CRC mismatch"),
    "total length": (flip(GOOD, 3), "prelude CRC mismatch"),
    "message CRC": (flip(GOOD, len(GOOD) - 1), "message CRC mismatch"),
    "payload byte": (flip(GOOD, len(GOOD) - 6), "message CRC mismatch"),
    "header byte": (flip(GOOD, 14), "message CRC mismatch"),
    "headers over 128 KiB": (
        prelude(16 + MAX_HEADERS_LENGTH + 1, MAX_HEADERS_LENGTH + 1),
        "headers length",
    ),
    "payload over 24 MiB": (prelude(16 + MAX_PAYLOAD_LENGTH + 1, 0), "payload length"),
    "total shorter than the headers": (prelude(20, 10), "total length 20"),
    "total shorter than the overhead": (prelude(8, 0), "total length 8"),
    "unknown header type": (frame(header("x", 10, b""), b""), "unknown header value type 10"),
    "header past the end": (frame(b"\x05ab", b""), "past the end"),
    "string past the end": (frame(header("s", 7, b"\x00\x09abc"), b""), "past the end"),
    "duplicate header": (frame(string("a", "1") + string("a", "2"), b""), "duplicate header 'a'"),
    "header name not UTF-8": (frame(header("x", 0, b"")[:1] + b"\xff" + b"\x00", b""), "UTF-8"),
}


@pytest.mark.parametrize(("data", "problem"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed(data: bytes, problem: str) -> None:
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError, match=problem):
        decoder.feed(data)
    # The stream cannot be trusted after a bad message, even if good bytes follow.
    with pytest.raises(EventStreamError, match=problem):
        decoder.feed(GOOD)


@pytest.mark.parametrize("cut", [1, 11, 12, len(GOOD) - 1])
def test_truncated_stream(cut: int) -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(GOOD[:cut]) == []
    with pytest.raises(EventStreamError, match="ended inside a message"):
        decoder.eof()


def test_a_good_message_before_a_bad_one_is_delivered_first() -> None:
    decoder = EventStreamDecoder()
    assert len(decoder.feed(GOOD)) == 1
    with pytest.raises(EventStreamError):
        decoder.feed(flip(GOOD, 9))


ENCODE_ERRORS = {
    "empty name": (([("", "v")], b""), EventStreamError),
    "name over 255 bytes": (([("n" * 256, "v")], b""), EventStreamError),
    "string over 65535 bytes": (([("s", "x" * 65536)], b""), EventStreamError),
    "bytes over 65535 bytes": (([("b", b"x" * 65536)], b""), EventStreamError),
    "int over 64 bits": (([("i", 2**63)], b""), EventStreamError),
    "headers over 128 KiB": (([(f"h{i}", "x" * 65535) for i in range(3)], b""), EventStreamError),
    "payload over 24 MiB": (([], b"\x00" * (MAX_PAYLOAD_LENGTH + 1)), EventStreamError),
    "unsupported type": (([("f", 1.5)], b""), TypeError),
}


@pytest.mark.parametrize(("args", "error"), ENCODE_ERRORS.values(), ids=ENCODE_ERRORS.keys())
def test_encode_refuses(
    args: tuple[list[tuple[str, object]], bytes], error: type[Exception]
) -> None:
    with pytest.raises(error):
        encode_message(*args)  # type: ignore[arg-type]


def test_the_largest_payload_botocore_accepts() -> None:
    message = encode_message([], b"\x00" * MAX_PAYLOAD_LENGTH)
    (decoded,) = EventStreamDecoder().feed(message)
    assert len(decoded.payload) == MAX_PAYLOAD_LENGTH
    buffer = botocore.eventstream.EventStreamBuffer()
    buffer.add_data(message)
    assert len(next(iter(buffer)).payload) == MAX_PAYLOAD_LENGTH


# --- boto3's InvokeWithResponseStream reading our stream over HTTP ----------------------------


class _StreamingLambda(BaseHTTPRequestHandler):
    """Answers InvokeWithResponseStream with the server's canned event stream, in small writes."""

    body: ClassVar[bytes] = b""
    requests: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).requests.append((self.path, self.headers.get("X-Amz-Log-Type", "")))
        self.send_response(200)
        # botocore's model maps ResponseStreamContentType to this very header.
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amz-Executed-Version", "$LATEST")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        for start in range(0, len(self.body), 7):  # split messages across writes
            self.wfile.write(self.body[start : start + 7])
            self.wfile.flush()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def lambda_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[_StreamingLambda]]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    handler = type("Handler", (_StreamingLambda,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def invoke_stream(
    endpoint: type[_StreamingLambda], body: bytes
) -> tuple[dict[str, object], list[dict[str, object]]]:
    endpoint.body = body
    client = boto3.session.Session().client(
        "lambda",
        endpoint_url=endpoint.url,  # type: ignore[attr-defined]
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    try:
        response = client.invoke_with_response_stream(FunctionName="f", LogType="Tail")
        stream = response.pop("EventStream")
        try:
            events = list(stream)
        finally:
            stream.close()
        return response, events
    finally:
        client.close()


def test_boto3_reads_chunks_and_a_successful_completion(
    lambda_endpoint: type[_StreamingLambda],
) -> None:
    body = (
        payload_chunk(b"hello ")
        + payload_chunk(b"")
        + payload_chunk(b"\x00world")
        + invoke_complete()
    )
    response, events = invoke_stream(lambda_endpoint, body)
    assert events == [
        {"PayloadChunk": {"Payload": b"hello "}},
        {"PayloadChunk": {"Payload": b""}},
        {"PayloadChunk": {"Payload": b"\x00world"}},
        {"InvokeComplete": {}},
    ]
    assert response["StatusCode"] == 200
    assert response["ResponseStreamContentType"] == "application/vnd.amazon.eventstream"
    assert response["ExecutedVersion"] == "$LATEST"
    assert lambda_endpoint.requests == [
        ("/2021-11-15/functions/f/response-streaming-invocations", "Tail")
    ]


def test_boto3_reads_a_failed_completion(lambda_endpoint: type[_StreamingLambda]) -> None:
    body = payload_chunk(b"partial") + invoke_complete("Function.StreamBroke", "midstream", "TE9H")
    _, events = invoke_stream(lambda_endpoint, body)
    assert events == [
        {"PayloadChunk": {"Payload": b"partial"}},
        {
            "InvokeComplete": {
                "ErrorCode": "Function.StreamBroke",
                "ErrorDetails": "midstream",
                "LogResult": "TE9H",
            }
        },
    ]


def test_boto3_raises_on_an_error_message(lambda_endpoint: type[_StreamingLambda]) -> None:
    error = encode_message(
        [
            (":message-type", "error"),
            (":error-code", "ServiceException"),
            (":error-message", "boom"),
        ],
        b"",
    )
    with pytest.raises(botocore.exceptions.EventStreamError, match="ServiceException"):
        invoke_stream(lambda_endpoint, payload_chunk(b"a") + error)


def test_message_value_semantics() -> None:
    message = Message({"a": 1}, b"p")
    assert repr(message) == "Message(headers={'a': 1}, payload=b'p')"
    assert message == Message({"a": 1}, b"p")
    assert message != Message({"a": 1}, b"q")
    assert message != ({"a": 1}, b"p")
