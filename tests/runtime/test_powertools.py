"""Powertools' Logger.inject_lambda_context works under the lambdakit runtime as under AWS's.

The handler (tests/functions/powertools/app.py) is written for the managed Python runtime; it
runs as a real child process against the recording stub, under lambdakit and, for reference,
under awslambdaric. Powertools reads the context object and ``_X_AMZN_TRACE_ID``, so its JSON
log lines show whether the runtime provides both the way AWS's does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stub import NEXT, StubRuntimeAPI

FUNCTION = Path(__file__).resolve().parents[1] / "functions" / "powertools"
MODULES = {"lambdakit": "lambdakit.runtime", "awslambdaric": "awslambdaric"}
FUNCTION_ENV = {
    "AWS_LAMBDA_FUNCTION_NAME": "powertools-function",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/powertools-function",
    "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/27/[$LATEST]0123456789abcdef",
    "PYTHONDONTWRITEBYTECODE": "1",
}
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:stub"  # what the stub sends
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
TIMEOUT = 30.0  # a guard against a hung child, never a measurement


def run_function(module: str) -> tuple[list[dict[str, object]], list[bytes]]:
    """Two invocations, the first with a trace header; returns stdout's JSON lines and bodies."""
    drop = ("AWS_", "_X_AMZN", "_LAMBDA", "_HANDLER", "LAMBDA_", "POWERTOOLS_")
    with StubRuntimeAPI() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env.update(FUNCTION_ENV, AWS_LAMBDA_RUNTIME_API=api.address)
        process = subprocess.Popen(
            [sys.executable, "-m", module, "app.handler"],
            cwd=FUNCTION,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            api.push({"n": 1}, request_id="pt-1", headers={"Lambda-Runtime-Trace-Id": TRACE_HEADER})
            api.push({"n": 2}, request_id="pt-2")
            answers = api.wait_for_answers(2, timeout=TIMEOUT)
            api.wait_for_next(3, timeout=TIMEOUT)  # the second answer was delivered
            api.close()
            stdout, stderr = process.communicate(timeout=TIMEOUT)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    lines = stdout.decode().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert [r.path for r in api.requests if r.path != NEXT] == [
        "/2018-06-01/runtime/invocation/pt-1/response",
        "/2018-06-01/runtime/invocation/pt-2/response",
    ], stderr.decode()
    return records, [answer.body for answer in answers]


@pytest.fixture(scope="module")
def outputs() -> dict[str, tuple[list[dict[str, object]], list[bytes]]]:
    return {runtime: run_function(module) for runtime, module in MODULES.items()}


def test_inject_lambda_context_under_lambdakit(
    outputs: dict[str, tuple[list[dict[str, object]], list[bytes]]],
) -> None:
    records, bodies = outputs["lambdakit"]
    assert bodies == [b'{"ok":true}', b'{"ok":true}']
    assert len(records) == 2, records  # one line per logger.info: nothing duplicated via root
    function = {
        "function_name": "powertools-function",
        "function_memory_size": "512",
        "function_arn": FUNCTION_ARN,
    }
    first, second = records
    assert (
        first.items()
        >= {
            "level": "INFO",
            "message": "hello",
            "service": "svc",
            "cold_start": True,
            "function_request_id": "pt-1",
            "xray_trace_id": "1-5759e988-bd862e3fe1be46a994272793",
            "invocation": 1,
            **function,
        }.items()
    )
    assert (
        second.items()
        >= {
            "cold_start": False,
            "function_request_id": "pt-2",
            "invocation": 2,
            **function,
        }.items()
    )
    assert "xray_trace_id" not in second  # the trace id does not outlive its invocation


def test_same_log_records_as_under_awslambdaric(
    outputs: dict[str, tuple[list[dict[str, object]], list[bytes]]],
) -> None:
    def without_timestamps(records: list[dict[str, object]]) -> list[list[tuple[str, object]]]:
        return [[(k, v) for k, v in record.items() if k != "timestamp"] for record in records]

    lambdakit, awslambdaric = outputs["lambdakit"][0], outputs["awslambdaric"][0]
    assert len(awslambdaric) == 2
    assert without_timestamps(lambdakit) == without_timestamps(awslambdaric)
