"""The Runtime API (2018-06-01) one execution environment's runtime talks to.

Each environment has its own listener, so the socket identifies the environment and any runtime
client works unchanged. One coroutine per endpoint, in ``ROUTES``; status codes and bodies are
those of Lambda's RAPID (reference §1.4).

The requests of every invocation (``GET /next``, a buffered response or error) are answered by
``immediate`` from the HTTP server's parser callback, without a task, when they arrived whole:
the poll waits on a callback of the environment's future, and the ``202`` of an answer goes out
after the caller's answer. The rest, and those when the environment is not in a state to answer
at once (init, extensions at work), take the coroutines.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Protocol

from lambdakit import _wire
from lambdakit.emulator._http import (
    LATER,
    BodyTooLarge,
    HttpTimeouts,
    Request,
    Response,
    internal_error,
    json_response,
)
from lambdakit.emulator.extensions import PREFIX as EXTENSIONS
from lambdakit.emulator.extensions import ExtensionsAPI
from lambdakit.emulator.invocations import (
    RESPONSE_LIMIT,
    STREAM_LIMIT,
    InvocationResult,
    Outcome,
    PendingInvocation,
    ResponseStream,
    too_large_result,
)
from lambdakit.emulator.telemetry import TelemetryAPI


class Runtime(Protocol):
    """What the Runtime API needs from its execution environment."""

    async def next_invocation(self) -> PendingInvocation: ...
    def poll_now(self) -> asyncio.Future[PendingInvocation] | None: ...
    def work_taken(self, work: asyncio.Future[PendingInvocation]) -> None: ...
    def on_work(
        self,
        work: asyncio.Future[PendingInvocation],
        hook: Callable[[asyncio.Future[PendingInvocation]], None],
    ) -> None: ...
    def polling(self) -> bool: ...
    def begin_stream(self, invocation: PendingInvocation, stream: ResponseStream) -> None: ...
    def end_stream(self, invocation: PendingInvocation) -> None: ...
    def current(self) -> PendingInvocation | None: ...
    def answer(self, invocation: PendingInvocation, result: InvocationResult) -> None: ...
    def init_error(self, body: bytes, error_type: str | None) -> None: ...
    def deadline_ms(self) -> int: ...
    def function_arn(self) -> str: ...
    def owns_client(self, client: tuple[str, int], server: tuple[str, int]) -> bool: ...


# A runtime's connection idles while its function runs (up to 15 minutes), a streamed response
# may pause as long between chunks, and a runtime reads its next event when it is ready: only a
# request head that stops halfway is cut off.
TIMEOUTS = HttpTimeouts(idle=None, head=10.0, body=None, send=None)

OK = {"status": "OK"}
# Header names as the HTTP server keys them (lower case), for the requests of every invocation.
_RESPONSE_MODE = _wire.RESPONSE_MODE.lower()
_INVOCATION_ID = _wire.INVOCATION_ID.lower()
ACCEPTED = json_response(202, OK).shared()  # the server never changes a response it sends


def _error(status: int, error_type: str, message: str) -> Response:
    return json_response(status, {"errorMessage": message, "errorType": error_type})


INVALID_REQUEST_ID = (400, "InvalidRequestID", "Invalid request ID")


def _transition_error(target: str, state: str = "RuntimeResponseSentState") -> Response:
    return _error(
        403,
        "InvalidStateTransition",
        f"State transition from {state} to {target} failed for runtime. "
        "Error: State transition is not allowed",
    )


def _bad_mode() -> Response:
    return _error(400, "InvalidFunctionResponseMode", "Invalid function response mode")


def _too_large() -> Response:
    return _error(
        413,
        "RequestEntityTooLarge",
        f"Exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes).",
    )


class RuntimeAPI:
    """HTTP handler for one environment's Runtime API."""

    def __init__(
        self,
        runtime: Runtime,
        extensions: ExtensionsAPI | None = None,
        telemetry: TelemetryAPI | None = None,
    ) -> None:
        self.runtime = runtime
        self.extensions = extensions  # the Extensions API on the same listener (extensions.py)
        self.telemetry = telemetry  # the Telemetry and Logs APIs (telemetry.py)
        self._poller: Request | None = None  # the GET /next waiting for work
        # An invocation handed to a GET /next whose connection was gone: the runtime never got
        # it, so its next poll gets it again rather than a refusal (nothing is lost).
        self._undelivered: PendingInvocation | None = None
        # Connections whose client was found to be this environment's own process; the last
        # one admitted is also held, so that its requests skip the WeakSet's weak reference.
        self._admitted: weakref.WeakSet[object] = weakref.WeakSet()
        self._last_admitted: object = None
        # The invoked function ARN by qualifier: the same for the environment's life.
        self._arns: dict[str | None, str] = {}

    async def handle(self, request: Request) -> Response:
        refusal = self._check_client(request)
        if refusal is not None:
            return refusal
        target = request.target
        if target == _wire.NEXT_PATH and request.method == "GET":
            return await self.next(request)  # the requests of every invocation: no regex
        request_id = _answer_of(request, "/response")
        if request_id is not None:
            return await self.response(request, request_id)
        return await self._route(request)

    def immediate(self, request: Request) -> Response | object | None:
        """The requests of every invocation, answered without a task (the HTTP server's
        immediate handler): a ``Response``, ``LATER`` (``request.reply`` follows), or None
        for ``handle``."""
        refusal = self._check_client(request)
        if refusal is not None:
            return refusal
        if request.target == _wire.NEXT_PATH and request.method == "GET":
            return self._next_now(request)
        request_id = _answer_of(request, "/response")
        if request_id is not None:
            mode = request.header_map.get(_RESPONSE_MODE)
            if mode == _wire.STREAMING:
                return None  # passed on chunk by chunk, by the coroutine
            return self._answer_now(request, request_id, "InvocationResponse", mode)
        request_id = _answer_of(request, "/error")
        if request_id is not None:
            return self._answer_now(request, request_id, "InvocationErrorResponse")
        return None

    def _check_client(self, request: Request) -> Response | None:
        connection = request.connection
        if connection is not self._last_admitted:
            if connection not in self._admitted:
                refusal = self._admit(request)
                if refusal is not None:
                    return refusal
            self._last_admitted = connection
        return None

    async def _route(self, request: Request) -> Response:
        """Every other endpoint: the Extensions API's, then ``ROUTES``."""
        if self.extensions is not None and request.target.startswith(EXTENSIONS):
            return await self.extensions.handle(request)
        if self.telemetry is not None and TelemetryAPI.routes(request.path):
            return await self.telemetry.handle(request)
        for method, pattern, endpoint in ROUTES:
            match = pattern.fullmatch(request.path)
            if match:
                if request.method != method:
                    return _error(405, "MethodNotAllowed", f"{request.method} not allowed")
                return await endpoint(self, request, *match.groups())
        return _error(404, "NotFound", f"no Runtime API endpoint at {request.path}")

    def _admit(self, request: Request) -> Response | None:
        """Serve only the environment's own runtime (see ``peers``): the first request of a
        connection is checked, and the connection remembered once it passes."""
        peer, local = request.peer, request.local
        if peer is None or local is None or self.runtime.owns_client(peer, local):
            self._admitted.add(request.connection)
            return None
        message = (
            "This Runtime API serves only the runtime of its own execution environment; the "
            f"request came from a process outside it ({peer[0]}:{peer[1]})"
        )
        return _error(403, "AccessDenied", message)

    async def next(self, request: Request) -> Response:
        """``GET /runtime/invocation/next``: long poll until the environment is given work.

        One poll at a time: a second one while the first still waits on a live connection is
        refused (it would otherwise take the first one's invocation or leave it stranded); a
        poll made after the first one's connection closed takes its place."""
        answer = self._poll_answered()
        if answer is not None:
            return answer
        self._poller = request
        invocation = await self.runtime.next_invocation()
        response = self._handed_out(request, invocation)
        if response is None:
            raise ConnectionError("the GET /next went away, or a later one took its place")
        return response

    def _next_now(self, request: Request) -> Response | object | None:
        answer = self._poll_answered()
        if answer is not None:
            return answer
        work = self.runtime.poll_now()
        if work is None:
            return None  # the environment cannot take the poll at once: the coroutine waits
        self._poller = request
        if not work.done() or work.cancelled() or work.exception() is not None:
            if not work.done():  # the event goes out from deliver itself
                self.runtime.on_work(work, functools.partial(self._work_came, request))
            # A failure (the environment closing) comes to _work_failed.
            work.add_done_callback(functools.partial(self._work_failed, request))
            return LATER
        self.runtime.work_taken(work)  # an invocation was waiting for this poll: it goes now
        response = self._handed_out(request, work.result())
        if response is None:
            request.loop.call_soon(request.reply, None)
            return LATER
        return response

    def _work_came(self, request: Request, work: asyncio.Future[PendingInvocation]) -> None:
        self.runtime.work_taken(work)
        try:
            response = self._handed_out(request, work.result())
        except Exception as error:  # the boundary where a fault of ours becomes a 500
            response = internal_error(request, error)
        request.reply(response)

    def _work_failed(self, request: Request, work: asyncio.Future[PendingInvocation]) -> None:
        if work.cancelled() or work.exception() is not None:
            request.reply(None)  # the environment is closing: the connection ends

    def _poll_answered(self) -> Response | None:
        """What a poll gets at once: the invocation it missed, or a refusal; else None."""
        current = self.runtime.current()
        if current is not None:
            if current is self._undelivered:
                self._undelivered = None
                return self._invocation_response(current)
            return _transition_error("InvocationNext")
        waiting = self._poller
        if self.runtime.polling() and waiting is not None and not waiting.disconnected:
            return _transition_error("InvocationNext", "RuntimeReadyState")
        return None

    def _handed_out(self, request: Request, invocation: PendingInvocation) -> Response | None:
        """The answer to the poll REQUEST now that INVOCATION came; None when it cannot have
        it (a later poll took its place, or it went away: the runtime's next poll gets it)."""
        if self._poller is not request:
            return None
        self._poller = None
        if request.disconnected:
            self._undelivered = invocation
            return None
        return self._invocation_response(invocation)

    def _invocation_response(self, invocation: PendingInvocation) -> Response:
        def delivered(done: bool) -> None:
            if not done and self.runtime.current() is invocation:
                self._undelivered = invocation

        headers = self._invocation_headers(invocation)
        return Response(200, headers, invocation.payload, on_finish=delivered)

    def _invocation_headers(self, invocation: PendingInvocation) -> list[tuple[str, str]]:
        return _wire.next_headers(
            invocation.request_id, self.runtime.deadline_ms(), self._function_arn(invocation),
            invocation.trace_id, invocation.client_context, invocation.cognito_identity,
            invocation.tenant_id, invocation.invocation_id, "application/json",
        )  # fmt: skip

    def _function_arn(self, invocation: PendingInvocation) -> str:
        """The environment's ARN for the invocation being handed out (its ``current()``)."""
        arn = self._arns.get(invocation.qualifier)
        if arn is None:
            arn = self._arns[invocation.qualifier] = self.runtime.function_arn()
        return arn

    async def response(self, request: Request, request_id: str) -> Response:
        """``POST /runtime/invocation/{id}/response``: the function's result."""
        invocation, refusal = self._addressed(request, request_id, "InvocationResponse")
        if invocation is None:
            return refusal
        mode = request.header(_RESPONSE_MODE)
        if mode == _wire.STREAMING:
            return await self._stream(request, invocation)
        if mode is not None:
            return _bad_mode()
        began = time.time()
        try:
            body = await request.body(limit=RESPONSE_LIMIT)
        except BodyTooLarge as error:
            return self._too_large_answer(invocation, error.size)
        self._answered(request, invocation, body, began)
        # Let the caller's answer go out before this 202: the caller is the one waiting.
        await asyncio.sleep(0)
        return ACCEPTED

    def _answer_now(
        self, request: Request, request_id: str, target: str, mode: str | None = None
    ) -> Response | object:
        """A buffered response or error, whose body has arrived: the caller's answer goes out
        first, then the ``202``. MODE: the response's Lambda-Runtime-Function-Response-Mode."""
        invocation, refusal = self._addressed(request, request_id, target)
        if invocation is None:
            return refusal
        if mode is not None:
            return _bad_mode()
        error = target == "InvocationErrorResponse"
        began = time.time()
        try:
            body = request.arrived_body(limit=RESPONSE_LIMIT)
        except BodyTooLarge as too_large:
            return self._too_large_answer(invocation, too_large.size)
        answered_at_once = invocation.on_result is not None  # resolve() answers the caller
        if error:
            self._failed(request, invocation, body)
        else:
            self._answered(request, invocation, body, began)
        if answered_at_once:
            return ACCEPTED  # the caller's answer is out already
        request.loop.call_soon(request.reply, ACCEPTED)
        return LATER

    def _answered(
        self, request: Request, invocation: PendingInvocation, body: bytes, began: float
    ) -> None:
        telemetry = self.telemetry  # runtimeDone's producedBytes and spans, for subscribers
        if telemetry is not None and telemetry.hub.listening:
            size = len(body)
            telemetry.hub.response(invocation.request_id, began=began, ended=time.time(), size=size)
        content_type = request.header_map.get("content-type") or "application/json"
        result = InvocationResult(outcome=Outcome.SUCCESS, body=body, content_type=content_type)
        self.runtime.answer(invocation, result)

    async def _stream(self, request: Request, invocation: PendingInvocation) -> Response:
        """A streamed response: pass each chunk on as it arrives; the trailers say how it ended."""
        stream = ResponseStream(request.header("content-type") or "application/octet-stream")
        self.runtime.begin_stream(invocation, stream)
        try:
            async for chunk in request.chunks():
                if stream.size + len(chunk) > STREAM_LIMIT:
                    stream.end(
                        "Function.ResponseSizeTooLarge", _too_large_body(stream.size + len(chunk))
                    )
                    continue  # read and drop the rest
                await stream.put(chunk)
        except ConnectionError:
            stream.end("Runtime.TruncatedResponse", b'{"errorType":"Runtime.TruncatedResponse"}')
            self.runtime.end_stream(invocation)
            raise
        error_type = request.trailers.get(_wire.ERROR_TYPE.lower())
        stream.end(error_type, _decode_error_body(request.trailers.get(_wire.ERROR_BODY.lower())))
        self.runtime.end_stream(invocation)
        return ACCEPTED

    async def error(self, request: Request, request_id: str) -> Response:
        """``POST /runtime/invocation/{id}/error``: the function failed."""
        invocation, refusal = self._addressed(request, request_id, "InvocationErrorResponse")
        if invocation is None:
            return refusal
        try:
            body = await request.body(limit=RESPONSE_LIMIT)
        except BodyTooLarge as error:  # the caller gets the size error, not a wait to timeout
            return self._too_large_answer(invocation, error.size)
        self._failed(request, invocation, body)
        return ACCEPTED

    def _too_large_answer(self, invocation: PendingInvocation, size: int) -> Response:
        """The caller gets the size error (not a wait for the timeout); the runtime its 413."""
        self.runtime.answer(invocation, too_large_result(size))
        return _too_large()

    def _failed(self, request: Request, invocation: PendingInvocation, body: bytes) -> None:
        error_type = request.header(_wire.ERROR_TYPE.lower())
        result = InvocationResult(outcome=Outcome.ERROR, body=body, error_type=error_type)
        self.runtime.answer(invocation, result)

    async def init_error(self, request: Request) -> Response:
        """``POST /runtime/init/error``: the runtime could not start; it should exit now."""
        error_type = request.header(_wire.ERROR_TYPE.lower())
        try:
            body = await request.body(limit=RESPONSE_LIMIT)
        except BodyTooLarge as error:
            self.runtime.init_error(too_large_result(error.size).body, error_type)
            return _too_large()
        self.runtime.init_error(body, error_type)
        return ACCEPTED

    def _addressed(
        self, request: Request, request_id: str, target: str
    ) -> tuple[PendingInvocation | None, Response]:
        """The invocation an answer is for, or the refusal RAPID would send."""
        current = self.runtime.current()
        if current is None:
            return None, _transition_error(target)
        if request_id != current.request_id:
            return None, _error(*INVALID_REQUEST_ID)
        echoed = request.header(_INVOCATION_ID)
        if echoed is not None and echoed != current.invocation_id:
            # An answer to an earlier, timed-out invocation (the 2026 cross-wiring protection).
            return None, _error(410, "InvokeTimeout", "Invoke timeout")
        return current, Response(202)


