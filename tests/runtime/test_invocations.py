"""The runtime as a real process against the recording stub: results, errors, context, headers."""

from __future__ import annotations

import json
import time

import pytest

from tests.helpers import RuntimeProcess
from tests.stub import RecordedRequest, StubRuntimeAPI


def run(
    handler: str, *events: dict[str, object], env: dict[str, str] | None = None
) -> tuple[list[RecordedRequest], RuntimeProcess]:
    """Run ``handler`` on each event (kwargs for ``StubRuntimeAPI.push``); return the answers."""
    with StubRuntimeAPI() as api, RuntimeProcess(handler, api.address, env=env) as runtime:
        for event in events:
            api.push(**event)  # type: ignore[arg-type]
        answers = api.wait_for_answers(len(events))
    return answers, runtime


def only(handler: str, env: dict[str, str] | None = None, **event: object) -> RecordedRequest:
    answers, _ = run(handler, event, env=env)
    return answers[0]


def test_json_event_and_result_round_trip_as_compact_json() -> None:
    answer = only("app.echo", body={"a": [1, 2.5, None, True], "b": "x"}, request_id="r-1")
    assert answer.method == "POST"
    assert answer.path == "/2018-06-01/runtime/invocation/r-1/response"
    assert answer.body == b'{"a":[1,2.5,null,true],"b":"x"}'
    assert answer.header("Content-Type") == "application/json"
    assert answer.header("Content-Length") == str(len(answer.body))
    assert answer.header("Lambda-Runtime-Function-Error-Type") is None


def test_non_ascii_is_kept_not_escaped() -> None:
    answer = only("app.unicode")
    assert answer.body == '{"text":"héllo ✓","nested":["ü"]}'.encode()


def test_decimal_results_keep_their_exact_digits() -> None:
    answer = only("app.returns_decimal")
    assert answer.body == b'{"price":1.10,"big":12345678901234567890.000001,"nan":NaN}'


def test_bytes_result_is_sent_raw_as_application_unknown() -> None:
    answer = only("app.returns_bytes")
    assert answer.body == b"\x00\x01binary\xff"
    assert answer.header("Content-Type") == "application/unknown"


@pytest.mark.parametrize(
    ("content_type", "expected_type"),
    [
        ("application/json", "dict"),
        ("application/json; charset=utf-8", "dict"),
        ("text/plain", "bytes"),
        (None, "bytes"),
    ],
)
def test_event_is_parsed_only_when_its_content_type_is_json(
    content_type: str | None, expected_type: str
) -> None:
    answer = only("app.event_type", body=b'{"k": 1}', content_type=content_type)
    assert answer.json()["type"] == expected_type


def test_handler_exception_is_posted_to_error_with_type_headers_and_trace() -> None:
    answer = only("app.raises", request_id="r-err")
    assert answer.path == "/2018-06-01/runtime/invocation/r-err/error"
    body = answer.json()
    assert list(body) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert body["errorMessage"] == "bad thing"
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == "r-err"
    # Only the user's frame: the runtime's own frames are hidden.
    assert len(body["stackTrace"]) == 1
    assert body["stackTrace"][0].endswith('in raises\n    raise ValueError("bad thing")\n')
    assert answer.header("Lambda-Runtime-Function-Error-Type") == "ValueError"
    cause = json.loads(answer.header("Lambda-Runtime-Function-XRay-Error-Cause") or "")
    assert cause["exceptions"][0]["type"] == "ValueError"
    assert cause["exceptions"][0]["stack"][0]["label"] == "raises"
    assert cause["paths"] == [cause["exceptions"][0]["stack"][0]["path"]]
    assert answer.body.startswith(b'{"errorMessage": "bad thing", "errorType": "ValueError"')


def test_unhandled_error_is_logged_as_one_text_record() -> None:
    answers, runtime = run("app.raises", {})
    assert answers[0].json()["errorType"] == "ValueError"
    record = next(line for line in runtime.stdout.split("\n") if line.startswith("[ERROR]"))
    parts = record.split("\r")
    assert parts[0] == "[ERROR] ValueError: bad thing"
    assert parts[1] == "Traceback (most recent call last):"
    assert parts[2].startswith('\u00a0\u00a0File "')
    assert parts[3] == '\u00a0\u00a0\u00a0\u00a0raise ValueError("bad thing")'


def test_custom_exception_is_reported_under_its_class_name() -> None:
    body = only("app.raises_custom").json()
    assert (body["errorType"], body["errorMessage"]) == ("CustomError", "custom failure")


