"""Asynchronous (``Event``) invocations: run in the background, retried, never lost.

As on Lambda, an event whose invocation fails (a function error, a timeout, a crash) is retried
as many times as the function's ``MaximumRetryAttempts`` says (0 to 2; 2 by default); the
emulator waits ``retry_delays`` between attempts (short by default, 1 s and 2 s, where Lambda
waits about a minute and two). An event older than the function's ``MaximumEventAgeInSeconds``
(6 hours by default), counted from when it was queued, is not run again
(invocation-async-configuring.html). The final outcome becomes an invocation record for the
function's OnSuccess or OnFailure destination, and a failed event goes to its dead-letter queue
(``destinations``). A failed event with neither is written to ``<state dir>/dead-letters.jsonl``,
where Lambda would discard it. Events not yet done when the emulator stops are written to
``<state dir>/pending-events.jsonl`` and run again at the next start, their age intact.

An event that finds no concurrency for it (throttled: the account's limit or the function's
reservation is used up) is not failed: as on Lambda it goes back to the queue and is tried
again after 1 s, then 2, 4, ... up to 5 minutes between tries, until its maximum age
(invocation-async-error-handling.html), and throttles are not counted as attempts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.emulator.concurrency import Throttled
from lambdakit.emulator.destinations import (
    Condition,
    Destinations,
    error_message,
    function_arn_parts,
    invocation_record,
)
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.invocations import PendingInvocation, new_uuid
from lambdakit.emulator.settings import ACCOUNT_ID
from lambdakit.template.specs import AsyncConfig
from lambdakit.template.versions import executed_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from lambdakit.emulator.invocations import InvocationResult
    from lambdakit.emulator.scheduler import FunctionPool

DEAD_LETTERS = "dead-letters.jsonl"
PENDING = "pending-events.jsonl"
THROTTLE_BACKOFF = (1.0, 300.0)  # seconds: the first wait after a throttle, and the longest
_THROTTLED = "throttled"


@dataclass(eq=False)
class QueuedEvent:
    function: str
    payload: bytes
    request_id: str
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    enqueued: float = field(default_factory=time.time)
    """When the event was queued (seconds since the epoch): its age counts from here."""
    depth: int = 0
    """How many destination invocations led to this event (a recursive loop stops at 16)."""
    qualifier: str = "$LATEST"
    """The version or alias the event was invoked with; every attempt runs it."""
    tenant_id: str | None = None
    """The tenant of a tenant-isolated function's event; every attempt runs as that tenant."""
    status_code: int = 200
    """The last attempt's status: 200 when the function ran, 429 throttled, 500 the platform."""
    response: InvocationResult | None = None
    """The last attempt's result, if the function gave one."""
    next_attempt: float | None = None
    """When the event is tried again (seconds since the epoch), while it waits for that; None
    while an attempt runs (the browser console's async view shows it)."""

    def record(self) -> dict[str, object]:
        return {
            "function": self.function,
            "requestId": self.request_id,
            "payload": _text_or_base64(self.payload),
            "attempts": self.attempts,
            "errors": self.errors,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "enqueued": self.enqueued,
            "depth": self.depth,
            "qualifier": self.qualifier,
            "tenantId": self.tenant_id,
        }

    @classmethod
    def from_record(cls, record: dict[str, object]) -> QueuedEvent:
        payload = record["payload"]
        data = (
            base64.b64decode(str(payload["base64"]))
            if isinstance(payload, dict)
            else str(payload).encode()
        )
        return cls(
            str(record["function"]),
            data,
            str(record["requestId"]),
            int(str(record.get("attempts", 0))),
            enqueued=float(str(record.get("enqueued", time.time()))),
            depth=int(str(record.get("depth", 0))),
            qualifier=str(record.get("qualifier") or "$LATEST"),
            tenant_id=None if record.get("tenantId") is None else str(record["tenantId"]),
        )


def _text_or_base64(payload: bytes) -> object:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(payload).decode()}


