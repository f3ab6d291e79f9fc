"""Log formats, levels, the telemetry descriptor and stdout, through a real runtime process."""

from __future__ import annotations

import json
import os
import re
import struct

from tests.helpers import FUNCTIONS, RuntimeProcess
from tests.stub import StubRuntimeAPI

LIFECYCLE = FUNCTIONS / "lifecycle"
TIMESTAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def run_logging_app(env: dict[str, str], pass_fds: tuple[int, ...] = ()) -> RuntimeProcess:
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess(
            "logging_app.handler", api.address, cwd=LIFECYCLE, env=env, pass_fds=pass_fds
        ) as runtime,
    ):
        api.push({}, request_id="req-log")
        api.wait_for_answers(1)
        api.close()
        runtime.wait()
    return runtime


def test_text_format_with_the_default_level() -> None:
    out = run_logging_app({}).stdout
    assert re.search(rf"^\[WARNING\]\t{TIMESTAMP}\treq-log\twarning\n", out, re.M)
    assert re.search(rf"^\[ERROR\]\t{TIMESTAMP}\treq-log\t\{{'structured': True\}}\n", out, re.M)
    # The exception text follows the record's newline, as logging.Formatter appends it.
    assert re.search(rf"\[ERROR\]\t{TIMESTAMP}\treq-log\tcaught\nTraceback", out)
    assert "info req-log" not in out  # Python's default level is WARNING
    assert "raw context log" in out
    assert "printed line\n" in out


def test_log_level_applies_and_records_before_the_first_event_have_no_request_id() -> None:
    out = run_logging_app({"AWS_LAMBDA_LOG_LEVEL": "debug"}).stdout
    assert re.search(rf"^\[INFO\]\t{TIMESTAMP}\t\tlogged at import", out, re.M)
    assert re.search(rf"^\[DEBUG\]\t{TIMESTAMP}\treq-log\tdebug 1\n", out, re.M)
    assert re.search(rf"^\[INFO\]\t{TIMESTAMP}\treq-log\tinfo req-log\n", out, re.M)


def test_json_format_has_awslambdaric_fields_with_millisecond_timestamps() -> None:
    out = run_logging_app({"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}).stdout
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    by_message = {str(r["message"]): r for r in records}
    info = by_message["info req-log"]
    assert list(info) == ["timestamp", "level", "message", "logger", "requestId"]
    assert re.fullmatch(TIMESTAMP, info["timestamp"])
    assert (info["level"], info["logger"], info["requestId"]) == ("INFO", "app", "req-log")
    assert by_message["{'structured': True}"]["message"] == {"structured": True}
    caught = by_message["caught"]
    assert caught["errorType"] == "KeyError" and caught["errorMessage"] == "'missing'"
    assert caught["location"].endswith(":handler:15") and caught["order"] == 7
    assert list(caught)[:8] == [
        *("timestamp", "level", "message", "logger", "stackTrace", "errorType"),
        *("errorMessage", "requestId"),
    ]
    assert by_message["logged at import, before any invocation"]["requestId"] == ""


def message_of(record: str) -> str:
    """The message column of a TEXT record (the whole text for context.log output)."""
    return record.split("\t")[3].split("\n")[0] if "\t" in record else record


def test_telemetry_fd_gets_one_frame_per_record() -> None:
    read_end, write_end = os.pipe()
    env = {"_LAMBDA_TELEMETRY_LOG_FD": str(write_end), "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    try:
        runtime = run_logging_app(env, pass_fds=(write_end,))
        os.close(write_end)
        data = b""
        while chunk := os.read(read_end, 65536):
            data += chunk
    finally:
        os.close(read_end)
    frames = []
    while data:
        kind, length, _micros = struct.unpack(">IIQ", data[:16])
        frames.append((kind, data[16 : 16 + length].decode()))
        data = data[16 + length :]
    kinds = {
        text.split("\t")[3].split("\n")[0] if "\t" in text else text: kind for kind, text in frames
    }
    assert kinds["info req-log"] == 0xA55A000F
    assert kinds["warning"] == 0xA55A0013
    assert kinds["caught"] == 0xA55A0017
    assert kinds["raw context log"] == 0xA55A0003
    assert "printed line" in runtime.stdout  # print() is never framed
    assert "info req-log" not in runtime.stdout


def test_telemetry_fd_variable_is_consumed() -> None:
    read_end, write_end = os.pipe()
    try:
        with (
            StubRuntimeAPI() as api,
            RuntimeProcess(
                "sync_app.env",
                api.address,
                cwd=LIFECYCLE,
                env={"_LAMBDA_TELEMETRY_LOG_FD": str(write_end)},
                pass_fds=(write_end,),
            ),
        ):
            api.push({})
            (answer,) = api.wait_for_answers(1)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert answer.json() == {"telemetry_fd_in_env": False}


def test_json_uncaught_error_record() -> None:
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("app.raises", api.address, env={"AWS_LAMBDA_LOG_FORMAT": "json"}) as runtime,
    ):
        api.push({}, request_id="r-json")
        api.wait_for_answers(1)
        api.close()
        runtime.wait()
    record = json.loads(next(line for line in runtime.stdout.splitlines() if "errorType" in line))
    assert list(record) == [
        *("timestamp", "level", "errorMessage", "errorType", "requestId", "stackTrace"),
    ]
    assert record["level"] == "ERROR" and record["requestId"] == "r-json"
    assert re.fullmatch(TIMESTAMP, record["timestamp"])
