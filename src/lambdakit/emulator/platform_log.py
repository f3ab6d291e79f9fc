r"""A function's platform log lines in its ``LoggingConfig``'s format, filtered by its level.

With ``LogFormat: Text`` (Lambda's default) these are the lines of ``reports.py``, byte for
byte, unfiltered: Lambda allows no log level with Text. With ``LogFormat: JSON`` Lambda writes
its system log as JSON records, one a line, shaped as the Telemetry API's events
(https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html), in the order
of keys CloudWatch shows::

    {"time":"2026-10-08T07:30:28.235Z","type":"platform.start","record":{"requestId":"...",
        "functionArn":"arn:aws:lambda:...:function:name","version":"$LATEST"}}
    {"time":"...","type":"platform.report","record":{"requestId":"...","metrics":{
        "durationMs":1233.96,"billedDurationMs":1698,"memorySizeMB":256,"maxMemoryUsedMB":123,
        "initDurationMs":463.512},"status":"success"}}

and sends one to CloudWatch only if its level is at least the function's ``SystemLogLevel``
(INFO unless set). The levels are the "System log level event mapping" of
https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html:

    platform.initStart        INFO with a runtimeVersion, else DEBUG (none is known here)
    platform.initRuntimeDone  DEBUG if status is success, else WARN
    platform.initReport       WARN unless success; then INFO for provisioned-concurrency,
                              DEBUG for on-demand
    platform.start            INFO
    platform.runtimeDone      DEBUG if status is success, else WARN
    platform.report           INFO if status is success, else WARN

So at INFO an invocation shows platform.start and platform.report, and a failed one its
platform.runtimeDone too (status "timeout" or "error", with its errorType); at WARN only failures
show. END becomes platform.runtimeDone; the Text timeout line ("Task timed out after ...") has
no JSON record of its own, its runtimeDone and report say "timeout". A function error that the
runtime reported is a "success" here, as in the Text REPORT line, which has no status for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from enum import IntEnum
from typing import Literal

from lambdakit.emulator import reports
from lambdakit.template.specs import LoggingConfig

__all__ = ["PlatformLog", "SystemLevel", "log_variables"]


class SystemLevel(IntEnum):
    """A system log level (``SystemLogLevel``); a record is sent if its level is at least the
    function's."""

    DEBUG = 10
    """Most detail: also the init records and successful runtimeDone records."""
    INFO = 20
    """Lambda's default: start and report records, and failures."""
    WARN = 30
    """Least detail: failures only."""


