"""The emulator through boto3: every invocation type, errors, logs, and the failure modes."""

from __future__ import annotations

import base64
import json
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.emulator.conftest import Server


def call(client: Any, name: str, event: object = None, **kwargs: Any) -> dict[str, Any]:
    payload = json.dumps(event if event is not None else {})
    response = client.invoke(FunctionName=name, Payload=payload, **kwargs)
    response["Body"] = response["Payload"].read()
    return dict(response)


def error_code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def test_request_response_round_trip(lambda_client: Any) -> None:
    response = call(lambda_client, "echo", {"hello": "world", "n": [1, 2]})
    assert response["StatusCode"] == 200
    assert json.loads(response["Body"]) == {"hello": "world", "n": [1, 2]}
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_tail_log_has_the_function_output_and_report(lambda_client: Any) -> None:
    response = call(lambda_client, "echo", {"tail": 1}, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id} Version: $LATEST" in log
    assert "echo handler got {'tail': 1}" in log
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}\tDuration: " in log
    assert "Memory Size: 256 MB\tMax Memory Used: " in log
    assert len(log.encode()) <= 4096


def test_output_written_just_before_the_answer_comes_before_end(lambda_client: Any) -> None:
    # 30 KB of lines, then the answer at once: the answer can be read before the pipe is, and
    # END must still wait for every line (on every event loop, uvloop included).
    for _ in range(10):
        response = call(lambda_client, "echo", {"lines": 300}, LogType="Tail")
        log = base64.b64decode(response["LogResult"]).decode()
        assert log.index("line 299 ") < log.index("END RequestId: "), log[-600:]


