"""The emulator under faults: runtimes that poll twice or from outside, clients that hang up on a
stream, inits that fail with a log tail asked for, and payloads and names Lambda refuses."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator.conftest import Server, client_for
from tests.helpers import FUNCTIONS

PROJECT = FUNCTIONS / "faults"


@pytest.fixture(scope="module")
def faults() -> Iterator[Server]:
    server = Server(PROJECT)
    yield server
    server.stop()


@pytest.fixture
def client(faults: Server) -> Any:
    return client_for(faults.url)


def invoke(client: Any, name: str, event: object, **kwargs: Any) -> dict[str, Any]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event), **kwargs)
    response["Body"] = response["Payload"].read()
    return dict(response)


def raw_request(url: str, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, Any]]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


# --- a runtime that polls twice, or from outside its environment ---------------------------------


def test_a_second_poll_is_refused_and_nothing_is_lost(client: Any) -> None:
    answers = [json.loads(invoke(client, "raw", {"n": n})["Body"]) for n in range(20)]
    # Every poll of the runtime was made while its first poll still waited: refused with
    # RAPID's state-transition error, and each of the 20 invocations answered (not lost).
    assert all(a["second_poll"] == [403, "InvalidStateTransition"] for a in answers)


def test_a_poll_that_hangs_up_is_replaced_by_the_next(client: Any) -> None:
    invoke(client, "raw", {"mode": "hangup"})
    # The next invocation after the runtime's poll that hangs up: sent before it, it would find
    # the environment still busy with the first one, and start another.
    time.sleep(0.5)
    started = time.monotonic()
    after = json.loads(invoke(client, "raw", {"n": 1})["Body"])
    assert after.get("hangups", 0) >= 1, after
    assert time.monotonic() - started < 4  # answered, not left to the 5 s timeout


def test_another_process_cannot_poll_an_environments_runtime_api(
    client: Any, faults: Server
) -> None:
    api = json.loads(invoke(client, "raw", {})["Body"])["api"]
    # This test process is not part of the environment: it must not receive its events.
    status, body = raw_request(f"http://{api}", "GET", "/2018-06-01/runtime/invocation/next")
    assert (status, body["errorType"]) == (403, "AccessDenied")
    status, body = raw_request(
        f"http://{api}", "POST", "/2018-06-01/runtime/invocation/x/response", b"{}"
    )
    assert (status, body["errorType"]) == (403, "AccessDenied")
    assert "second_poll" in json.loads(invoke(client, "raw", {})["Body"])  # still served


def test_an_oversized_error_is_refused_and_the_caller_answered(client: Any) -> None:
    started = time.monotonic()
    response = invoke(client, "raw", {"mode": "big_error"})
    assert time.monotonic() - started < 4  # not left to the function's 5 s timeout
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Body"])["errorType"] == "Function.ResponseSizeTooLarge"
    assert json.loads(invoke(client, "raw", {})["Body"])["big_error"] == 413


# --- streams whose client hangs up; streams read buffered ----------------------------------------


def hang_up_mid_stream(url: str, mb: int) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        body = json.dumps({"mb": mb}).encode()
        sock.sendall(
            b"POST /2021-11-15/functions/streams/response-streaming-invocations HTTP/1.1\r\n"
            b"Host: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        received = 0
        while received < 256 * 1024:
            chunk = sock.recv(65536)
            assert chunk, "the stream ended before the client hung up"
            received += len(chunk)


@pytest.mark.slow
def test_a_client_that_hangs_up_on_a_stream_does_not_pin_the_environment(
    client: Any, faults: Server
) -> None:
    for _ in range(3):
        hang_up_mid_stream(faults.url, mb=40)
    # Each abandoned function runs on to its end, its stream going nowhere, instead of waiting
    # for a reader (flow control) until its 20 s timeout, billed and holding its environment.
    deadline = time.monotonic() + 10
    while faults.output().count("streamed 40 MiB") < 3:
        assert time.monotonic() < deadline, faults.output()[-2000:]
        time.sleep(0.05)
    assert "Task timed out" not in faults.output()
    response = invoke(client, "streams", {"mb": 1})
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert len(response["Body"]) == 1024 * 1024


def test_a_buffered_invoke_of_a_stream_is_capped_at_6_mb(client: Any, faults: Server) -> None:
    response = invoke(client, "streams", {"mb": 30})
    assert response["FunctionError"] == "Unhandled"
    document = json.loads(response["Body"])
    assert document["errorType"] == "Function.ResponseSizeTooLarge"
    assert "6291556 bytes" in document["errorMessage"]
    assert len(invoke(client, "streams", {"mb": 2})["Body"]) == 2 * 1024 * 1024


# --- an init that fails, with the log tail asked for ---------------------------------------------


def test_a_failed_init_with_tail_answers_with_its_log(client: Any) -> None:
    started = time.monotonic()
    response = invoke(client, "initfails", {}, LogType="Tail")
    assert time.monotonic() - started < 10
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Body"])["errorType"] == "Runtime.ImportModuleError"
    log = base64.b64decode(response["LogResult"]).decode()
    lines = log.splitlines()
    assert lines[0].startswith("START RequestId: " + response["ResponseMetadata"]["RequestId"])
    assert "broken module starting" in log
    assert any(line.startswith("INIT_REPORT Init Duration") for line in lines)
    assert lines[-2].startswith("END RequestId:")
    assert lines[-1].startswith("REPORT RequestId:")
    assert lines[-1].endswith("Status: error\tError Type: Runtime.ImportModuleError")


def test_a_failed_init_with_tail_on_a_stream(client: Any) -> None:
    response = client.invoke_with_response_stream(
        FunctionName="initfails", Payload=b"{}", LogType="Tail"
    )
    events = list(response["EventStream"])
    complete = events[-1]["InvokeComplete"]
    assert complete["ErrorCode"] == "Runtime.ImportModuleError"
    assert "REPORT RequestId:" in base64.b64decode(complete["LogResult"]).decode()


# --- what the Invoke API refuses -----------------------------------------------------------------


def error_of(call: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    )


@pytest.mark.parametrize(
    "payload",
    [b"[" * 100_000, b'{"a": NaN}', b"[Infinity]", b"-Infinity"],
    ids=["nested-100000", "nan", "infinity", "minus-infinity"],
)
def test_payloads_lambda_cannot_parse(lambda_client: Any, payload: bytes) -> None:
    code, message, status = error_of(
        lambda: lambda_client.invoke(FunctionName="echo", Payload=payload)
    )
    assert (code, status) == ("InvalidRequestContentException", 400)
    assert message.startswith("Could not parse request body into json")


def test_a_deep_but_parseable_payload_is_passed_on(lambda_client: Any) -> None:
    payload = b"[" * 500 + b"]" * 500
    response = lambda_client.invoke(FunctionName="echo", Payload=payload)
    assert response["Payload"].read() == payload


@pytest.mark.parametrize(
    ("name", "arn"),
    [
        (  # another account
            "arn:aws:lambda:us-east-1:111111111111:function:echo",
            "arn:aws:lambda:us-east-1:111111111111:function:echo",
        ),
        (  # another region
            "arn:aws:lambda:eu-west-1:123456789012:function:echo",
            "arn:aws:lambda:eu-west-1:123456789012:function:echo",
        ),
        (  # another partition
            "arn:aws-cn:lambda:us-east-1:123456789012:function:echo",
            "arn:aws-cn:lambda:us-east-1:123456789012:function:echo",
        ),
        (  # a partial ARN: the rest is the emulator's
            "111111111111:function:echo:$LATEST",
            "arn:aws:lambda:us-east-1:111111111111:function:echo:$LATEST",
        ),
    ],
)
def test_an_arn_of_another_account_or_region_is_not_found(
    lambda_client: Any, name: str, arn: str
) -> None:
    code, message, status = error_of(lambda: lambda_client.invoke(FunctionName=name, Payload=b"{}"))
    assert (code, message, status) == (
        "ResourceNotFoundException",
        f"Function not found: {arn}",
        404,
    )


def test_the_modelled_account_and_region_are_found(lambda_client: Any) -> None:
    for name in (
        "arn:aws:lambda:us-east-1:123456789012:function:echo",
        "123456789012:function:echo",
        "arn:aws:lambda:us-east-1:123456789012:function:echo:$LATEST",
    ):
        assert lambda_client.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200


@pytest.mark.parametrize("name", ["echo:", "ec ho", "echo:a:b", "function:"])
def test_a_malformed_function_name_is_a_validation_error(lambda_client: Any, name: str) -> None:
    code, message, status = error_of(lambda: lambda_client.invoke(FunctionName=name, Payload=b"{}"))
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(f"1 validation error detected: Value '{name}' at 'functionName'")


def test_an_empty_qualifier_is_a_validation_error(server: Server) -> None:
    # botocore refuses Qualifier="" itself (min length 1); curl and other clients send it.
    path = "/2015-03-31/functions/echo/invocations?Qualifier="
    status, body = raw_request(server.url, "POST", path, b"{}")
    assert status == 400
    assert body["message"].startswith("1 validation error detected: Value '' at 'qualifier'")
