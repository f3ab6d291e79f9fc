"""``LoggingConfig`` in the emulator: platform records (platform_log.py), the variables the
runtime gets, and real functions (lambdakit's runtime, awslambdaric) served and invoked with
boto3's ``LogType=Tail``.

Record shapes and key order are those CloudWatch shows for JSON-format functions; the levels
are the "System log level event mapping" of monitoring-cloudwatchlogs-log-level.html.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdakit.emulator import reports
from lambdakit.emulator.platform_log import PlatformLog, log_variables
from lambdakit.template.specs import LoggingConfig
from tests.emulator.conftest import Server, client_for

NOW = 1795803429.948  # 2026-11-27T18:17:09.948Z
STAMP = "2026-11-27T18:17:09.948Z"
RID = "8f5a3c1e-0d2b-4e6f-9a7b-1c2d3e4f5a6b"
ARN = "arn:aws:lambda:us-east-1:123456789012:function:fn"
JSON = LoggingConfig(log_format="JSON")


def platform_log(config: LoggingConfig = JSON, **options: Any) -> PlatformLog:
    return PlatformLog(config, function_name="fn", function_arn=ARN, clock=lambda: NOW, **options)


def records(text: str | None) -> list[dict[str, Any]]:
    assert text is not None
    return [json.loads(line) for line in text.split("\n")]


# --- Text: byte for byte what reports.py writes, never filtered -------------------------------


def test_text_format_is_the_lines_of_reports() -> None:
    log = platform_log(LoggingConfig())
    assert log.start(RID) == reports.start_line(RID)
    end = log.end(
        RID, duration_ms=26.734, memory_size_mb=128, max_memory_used_mb=75,
        init_duration_ms=166.62, status="error", error_type="Runtime.ExitError",
    )  # fmt: skip
    report = reports.report_line(
        RID, duration_ms=26.734, memory_size_mb=128, max_memory_used_mb=75,
        init_duration_ms=166.62, status="error", error_type="Runtime.ExitError",
    )  # fmt: skip
    assert end == f"END RequestId: {RID}\n{report}"
    assert log.timeout(RID, 3) == reports.timeout_line(RID, 3, now=NOW)
    assert log.init_report(init_duration_ms=10, phase="init", status="timeout") == (
        reports.init_report_line(init_duration_ms=10, phase="init", status="timeout")
    )
    assert log.init_start() is None
    assert log.init_done(12.5) is None


# --- JSON: the records ------------------------------------------------------------------------


def test_start_record() -> None:
    assert platform_log().start(RID) == (
        '{"time":"2026-11-27T18:17:09.948Z","type":"platform.start","record":{"requestId":'
        f'"{RID}","functionArn":"{ARN}","version":"$LATEST"}}}}'
    )


def test_start_record_without_an_arn() -> None:
    log = PlatformLog(JSON, function_name="fn", clock=lambda: NOW)
    (start,) = records(log.start(RID))
    assert start["record"] == {"requestId": RID, "version": "$LATEST"}


def test_successful_invocation_at_info_is_a_report_only() -> None:
    text = platform_log().end(
        RID, duration_ms=1233.9649, memory_size_mb=256, max_memory_used_mb=123,
        init_duration_ms=463.5124,
    )  # fmt: skip
    assert text == (
        f'{{"time":"{STAMP}","type":"platform.report","record":{{"requestId":"{RID}",'
        '"metrics":{"durationMs":1233.965,"billedDurationMs":1698,"memorySizeMB":256,'
        '"maxMemoryUsedMB":123,"initDurationMs":463.512},"status":"success"}}'
    )


@pytest.mark.parametrize(
    ("status", "error_type", "done", "report_tail"),
    [
        (
            "timeout", None,
            {"requestId": RID, "status": "timeout", "metrics": {"durationMs": 3000.5}},
            {"status": "timeout"},
        ),
        (
            "error", "Runtime.ExitError",
            {"requestId": RID, "status": "error", "errorType": "Runtime.ExitError",
             "metrics": {"durationMs": 3000.5}},
            {"status": "error", "errorType": "Runtime.ExitError"},
        ),
    ],
)  # fmt: skip
def test_failed_invocation_shows_its_runtime_done_even_at_warn(
    status: str, error_type: str | None, done: dict[str, Any], report_tail: dict[str, Any]
) -> None:
    log = platform_log(LoggingConfig(log_format="JSON", system_log_level="WARN"))
    text = log.end(
        RID, duration_ms=3000.5, memory_size_mb=128, max_memory_used_mb=40, status=status,
        error_type=error_type,
    )  # fmt: skip
    runtime_done, report = records(text)
    assert runtime_done == {"time": STAMP, "type": "platform.runtimeDone", "record": done}
    assert list(runtime_done["record"]) == list(done)  # key order as CloudWatch shows it
    assert report["type"] == "platform.report"
    assert list(report["record"]) == ["requestId", "metrics", *report_tail]
    assert report["record"]["metrics"]["billedDurationMs"] == 3001
    assert {k: report["record"][k] for k in report_tail} == report_tail


def test_timeout_line_has_no_json_record() -> None:
    assert platform_log().timeout(RID, 3) is None


# Which record types each SystemLogLevel lets through, for one cold, successful invocation.
LIFECYCLE = ["initStart", "initRuntimeDone", "initReport", "start", "runtimeDone", "report"]


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("DEBUG", LIFECYCLE),
        ("INFO", ["start", "report"]),
        (None, ["start", "report"]),  # Lambda's default is INFO
        ("WARN", []),
    ],
)
def test_system_log_level_filters_a_successful_invocation(
    level: str | None, shown: list[str]
) -> None:
    log = platform_log(LoggingConfig(log_format="JSON", system_log_level=level))
    lines = [
        log.init_start(),
        log.init_done(120.25),
        log.start(RID),
        log.end(RID, duration_ms=5, memory_size_mb=128, max_memory_used_mb=30, init_duration_ms=1),
    ]
    types = [r["type"] for text in lines if text is not None for r in records(text)]
    assert types == [f"platform.{kind}" for kind in shown]


def test_init_records() -> None:
    log = platform_log(LoggingConfig(log_format="JSON", system_log_level="DEBUG"))
    (start,) = records(log.init_start())
    assert start["record"] == {
        "initializationType": "on-demand", "phase": "init", "functionName": "fn",
        "functionVersion": "$LATEST",
    }  # fmt: skip
    done, report = records(log.init_done(120.2504))
    assert done["record"] == {
        "initializationType": "on-demand",
        "phase": "init",
        "status": "success",
    }
    assert report["record"] == {**done["record"], "metrics": {"durationMs": 120.25}}


def test_provisioned_init_report_is_info() -> None:
    log = platform_log(initialization_type="provisioned-concurrency")
    (report,) = records(log.init_done(80))
    assert report["type"] == "platform.initReport"
    assert report["record"]["initializationType"] == "provisioned-concurrency"


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARN"])
def test_failed_init_report_is_shown_at_every_level(level: str) -> None:
    log = platform_log(LoggingConfig(log_format="JSON", system_log_level=level))
    text = log.init_report(
        init_duration_ms=154.031, phase="invoke", status="error", error_type="Runtime.ExitError"
    )
    (report,) = records(text)
    assert report == {
        "time": STAMP,
        "type": "platform.initReport",
        "record": {
            "initializationType": "on-demand", "phase": "invoke", "status": "error",
            "errorType": "Runtime.ExitError", "metrics": {"durationMs": 154.031},
        },
    }  # fmt: skip


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            LoggingConfig(),
            {"AWS_LAMBDA_LOG_FORMAT": "Text", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn"},
        ),
        (
            LoggingConfig(log_format="JSON", log_group="/shared/logs"),
            {
                "AWS_LAMBDA_LOG_FORMAT": "JSON",
                "AWS_LAMBDA_LOG_GROUP_NAME": "/shared/logs",
                "AWS_LAMBDA_LOG_LEVEL": "INFO",
            },
        ),
        (
            LoggingConfig(log_format="JSON", application_log_level="TRACE"),
            {
                "AWS_LAMBDA_LOG_FORMAT": "JSON",
                "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
                "AWS_LAMBDA_LOG_LEVEL": "TRACE",
            },
        ),
    ],
)
def test_log_variables(config: LoggingConfig, expected: dict[str, str]) -> None:
    assert log_variables("fn", config) == expected


# --- end to end: lambdakit serve, boto3 with LogType=Tail ---------------------------------------

PROJECT = Path(__file__).parent.parent / "functions" / "logging"


@pytest.fixture(scope="module")
def served() -> Iterator[Server]:
    server = Server(PROJECT)
    yield server
    server.stop()


def invoke(server: Server, name: str, event: dict[str, Any] | None = None) -> tuple[Any, list[str]]:
    """The function's answer and its log tail, line by line."""
    client = client_for(server.url)
    answer = client.invoke(
        FunctionName=name, LogType="Tail", Payload=json.dumps(event or {}).encode()
    )
    tail = base64.b64decode(answer["LogResult"]).decode()
    return json.loads(answer["Payload"].read()), tail.splitlines()


