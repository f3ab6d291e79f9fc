"""The console's live stream: Server-Sent Events, batched, that never slow the emulator down.

While at least one console follows ``B/api/stream``, the ``Broadcaster`` watches the hub: it
is told which invocations and environments changed (a reference each), and every ``BATCH``
seconds it serialises what changed once, for every client: an ``invocation`` event per
invocation that changed (its latest state), an ``environment`` event per environment (its
latest state), one ``logs`` event with the new lines, and ``async`` when the async view's files
or queue changed (checked every ``ASYNC_EVERY`` batches). With no console following, nothing
of this runs.

Each client has a queue of its own, bounded by ``CLIENT_LIMIT`` bytes: what does not fit is
dropped, and the client is told how many lines it missed (``event: dropped``). A client that
stops reading costs its queue, never a wait: the emulator's own work goes on at full speed.
SSE: https://html.spec.whatwg.org/multipage/server-sent-events.html (``retry``, comments).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdakit.emulator.webconsole.hub import Hub
    from lambdakit.emulator.webconsole.records import EnvironmentJson, InvocationRecord

__all__ = ["ASYNC_EVERY", "BATCH", "CLIENT_LIMIT", "PING_EVERY", "Broadcaster", "Client", "event"]

BATCH = 0.1  # seconds: at most one batch of events per client in this time
ASYNC_EVERY = 10  # batches between two looks at the async view
CLIENT_LIMIT = 1024 * 1024  # bytes of events a client may have waiting
PING_EVERY = 15.0  # seconds: a comment line, so that proxies and the browser keep it open
RETRY = b"retry: 2000\n\n"
PING = b": ping\n\n"


def event(name: str, data: object) -> bytes:
    """One SSE event whose data is JSON (one line: JSON text has no raw newline)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return f"event: {name}\ndata: {text}\n\n".encode()


class Client:
    """One follower of the stream: its queue, bounded (module docstring)."""

    def __init__(self, *, logs: bool) -> None:
        self.logs = logs
        self._queue: collections.deque[bytes] = collections.deque()
        self._size = 0
        self.dropped = 0  # lines not sent since the last notice
        self.closed = False
        self._wake = asyncio.Event()

    def close(self) -> None:
        """End the stream (the emulator is closing)."""
        self.closed = True
        self._wake.set()

    def push(self, message: bytes, *, lines: int = 0) -> None:
        if self._size + len(message) > CLIENT_LIMIT:
            self.dropped += lines
            return
        self._queue.append(message)
        self._size += len(message)
        self._wake.set()

    async def next(self, timeout: float = PING_EVERY) -> bytes:
        """What is waiting, as one chunk; a ping when nothing came within TIMEOUT seconds."""
        if not self._queue:
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
        if not self._queue:
            return PING
        chunk = b"".join(self._queue)
        self._queue.clear()
        self._size = 0
        if self.dropped:
            chunk += event("dropped", {"logs": self.dropped})
            self.dropped = 0
        return chunk


class Broadcaster:
    """The hub's watcher while clients follow the stream (module docstring). ASYNC_STATE is a
    cheap fingerprint of the async view (``async_view.AsyncView.fingerprint``)."""

    def __init__(self, hub: Hub, async_state: Callable[[], object] = lambda: None) -> None:
        self.hub = hub
        self.async_state = async_state
        self.clients: set[Client] = set()
        self._invocations: dict[InvocationRecord, None] = {}  # an ordered set
        self._environments: dict[str, EnvironmentJson] = {}
        self._seq = 0
        self._async: object = None
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, *, logs: bool) -> Client:
        client = Client(logs=logs)
        if not self.clients:
            self.hub.parse()
            self._seq = self.hub.next_seq  # a new follower gets the lines from now on
            self._async = self.async_state()
            self.hub.watcher = self
        self.clients.add(client)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return client

    def unsubscribe(self, client: Client) -> None:
        self.clients.discard(client)
        if not self.clients:
            self.hub.watcher = None
            self._invocations.clear()
            self._environments.clear()

    async def follow(self, client: Client) -> AsyncIterator[bytes]:
        """The response body of one client: its events until it hangs up."""
        try:
            yield RETRY
            while not client.closed:
                yield await client.next()
        finally:
            self.unsubscribe(client)

    def close(self) -> None:
        """End every client's stream, and the batches."""
        for client in list(self.clients):
            client.close()
        if self._task is not None:
            self._task.cancel()

    # --- Watcher -------------------------------------------------------------------------------

    def invocation_changed(self, record: InvocationRecord) -> None:
        self._invocations[record] = None

    def environment_changed(self, snapshot: EnvironmentJson) -> None:
        self._environments[snapshot["id"]] = snapshot

    # --- batches -------------------------------------------------------------------------------

    async def _run(self) -> None:
        batches = 0
        while self.clients:
            await asyncio.sleep(BATCH)
            self.flush()
            batches += 1
            if batches % ASYNC_EVERY == 0:
                self._check_async()

    def flush(self) -> None:
        """Send what changed since the last batch to every client."""
        records, self._invocations = self._invocations, {}
        snapshots, self._environments = self._environments, {}
        parts = [event("invocation", record.to_json()) for record in records]
        parts += [event("environment", snapshot) for snapshot in snapshots.values()]
        common = b"".join(parts)
        lines = self.hub.lines_since(self._seq)
        self._seq = self.hub.next_seq
        logs = event("logs", lines) if lines else b""
        for client in list(self.clients):
            if common:
                client.push(common)
            if logs and client.logs:
                client.push(logs, lines=len(lines))

    def _check_async(self) -> None:
        state = self.async_state()
        if state != self._async:
            self._async = state
            message = event("async", {})
            for client in list(self.clients):
                client.push(message)
