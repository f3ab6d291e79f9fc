"""Asynchronous invocation settings at work: MaximumRetryAttempts, MaximumEventAgeInSeconds,
OnSuccess/OnFailure destinations and the dead-letter queue, with boto3 invoking Event
invocations of a real `lambdakit serve` (and the Emulator in-process, with a clock of the
test's own, for an event that ages between its attempts)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdakit.emulator import Emulator, EmulatorConfig
from lambdakit.emulator.invocations import PendingInvocation
from lambdakit.emulator.reports import LogPrinter
from lambdakit.template import load_template
from tests.emulator.conftest import PLAIN, Server, client_for

PROJECT = Path(__file__).parent.parent / "functions" / "async_config"
ACCOUNT = "123456789012"
FAILURES = f"arn:aws:sqs:us-east-1:{ACCOUNT}:Failures"
DEAD_LETTERS = f"arn:aws:sqs:us-east-1:{ACCOUNT}:dead-letters"
EVENT_BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/default"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def file_for(arn: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", arn) + ".jsonl"


def lines(
    path: Path, count: int = 1, where: Callable[[dict[str, Any]], bool] = lambda _: True
) -> list[dict[str, Any]]:
    """The JSON lines of PATH that WHERE accepts, once there are COUNT of them."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if path.exists():
            found = [json.loads(line) for line in path.read_text().splitlines() if line]
            found = [line for line in found if where(line)]
            if len(found) >= count:
                return found
        time.sleep(0.05)
    raise AssertionError(f"{path} has fewer than {count} such lines")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("async") / "project"
    shutil.copytree(PROJECT, copy)
    return copy


@pytest.fixture(scope="module")
def server(project: Path) -> Iterator[Server]:
    srv = Server(project, "--event-retry-delays", "0.1,0.1", env=PLAIN)
    yield srv
    srv.stop()


def destination(project: Path, arn: str) -> Path:
    return project / ".lambdakit" / "destinations" / file_for(arn)


def test_start_up_names_every_destination(server: Server, project: Path) -> None:
    out = server.wait_for_output(f"lambdakit: aging OnFailure {EVENT_BUS}")
    directory = project / ".lambdakit" / "destinations"
    assert f"lambdakit: no-retries OnFailure {FAILURES} -> {directory / file_for(FAILURES)}" in out
    assert (
        f"lambdakit: no-retries DeadLetterQueue {DEAD_LETTERS} -> "
        f"{directory / file_for(DEAD_LETTERS)}" in out
    )
    audit = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:audit"
    assert f"lambdakit: ok OnSuccess {audit} -> function audit, invoked locally" in out


def test_retries_counted_and_the_failure_record_field_by_field(
    server: Server, project: Path, tmp_path: Path
) -> None:
    client = client_for(server.url)
    ids = {}
    for name in ("no-retries", "two-retries"):
        event = {"marker": str(tmp_path / name)}
        response = client.invoke(
            FunctionName=name, InvocationType="Event", Payload=json.dumps(event)
        )
        assert response["StatusCode"] == 202
        ids[name] = response["ResponseMetadata"]["RequestId"]
    records = lines(
        destination(project, FAILURES),
        2,
        where=lambda r: r["requestContext"]["requestId"] in ids.values(),
    )
    by_function = {r["requestContext"]["functionArn"].split(":")[6]: r for r in records}
    assert (tmp_path / "no-retries").read_text() == "x"  # MaximumRetryAttempts: 0
    assert (tmp_path / "two-retries").read_text() == "xxx"  # Lambda's default: 2 retries
    record = by_function["two-retries"]
    assert list(record) == [
        "version", "timestamp", "requestContext", "requestPayload", "responseContext",
        "responsePayload",
    ]  # fmt: skip
    assert record["version"] == "1.0"
    assert TIMESTAMP.fullmatch(record["timestamp"])
    assert record["requestContext"] == {
        "requestId": ids["two-retries"],
        "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:two-retries:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"marker": str(tmp_path / "two-retries")}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    payload = record["responsePayload"]
    assert (payload["errorType"], payload["errorMessage"]) == ("RuntimeError", "attempt 3 fails")
    other = by_function["no-retries"]
    assert other["requestContext"]["approximateInvokeCount"] == 1
    assert other["requestContext"]["requestId"] == ids["no-retries"]
    assert other["responsePayload"]["errorMessage"] == "attempt 1 fails"


def test_the_dead_letter_queue_gets_the_event_with_lambdas_attributes(
    server: Server, project: Path, tmp_path: Path
) -> None:
    """no-retries has an OnFailure destination and a DLQ: as on Lambda, both get theirs."""
    client = client_for(server.url)
    event = {"marker": str(tmp_path / "marker"), "dlq": True}
    response = client.invoke(
        FunctionName="no-retries", InvocationType="Event", Payload=json.dumps(event)
    )
    request_id = response["ResponseMetadata"]["RequestId"]
    (message,) = lines(
        destination(project, DEAD_LETTERS), where=lambda m: "dlq" in json.loads(m["Body"])
    )
    assert json.loads(message["Body"]) == event
    assert message["MessageAttributes"] == {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "attempt 1 fails"},
    }
    (record,) = lines(
        destination(project, FAILURES),
        where=lambda r: r["requestContext"]["requestId"] == request_id,
    )
    assert record["requestPayload"] == event
    assert not (project / ".lambdakit" / "dead-letters.jsonl").exists()


