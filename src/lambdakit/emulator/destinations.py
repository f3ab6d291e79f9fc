"""Where the outcome of an asynchronous invocation goes: destinations and dead-letter queues.

When an Event invocation ends (it succeeded, failed its last retry, or grew older than the
function's MaximumEventAgeInSeconds), Lambda sends an **invocation record** to the OnSuccess or
OnFailure destination (invocation-async-retain-records.html)::

    {"version": "1.0", "timestamp": "2019-11-14T18:16:05.568Z",
     "requestContext": {"requestId": ..., "functionArn": "arn:...:function:NAME:$LATEST",
                        "condition": "Success" | "RetriesExhausted" | "EventAgeExceeded",
                        "approximateInvokeCount": 3},
     "requestPayload": <the event>,
     "responseContext": {"statusCode": 200, "executedVersion": "$LATEST",
                         "functionError": "Unhandled"},
     "responsePayload": <what the function returned, or its error>}

and, for a failure, the event itself to the dead-letter queue, with the message attributes
RequestID, ErrorCode (the HTTP status) and ErrorMessage (its first 1 KB). With both an OnFailure
destination and a DLQ, both get theirs ("If both Destinations and DLQ are used for Failure
notifications, function invoke errors are sent to both", AWS Compute Blog, Introducing AWS
Lambda Destinations).

Locally, a destination that is a function the emulator serves is invoked (asynchronously, with
the record as its event), as Lambda would; every other destination (SQS, SNS, S3, EventBridge,
a function not served) gets one JSON line per message in a file of its own,
``<state dir>/destinations/<ARN with : and / as _>.jsonl``: the record itself for SQS, SNS, S3
and Lambda (what a consumer reads as the message body or the event), the EventBridge event
around it (``detail``) for an event bus; for a DLQ, ``{"Body"|"Message": the event,
"MessageAttributes": {...}}`` as SQS or SNS hands it on.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.emulator.invocations import new_uuid

if TYPE_CHECKING:
    from lambdakit.template import FunctionSpec

__all__ = ["CHAIN_LIMIT", "Condition", "Destinations", "invocation_record"]

DIRECTORY = "destinations"
CHAIN_LIMIT = (
    16  # Lambda stops a recursive loop after about 16 invocations (invocation-recursion.html)
)
ERROR_MESSAGE_LIMIT = 1024  # bytes of ErrorMessage a DLQ message carries
_FUNCTION_ARN = re.compile(r"(arn:[^:]+:lambda:[^:]+:\d{12}:function:[^:]+)(?::([^:]+))?")


class Condition(Enum):
    """Why an asynchronous invocation's record was sent (``requestContext.condition``)."""

    SUCCESS = "Success"
    """The function returned a response."""
    RETRIES_EXHAUSTED = "RetriesExhausted"
    """It failed its first attempt and every retry (MaximumRetryAttempts)."""
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"
    """It was older than MaximumEventAgeInSeconds before it could run (again)."""


def invocation_record(
    *,
    request_id: str,
    function_arn: str,
    condition: Condition,
    attempts: int,
    payload: bytes,
    status_code: int,
    response: bytes | None,
    function_error: bool,
    executed_version: str = "$LATEST",
) -> dict[str, object]:
    """AWS's invocation record, keys in AWS's order. FUNCTION_ARN carries the qualifier
    invoked (``:$LATEST`` for an unqualified invoke). RESPONSE is None when the function gave
    none (it never ran: throttled until the event expired; or the platform failed)."""
    response_context: dict[str, object] = {
        "statusCode": status_code,
        "executedVersion": executed_version,
    }
    if function_error:
        response_context["functionError"] = "Unhandled"
    return {
        "version": "1.0",
        "timestamp": _timestamp(time.time()),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition.value,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json_or_text(payload),
        "responseContext": response_context,
        "responsePayload": None if response is None else _json_or_text(response),
    }


def error_message(response: bytes | None, fallback: str) -> str:
    """A DLQ message's ErrorMessage: the function error's errorMessage (else the whole error,
    else FALLBACK), its first 1 KB."""
    text = fallback
    if response:
        document = _json_or_text(response)
        message = document.get("errorMessage") if isinstance(document, dict) else None
        text = message if isinstance(message, str) else response.decode("utf-8", "replace")
    return text.encode()[:ERROR_MESSAGE_LIMIT].decode("utf-8", "ignore")