def platform_types(lines: list[str]) -> list[str]:
    """The types of the JSON platform records of a tail; every line must be JSON."""
    parsed = [json.loads(line) for line in lines]
    return [p["type"] for p in parsed if "type" in p and p["type"].startswith("platform.")]


def app_messages(lines: list[str]) -> list[tuple[str, str]]:
    parsed = [json.loads(line) for line in lines]
    return [(p["level"], p["message"]) for p in parsed if "level" in p]


@pytest.mark.parametrize("name", ["json-default", "ric-json-default"])
def test_json_defaults_info_both_ways(served: Server, name: str) -> None:
    answer, lines = invoke(served, name)
    assert answer["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    assert answer["AWS_LAMBDA_LOG_LEVEL"] == "INFO"
    assert answer["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert platform_types(lines) == ["platform.start", "platform.report"]
    start = json.loads(lines[0])["record"]
    assert start["functionArn"].endswith(f":function:{name}")
    # The runtime (not the emulator) drops the DEBUG record.
    assert app_messages(lines) == [("INFO", "info line"), ("WARNING", "warning line")]


@pytest.mark.parametrize("name", ["json-debug", "ric-json-debug"])
def test_debug_levels_show_everything(served: Server, name: str) -> None:
    _, lines = invoke(served, name)
    types = platform_types(lines)
    assert types == ["platform.start", "platform.runtimeDone", "platform.report"]
    assert app_messages(lines) == [
        ("DEBUG", "debug line"), ("INFO", "info line"), ("WARNING", "warning line")
    ]  # fmt: skip
    # The init records are printed (they belong to no invocation's tail).
    served.wait_for_output(
        f'"type":"platform.initStart","record":{{"initializationType":'
        f'"on-demand","phase":"init","functionName":"{name}"'
    )


@pytest.mark.parametrize("name", ["json-warn", "ric-json-warn"])
def test_warn_system_level_drops_start_and_report(served: Server, name: str) -> None:
    answer, lines = invoke(served, name)
    assert answer["AWS_LAMBDA_LOG_LEVEL"] == "ERROR"
    assert answer["AWS_LAMBDA_LOG_GROUP_NAME"] == "/custom/group"
    assert platform_types(lines) == []
    assert app_messages(lines) == []  # WARNING is below ERROR


def test_lambda_filters_the_output_by_the_level_of_each_json_line(served: Server) -> None:
    # Lambda's own filter: a line's level is its JSON "level" (any case; Python's WARNING
    # too), and a line that has none (plain text, or another key) is INFO, below WARN.
    answer, lines = invoke(served, "json-mixed")
    assert answer == "mixed"
    messages = [json.loads(line).get("message") for line in lines]
    assert messages == [None, "json error", "warning line", None]  # start ... report
    assert not any("plain line" in line or "no level key" in line for line in lines)


def test_timeout_at_warn_is_two_records(served: Server) -> None:
    client = client_for(served.url)
    answer = client.invoke(FunctionName="json-sleeps", LogType="Tail", Payload=b'{"sleep": 30}')
    assert answer["FunctionError"] == "Unhandled"
    lines = base64.b64decode(answer["LogResult"]).decode().splitlines()
    done, report = (json.loads(line) for line in lines)
    assert done["type"] == "platform.runtimeDone"
    assert done["record"]["status"] == "timeout"
    assert report["type"] == "platform.report"
    assert report["record"]["status"] == "timeout"
    assert report["record"]["metrics"]["memorySizeMB"] == 128


def test_text_format_is_unchanged(served: Server) -> None:
    answer, lines = invoke(served, "text")
    assert answer["AWS_LAMBDA_LOG_FORMAT"] == "Text"
    assert "AWS_LAMBDA_LOG_LEVEL" not in answer
    assert lines[0].startswith("START RequestId: ")
    assert lines[-2].startswith("END RequestId: ")
    assert lines[-1].startswith("REPORT RequestId: ")
    # No level configured: the runtime keeps Python's WARNING, as awslambdaric does.
    logged = [line.split("\t") for line in lines if line.startswith("[")]
    assert [(fields[0], fields[-1]) for fields in logged] == [("[WARNING]", "warning line")]


def test_lambdakit_invoke_prints_the_whole_lifecycle_as_json() -> None:
    command = [sys.executable, "-m", "lambdakit", "invoke", str(PROJECT)]
    command += ["--function", "json-debug", "--event", "{}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    prefix = "[json-debug] "
    lines = [
        line.removeprefix(prefix) for line in done.stderr.splitlines() if line.startswith(prefix)
    ]
    assert platform_types(lines) == [f"platform.{kind}" for kind in LIFECYCLE]
    assert json.loads(done.stdout)["AWS_LAMBDA_LOG_LEVEL"] == "DEBUG"


def test_failed_init_in_json(served: Server) -> None:
    client = client_for(served.url)
    answer = client.invoke(FunctionName="json-bad-import", LogType="Tail", Payload=b"{}")
    assert answer["FunctionError"] == "Unhandled"
    lines = base64.b64decode(answer["LogResult"]).decode().splitlines()
    parsed = {p["type"]: p["record"] for p in map(json.loads, lines) if "type" in p}
    assert list(parsed) == [
        "platform.start", "platform.initReport", "platform.runtimeDone", "platform.report"
    ]  # fmt: skip
    for kind in ("platform.initReport", "platform.runtimeDone", "platform.report"):
        assert parsed[kind]["status"] == "error"
        assert parsed[kind]["errorType"] == "Runtime.ImportModuleError"