def test_on_success_invokes_a_function_of_the_template_with_the_record(
    server: Server, tmp_path: Path
) -> None:
    client = client_for(server.url)
    event = {"audit": str(tmp_path / "audit.jsonl"), "n": 1}
    response = client.invoke(FunctionName="ok", InvocationType="Event", Payload=json.dumps(event))
    (record,) = lines(tmp_path / "audit.jsonl", 1)
    assert record["requestContext"] == {
        "requestId": response["ResponseMetadata"]["RequestId"],
        "functionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:ok:$LATEST",
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == event
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"ok": event}
    assert record["version"] == "1.0" and TIMESTAMP.fullmatch(record["timestamp"])


def test_an_event_past_its_maximum_age_is_not_run(tmp_path: Path) -> None:
    """Age counts from when the event was queued, also across a restart: an event left pending
    two minutes ago, for a function whose events live 60 s, goes to OnFailure unrun."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT, project)
    marker, request_id = tmp_path / "marker", str(uuid.uuid4())
    pending = {
        "function": "aging", "requestId": request_id, "attempts": 0, "errors": [],
        "payload": json.dumps({"marker": str(marker)}), "enqueued": time.time() - 120,
    }  # fmt: skip
    (project / ".lambdakit").mkdir()
    (project / ".lambdakit" / "pending-events.jsonl").write_text(json.dumps(pending) + "\n")
    srv = Server(project, "--function", "aging", env=PLAIN)
    try:
        (event,) = lines(destination(project, EVENT_BUS), 1)
    finally:
        srv.stop()
    assert not marker.exists()  # never invoked
    assert event["detail-type"] == "Lambda Function Invocation Result - Failure"
    assert (event["source"], event["account"], event["region"]) == ("lambda", ACCOUNT, "us-east-1")
    function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:aging:$LATEST"
    assert event["resources"] == [EVENT_BUS, function_arn]
    assert UUID.fullmatch(event["id"])
    record = event["detail"]
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": function_arn,
        "condition": "EventAgeExceeded",
        "approximateInvokeCount": 0,
    }
    assert record["responsePayload"] is None
    assert "functionError" not in record["responseContext"]


@pytest.mark.usefixtures("plain_processes")  # the function writes the marker
def test_an_event_that_ages_between_attempts_is_not_retried(tmp_path: Path) -> None:
    """The first attempt fails; by the clock the test gives the queue, the event is then past
    its 60 s, so the retry is not made and OnFailure gets EventAgeExceeded."""
    spec = next(s for s in load_template(PROJECT / "template.yaml").functions if s.name == "aging")
    marker = tmp_path / "marker"

    async def scenario() -> list[dict[str, Any]]:
        null = open(os.devnull, "w")  # noqa: SIM115 - closed below
        config = EmulatorConfig(port=0, state_dir=tmp_path / "state", retry_delays=(0.0, 0.0))
        emulator = Emulator([spec], config, printer=LogPrinter(null))
        # Time stands still until the function has run once, then jumps 61 s.
        emulator.events.clock = lambda: 1000.0 + (61 if marker.exists() else 0)
        try:
            pool = emulator.pool(spec.name)
            assert pool is not None
            payload = json.dumps({"marker": str(marker)}).encode()
            emulator.submit_event(pool, PendingInvocation(payload=payload))
            path = tmp_path / "state" / "destinations" / file_for(EVENT_BUS)
            deadline = time.monotonic() + 30
            while not path.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return [json.loads(line) for line in path.read_text().splitlines()]
        finally:
            await emulator.close()
            null.close()

    (event,) = asyncio.run(scenario())
    assert marker.read_text() == "x"  # one attempt, no retry
    context = event["detail"]["requestContext"]
    assert (context["condition"], context["approximateInvokeCount"]) == ("EventAgeExceeded", 1)
    assert event["detail"]["responsePayload"]["errorMessage"] == "attempt 1 fails"
    assert event["detail"]["responseContext"]["functionError"] == "Unhandled"