class Destinations:
    """Delivers records and dead letters: to a local function (LOCAL maps a function ARN to the
    name of a function served here, INVOKE submits an Event invocation of it with the depth of
    the chain so far), else to the destination's file under STATE_DIR."""

    def __init__(
        self,
        state_dir: Path,
        *,
        local: Callable[[str], str | None],
        invoke: Callable[[str, bytes, int], None],
        warn: Callable[[str], None] = print,
    ) -> None:
        self.directory = state_dir / DIRECTORY
        self.local = local
        self.invoke = invoke
        self.warn = warn

    def path(self, arn: str) -> Path:
        return self.directory / (re.sub(r"[^A-Za-z0-9._-]+", "_", arn) + ".jsonl")

    def deliver(self, arn: str, record: dict[str, object], *, depth: int = 0) -> str:
        """Send RECORD to the destination ARN; returns where it went, for a message."""
        name = self.local(arn)
        if name is not None:
            if depth + 1 < CHAIN_LIMIT:
                self.invoke(name, json.dumps(record, separators=(",", ":")).encode(), depth + 1)
                return f"function {name}"
            self.warn(
                f"a chain of {CHAIN_LIMIT} destination invocations reached {name}: a "
                f"recursive loop, stopped as Lambda stops one; the record goes to a file"
            )
        path = self.path(arn)
        _append(path, _message(arn, record))
        return str(path)

    def dead_letter(
        self, arn: str, *, payload: bytes, request_id: str, error_code: int, message: str
    ) -> str:
        """The event as-is, with Lambda's message attributes, to the DLQ's file."""
        attributes = {
            "RequestID": {"DataType": "String", "StringValue": request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": str(error_code)},
            "ErrorMessage": {"DataType": "String", "StringValue": message},
        }
        body_key = "Message" if _service(arn) == "sns" else "Body"
        body = payload.decode("utf-8", "replace")
        path = self.path(arn)
        _append(path, {body_key: body, "MessageAttributes": attributes})
        return str(path)

    def describe(self, functions: Iterable[FunctionSpec]) -> list[str]:
        """One line per configured destination: where its records go (for start-up)."""
        lines = []
        for spec in functions:
            config = spec.async_config
            pairs = (
                ("OnSuccess", config.on_success),
                ("OnFailure", config.on_failure),
                ("DeadLetterQueue", config.dead_letter),
            )
            for kind, arn in pairs:
                if arn is None:
                    continue
                name = self.local(arn) if kind != "DeadLetterQueue" else None
                where = f"function {name}, invoked locally" if name else str(self.path(arn))
                lines.append(f"{spec.name} {kind} {arn} -> {where}")
        return lines


def function_arn_parts(arn: str) -> tuple[str, str | None] | None:
    """(the unqualified function ARN, its qualifier) if ARN names a Lambda function."""
    match = _FUNCTION_ARN.fullmatch(arn)
    return (match.group(1), match.group(2)) if match else None


def _message(arn: str, record: dict[str, object]) -> dict[str, object]:
    """What the destination's consumer receives: the record, or for an event bus the
    EventBridge event whose ``detail`` it is (invocation-async-retain-records.html)."""
    if _service(arn) != "events":
        return record
    context = record["requestContext"]
    assert isinstance(context, dict)
    function = str(context["functionArn"])
    parts = function.split(":")
    success = context["condition"] == Condition.SUCCESS.value
    return {
        "version": "0",
        "id": new_uuid(),
        "detail-type": "Lambda Function Invocation Result - "
        + ("Success" if success else "Failure"),
        "source": "lambda",
        "account": parts[4],
        "time": str(record["timestamp"])[:19] + "Z",
        "region": parts[3],
        "resources": [arn, function],
        "detail": record,
    }


def _service(arn: str) -> str:
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def _append(path: Path, document: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(document, separators=(",", ":")) + "\n")


def _json_or_text(data: bytes) -> object:
    """A payload as the record holds it: its JSON value, or its text if it is not JSON."""
    if not data.strip():
        return None
    text = data.decode("utf-8", "replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


def _timestamp(now: float) -> str:
    """ISO 8601 in UTC with milliseconds, as the record's ``timestamp``."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{whole}.{int(now * 1000) % 1000:03d}Z"
