"""What the hub keeps of one invocation and one environment, and their JSON shapes.

A record holds references to what the emulator made anyway (the ``PendingInvocation``, its
payload, its result) and a few numbers; the JSON is made only when a console asks. Event and
response are shown up to ``BODY_LIMIT`` each: a record of a larger one keeps a copy of that
much instead of the whole (``settle``), so that a thousand records of 6 MB events do not keep
6 GB alive; of a streamed response, the stream keeps its first 64 KiB itself
(``ResponseStream.head``) and the record keeps the stream.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
from typing import TYPE_CHECKING, Literal, TypedDict

from lambdakit.emulator.invocations import InvocationResult, Outcome
from lambdakit.emulator.reports import billed_duration_ms

if TYPE_CHECKING:
    from lambdakit.emulator.invocations import PendingInvocation

__all__ = [
    "BODY_LIMIT",
    "EnvRecord",
    "EnvironmentJson",
    "InvocationJson",
    "InvocationRecord",
    "body_fields",
]

BODY_LIMIT = 64 * 1024  # bytes of event and of response a console is shown
Status = Literal["running", "success", "error", "timeout", "crash", "throttled"]
_OUTCOMES: dict[Outcome, Status] = {
    Outcome.SUCCESS: "success",
    Outcome.ERROR: "error",
    Outcome.TIMEOUT: "timeout",
    Outcome.CRASH: "crash",
}


class InvocationJson(TypedDict):
    request_id: str
    function: str
    environment: str | None
    kind: str
    status: str
    error_type: str | None
    started: int
    duration_ms: float | None
    billed_ms: int | None
    init_ms: float | None
    max_memory_mb: int | None
    memory_mb: int
    cold: bool


class EnvironmentJson(TypedDict):
    function: str
    id: str
    state: str
    since: int
    invocations: int
    pid: int | None


class InvocationRecord:
    """One invocation: accepted (``running``), then ended in an environment, or throttled."""

    __slots__ = (
        "cold",
        "duration_ms",
        "end_status",
        "environment",
        "function",
        "init_ms",
        "invocation",
        "kind",
        "max_memory_mb",
        "memory_mb",
        "payload",
        "payload_size",
        "refused",
        "request_id",
        "result",
        "started",
        "throttled",
    )

    def __init__(self, function: str, memory_mb: int, invocation: PendingInvocation) -> None:
        self.function = function
        self.memory_mb = memory_mb
        self.invocation: PendingInvocation | None = invocation
        self.request_id = invocation.request_id
        self.kind = invocation.kind
        self.started = time.time()
        self.environment: str | None = None
        self.cold = False
        self.throttled = False
        # Refused before it ran (the emulator shutting down): (error type, message).
        self.refused: tuple[str, str] | None = None
        self.end_status: str | None = None  # "timeout" or "error" as REPORT says; None: answered
        self.duration_ms: float | None = None
        self.init_ms: float | None = None
        self.max_memory_mb: int | None = None
        self.payload: bytes | None = None  # set by settle(); until then the invocation's
        self.payload_size = 0
        self.result: InvocationResult | None = None

    @property
    def ended(self) -> bool:
        return self.duration_ms is not None

    def settle(self) -> None:
        """The invocation has ended: keep what is shown of it, not more (module docstring)."""
        invocation = self.invocation
        if invocation is None:
            return
        payload = invocation.payload
        self.payload_size = len(payload)
        self.payload = payload if len(payload) <= BODY_LIMIT else payload[:BODY_LIMIT]
        future = invocation.future
        if not future.done() or future.cancelled() or future.exception() is not None:
            return  # a timeout's result comes just after END; read it from the future then
        result = future.result()
        if len(result.body) > BODY_LIMIT:
            result = dataclasses.replace(result, body=result.body[: BODY_LIMIT + 1])
        self.result = result
        self.invocation = None

    def refuse(self, error_type: str, message: str) -> None:
        """The invocation was refused (a 429 or a 500 of the Invoke API): it will not run."""
        if error_type == "TooManyRequestsException":
            self.throttled = True
        else:
            self.refused = (error_type, message)
        if self.invocation is not None:
            payload = self.invocation.payload
            self.payload_size = len(payload)
            self.payload = payload[:BODY_LIMIT]
        self.invocation = None

    def _result(self) -> InvocationResult | None:
        if self.result is not None:
            return self.result
        future = self.invocation.future if self.invocation is not None else None
        if future is None or not future.done() or future.cancelled():
            return None
        return None if future.exception() is not None else future.result()

    def status(self) -> tuple[Status, str | None]:
        """(status, error type)."""
        if self.throttled:
            return "throttled", "TooManyRequestsException"
        if self.refused is not None:
            return "error", self.refused[0]
        result = self._result()
        if result is None:
            if self.end_status == "timeout":
                return "timeout", "Sandbox.Timedout"
            if self.ended or (self.invocation is not None and self.invocation.future.done()):
                return "error", None
            return "running", None
        stream = result.stream
        if stream is not None and stream.error_type is not None:
            return "error", stream.error_type
        return _OUTCOMES[result.outcome], result.error_type

    def to_json(self) -> InvocationJson:
        status, error_type = self.status()
        duration = self.duration_ms
        return {
            "request_id": self.request_id,
            "function": self.function,
            "environment": self.environment,
            "kind": self.kind_name(),
            "status": status,
            "error_type": error_type,
            "started": int(self.started * 1000),
            "duration_ms": None if duration is None else round(duration, 2),
            "billed_ms": None if duration is None else billed_duration_ms(duration, self.init_ms),
            "init_ms": None if self.init_ms is None else round(self.init_ms, 2),
            "max_memory_mb": self.max_memory_mb,
            "memory_mb": self.memory_mb,
            "cold": self.cold,
        }

    def kind_name(self) -> str:
        """sync, stream (a streamed response), event, url or api."""
        kind = self.kind
        result = self._result()
        if kind == "sync" and result is not None and result.stream is not None:
            return "stream"
        return kind

    def detail(self) -> dict[str, object]:
        """The record with its event, response and error (``body_fields``)."""
        document: dict[str, object] = dict(self.to_json())
        payload = self.payload
        if payload is None and self.invocation is not None:
            payload = self.invocation.payload
        size = self.payload_size or len(payload or b"")
        document.update(body_fields("event", payload or b"", size))
        response, error = self._response()
        if response is None:
            document.update({"response": None, "response_truncated": False})
        else:
            document.update(body_fields("response", *response))
        document["error"] = error
        return document

    def _response(self) -> tuple[tuple[bytes, int] | None, object]:
        """((response's kept bytes, its whole size) or None, error document or None)."""
        if self.refused is not None:
            return None, {"errorType": self.refused[0], "errorMessage": self.refused[1]}
        result = self._result()
        if result is None:
            return None, None
        stream = result.stream
        if stream is None:
            if result.outcome is Outcome.SUCCESS:
                return (result.body, len(result.body)), None
            return None, _error_document(result.body)
        # What was streamed so far (a stream that failed midway may have sent a part).
        sent = stream.size > 0 or (stream.ended and stream.error_type is None)
        response = (bytes(stream.head), stream.size) if sent else None
        return response, _error_document(stream.error_body) if stream.error_body else None


def body_fields(name: str, data: bytes, size: int) -> dict[str, object]:
    """``{name: text, name_truncated: bool}`` (and ``name_encoding: "base64"`` when the bytes
    are not UTF-8), of the first BODY_LIMIT bytes."""
    truncated = size > BODY_LIMIT or len(data) > BODY_LIMIT
    data = data[:BODY_LIMIT]
    fields: dict[str, object] = {f"{name}_truncated": truncated}
    try:
        fields[name] = data.decode("utf-8")
    except UnicodeDecodeError as error:
        if truncated and error.start >= len(data) - 3:  # the cut fell inside a character
            fields[name] = data[: error.start].decode("utf-8", "replace")
        else:
            fields[name] = base64.b64encode(data).decode("ascii")
            fields[f"{name}_encoding"] = "base64"
    return fields


def _error_document(body: bytes) -> object:
    try:
        document: object = json.loads(body)
    except ValueError:
        return {"errorMessage": body[:BODY_LIMIT].decode("utf-8", "replace")}
    return document


class EnvRecord:
    """One execution environment's state as the console shows it (``state`` is the contract's
    name: initializing, idle, busy, frozen, shutting-down, gone)."""

    __slots__ = ("function", "id", "invocations", "pid", "since", "state")

    def __init__(self, function: str, env_id: str) -> None:
        self.function = function
        self.id = env_id
        self.state = "initializing"
        self.since = time.time()
        self.invocations = 0
        self.pid: int | None = None

    def to_json(self) -> EnvironmentJson:
        return {
            "function": self.function,
            "id": self.id,
            "state": self.state,
            "since": int(self.since * 1000),
            "invocations": self.invocations,
            "pid": self.pid,
        }
