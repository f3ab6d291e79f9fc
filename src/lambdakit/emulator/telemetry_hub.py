"""The records of one execution environment, fanned out to its Telemetry and Logs API
subscribers, each in the schema version it asked for.

The environment's ``PlatformLog`` tells the hub each platform record it makes (``platform``),
whether or not its ``LoggingConfig`` writes it as JSON or filters it out, and its ``OutputLog``
the function's output lines (``output``); the Runtime API tells it when a response began and
ended (``response``), which gives ``platform.runtimeDone`` its ``producedBytes`` and its
``responseLatency`` / ``responseDuration`` spans. Records are shaped as
https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html (Telemetry API;
``2022-12-13`` and ``2025-01-29`` have ``status`` / ``errorType`` in ``platform.initReport`` and
``platform.report``, ``2022-07-01`` has not; ``2025-01-29`` adds ``functionArn`` to
``platform.start``, as RIE's managed-instances mode sends it) and runtimes-logs-api.html (Logs
API: ``platform.start`` / ``platform.end`` / ``platform.report``, and with ``2021-03-18``
``platform.runtimeDone`` whose status is success, failure or timeout).

Extensions subscribe during init, after the init began: what happened in the Init phase
(``platform.initStart``, the extensions' registrations as ``platform.extension``, the init's
output) is kept until init ends and given to each subscriber as it subscribes, so that it sees
the whole Init phase as on Lambda.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lambdakit.emulator import reports
from lambdakit.emulator.telemetry import Api, Subscription
from lambdakit.emulator.telemetry_delivery import Subscriber

if TYPE_CHECKING:
    from lambdakit.emulator.extensions import Extensions
    from lambdakit.emulator.output_log import OutputLog
    from lambdakit.emulator.platform_log import PlatformLog

__all__ = ["Event", "Telemetry", "attach", "render"]

SHUTDOWN_MARGIN = 0.2  # seconds of a SHUTDOWN's time left to the extension after the delivery
DELIVERY_SETTLE = 0.05  # seconds between a delivery before SHUTDOWN and the SHUTDOWN

BACKLOG_LIMIT = 10_000  # records of the Init phase kept for subscribers to come
_LOGS_PLATFORM = frozenset(
    {"platform.start", "platform.end", "platform.report", "platform.runtimeDone",
     "platform.extension", "platform.logsSubscription", "platform.logsDropped", "platform.fault"}
)  # fmt: skip
_LOGS_STATUS = {"success": "success", "error": "failure", "timeout": "timeout"}


@dataclass(frozen=True, slots=True)
class Event:
    """A record as Lambda made it; ``render`` shapes it for one subscription."""

    time: float
    type: str
    record: object
    category: str  # platform, function or extension


def render(event: Event, subscription: Subscription) -> dict[str, object] | None:
    """EVENT as SUBSCRIPTION receives it, or None if it does not receive it."""
    if event.category not in subscription.types:
        return None
    if subscription.api is Api.LOGS:
        record = _for_logs(event, subscription.schema_version)
    else:
        record = _for_telemetry(event, subscription.schema_version)
    if record is None:
        return None
    return {"time": reports.iso_timestamp(event.time), "type": event.type, "record": record}


def _for_telemetry(event: Event, version: str) -> object | None:
    if event.type in ("platform.end", "platform.logsSubscription", "platform.fault"):
        return None  # the Logs API's own
    record = event.record
    if isinstance(record, str) and event.category != "platform":
        return record.rstrip("\n")
    if not isinstance(record, dict):
        return record
    if event.type == "platform.start" and version != "2025-01-29":
        return {key: value for key, value in record.items() if key != "functionArn"}
    if event.type in ("platform.report", "platform.initReport") and version == "2022-07-01":
        return {key: value for key, value in record.items() if key not in ("status", "errorType")}
    return record


def _for_logs(event: Event, version: str) -> object | None:
    record = event.record
    if event.category != "platform":
        # The Logs API predates JSON logs: a line is its text, newline included (the doc's
        # example record ends in "\n").
        return record if isinstance(record, str) else json.dumps(record) + "\n"
    if event.type == "platform.fault":
        return record  # a string
    if event.type not in _LOGS_PLATFORM or not isinstance(record, dict):
        return None
    if event.type == "platform.runtimeDone":
        if version != "2021-03-18":
            return None
        return {
            "requestId": record["requestId"],
            "status": _LOGS_STATUS.get(record["status"], "failure"),
        }
    if event.type == "platform.start":
        return {key: record[key] for key in ("requestId", "version") if key in record}
    if event.type == "platform.report":
        return {"requestId": record["requestId"], "metrics": record["metrics"]}
    return record


@dataclass
class _Response:
    """When the runtime began and ended sending an invocation's response, and its size."""

    began: float
    ended: float
    size: int


