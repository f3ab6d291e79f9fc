"""Versions, aliases, provisioned concurrency, client context and the modelled account and
region, against a real `lambdakit serve` with boto3 and the AWS CLI as clients."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.conftest import Server, client_for

PROJECT = Path(__file__).parent.parent / "functions" / "versions"
ARN = "arn:aws:lambda:us-east-1:123456789012:function"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server(PROJECT, "--concurrency", "20", "--event-retry-delays", "0.05,0.05")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Any:
    return client_for(server.url)


def invoke(client: Any, name: str, payload: object = None, **kwargs: Any) -> tuple[dict, dict]:
    """(the function's answer, boto3's response)."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}), **kwargs)
    return json.loads(response["Payload"].read()), response


# --- provisioned concurrency: observed before anything is invoked --------------------------


def test_provisioned_environments_run_their_init_before_any_invocation(server: Server) -> None:
    # First in this module, before any test invokes: serve said the two were initialized
    # before it took invocations (its banner), and their init output comes before any START.
    stdout = "".join(server.lines)
    said = stdout.index("versioned:live: 2 of 2 provisioned environment(s) of version 1 started")
    assert said < stdout.index("Invoke API at")
    pattern = r"init environment=(\S+) version=1 type=provisioned-concurrency"
    deadline = time.monotonic() + 10
    while len(re.findall(pattern, server.output())) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the init's output is read a moment after the init ends
    assert len(re.findall(pattern, server.output())) == 2, server.output()
    assert "START" not in server.output()


def test_the_alias_uses_the_provisioned_environments_first(server: Server, client: Any) -> None:
    provisioned = set(
        re.findall(r"init environment=(\S+) version=1 type=provision", server.output())
    )
    answer, response = invoke(client, "versioned:live", LogType="Tail")
    assert answer["environment"] in provisioned
    assert answer["init_type"] == "provisioned-concurrency"
    report = base64.b64decode(response["LogResult"]).decode()
    assert "REPORT RequestId" in report
    assert "Init Duration" not in report  # no cold start, as on Lambda


def test_beyond_the_provisioned_environments_on_demand_ones_start(
    server: Server, client: Any
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(3) as pool:
        answers = list(
            pool.map(lambda _: invoke(client, "versioned:live", {"seconds": 1.5})[0], range(3))
        )
    assert len({a["environment"] for a in answers}) == 3
    assert sorted(a["init_type"] for a in answers) == [
        "on-demand",
        "provisioned-concurrency",
        "provisioned-concurrency",
    ]
    assert {a["env_version"] for a in answers} == {"1"}


# --- qualifiers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "qualifier", "version", "arn"),
    [
        ("versioned", None, "$LATEST", f"{ARN}:versioned"),
        ("versioned:$LATEST", None, "$LATEST", f"{ARN}:versioned:$LATEST"),
        ("versioned:1", None, "1", f"{ARN}:versioned:1"),
        ("versioned:live", None, "1", f"{ARN}:versioned:live"),
        ("versioned", "live", "1", f"{ARN}:versioned:live"),
        ("versioned", "1", "1", f"{ARN}:versioned:1"),
        ("versioned", "$LATEST", "$LATEST", f"{ARN}:versioned:$LATEST"),
        ("Versioned:live", None, "1", f"{ARN}:versioned:live"),  # the logical id
        ("123456789012:function:versioned:live", None, "1", f"{ARN}:versioned:live"),
        (f"{ARN}:versioned:1", None, "1", f"{ARN}:versioned:1"),
        (f"{ARN}:versioned", "live", "1", f"{ARN}:versioned:live"),
        ("classic:prod", None, "1", f"{ARN}:classic:prod"),
        ("classic", None, "$LATEST", f"{ARN}:classic"),
    ],
)
def test_qualifiers(client: Any, name: str, qualifier: str | None, version: str, arn: str) -> None:
    extra = {"Qualifier": qualifier} if qualifier else {}
    answer, response = invoke(client, name, **extra)
    assert response["ExecutedVersion"] == version
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == version
    assert answer["env_version"] == answer["function_version"] == version
    assert answer["arn"] == arn
    assert f"/[{version}]" in answer["log_stream"]


