"""Invocations in flight: the rendezvous between the Invoke API and an execution environment.

The Invoke API creates a ``PendingInvocation`` and awaits its ``future``; the function's pool
hands it to an environment, whose Runtime API serves it to ``GET /next`` and resolves the future
when the runtime answers (or when the environment times out, crashes or runs out of memory).
The bodies of the platform's own errors follow what Lambda returns (reference §6.1).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from lambdakit.emulator.reports import LogTail

# Lambda's limits (lambda-wire-protocol.md §1.5).
SYNC_PAYLOAD_LIMIT = 6_291_456  # what the Invoke API accepts for RequestResponse
EVENT_PAYLOAD_LIMIT = 1_048_576  # Event invocations, since October 2025
RESPONSE_LIMIT = 6_291_556  # what the Runtime API accepts from the runtime (RAPID's MaxPayloadSize)


class Outcome(Enum):
    """How an invocation ended."""

    SUCCESS = "success"
    """The runtime posted a response."""
    ERROR = "error"
    """The runtime posted an error, or its init failed: a function error (``Unhandled``)."""
    TIMEOUT = "timeout"
    """The function ran past its timeout; the environment was killed."""
    CRASH = "crash"
    """The runtime exited or was killed (also out of memory) before answering."""


STREAM_LIMIT = 200 * 1024 * 1024  # streamed responses (configuration-response-streaming.html)


class ResponseStream:
    """A streamed response, readable while the runtime is still writing it.

    Chunks go into a queue as they arrive; the end carries the error the runtime reported in
    its trailers (or the platform's: a timeout, a crash), if any.
    """

    _END = b""

    # How much may wait for the reader before the runtime is made to wait too: a slow client
    # slows the function down, as on Lambda, instead of the emulator holding the whole stream.
    BUFFER_LIMIT = 1024 * 1024
    HEAD_LIMIT = 64 * 1024  # what is kept of the stream, for the browser console's detail

    def __init__(self, content_type: str) -> None:
        self.content_type = content_type
        self.size = 0
        self.head = bytearray()  # the first HEAD_LIMIT bytes streamed
        self.error_type: str | None = None
        self.error_body: bytes | None = None
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._buffered = 0
        self._drained = asyncio.Event()
        self.ended = False
        self.abandoned = False

    async def put(self, chunk: bytes) -> None:
        """Queue a chunk; waits while the reader is more than BUFFER_LIMIT behind (unless the
        reader has gone: then the chunk is counted and dropped)."""
        while self._buffered >= self.BUFFER_LIMIT and not self.ended and not self.abandoned:
            self._drained.clear()
            await self._drained.wait()
        if chunk and not self.ended:
            if self.size < self.HEAD_LIMIT:  # past it, nothing is copied
                self.head += memoryview(chunk)[: self.HEAD_LIMIT - self.size]
            self.size += len(chunk)
            if not self.abandoned:
                self._buffered += len(chunk)
                self._queue.put_nowait(chunk)

    def abandon(self) -> None:
        """The reader has gone (its client hung up, or it read all it may): drop what waits and
        whatever the runtime still sends, without making the runtime wait. On Lambda the
        function runs on to its end and the rest of its stream goes nowhere; here too, rather
        than being held by flow control until its timeout. Idempotent."""
        if self.abandoned:
            return
        self.abandoned = True
        while not self._queue.empty():
            self._queue.get_nowait()
        if self.ended:
            self._queue.put_nowait(self._END)
        self._buffered = 0
        self._drained.set()

    def end(self, error_type: str | None = None, error_body: bytes | None = None) -> None:
        """The last chunk arrived (with an error if the stream failed); idempotent."""
        if self.ended:
            return
        self.ended = True
        self.error_type = error_type
        self.error_body = error_body
        self._queue.put_nowait(self._END)
        self._drained.set()

    def reader_finished(self, complete: bool) -> None:
        """A response's ``on_finish`` for a body read from this stream: a client that hung up
        before the end abandons the stream."""
        if not complete:
            self.abandon()

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._queue.get()
            if chunk is self._END:
                self._queue.put_nowait(self._END)  # a second reader also ends
                return
            self._buffered -= len(chunk)
            if self._buffered < self.BUFFER_LIMIT:
                self._drained.set()
            yield chunk

    async def read_all(self, limit: int = RESPONSE_LIMIT) -> bytes:
        """The whole body, for a caller that wants it buffered. Past ``limit`` (a buffered
        response's cap on Lambda) the stream is abandoned and ``StreamTooLarge`` raised."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > limit:
                self.abandon()
                raise StreamTooLarge(size)
            parts.append(chunk)
        return b"".join(parts)


class StreamTooLarge(Exception):
    """A streamed response read as a buffered one went past the buffered limit."""

    def __init__(self, size: int) -> None:
        super().__init__(f"streamed response of at least {size} bytes")
        self.size = size


def new_uuid() -> str:
    """A random (version 4) UUID as text, the form of Lambda's request ids: the same form as
    ``str(uuid.uuid4())`` at a fraction of its cost (there are several per invocation). Ids
    need to be unique, not secret: the bits come from ``random`` (seeded from the system's
    entropy), which needs no system call."""
    h = new_uuid_hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_uuid_hex() -> str:
    """``new_uuid()`` without its dashes (``uuid.uuid4().hex``): an invocation's id."""
    return f"{_getrandbits(128) & _UUID_MASK | _UUID_BITS:032x}"


# Version 4 and variant 10xx (RFC 9562 §4.1, §5.4) in a UUID's 128 bits.
_UUID_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_UUID_BITS = (0x4 << 76) | (0x2 << 62)
_getrandbits = random.Random().getrandbits  # its own generator: user code cannot reseed it


def random_bytes(size: int) -> bytes:
    """SIZE random bytes from the ids' generator (API Gateway's short ids)."""
    return _getrandbits(size * 8).to_bytes(size, "big")


def new_trace_id() -> str:
    """An X-Ray trace header as Lambda passes it (``Root=1-<epoch hex>-<24 hex>;...``)."""
    return f"{trace_root(int(time.time()))};Parent={_getrandbits(64):016x};Sampled=0"


def trace_root(seconds: int) -> str:
    """``Root=1-<8 hex: epoch SECONDS>-<24 hex>``, a new X-Ray trace's root."""
    return f"Root=1-{seconds:08x}-{_getrandbits(96):024x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class InvocationResult:
    outcome: Outcome
    body: bytes
    content_type: str = "application/json"
    error_type: str | None = None
    stream: ResponseStream | None = None

    @property
    def function_error(self) -> bool:
        return self.outcome is not Outcome.SUCCESS


@dataclass(eq=False, kw_only=True)
class PendingInvocation:
    """One invocation from the moment it is accepted until it has a result."""

    payload: bytes
    request_id: str = field(default_factory=new_uuid)
    client_context: str | None = None
    cognito_identity: str | None = None
    tenant_id: str | None = None
    qualifier: str | None = None  # the version or alias it was invoked with, as given
    # Who invoked it, for the browser console: "sync" (Invoke API; "stream" is told from its
    # result), "event", "url" (a Function URL), "api" (API Gateway).
    kind: str = "sync"
    trace_id: str = field(default_factory=new_trace_id)
    invocation_id: str = field(default_factory=new_uuid_hex)
    # The log tail, kept only for an Invoke that asks for it (LogType Tail).
    tail: LogTail | None = None
    future: asyncio.Future[InvocationResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    accepted_at: float = field(default_factory=time.monotonic)
    # Set once END and REPORT are written: the log tail is complete.
    reported: asyncio.Event = field(default_factory=asyncio.Event)
    # Called by resolve() itself with the done future (the Invoke API's answer, which then
    # goes out without waiting for a turn of the loop, as the future's callbacks would).
    on_result: Callable[[asyncio.Future[InvocationResult]], None] | None = None

    def resolve(self, result: InvocationResult) -> bool:
        """Set the result once; later attempts (a late answer) are ignored and return False."""
        if self.future.done():
            return False
        self.future.set_result(result)
        hook = self.on_result
        if hook is not None:
            self.on_result = None
            call_hook(hook, self.future)
        return True


def call_hook(hook: Callable[[asyncio.Future[Any]], None], future: asyncio.Future[Any]) -> None:
    """Call HOOK with FUTURE, as the future would call a done-callback, but now: a fault of the
    hook's is reported to the loop's exception handler, not raised to whoever resolved it."""
    try:
        hook(future)
    except Exception as error:
        future.get_loop().call_exception_handler(
            {"message": f"exception in {hook!r}", "exception": error, "future": future}
        )


def _error(document: dict[str, str], error_type: str, outcome: Outcome) -> InvocationResult:
    body = json.dumps(document, separators=(",", ":")).encode()
    return InvocationResult(outcome=outcome, body=body, error_type=error_type)


def timeout_result(request_id: str, timeout: float) -> InvocationResult:
    # Key order as in the payload Lambda returns (reference §6.1).
    message = f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
    document = {"errorMessage": message, "errorType": "Sandbox.Timedout"}
    return _error(document, "Sandbox.Timedout", Outcome.TIMEOUT)


def exit_result(request_id: str, reason: str, *, out_of_memory: bool = False) -> InvocationResult:
    """The runtime ended before answering. ``reason`` is Go's wording: ``exit status 1``,
    ``signal: killed``. Key order is interop.FunctionError's (errorType first)."""
    error_type = "Runtime.OutOfMemory" if out_of_memory else "Runtime.ExitError"
    if reason == "exit status 0":
        message = f"RequestId: {request_id} Error: Runtime exited without providing a reason"
    else:
        message = f"RequestId: {request_id} Error: Runtime exited with error: {reason}"
    return _error({"errorType": error_type, "errorMessage": message}, error_type, Outcome.CRASH)


def entrypoint_result(request_id: str, reason: str) -> InvocationResult:
    """A ``provided.*`` function has no bootstrap Lambda can start: Runtime.InvalidEntrypoint,
    REASON in Lambda's words (``Couldn't find valid bootstrap(s): [...]``)."""
    error_type = "Runtime.InvalidEntrypoint"
    message = f"RequestId: {request_id} Error: {reason}"
    return _error({"errorType": error_type, "errorMessage": message}, error_type, Outcome.CRASH)


def too_large_result(size: int) -> InvocationResult:
    message = (
        f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
        f"({RESPONSE_LIMIT} bytes)."
    )
    document = {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message}
    return _error(document, "Function.ResponseSizeTooLarge", Outcome.ERROR)


def exit_reason(returncode: int) -> str:
    """``exit status N`` or ``signal: NAME`` as Go's os/exec words it (Lambda's messages)."""
    if returncode >= 0:
        return f"exit status {returncode}"
    names = {9: "killed", 15: "terminated", 11: "segmentation fault", 6: "aborted", 2: "interrupt"}
    number = -returncode
    return f"signal: {names.get(number, f'signal {number}')}"