class Telemetry:
    """The subscribers of one environment and what they are sent. AGENTS lists the registered
    extensions (name, events) for ``platform.extension``; JSON_LOGS says the function writes
    JSON log lines (``LogFormat: JSON``), which subscribers receive as JSON objects."""

    def __init__(
        self,
        *,
        agents: Callable[[], Iterable[tuple[str, Iterable[str]]]],
        json_logs: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.open = True  # subscriptions are taken during the Init phase only
        self._agents = agents
        self._json_logs = json_logs
        self._clock = clock
        self._subscribers: dict[str, Subscriber] = {}
        self._apis: dict[str, Api] = {}
        self._backlog: list[Event] | None = []
        self._starts: dict[str, float] = {}
        self._responses: dict[str, _Response] = {}
        # Called once when the Init phase ends with no subscriber: nobody can subscribe later,
        # so the environment stops telling this hub anything (``attach``).
        self.on_unheard: Callable[[], None] | None = None

    @property
    def listening(self) -> bool:
        """Whether what happens can still reach a subscriber (now, or one of the Init phase)."""
        return self.open or bool(self._subscribers)

    # --- subscriptions -----------------------------------------------------------------------

    def api_of(self, agent_id: str) -> Api | None:
        return self._apis.get(agent_id)

    def subscribe(self, agent_id: str, name: str, subscription: Subscription) -> None:
        """A (new or repeated: "subscription is idempotent") subscription of extension NAME;
        it gets the Init phase so far, then its ``platform.telemetrySubscription``."""
        old = self._subscribers.pop(agent_id, None)
        if old is not None:
            old.close()
        subscriber = Subscriber(name, subscription, clock=self._clock)
        self._subscribers[agent_id] = subscriber
        self._apis[agent_id] = subscription.api
        for event in self._backlog or ():
            self._give(subscriber, event)
        kind = "platform.telemetrySubscription"
        if subscription.api is Api.LOGS:
            kind = "platform.logsSubscription"
        record = {"name": name, "state": "Subscribed", "types": sorted(subscription.types)}
        self._publish(Event(self._clock(), kind, record, "platform"))

    # --- what happens ------------------------------------------------------------------------

    def platform(self, kind: str, record: dict[str, object]) -> None:
        """A platform record (``PlatformLog``'s sink)."""
        now = self._clock()
        if kind == "platform.initRuntimeDone":
            self._extensions_ready(now)
        elif kind == "platform.start":
            self._starts[str(record["requestId"])] = now
        elif kind == "platform.runtimeDone":
            record = self._with_response(record)
        self._publish(Event(now, kind, record, "platform"))
        if kind == "platform.runtimeDone":
            self._publish(
                Event(now, "platform.end", {"requestId": record["requestId"]}, "platform")
            )
        if kind == "platform.initReport":  # the Init phase is over, as is subscribing
            self.open = False
            self._backlog = None
            if not self._subscribers and self.on_unheard is not None:
                self.on_unheard()

    def output(self, data: bytes) -> None:
        """What the function wrote (whole lines, ``OutputLog``'s sink): a ``function`` record
        a line (an internal extension is the runtime's own process: its lines are too)."""
        self._lines(data, "function")

    def extension_output(self, data: bytes) -> None:
        """What the external extensions wrote on their own pipes (``ExtensionOutput``'s sink):
        an ``extension`` record a line, for the subscribers that asked for ``extension``."""
        self._lines(data, "extension")

    def fault(self, text: str) -> None:
        """``platform.fault``: the runtime or the environment failed in a way the platform
        handles (runtimes-logs-api.html, "platform.fault": a string record such as
        ``RequestId: ... Process exited before completing request``). A Logs API record: the
        Telemetry API has none (telemetry-schema-reference.html)."""
        self._publish(Event(self._clock(), "platform.fault", text, "platform"))

    def _lines(self, data: bytes, kind: str) -> None:
        if not self._subscribers and self._backlog is None:
            return
        now = self._clock()
        text = data.decode("utf-8", "replace")
        for line in text.splitlines(keepends=True):
            self._publish(Event(now, kind, self._line(line), kind))

    def response(self, request_id: str, *, began: float, ended: float, size: int) -> None:
        """The runtime sent the response to REQUEST_ID: from BEGAN to ENDED, SIZE bytes."""
        self._responses[request_id] = _Response(began, ended, size)

    async def drain(self) -> None:
        """Deliver what every subscriber has buffered."""
        for subscriber in list(self._subscribers.values()):
            await subscriber.drain()

    async def before_shutdown(self, deadline: float) -> None:
        """What is buffered reaches the extensions before their SHUTDOWN ("If any of the input
        streams are closed, then Lambda flushes the logs"), leaving them time before DEADLINE.
        After a delivery, SHUTDOWN waits ``DELIVERY_SETTLE`` more: a listener may answer 200
        before it has queued the batch (AWS's python-example-logs-api-extension does), and an
        extension told SHUTDOWN at once could exit with it unqueued; on Lambda the platform's
        own latency covers that."""
        delivered = any(subscriber.pending() for subscriber in self._subscribers.values())
        left = deadline - time.time() - SHUTDOWN_MARGIN
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.drain(), max(0.0, left))
        if delivered:
            await asyncio.sleep(
                max(0.0, min(DELIVERY_SETTLE, deadline - time.time() - SHUTDOWN_MARGIN))
            )

    def close(self) -> None:
        for subscriber in self._subscribers.values():
            subscriber.close()
        self._subscribers.clear()

    # --- records -----------------------------------------------------------------------------

    def _line(self, line: str) -> object:
        if self._json_logs and line.lstrip().startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                return line
            if isinstance(record, dict):
                return record
        return line

    def _extensions_ready(self, now: float) -> None:
        """``platform.extension`` for each registered extension, Ready at the end of init."""
        for name, events in self._agents():
            record = {"name": name, "state": "Ready", "events": sorted(events)}
            self._publish(Event(now, "platform.extension", record, "platform"))

    def _with_response(self, record: dict[str, object]) -> dict[str, object]:
        """runtimeDone with ``producedBytes`` and the response's two spans, when it had one."""
        request_id = str(record["requestId"])
        started = self._starts.pop(request_id, None)
        response = self._responses.pop(request_id, None)
        if response is None:
            return record
        metrics = dict(record.get("metrics") or {})  # type: ignore[call-overload]
        metrics["producedBytes"] = response.size
        spans: list[dict[str, object]] = []
        if started is not None:
            spans.append(_span("responseLatency", started, response.began))
        spans.append(_span("responseDuration", response.began, response.ended))
        return {**record, "metrics": metrics, "spans": spans}

    def _publish(self, event: Event) -> None:
        if self._backlog is not None and len(self._backlog) < BACKLOG_LIMIT:
            self._backlog.append(event)
        for subscriber in self._subscribers.values():
            self._give(subscriber, event)

    @staticmethod
    def _give(subscriber: Subscriber, event: Event) -> None:
        rendered = render(event, subscriber.subscription)
        if rendered is not None:
            subscriber.add(json.dumps(rendered, separators=(",", ":"), ensure_ascii=False).encode())


def _span(name: str, start: float, end: float) -> dict[str, Any]:
    return {"name": name, "start": reports.iso_timestamp(start),
            "durationMs": round(max(0.0, end - start) * 1000, 3)}  # fmt: skip


def attach(
    platform_log: PlatformLog,
    output: OutputLog,
    extensions: Extensions,
    extension_output: OutputLog | None = None,
) -> Telemetry:
    """The hub of one environment, told its platform records, its output (the runtime's, and
    the external extensions' on their own pipes) and its Shutdown."""
    hub = Telemetry(
        agents=lambda: [(agent.name, agent.events) for agent in extensions.agents.values()],
        json_logs=platform_log.json,
    )
    platform_log.sink = hub.platform
    output.telemetry = hub.output
    if extension_output is not None:
        extension_output.telemetry = hub.extension_output

    def unheard() -> None:  # each invocation then makes no records nobody reads
        platform_log.sink = None
        output.telemetry = None
        if extension_output is not None:
            extension_output.telemetry = None

    hub.on_unheard = unheard
    extensions.before_shutdown = hub.before_shutdown
    return hub