@pytest.mark.parametrize(
    ("handler", "event", "error_type", "message"),
    [
        (
            "app.unserializable",
            {},
            "Runtime.MarshalError",
            "Unable to marshal response: Object of type set is not JSON serializable",
        ),
        (
            "app.echo",
            {"body": b"{not json"},
            "Runtime.UnmarshalError",
            "Unable to unmarshal input: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (
            "app.echo",
            {"body": b""},
            "Runtime.UnmarshalError",
            "Unable to unmarshal input: Expecting value: line 1 column 1 (char 0)",
        ),
        (
            "app.context_dump",
            {"headers": {"Lambda-Runtime-Client-Context": "{bad"}},
            "Runtime.LambdaContextUnmarshalError",
            "Unable to parse Client Context JSON: Expecting property name enclosed in double "
            "quotes: line 1 column 2 (char 1)",
        ),
    ],
)
def test_runtime_faults_have_awslambdaric_types_and_messages(
    handler: str, event: dict[str, object], error_type: str, message: str
) -> None:
    answer = only(handler, **event)
    body = answer.json()
    assert (body["errorType"], body["errorMessage"], body["stackTrace"]) == (
        error_type,
        message,
        [],
    )
    assert answer.header("Lambda-Runtime-Function-Error-Type") == error_type
    cause = json.loads(answer.header("Lambda-Runtime-Function-XRay-Error-Cause") or "")
    assert cause["exceptions"] == [
        {"message": message, "type": "LambdaValidationError", "stack": []}
    ]


def test_context_has_awslambdaric_attributes() -> None:
    deadline = int(time.time() * 1000) + 60_000
    answer = only(
        "app.context_dump",
        request_id="ctx-1",
        deadline_ms=deadline,
        headers={
            "Lambda-Runtime-Client-Context": json.dumps(
                {
                    "custom": {"k": "v"},
                    "env": {"e": 1},
                    "client": {"app_title": "t"},
                    "w3c": {"traceparent": "00-abc-def-01", "junk": "x", "baggage": 3},
                }
            ),
            "Lambda-Runtime-Cognito-Identity": json.dumps(
                {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
            ),
            "Lambda-Runtime-Aws-Tenant-Id": "tenant-42",
        },
    )
    context = answer.json()
    assert context["aws_request_id"] == "ctx-1"
    assert context["function_name"] == "test-function"
    assert context["function_version"] == "$LATEST"
    assert (context["memory_limit_in_mb"], context["memory_type"]) == ("256", "str")
    assert context["log_group_name"] == "/aws/lambda/test-function"
    assert context["invoked_function_arn"].endswith(":function:stub")
    assert context["tenant_id"] == "tenant-42"
    assert 50_000 < context["remaining"] <= 60_000
    assert context["identity"] == ["id-1", "pool-1"]
    assert context["custom"] == {"k": "v"}
    assert context["w3c"] == {"traceparent": "00-abc-def-01"}
    assert context["client_context"] == (
        "ClientContext([custom={'k': 'v'},env={'e': 1},client=Client([installation_id=None,"
        "app_title=t,app_version_name=None,app_version_code=None,app_package_name=None])])"
    )
    assert context["repr"].startswith("LambdaContext([aws_request_id=ctx-1,log_group_name=")
    assert context["repr"].endswith(",tenant_id=tenant-42])")


def test_context_defaults_without_optional_headers() -> None:
    context = only("app.context_dump", deadline_ms=1000).json()
    assert context["identity"] == [None, None]
    assert context["client_context"] == "None"
    assert context["w3c"] == {}
    assert context["tenant_id"] is None
    assert context["remaining"] == 0  # a deadline in the past is clamped


def test_invocation_id_is_echoed_on_response_and_error() -> None:
    header = {"Lambda-Runtime-Invocation-Id": "nonce-1"}
    ok = only("app.echo", headers=header)
    failed = only("app.raises", headers={"Lambda-Runtime-Invocation-Id": "nonce-2"})
    plain = only("app.echo")
    assert ok.header("Lambda-Runtime-Invocation-Id") == "nonce-1"
    assert failed.header("Lambda-Runtime-Invocation-Id") == "nonce-2"
    assert plain.header("Lambda-Runtime-Invocation-Id") is None


def test_trace_id_is_set_per_invocation_and_removed_when_absent() -> None:
    trace = "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"
    answers, _ = run(
        "app.trace_ids",
        {"headers": {"Lambda-Runtime-Trace-Id": trace}, "request_id": "t-1"},
        {"request_id": "t-2"},
    )
    first, second = (a.json() for a in answers)
    assert first == {"env": trace, "var": trace, "request": "t-1"}
    assert second == {"env": None, "var": None, "request": "t-2"}


def test_coroutine_results_are_awaited() -> None:
    assert only("app.returns_coroutine_object").json() == {"awaited": True}


def test_keep_alive_serves_many_invocations_on_one_connection() -> None:
    with StubRuntimeAPI() as api, RuntimeProcess("app.echo", api.address):
        for index in range(20):
            api.push({"i": index})
        answers = api.wait_for_answers(20)
        assert [a.json() for a in answers] == [{"i": i} for i in range(20)]
        assert api.connections == 1


def test_big_event_and_response() -> None:
    payload = {"size": 3 * 1024 * 1024, "pad": "y" * (2 * 1024 * 1024)}
    answer = only("app.big", body=payload)
    assert len(answer.body) == 3 * 1024 * 1024 + 2