class PlatformLog:
    """The platform lines of one function: each method returns the line(s) to write, joined by
    newlines, or None when the function's ``SystemLogLevel`` filters them all out."""

    def __init__(
        self,
        config: LoggingConfig,
        *,
        function_name: str,
        function_arn: str | None = None,
        version: str = "$LATEST",
        initialization_type: str = "on-demand",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.json = config.log_format == "JSON"
        self.level = SystemLevel[config.system_log_level or "INFO"]
        self.function_name = function_name
        self.function_arn = function_arn
        self.version = version
        self.initialization_type = initialization_type
        self._clock = clock
        # Told every record, whatever the format and level: the environment's Telemetry and
        # Logs API subscribers (telemetry_hub.py).
        self.sink: Callable[[str, dict[str, object]], None] | None = None

    # --- init --------------------------------------------------------------------------------

    def init_start(self) -> str | None:
        """The Init phase began (JSON only: the Text log has no INIT_START line here)."""
        record: dict[str, object] = {
            "initializationType": self.initialization_type,
            "phase": "init",
            "functionName": self.function_name,
            "functionVersion": self.version,
        }
        self._tell("platform.initStart", record)
        if not self.json:
            return None
        return self._join([(SystemLevel.DEBUG, "platform.initStart", record)])

    def init_done(self, init_duration_ms: float) -> str | None:
        """The runtime finished its init (its first GET /next): JSON only."""
        done = {**self._init_fields(), "status": "success"}
        report = {**done, "metrics": {"durationMs": _ms(init_duration_ms)}}
        self._tell("platform.initRuntimeDone", done)
        self._tell("platform.initReport", report)
        if not self.json:
            return None
        provisioned = self.initialization_type == "provisioned-concurrency"
        report_level = SystemLevel.INFO if provisioned else SystemLevel.DEBUG
        return self._join(
            [
                (SystemLevel.DEBUG, "platform.initRuntimeDone", done),
                (report_level, "platform.initReport", report),
            ]
        )

    def init_report(
        self,
        *,
        init_duration_ms: float,
        phase: Literal["init", "invoke"],
        status: str,
        error_type: str | None = None,
    ) -> str | None:
        """An init that failed ("error") or overran ("timeout"): INIT_REPORT."""
        record: dict[str, object] = {**self._init_fields(phase), "status": status}
        if error_type:
            record["errorType"] = error_type
        record["metrics"] = {"durationMs": _ms(init_duration_ms)}
        self._tell("platform.initReport", record)
        if not self.json:
            return reports.init_report_line(
                init_duration_ms=init_duration_ms, phase=phase, status=status, error_type=error_type
            )
        level = SystemLevel.WARN if status != "success" else SystemLevel.DEBUG
        return self._join([(level, "platform.initReport", record)])

    # --- invocations -------------------------------------------------------------------------

    def start(self, request_id: str) -> str | None:
        if self.sink is None and not self.json:  # Text without subscribers: no record
            return reports.start_line(request_id, self.version)
        record: dict[str, object] = {"requestId": request_id}
        if self.function_arn:
            record["functionArn"] = self.function_arn
        record["version"] = self.version
        self._tell("platform.start", record)
        if not self.json:
            return reports.start_line(request_id, self.version)
        return self._join([(SystemLevel.INFO, "platform.start", record)])

    def timeout(self, request_id: str, timeout_s: float) -> str | None:
        """``Task timed out after ...`` (Text); in JSON the records that end it say "timeout"."""
        if not self.json:
            return reports.timeout_line(request_id, timeout_s, now=self._clock())
        return None

    def end(
        self,
        request_id: str,
        *,
        duration_ms: float,
        memory_size_mb: int,
        max_memory_used_mb: int,
        init_duration_ms: float | None = None,
        status: str | None = None,
        error_type: str | None = None,
    ) -> str | None:
        """END and REPORT (Text), platform.runtimeDone and platform.report (JSON). ``status``
        is "timeout", "error" or None (success), as for ``reports.report_line``."""
        outcome = status or "success"
        if self.sink is not None or self.json:  # Text without subscribers: no records at all
            done, report = _end_records(
                request_id, outcome, error_type, duration_ms=duration_ms,
                memory_size_mb=memory_size_mb, max_memory_used_mb=max_memory_used_mb,
                init_duration_ms=init_duration_ms,
            )  # fmt: skip
            self._tell("platform.runtimeDone", done)
            self._tell("platform.report", report)
        if not self.json:
            text = reports.report_line(
                request_id, duration_ms=duration_ms, memory_size_mb=memory_size_mb,
                max_memory_used_mb=max_memory_used_mb, init_duration_ms=init_duration_ms,
                status=status, error_type=error_type,
            )  # fmt: skip
            return reports.end_line(request_id) + "\n" + text
        level = SystemLevel.INFO if outcome == "success" else SystemLevel.WARN
        done_level = SystemLevel.DEBUG if outcome == "success" else SystemLevel.WARN
        return self._join(
            [(done_level, "platform.runtimeDone", done), (level, "platform.report", report)]
        )

    def _tell(self, kind: str, record: dict[str, object]) -> None:
        if self.sink is not None:
            self.sink(kind, record)

    # --- rendering ---------------------------------------------------------------------------

    def _init_fields(self, phase: str = "init") -> dict[str, object]:
        return {"initializationType": self.initialization_type, "phase": phase}

    def _join(self, records: list[tuple[SystemLevel, str, Mapping[str, object]]]) -> str | None:
        stamp = reports.iso_timestamp(self._clock())
        lines = [
            _dumps({"time": stamp, "type": kind, "record": record})
            for level, kind, record in records
            if level >= self.level
        ]
        return "\n".join(lines) if lines else None


def _end_records(
    request_id: str,
    outcome: str,
    error_type: str | None,
    *,
    duration_ms: float,
    memory_size_mb: int,
    max_memory_used_mb: int,
    init_duration_ms: float | None,
) -> tuple[dict[str, object], dict[str, object]]:
    """platform.runtimeDone's and platform.report's records."""
    done = {"requestId": request_id, **_status(outcome, error_type)}
    done["metrics"] = {"durationMs": _ms(duration_ms)}
    metrics: dict[str, object] = {
        "durationMs": _ms(duration_ms),
        "billedDurationMs": reports.billed_duration_ms(duration_ms, init_duration_ms),
        "memorySizeMB": memory_size_mb,
        "maxMemoryUsedMB": max_memory_used_mb,
    }
    if init_duration_ms is not None:
        metrics["initDurationMs"] = _ms(init_duration_ms)
    report = {"requestId": request_id, "metrics": metrics, **_status(outcome, error_type)}
    return done, report


def _status(status: str, error_type: str | None) -> dict[str, object]:
    return {"status": status, "errorType": error_type} if error_type else {"status": status}


def _ms(value: float) -> float:
    """Milliseconds with at most three decimals, as Lambda writes them (``463.512``)."""
    return round(value, 3)


def _dumps(event: dict[str, object]) -> str:
    # Compact, as the events stand in CloudWatch; a line never holds a raw newline.
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def log_variables(function_name: str, config: LoggingConfig) -> dict[str, str]:
    """The variables Lambda sets from a function's ``LoggingConfig``: ``AWS_LAMBDA_LOG_FORMAT``
    (``Text`` or ``JSON``, always), ``AWS_LAMBDA_LOG_LEVEL`` (the application level, INFO unless
    set; JSON only) and ``AWS_LAMBDA_LOG_GROUP_NAME`` (``LogGroup``, else
    ``/aws/lambda/<name>``). The runtime filters its application log by the level."""
    variables = {
        "AWS_LAMBDA_LOG_FORMAT": config.log_format,
        "AWS_LAMBDA_LOG_GROUP_NAME": config.log_group or f"/aws/lambda/{function_name}",
    }
    if config.log_format == "JSON":
        variables["AWS_LAMBDA_LOG_LEVEL"] = config.application_log_level or "INFO"
    return variables


# Application log levels, least to most severe
# (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
APPLICATION_LEVELS = {"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4, "FATAL": 5}
_INFO = APPLICATION_LEVELS["INFO"]
# Python's names for two of them, as its runtimes write them ("Lambda supports most common
# naming conventions used by the managed runtimes").
_NAMES = {**APPLICATION_LEVELS, "WARNING": 3, "CRITICAL": 5}


def application_filter(config: LoggingConfig) -> Callable[[bytes], bytes] | None:
    """What Lambda does to a JSON-format function's output: it keeps a line only if its level
    is at least ``ApplicationLogLevel`` (INFO unless set). A line's level is the ``"level"`` of
    the JSON object it holds; a line that is not one, or whose level is missing or invalid,
    is INFO ("If the "level" value field is invalid or missing, Lambda will assign the log
    output the level INFO"; the page above). None with Text format: Lambda filters nothing."""
    if config.log_format != "JSON":
        return None
    threshold = APPLICATION_LEVELS[config.application_log_level or "INFO"]
    if threshold <= _INFO:
        # Only a JSON line naming a lower level can be dropped: skip the rest cheaply.
        return lambda output: _filter(output, threshold) if b'"level"' in output else output
    return lambda output: _filter(output, threshold)


def _filter(output: bytes, threshold: int) -> bytes:
    """The lines of OUTPUT (whole lines, or one piece of a long line) at THRESHOLD or above."""
    lines = output.splitlines(keepends=True)
    return b"".join(line for line in lines if _level(line) >= threshold)


def _level(line: bytes) -> int:
    if line.lstrip().startswith(b"{") and b'"level"' in line:
        try:
            record = json.loads(line)
        except ValueError:
            return _INFO
        level = record.get("level") if isinstance(record, dict) else None
        if isinstance(level, str):
            return _NAMES.get(level.upper(), _INFO)
    return _INFO
