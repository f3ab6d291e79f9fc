"""Output without a final newline belongs to the invocation that wrote it (issue 16).

Each function writes the same pieces (``PIECES``): lines with and without a newline, on stdout
and stderr, interleaved, the last with no newline just before the answer. Every byte must be in
that invocation's log, between its START and its END, in the order written: in ``serve``'s
output and in the log tail (X-Amz-Log-Result, or InvokeComplete's LogResult when streamed).
A partial line is closed when the other stream writes and when the invocation ends.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.emulator.conftest import Server, client_for
from tests.helpers import FUNCTIONS

PROJECT = FUNCTIONS / "partial"

# The shell function's bootstrap writes these same pieces with printf.
PIECES = [
    ("out", "out one\n"),
    ("err", "err partial"),  # closed when stdout writes next
    ("out", "out split "),
    ("out", "in two writes\n"),  # one line, written in two pieces
    ("err", "err two\n"),
    ("err", "err last"),
    ("out", "no newline"),  # closed at the end of the invocation
]
LINES = ["out one", "err partial", "out split in two writes", "err two", "err last", "no newline"]


@pytest.fixture(scope="module")
def partial_server() -> Iterator[Server]:
    server = Server(PROJECT)
    yield server
    server.stop()


@pytest.fixture
def client(partial_server: Server) -> Any:
    return client_for(partial_server.url, read_timeout=30)


def between_start_and_end(lines: list[str], request_id: str) -> list[str]:
    """The lines after the invocation's START and before its END."""
    start = next(i for i, line in enumerate(lines) if f"START RequestId: {request_id}" in line)
    end = next(i for i, line in enumerate(lines) if f"END RequestId: {request_id}" in line)
    assert start < end, lines
    return lines[start + 1 : end]


def printed(server: Server, function: str, request_id: str) -> list[str]:
    """The invocation's lines in serve's output, without the ``[function]`` prefix."""
    server.wait_for_output(f"REPORT RequestId: {request_id}")
    prefix = f"[{function}] "
    lines = [line.rstrip("\n") for line in server.lines if line.startswith(prefix)]
    return [line[len(prefix) :] for line in between_start_and_end(lines, request_id)]


def tail(log_result: str, request_id: str) -> list[str]:
    log = base64.b64decode(log_result).decode()
    assert log.endswith("\n"), log
    return between_start_and_end(log.splitlines(), request_id)


def invoke(client: Any, function: str, event: object) -> tuple[str, str, bytes]:
    """(request id, log tail, payload) of a buffered invocation with LogType Tail."""
    response = client.invoke(FunctionName=function, Payload=json.dumps(event), LogType="Tail")
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response, response
    payload = response["Payload"].read()
    return response["ResponseMetadata"]["RequestId"], response["LogResult"], payload


def invoke_streamed(client: Any, function: str, event: object) -> tuple[str, str, bytes]:
    """(request id, log tail, payload) of an InvokeWithResponseStream with LogType Tail."""
    response = client.invoke_with_response_stream(
        FunctionName=function, Payload=json.dumps(event), LogType="Tail"
    )
    assert response["StatusCode"] == 200
    events = list(response["EventStream"])
    complete = events[-1]["InvokeComplete"]
    assert "ErrorCode" not in complete, complete
    payload = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    return response["ResponseMetadata"]["RequestId"], complete["LogResult"], payload


@pytest.mark.parametrize("function", ["partial-py", "partial-ric", "partial-shell"])
def test_partial_lines_are_in_their_invocation_s_log_and_tail(
    client: Any, partial_server: Server, function: str
) -> None:
    for _ in range(2):  # the second invocation gets nothing of the first one's last line
        request_id, log_result, _ = invoke(client, function, {"pieces": PIECES})
        assert tail(log_result, request_id) == LINES
        assert printed(partial_server, function, request_id) == LINES


@pytest.mark.parametrize(
    ("function", "payload"),
    [("partial-py-stream", b"streamed"), ("partial-shell", b'{"shell": "streamed"}')],
)
def test_partial_lines_of_a_streamed_invocation(
    client: Any, partial_server: Server, function: str, payload: bytes
) -> None:
    for _ in range(2):
        request_id, log_result, body = invoke_streamed(
            client, function, {"pieces": PIECES, "mode": "stream"}
        )
        assert body == payload
        assert tail(log_result, request_id) == LINES
        assert printed(partial_server, function, request_id) == LINES


def test_what_a_streaming_handler_leaves_unflushed_is_in_its_log(client: Any) -> None:
    # The lambdakit runtime writes the handler's buffered stdout and stderr out before it
    # ends the stream, as it does before a buffered answer.
    request_id, log_result, body = invoke_streamed(client, "partial-py-unflushed", {})
    assert body == b"streamed"
    assert sorted(tail(log_result, request_id)) == [
        "err after the last chunk",
        "out after the last chunk",
    ]


def test_a_partial_line_comes_before_the_timeout_line(client: Any, partial_server: Server) -> None:
    response = client.invoke(
        FunctionName="partial-py-timeout", Payload=json.dumps({"pieces": PIECES}), LogType="Tail"
    )
    assert response["FunctionError"] == "Unhandled"
    request_id = response["ResponseMetadata"]["RequestId"]
    logged = tail(response["LogResult"], request_id)
    assert logged[:-1] == LINES
    assert logged[-1].endswith(f"{request_id} Task timed out after 1.00 seconds")
    assert printed(partial_server, "partial-py-timeout", request_id) == logged
