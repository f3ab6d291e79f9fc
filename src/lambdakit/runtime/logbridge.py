"""The root-logger handler, imported only once user code has imported ``logging``.

It gives ``logging`` records the formats of ``logs.py`` (TEXT or JSON, framed or not) and
stamps each with the current invocation's request id and tenant id, read from context
variables so that a record logged between invocations never carries a stale id.
"""

from __future__ import annotations

import logging
import time
import traceback

from lambdakit.runtime.context import REQUEST_ID, TENANT_ID
from lambdakit.runtime.logs import LEVEL_NAMES, Logs, json_record, timestamp

TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
TEXT_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"

# LogRecord attributes that are not user extras (awslambdaric's list, plus taskName, which
# Python 3.12 added and awslambdaric leaks into every record logged inside an asyncio task).
RESERVED = frozenset(
    (
        *("name", "msg", "args", "levelname", "levelno", "pathname", "filename", "module"),
        *("exc_info", "exc_text", "stack_info", "lineno", "funcName", "created", "msecs"),
        *("relativeCreated", "thread", "threadName", "processName", "process", "taskName"),
        *("aws_request_id", "tenant_id", "_frame_type"),
    )
)


class LambdaLoggerFilter(logging.Filter):
    """Adds ``aws_request_id`` and ``tenant_id`` to every record the handler sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = REQUEST_ID.get()
        record.tenant_id = TENANT_ID.get()
        return True


class TextFormatter(logging.Formatter):
    """awslambdaric's TEXT format, with UTC timestamps (on this formatter only)."""

    converter = time.gmtime  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, TEXT_DATE_FORMAT)


class JsonFormatter(logging.Formatter):
    """awslambdaric's JSON records, with millisecond timestamps."""

    def format(self, record: logging.LogRecord) -> str:
        bucket = min(50, max(0, record.levelno)) // 10 * 10
        message = (
            record.msg if isinstance(record.msg, dict) and not record.args else record.getMessage()
        )
        fields: dict[str, object] = {
            "timestamp": timestamp(record.created),
            "level": LEVEL_NAMES[bucket],
            "message": message,
            "logger": record.name,
        }
        if record.exc_info and record.exc_info[0] is not None:
            fields["stackTrace"] = traceback.format_tb(record.exc_info[2])
            fields["errorType"] = record.exc_info[0].__name__
            fields["errorMessage"] = str(record.exc_info[1])
        fields["requestId"] = getattr(record, "aws_request_id", None)
        if record.exc_info and record.exc_info[0] is not None:
            fields["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        tenant_id = getattr(record, "tenant_id", None)
        if tenant_id is not None:
            fields["tenantId"] = tenant_id
        for key, value in record.__dict__.items():
            if key not in RESERVED and key not in fields:
                fields[key] = value
        return json_record(fields)


class LambdaLoggerHandler(logging.Handler):
    """Sends formatted records to the runtime's sink, in the frame type of their level."""

    def __init__(self, logs: Logs) -> None:
        super().__init__()
        self.logs = logs
        self.log_sink = logs.sink  # awslambdaric's attribute name; some libraries look for it

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            self.logs.sink.write(text, self.logs.settings.frame_type(record.levelno))
        except Exception:
            self.handleError(record)


def install(logs: Logs) -> None:
    """Attach the handler to the root logger and apply ``AWS_LAMBDA_LOG_LEVEL``."""
    root = logging.getLogger()
    if any(isinstance(handler, LambdaLoggerHandler) for handler in root.handlers):
        return
    handler = LambdaLoggerHandler(logs)
    handler.setFormatter(JsonFormatter() if logs.settings.json else TextFormatter())
    handler.addFilter(LambdaLoggerFilter())
    root.addHandler(handler)
    if logs.settings.level is not None:
        root.setLevel(logs.settings.level)
