"""Scaling as on Lambda: an environment per concurrent request, 429 past the account's limit,
Event invocations that wait for concurrency instead of failing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.emulator.conftest import PROJECT, Server, client_for


@pytest.fixture(scope="module")
def scaling() -> Iterator[Server]:
    server = Server(PROJECT, "--function", "pid", env={"LAMBDAKIT_MAX_STARTING": "4"})
    yield server
    server.stop()


@pytest.mark.slow
def test_ten_parallel_invocations_take_as_long_as_one(scaling: Server) -> None:
    client = client_for(scaling.url)

    def two_seconds(_: int) -> str:
        response = client.invoke(FunctionName="pid", Payload=json.dumps({"seconds": 2}))
        return str(json.loads(response["Payload"].read())["environment"])

    started = time.monotonic()
    with ThreadPoolExecutor(10) as pool:
        environments = set(pool.map(two_seconds, range(10)))
    elapsed = time.monotonic() - started
    assert len(environments) == 10  # an environment each, none waiting for another's
    assert elapsed < 4.5  # about 2 s and ten cold starts, four at a time (was 6 s: 3 rounds)
    errors = "".join(scaling.errors)
    assert "at most 4 run their init at the same time" in errors
    assert "execution environments alive" in errors


@pytest.mark.slow
def test_event_invocations_past_the_limit_all_run() -> None:
    server = Server(PROJECT, "--function", "pid", "--concurrency", "2")
    try:
        client = client_for(server.url)
        for _ in range(6):
            response = client.invoke(
                FunctionName="pid", InvocationType="Event", Payload=json.dumps({"seconds": 1})
            )
            assert response["StatusCode"] == 202
        deadline = time.monotonic() + 30
        while server.output().count("REPORT RequestId") < 6:
            assert time.monotonic() < deadline, server.output()
            time.sleep(0.1)
        assert "Status: error" not in server.output()
        assert "dead-letter" not in "".join(server.errors)
    finally:
        server.stop()


def test_a_burst_past_the_account_limit_is_throttled() -> None:
    """Six parallel invocations against an account limit of 4: each admitted one gets an
    environment of its own at once; the others get Lambda's 429, which boto3 raises as
    TooManyRequestsException."""
    server = Server(PROJECT, "--function", "pid", "--concurrency", "4")
    client = client_for(server.url)

    def attempt(_: int) -> dict[str, Any]:
        try:
            response = client.invoke(FunctionName="pid", Payload=json.dumps({"seconds": 1.5}))
            return dict(json.loads(response["Payload"].read()))
        except client.exceptions.TooManyRequestsException as error:
            return {"throttled": error.response}

    try:
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(attempt, range(6)))
    finally:
        server.stop()
    answered = [r for r in results if "environment" in r]
    throttled = [r["throttled"] for r in results if "throttled" in r]
    assert (len(answered), len(throttled)) == (4, 2)
    assert len({r["environment"] for r in answered}) == 4  # none waited for another's environment
    for response in throttled:
        assert response["Reason"] == "ConcurrentInvocationLimitExceeded"
        assert response["Error"]["Message"] == "Rate Exceeded."
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