class EventQueue:
    """Runs Event invocations with the function's retry policy and maximum event age, sends
    their records to its destinations, and keeps what it could not run.

    ARN names a function as Lambda does (the emulator's region and account); CLOCK gives the
    wall-clock time in seconds, for the events' age (injectable, for tests)."""

    def __init__(
        self,
        state_dir: Path,
        pools: Callable[[str], FunctionPool | None],
        *,
        retry_delays: tuple[float, ...] = (1.0, 2.0),
        warn: Callable[[str], None] = print,
        arn: Callable[[str], str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_dir = state_dir
        self.pools = pools
        self.retry_delays = retry_delays
        self.warn = warn
        self.arn = arn or _default_arn
        self.clock = clock
        self.destinations = Destinations(
            state_dir, local=self._local_function, invoke=self._invoke_destination, warn=warn
        )
        self._tasks: dict[asyncio.Task[None], QueuedEvent] = {}
        self.completed = 0

    def submit(self, pool: FunctionPool, invocation: PendingInvocation) -> None:
        event = QueuedEvent(
            pool.spec.name, invocation.payload, invocation.request_id, enqueued=self.clock(),
            qualifier=invocation.qualifier or "$LATEST", tenant_id=invocation.tenant_id,
        )  # fmt: skip
        self._start(event, invocation)

    def _start(self, event: QueuedEvent, invocation: PendingInvocation | None = None) -> None:
        task = asyncio.get_running_loop().create_task(self._run(event, invocation))
        self._tasks[task] = event
        task.add_done_callback(self._tasks.pop)

    async def _run(self, event: QueuedEvent, invocation: PendingInvocation | None) -> None:
        backoff = THROTTLE_BACKOFF[0]
        while True:
            config = self._config(event)
            if self._age(event) >= config.maximum_event_age:
                self._finish(event, Condition.EVENT_AGE_EXCEEDED)
                return
            error = await self._attempt(event, invocation)
            invocation = None
            if error is None:
                self._finish(event, Condition.SUCCESS)
                return
            if error == _THROTTLED:
                if self._age(event) + backoff < config.maximum_event_age:
                    await self._wait(event, backoff)
                    backoff = min(backoff * 2, THROTTLE_BACKOFF[1])
                    continue
                event.errors.append(
                    "TooManyRequestsException: throttled until the maximum event age "
                    f"({config.maximum_event_age} s)"
                )
                self._finish(event, Condition.EVENT_AGE_EXCEEDED)
                return
            event.errors.append(error)
            if event.attempts > min(config.maximum_retry_attempts, len(self.retry_delays)):
                self._finish(event, Condition.RETRIES_EXHAUSTED)
                return
            delay = self.retry_delays[event.attempts - 1]
            if self._age(event) + delay >= config.maximum_event_age:
                self._finish(event, Condition.EVENT_AGE_EXCEEDED)  # too old by its retry
                return
            await self._wait(event, delay)

    async def _wait(self, event: QueuedEvent, delay: float) -> None:
        """Sleep until the event's next attempt, saying when that is meanwhile."""
        event.next_attempt = self.clock() + delay
        try:
            await asyncio.sleep(delay)
        finally:
            event.next_attempt = None

    def _config(self, event: QueuedEvent) -> AsyncConfig:
        pool = self.pools(event.function)
        return AsyncConfig() if pool is None else pool.spec.async_config

    def _age(self, event: QueuedEvent) -> float:
        return self.clock() - event.enqueued

    async def _attempt(
        self, event: QueuedEvent, invocation: PendingInvocation | None
    ) -> str | None:
        pool = self.pools(event.function)
        if pool is None:
            event.status_code, event.response = 500, None
            return f"function {event.function} no longer exists"
        event.attempts += 1
        if invocation is None:
            invocation = PendingInvocation(
                payload=event.payload, request_id=event.request_id,
                qualifier=None if event.qualifier == "$LATEST" else event.qualifier,
                tenant_id=event.tenant_id, kind="event",
            )  # fmt: skip
        try:
            result = await pool.invoke(invocation)
        except Throttled:
            event.attempts -= 1  # a throttle is not an attempt
            if event.response is None:
                event.status_code = 429
            return _THROTTLED
        except EmulatorError as error:
            event.status_code, event.response = 500, None
            return f"{type(error).__name__}: {error}"
        event.status_code, event.response = 200, result
        if result.function_error:
            return result.body.decode("utf-8", "replace")
        return None

    def _finish(self, event: QueuedEvent, condition: Condition) -> None:
        """Send the outcome where the function's configuration says."""
        config = self._config(event)
        record = self._record(event, condition)
        if condition is Condition.SUCCESS:
            self.completed += 1
            if config.on_success:
                self.destinations.deliver(config.on_success, record, depth=event.depth)
            return
        sent = []
        if config.on_failure:
            sent.append(self.destinations.deliver(config.on_failure, record, depth=event.depth))
        if config.dead_letter:
            sent.append(self._to_dead_letter_queue(event, config.dead_letter))
        if not sent:
            self._dead_letter(event, condition)
            return
        self.warn(
            f"event {event.request_id} for {event.function} ended {condition.value} after "
            f"{event.attempts} attempt(s); sent to {' and '.join(sent)}"
        )

    def _record(self, event: QueuedEvent, condition: Condition) -> dict[str, object]:
        result = event.response
        return invocation_record(
            request_id=event.request_id,
            function_arn=f"{self.arn(event.function)}:{event.qualifier}",
            condition=condition,
            attempts=event.attempts,
            payload=event.payload,
            status_code=event.status_code,
            response=None if result is None else result.body,
            function_error=result is not None and result.function_error,
            executed_version=self._executed_version(event),
        )

    def _executed_version(self, event: QueuedEvent) -> str:
        pool = self.pools(event.function)
        version = executed_version(pool.spec, event.qualifier) if pool is not None else None
        return version or "$LATEST"

    def _to_dead_letter_queue(self, event: QueuedEvent, arn: str) -> str:
        response = event.response.body if event.response is not None else None
        fallback = event.errors[-1] if event.errors else "the event expired"
        return self.destinations.dead_letter(
            arn,
            payload=event.payload,
            request_id=event.request_id,
            error_code=event.status_code,
            message=error_message(response, fallback),
        )

    def _local_function(self, arn: str) -> str | None:
        """The function served here that a destination ARN names, if any."""
        parts = function_arn_parts(arn)
        pool = self.pools(parts[0].rsplit(":", 1)[1]) if parts else None
        if parts is None or pool is None or self.arn(pool.spec.name) != parts[0]:
            return None
        return pool.spec.name

    def _invoke_destination(self, name: str, payload: bytes, depth: int) -> None:
        """An Event invocation of a destination function, with the record as its event."""
        event = QueuedEvent(name, payload, new_uuid(), enqueued=self.clock(), depth=depth)
        self._start(event)

    def _dead_letter(self, event: QueuedEvent, condition: Condition) -> None:
        """A failed event of a function with no OnFailure destination and no DLQ: Lambda
        discards it; the emulator keeps it, so that nothing is lost silently."""
        path = self.state_dir / DEAD_LETTERS
        self._append(path, [event.record()])
        why = "expired" if condition is Condition.EVENT_AGE_EXCEEDED else "failed"
        self.warn(
            f"event {event.request_id} for {event.function} {why} after {event.attempts} "
            f"attempt(s); written to {path}"
        )

    def _append(self, path: Path, records: list[dict[str, object]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            for record in records:
                file.write(json.dumps(record) + "\n")

    async def close(self) -> int:
        """Stop; write the events not done to the pending file. Returns how many."""
        unfinished = list(self._tasks.values())
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if unfinished:
            self._append(self.state_dir / PENDING, [e.record() for e in unfinished])
        return len(unfinished)

    def resume(self) -> int:
        """Queue again the events a previous run left pending. Returns how many."""
        path = self.state_dir / PENDING
        if not path.exists():
            return 0
        lines = path.read_text(encoding="utf-8").splitlines()
        path.unlink()
        events = [QueuedEvent.from_record(json.loads(line)) for line in lines if line.strip()]
        for event in events:
            event.attempts = max(0, event.attempts - 1)  # the interrupted attempt does not count
            self._start(event)
        return len(events)

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def queued(self) -> list[QueuedEvent]:
        """The events not done yet: running, or waiting for their next attempt."""
        return list(self._tasks.values())


def _default_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT_ID}:function:{name}"
