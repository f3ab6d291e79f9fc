"""Tenant isolation (``TenancyConfig: {TenantIsolationMode: PER_TENANT}``) against a real
`lambdakit serve`: a tenant id is required, refused where there is no tenancy, passed to the
function, and two tenants never share an environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.emulator.conftest import Server, client_for

PROJECT = Path(__file__).parent.parent / "functions" / "versions"
MISSING = (
    "The invoked function is enabled with tenancy configuration. Add a valid tenant ID in your "
    "request and try again."
)
UNWANTED = (
    "The invoked function is not enabled with tenancy configuration. Remove the tenant ID "
    "from your request and try again."
)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server(PROJECT, "--function", "Tenanted", "--concurrency", "20")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Any:
    return client_for(server.url)


def invoke(client: Any, tenant: str, payload: object = None, **kwargs: Any) -> dict[str, Any]:
    response = client.invoke(
        FunctionName="tenanted", TenantId=tenant, Payload=json.dumps(payload or {}), **kwargs
    )
    answer: dict[str, Any] = json.loads(response["Payload"].read())
    return answer


def test_the_function_sees_its_tenant(client: Any) -> None:
    assert invoke(client, "blue")["tenant"] == "blue"


def test_two_tenants_never_share_an_environment(client: Any) -> None:
    # Interleaved, and in parallel: each tenant's environments are its own, and are reused.
    first = [invoke(client, tenant) for tenant in ("red", "green", "red", "green")]
    with ThreadPoolExecutor(4) as pool:
        tenants = ["red", "green", "red", "green"]
        parallel = list(pool.map(lambda t: invoke(client, t, {"seconds": 0.5}), tenants))
    answers = first + parallel
    seen = {t: {a["environment"] for a in answers if a["tenant"] == t} for t in tenants}
    assert not seen["red"] & seen["green"]
    assert (
        first[0]["environment"] == first[2]["environment"]
    )  # a warm environment of the same tenant
    assert first[2]["count"] == first[0]["count"] + 1


def test_a_missing_tenant_id_is_refused(client: Any) -> None:
    with pytest.raises(client.exceptions.InvalidParameterValueException) as error:
        client.invoke(FunctionName="tenanted", Payload=b"{}")
    assert error.value.response["Error"]["Message"] == MISSING
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_tenant_id_for_a_function_without_tenancy_is_refused() -> None:
    srv = Server(PROJECT, "--function", "Plain")
    try:
        client = client_for(srv.url)
        with pytest.raises(client.exceptions.InvalidParameterValueException) as error:
            client.invoke(FunctionName="plain", TenantId="blue", Payload=b"{}")
        assert error.value.response["Error"]["Message"] == UNWANTED
    finally:
        srv.stop()


def test_event_invocations_keep_their_tenant(server: Server, client: Any) -> None:
    response = client.invoke(
        FunctionName="tenanted", InvocationType="Event", TenantId="amber", Payload=b"{}"
    )
    assert response["StatusCode"] == 202
    server.wait_for_output(f"request={response['ResponseMetadata']['RequestId']}")
    with pytest.raises(client.exceptions.InvalidParameterValueException):
        client.invoke(FunctionName="tenanted", InvocationType="Event", Payload=b"{}")


def test_the_aws_cli_passes_the_tenant_id(server: Server, tmp_path: Path) -> None:
    aws = Path(sys.executable).with_name("aws")
    help_text = subprocess.run(
        [str(aws), "lambda", "invoke", "help"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PAGER": "cat"},
    )  # fmt: skip
    if "--tenant-id" not in help_text.stdout:
        pytest.skip("this AWS CLI has no --tenant-id (its botocore predates tenant isolation)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env |= {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    env |= {"AWS_DEFAULT_REGION": "us-east-1"}
    out = tmp_path / "out.json"
    command = [str(aws), "lambda", "invoke", "--endpoint-url", server.url]
    command += ["--function-name", "tenanted", "--tenant-id", "violet", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["tenant"] == "violet"


def test_a_malformed_tenant_id_is_a_validation_error(server: Server) -> None:
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    headers = {"X-Amz-Tenant-Id": "no!pe"}
    connection.request("POST", "/2015-03-31/functions/tenanted/invocations", b"{}", headers)
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 400
    assert response.getheader("x-amzn-ErrorType") == "ValidationException"
    assert body["message"].startswith("1 validation error detected: Value 'no!pe' at 'tenantId'")