def test_back_to_back_each_log_keeps_its_output_between_start_and_end(
    lambda_client: Any, server: Server
) -> None:
    # Without a log tail, END and REPORT wait for the next invocation's event: the output the
    # function wrote just before it answered must still come before its END, and none of it
    # after the next START.
    ids = []
    for _ in range(8):
        response = lambda_client.invoke(FunctionName="echo", Payload=json.dumps({"lines": 300}))
        ids.append(response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"])
    server.wait_for_output(f"REPORT RequestId: {ids[-1]}")
    log = server.output()
    for request_id in ids:
        start = log.index(f"START RequestId: {request_id}")
        end = log.index(f"END RequestId: {request_id}")
        lines = log[start:end]
        assert "line 299 " in lines, lines[-400:]
        assert lines.count("START RequestId: ") == 1 and "END RequestId: " not in lines


def test_a_line_longer_than_the_pipe_reader_limit(lambda_client: Any) -> None:
    # 200 KB in one line: passed on in pieces, and the output after it still flows.
    response = call(lambda_client, "echo", {"long": 200_000}, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    assert "L end of the long line" in log
    for _ in range(3):
        response = call(lambda_client, "echo", {"lines": 700}, LogType="Tail")
        assert "line 699 " in base64.b64decode(response["LogResult"]).decode()


def test_function_error(lambda_client: Any) -> None:
    response = call(lambda_client, "fails")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "function failed on purpose")


def test_context_and_environment(lambda_client: Any) -> None:
    client_context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    # (A tenant id is refused by a function without tenant isolation: see test_tenancy.py.)
    response = call(lambda_client, "context", ClientContext=client_context)
    info = json.loads(response["Body"])
    assert info["request_id"] == response["ResponseMetadata"]["RequestId"]
    assert info["function_name"] == "context"
    assert info["memory"] == "512"
    assert info["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:context"
    assert 0 < info["remaining"] <= 10_000
    assert info["custom"] == {"k": "v"}
    assert info["tenant"] is None
    assert info["trace"].startswith("Root=1-")
    env = info["env"]
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert (env["TZ"], env["AWS_LAMBDA_INITIALIZATION_TYPE"]) == (":UTC", "on-demand")
    assert env["GREETING"] == "hello"  # from Globals
    assert env["_HANDLER"] == "app.context_info"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/context"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert info["cwd"] == env["LAMBDA_TASK_ROOT"]


def test_event_and_dry_run(lambda_client: Any, server: Server) -> None:
    response = lambda_client.invoke(
        FunctionName="echo", InvocationType="Event", Payload=b'{"async": "yes"}'
    )
    assert response["StatusCode"] == 202
    server.wait_for_output("echo handler got {'async': 'yes'}")
    dry = lambda_client.invoke(FunctionName="echo", InvocationType="DryRun")
    assert dry["StatusCode"] == 204


@pytest.mark.parametrize(
    "name",
    [
        "echo",
        "echo:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:echo",
        "123456789012:function:echo",
        "Echo",  # the logical id of the function whose FunctionName is echo, as in SAM CLI
        "Echo:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:Echo",
    ],
)
def test_function_names(lambda_client: Any, name: str) -> None:
    assert json.loads(call(lambda_client, name, {"x": 1})["Body"]) == {"x": 1}


def test_a_function_invoked_by_its_logical_id_is_still_itself(lambda_client: Any) -> None:
    answer = json.loads(call(lambda_client, "Context")["Body"])
    assert answer["function_name"] == "context"
    assert answer["arn"] == "arn:aws:lambda:us-east-1:123456789012:function:context"


def test_unknown_function_and_qualifier(lambda_client: Any) -> None:
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as missing:
        call(lambda_client, "nope")
    assert "Function not found: arn:aws:lambda:us-east-1:123456789012:function:nope" in str(
        missing.value
    )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        call(lambda_client, "echo", Qualifier="live")


def test_invalid_json_payload(lambda_client: Any) -> None:
    with pytest.raises(lambda_client.exceptions.InvalidRequestContentException) as error:
        lambda_client.invoke(FunctionName="echo", Payload=b"{not json")
    assert "Could not parse request body into json" in str(error.value)


def test_bad_client_context(lambda_client: Any) -> None:
    with pytest.raises(ClientError) as error:
        lambda_client.invoke(FunctionName="echo", Payload=b"{}", ClientContext="%%%")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("kind", "size", "limit"),
    [("RequestResponse", 6_291_457, 6_291_456), ("Event", 1_048_577, 1_048_576)],
)
def test_payload_limits(lambda_client: Any, kind: str, size: int, limit: int) -> None:
    payload = b'"' + b"x" * (size - 2) + b'"'
    with pytest.raises(ClientError) as error:
        lambda_client.invoke(FunctionName="echo", InvocationType=kind, Payload=payload)
    assert error_code(error.value) == "RequestEntityTooLargeException"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    message = error.value.response["Error"]["Message"]
    assert (
        message
        == f"{size} byte payload is too large for the {kind} invocation type (limit {limit} bytes)"
    )


def test_timeout_then_the_next_invocation_works(lambda_client: Any) -> None:
    response = call(lambda_client, "sleeps", {"seconds": 5}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after 1.00 seconds",
        "errorType": "Sandbox.Timedout",
    }
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Task timed out after 1.00 seconds" in log and "Status: timeout" in log
    assert json.loads(call(lambda_client, "sleeps", {"seconds": 0})["Body"])["slept"] == 0


@pytest.mark.parametrize(
    ("name", "event", "reason"),
    [("crashes", {"code": 42}, "exit status 42"), ("killed", {}, "signal: killed")],
)
def test_runtime_exit_then_the_next_invocation_works(
    lambda_client: Any, name: str, event: dict[str, int], reason: str
) -> None:
    response = call(lambda_client, name, event)
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    request_id = response["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {reason}",
    }
    assert (
        call(lambda_client, "echo", {"after": name})["Body"]
        == b'{"after":"' + name.encode() + b'"}'
    )


def test_memory_limit(lambda_client: Any) -> None:
    response = call(lambda_client, "hog", {"mb": 600}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    # With cgroups the kernel kills the runtime; with resource limits Python raises MemoryError.
    assert body["errorType"] in ("Runtime.OutOfMemory", "MemoryError"), body
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Memory Size: 128 MB" in log
    used = int(log.split("Max Memory Used: ")[1].split(" MB")[0])
    assert 0 < used <= 140
    assert json.loads(call(lambda_client, "hog", {"mb": 1})["Body"]) == {"allocated": 1}


def test_response_too_large(lambda_client: Any) -> None:
    response = call(lambda_client, "big", {"size": 7 * 1024 * 1024})
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    assert "exceeded maximum allowed payload size (6291556 bytes)" in body["errorMessage"]
    assert json.loads(call(lambda_client, "big", {"size": 10})["Body"]) == "x" * 10


def test_init_error_is_the_answer_every_time(lambda_client: Any) -> None:
    for _ in range(2):
        response = call(lambda_client, "initfails")
        assert response["FunctionError"] == "Unhandled"
        body = json.loads(response["Body"])
        assert body["errorType"] == "Runtime.ImportModuleError"
        assert "lambdakit_no_such_module_for_tests" in body["errorMessage"]


def test_runtime_that_never_asks_for_work(lambda_client: Any) -> None:
    response = call(lambda_client, "never-next")
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Body"])["errorType"] == "Sandbox.Timedout"


def test_badly_behaved_runtime(lambda_client: Any, server: Server) -> None:
    body = json.loads(call(lambda_client, "rude")["Body"])
    assert body == {"garbage": "HTTP/1.1 400 Bad Request", "wrong_id": 400}
    output = server.wait_for_output("second answer got 403")
    assert "InvalidStateTransition" in output


@pytest.mark.parametrize("name", ["provided", "ric", "shell"])
def test_runtimes_we_did_not_write_in_the_emulator(lambda_client: Any, name: str) -> None:
    body = json.loads(call(lambda_client, name, {"k": name})["Body"])
    expected = {
        "provided": {"runtime": "lambdakit via bootstrap", "event": {"k": "provided"}},
        "ric": {"runtime": "awslambdaric", "event": {"k": "ric"}, "function": "ric"},
        "shell": {"shell": True, "received": {"k": "shell"}},
    }
    assert body == expected[name]


def test_awslambdaric_timeout(lambda_client: Any) -> None:
    response = call(lambda_client, "ric-sleeps", {"seconds": 5})
    assert json.loads(response["Body"])["errorType"] == "Sandbox.Timedout"


def test_reserved_concurrency_throttles(lambda_client: Any) -> None:
    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(call, lambda_client, "reserved", {"seconds": 1.5})
        import time

        time.sleep(0.5)
        with pytest.raises(lambda_client.exceptions.TooManyRequestsException) as error:
            call(lambda_client, "reserved", {"seconds": 0})
        assert error.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
        assert slow.result()["StatusCode"] == 200


@pytest.mark.slow
def test_200_invocations_at_concurrency_5_are_each_answered_once(lambda_client: Any) -> None:
    events = [{"i": i} for i in range(200)]
    with ThreadPoolExecutor(5) as pool:
        bodies = list(
            pool.map(lambda e: json.loads(call(lambda_client, "echo", e)["Body"]), events)
        )
    assert bodies == events


def test_environments_are_reused(lambda_client: Any) -> None:
    seen = {json.loads(call(lambda_client, "pid", {})["Body"])["environment"] for _ in range(5)}
    assert len(seen) == 1  # one after the other: the warm environment every time


def test_a_client_that_disconnects_mid_invoke(lambda_client: Any, server: Server) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    body = b'{"seconds": 0.5}'
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /2015-03-31/functions/pid/invocations HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
    # The abandoned invocation still runs to its end; the function keeps working.
    assert "environment" in json.loads(call(lambda_client, "pid", {"seconds": 0})["Body"])
