"""One subscriber's buffer and its delivery to the extension's listener.

Lambda buffers each subscriber's records in memory and delivers them in batches: an HTTP POST
of a JSON array (or newline-delimited JSON over TCP) once ``maxItems`` records or ``maxBytes``
bytes are buffered, or ``timeoutMs`` after the first one
(https://docs.aws.amazon.com/lambda/latest/dg/telemetry-api.html, "Configuring memory usage and
buffering"; runtimes-logs-api.html). What the docs promise, and this does:

- one batch at a time, in order; records that come while one is being delivered wait in the
  buffer, so a batch can hold up to ``2 * maxBytes`` ("Expect to receive payloads as large as
  2 * maxBytes + metadataBytes");
- "Lambda retries the attempt to send telemetry (with backoff) if there is no listener, or if
  the POST request results in an error": ``ATTEMPTS`` attempts, then the batch is dropped;
- "If the subscriber cannot process incoming telemetry fast enough, Lambda might drop records
  to keep memory utilization bounded. When this occurs, Lambda sends a platform.logsDropped
  event": records past twice the buffer's bounds, and batches that could not be delivered, are
  counted and told in a ``platform.logsDropped`` record at the head of the next batch.

``sandbox.localdomain`` is this machine: the extension's listener shares its network. A frozen
environment (freezing.py) answers once thawed, as on Lambda, where the report of one invocation
often arrives during the next: there is no response timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

from lambdakit.emulator import reports
from lambdakit.emulator.telemetry import Destination, Subscription

__all__ = ["Subscriber"]

ATTEMPTS = 5
BACKOFF = 0.05  # seconds before the first retry; doubled at each one
DROPPED_REASON = (
    "Some logs were dropped because the downstream consumer is slower than the logs production rate"
)


class DeliveryError(Exception):
    """The listener refused a batch or could not be reached."""


class Subscriber:
    """The buffer of one SUBSCRIPTION; DROPPED_RECORDS says whether it takes
    ``platform.logsDropped`` records (it subscribed to platform records)."""

    def __init__(
        self, name: str, subscription: Subscription, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.name = name
        self.subscription = subscription
        self._clock = clock
        self._items: list[bytes] = []
        self._size = 0
        self._due = False
        self._timer: asyncio.TimerHandle | None = None
        self._sender: asyncio.Task[None] | None = None
        self._dropped_records = 0
        self._dropped_bytes = 0

    # --- the buffer --------------------------------------------------------------------------

    def add(self, item: bytes) -> None:
        """One rendered record (its JSON): buffered, and delivered when the buffer is due."""
        bounds = self.subscription.buffering
        if len(self._items) >= 2 * bounds.max_items or self._size >= 2 * bounds.max_bytes:
            self._drop(1, len(item))
            return
        self._items.append(item)
        self._size += len(item)
        if len(self._items) >= bounds.max_items or self._size >= bounds.max_bytes:
            self.flush()
        elif self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(bounds.timeout_ms / 1000, self.flush)

    def flush(self) -> None:
        """Deliver what is buffered now (or once the batch being delivered is done)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._items and not self._dropped_records:
            return
        self._due = True
        if self._sender is None or self._sender.done():  # the batch is the buffer as of now
            self._sender = asyncio.get_running_loop().create_task(self._send_all(self._take()))

    def pending(self) -> bool:
        """Whether records are buffered or on their way."""
        return bool(self._items or self._dropped_records) or (
            self._sender is not None and not self._sender.done()
        )

    async def drain(self) -> None:
        """Deliver everything buffered and wait for it ("If any of the input streams are
        closed, then Lambda flushes the logs")."""
        self.flush()
        while self._sender is not None and not self._sender.done():
            await asyncio.shield(self._sender)

    def close(self) -> None:
        """The environment is gone: nothing more is delivered."""
        if self._timer is not None:
            self._timer.cancel()
        if self._sender is not None:
            self._sender.cancel()

    def _drop(self, records: int, size: int) -> None:
        self._dropped_records += records
        self._dropped_bytes += size

    def _take(self) -> list[bytes]:
        items, self._items, self._size, self._due = self._items, [], 0, False
        if self._dropped_records and "platform" in self.subscription.types:
            record = {
                "droppedBytes": self._dropped_bytes,
                "droppedRecords": self._dropped_records,
                "reason": DROPPED_REASON,
            }
            stamp = reports.iso_timestamp(self._clock())
            event = {"time": stamp, "type": "platform.logsDropped", "record": record}
            items.insert(0, json.dumps(event, separators=(",", ":")).encode())
        self._dropped_records = self._dropped_bytes = 0
        return items

    # --- delivery ----------------------------------------------------------------------------

    async def _send_all(self, batch: list[bytes]) -> None:
        while True:
            if batch and not await self._send(batch):
                self._drop(len(batch), sum(len(item) for item in batch))
            self._rearm()
            if not self._due:
                return
            batch = self._take()

    def _rearm(self) -> None:
        """Records that came during a delivery and are not due yet go at their timeout."""
        if self._items and self._timer is None and not self._due:
            timeout = self.subscription.buffering.timeout_ms / 1000
            self._timer = asyncio.get_running_loop().call_later(timeout, self.flush)

    async def _send(self, batch: list[bytes]) -> bool:
        delay = BACKOFF
        for attempt in range(ATTEMPTS):
            try:
                await deliver(self.subscription.destination, batch)
                return True
            except (OSError, DeliveryError):
                if attempt + 1 < ATTEMPTS:
                    await asyncio.sleep(delay)
                    delay *= 2
        return False


async def deliver(destination: Destination, batch: list[bytes]) -> None:
    """BATCH to DESTINATION: a POST of a JSON array, or NDJSON written to a TCP socket (which
    Lambda cannot acknowledge: telemetry-api.html recommends HTTP)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", destination.port)
    try:
        if destination.protocol == "TCP":
            writer.write(b"".join(item + b"\n" for item in batch))
            await writer.drain()
            return
        body = b"[" + b",".join(batch) + b"]"
        head = (
            f"POST {destination.path} HTTP/1.1\r\n"
            f"Host: sandbox.localdomain:{destination.port}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
        status_line = await reader.readline()
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit() or int(parts[1]) >= 400:
            raise DeliveryError(status_line.decode(errors="replace").strip() or "no answer")
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