@pytest.mark.parametrize(("name", "version"), [("versioned", "$LATEST"), ("versioned:live", "1")])
def test_start_lines_name_the_version_that_runs(client: Any, name: str, version: str) -> None:
    _, response = invoke(client, name, LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {request_id} Version: {version}\n" in tail


def test_retries_of_an_event_run_the_version_and_tenant_it_was_invoked_with(
    server: Server, client: Any
) -> None:
    for extra, expected in [
        ({"FunctionName": "versioned", "Qualifier": "live"}, "version=1 tenant=None"),
        ({"FunctionName": "tenanted", "TenantId": "jade"}, "version=$LATEST tenant=jade"),
    ]:
        response = client.invoke(InvocationType="Event", Payload=b'{"fail": true}', **extra)
        request_id = response["ResponseMetadata"]["RequestId"]
        attempt = f"attempt {expected} request={request_id}"
        deadline = time.monotonic() + 20
        while server.output().count(attempt) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        attempts = re.findall(rf"attempt (.*) request={request_id}", server.output())
        assert attempts == [expected] * 3  # the first attempt and Lambda's two retries


def test_a_function_url_invokes_the_alias_as_sam_points_it(server: Server) -> None:
    import urllib.request

    found = re.search(r"versioned Function URL \(BUFFERED\): (\S+)", server.output())
    assert found, server.output()
    with urllib.request.urlopen(found.group(1), timeout=10) as response:
        answer = json.loads(response.read())
    assert (answer["env_version"], answer["arn"]) == ("1", f"{ARN}:versioned:live")


def test_each_version_has_its_own_environments(client: Any) -> None:
    latest, _ = invoke(client, "versioned")
    published, _ = invoke(client, "versioned:1")
    again, _ = invoke(client, "versioned:$LATEST")
    assert latest["environment"] != published["environment"]
    assert again["environment"] == latest["environment"]


@pytest.mark.parametrize(
    ("name", "qualifier", "missing"),
    [
        ("versioned:nope", None, f"{ARN}:versioned:nope"),
        ("versioned", "2", f"{ARN}:versioned:2"),
        ("plain:1", None, f"{ARN}:plain:1"),
        ("plain", "live", f"{ARN}:plain:live"),
        ("tenanted:1", None, f"{ARN}:tenanted:1"),
    ],
)
def test_an_unknown_qualifier_is_not_found(
    client: Any, name: str, qualifier: str | None, missing: str
) -> None:
    extra = {"Qualifier": qualifier} if qualifier else {}
    with pytest.raises(client.exceptions.ResourceNotFoundException) as error:
        client.invoke(FunctionName=name, Payload=b"{}", **extra)
    assert error.value.response["Error"]["Message"] == f"Function not found: {missing}"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_two_different_qualifiers_are_refused(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidParameterValueException) as error:
        client.invoke(FunctionName="versioned:live", Qualifier="1", Payload=b"{}")
    assert error.value.response["Error"]["Message"] == (
        "The derived qualifier from the function name does not match the specified qualifier."
    )


def test_the_aws_cli_invokes_an_alias(server: Server, tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = _aws(server, "--function-name", "versioned", "--qualifier", "live", str(out))
    assert json.loads(result.stdout)["ExecutedVersion"] == "1"
    assert json.loads(out.read_text())["arn"] == f"{ARN}:versioned:live"


def test_streaming_invocations_follow_the_qualifier(client: Any) -> None:
    response = client.invoke_with_response_stream(FunctionName="versioned", Qualifier="live")
    assert response["ExecutedVersion"] == "1"
    body = b"".join(
        e["PayloadChunk"]["Payload"] for e in response["EventStream"] if "PayloadChunk" in e
    )
    assert json.loads(body)["arn"] == f"{ARN}:versioned:live"


# --- client context --------------------------------------------------------------------------


def _context(value: object) -> str:
    return base64.b64encode(json.dumps({"custom": value}).encode()).decode()


def test_client_context_reaches_synchronous_invocations(client: Any) -> None:
    answer, _ = invoke(client, "plain", ClientContext=_context({"app": "sync"}))
    assert answer["client_context"] == {"app": "sync"}
    response = client.invoke_with_response_stream(
        FunctionName="plain", ClientContext=_context({"app": "stream"})
    )
    body = b"".join(
        e["PayloadChunk"]["Payload"] for e in response["EventStream"] if "PayloadChunk" in e
    )
    assert json.loads(body)["client_context"] == {"app": "stream"}


def test_client_context_is_dropped_from_event_invocations(server: Server, client: Any) -> None:
    response = client.invoke(
        FunctionName="plain",
        InvocationType="Event",
        Payload=b"{}",
        ClientContext=_context({"app": "event"}),
    )
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["RequestId"]
    server.wait_for_output(f"request={request_id}")
    assert f"client_context=null request={request_id}" in server.output()


# --- the modelled account and region -----------------------------------------------------------


def test_account_and_region_flags_name_the_arns() -> None:
    srv = Server(
        PROJECT, "--function", "Classic", "--account-id", "111122223333", "--region", "eu-west-2"
    )
    try:
        client = client_for(srv.url)
        arn = "arn:aws:lambda:eu-west-2:111122223333:function:classic"
        for name, invoked in [
            (arn, arn),
            (f"{arn}:prod", f"{arn}:prod"),
            ("111122223333:function:classic:prod", f"{arn}:prod"),
        ]:
            answer, _ = invoke(client, name)
            assert (answer["arn"], answer["region"]) == (invoked, "eu-west-2")
        for other in (f"{ARN}:classic", "123456789012:function:classic"):
            with pytest.raises(client.exceptions.ResourceNotFoundException) as error:
                client.invoke(FunctionName=other, Payload=b"{}")
            assert "Function not found: arn:aws:lambda:" in str(error.value)
    finally:
        srv.stop()


def test_a_malformed_account_id_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lambdakit", "serve", str(PROJECT), "--account-id", "12"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--account-id" in result.stderr and "12 digits" in result.stderr


def _aws(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    aws = Path(sys.executable).with_name("aws")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    env |= {"AWS_DEFAULT_REGION": "us-east-1"}
    command = [str(aws), "lambda", "invoke", "--endpoint-url", server.url, *args]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result
