"""Asynchronous (``Event``) invocations: run in the background, retried, never lost.

As on Lambda, an event whose invocation fails (a function error, a timeout, a crash, a
throttle) is retried twice; the emulator waits ``retry_delays`` between attempts (short by
default, 1 s and 2 s, where Lambda waits about a minute and two). After the last failure the
event goes to a dead-letter file, ``<state dir>/dead-letters.jsonl``. Events not yet done when
the emulator stops are written to ``<state dir>/pending-events.jsonl`` and run again at the
next start.

An event that finds no concurrency for it (throttled: the account's limit or the function's
reservation is used up) is not failed: as on Lambda it goes back to the queue and is tried
again after 1 s, then 2, 4, ... up to 5 minutes between tries, for up to 6 hours
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
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.invocations import PendingInvocation

if TYPE_CHECKING:
    from collections.abc import Callable

    from lambdakit.emulator.scheduler import FunctionPool

DEAD_LETTERS = "dead-letters.jsonl"
PENDING = "pending-events.jsonl"
THROTTLE_BACKOFF = (1.0, 300.0)  # seconds: the first wait after a throttle, and the longest
MAXIMUM_EVENT_AGE = 6 * 3600.0  # seconds an event may wait, throttled, before it is dropped
_THROTTLED = "throttled"


@dataclass(eq=False)
class QueuedEvent:
    function: str
    payload: bytes
    request_id: str
    attempts: int = 0
    errors: list[str] = field(default_factory=list)

    def record(self) -> dict[str, object]:
        return {
            "function": self.function,
            "requestId": self.request_id,
            "payload": _text_or_base64(self.payload),
            "attempts": self.attempts,
            "errors": self.errors,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
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
        )


def _text_or_base64(payload: bytes) -> object:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(payload).decode()}


class EventQueue:
    """Runs Event invocations with Lambda's retry policy and keeps what it could not run."""

    def __init__(
        self,
        state_dir: Path,
        pools: Callable[[str], FunctionPool | None],
        *,
        retry_delays: tuple[float, ...] = (1.0, 2.0),
        warn: Callable[[str], None] = print,
    ) -> None:
        self.state_dir = state_dir
        self.pools = pools
        self.retry_delays = retry_delays
        self.warn = warn
        self._tasks: dict[asyncio.Task[None], QueuedEvent] = {}
        self.completed = 0

    def submit(self, pool: FunctionPool, invocation: PendingInvocation) -> None:
        event = QueuedEvent(pool.spec.name, invocation.payload, invocation.request_id)
        self._start(event, invocation)

    def _start(self, event: QueuedEvent, invocation: PendingInvocation | None = None) -> None:
        task = asyncio.get_running_loop().create_task(self._run(event, invocation))
        self._tasks[task] = event
        task.add_done_callback(self._tasks.pop)

    async def _run(self, event: QueuedEvent, invocation: PendingInvocation | None) -> None:
        backoff, queued = THROTTLE_BACKOFF[0], time.monotonic()
        while True:
            error = await self._attempt(event, invocation)
            invocation = None
            if error is None:
                self.completed += 1
                return
            if error == _THROTTLED:
                if time.monotonic() - queued < MAXIMUM_EVENT_AGE:
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, THROTTLE_BACKOFF[1])
                    continue
                error = "TooManyRequestsException: throttled past the maximum event age (6 h)"
                event.attempts = len(self.retry_delays) + 1  # no retries left
            event.errors.append(error)
            if event.attempts > len(self.retry_delays):
                self._dead_letter(event)
                return
            await asyncio.sleep(self.retry_delays[event.attempts - 1])

    async def _attempt(
        self, event: QueuedEvent, invocation: PendingInvocation | None
    ) -> str | None:
        pool = self.pools(event.function)
        if pool is None:
            return f"function {event.function} no longer exists"
        event.attempts += 1
        if invocation is None:
            invocation = PendingInvocation(payload=event.payload, request_id=event.request_id)
        try:
            result = await pool.invoke(invocation)
        except Throttled:
            event.attempts -= 1  # a throttle is not an attempt
            return _THROTTLED
        except EmulatorError as error:
            return f"{type(error).__name__}: {error}"
        if result.function_error:
            return result.body.decode("utf-8", "replace")
        return None

    def _dead_letter(self, event: QueuedEvent) -> None:
        path = self.state_dir / DEAD_LETTERS
        self._append(path, [event.record()])
        self.warn(
            f"event {event.request_id} for {event.function} failed {event.attempts} times; "
            f"written to {path}"
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