def _answer_of(request: Request, ending: str) -> str | None:
    """The request id of a ``POST /runtime/invocation/{id}`` + ENDING, else None."""
    target = request.target
    if request.method == "POST" and target.endswith(ending) and target.startswith(_INVOCATION):
        request_id = target[len(_INVOCATION) : -len(ending)]
        if request_id and "/" not in request_id:
            return request_id
    return None


def _decode_error_body(value: str | None) -> bytes | None:
    if value is None:
        return None
    import base64
    import binascii

    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return value.encode()


def _too_large_body(size: int) -> bytes:
    import json

    message = (
        f"Response payload size ({size} bytes) exceeded maximum allowed payload size "
        f"({STREAM_LIMIT} bytes)."
    )
    return json.dumps(
        {"errorType": "Function.ResponseSizeTooLarge", "errorMessage": message}
    ).encode()


Endpoint = Callable[..., Awaitable[Response]]
_BASE = "/" + _wire.API_VERSION + "/runtime"
_INVOCATION = _BASE + "/invocation/"
ROUTES: list[tuple[str, re.Pattern[str], Endpoint]] = [
    ("GET", re.compile(re.escape(_wire.NEXT_PATH)), RuntimeAPI.next),
    ("POST", re.compile(_BASE + r"/invocation/([^/]+)/response"), RuntimeAPI.response),
    ("POST", re.compile(_BASE + r"/invocation/([^/]+)/error"), RuntimeAPI.error),
    ("POST", re.compile(re.escape(_wire.INIT_ERROR_PATH)), RuntimeAPI.init_error),
]
