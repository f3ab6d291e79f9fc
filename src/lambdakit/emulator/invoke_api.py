"""The Invoke API (2015-03-31) as boto3 and the AWS CLI speak it.

``POST /2015-03-31/functions/{FunctionName}/invocations`` with the function given as a name,
``name:qualifier``, a full or partial ARN, or ``?Qualifier=``; ``X-Amz-Invocation-Type``
(RequestResponse, Event, DryRun), ``X-Amz-Log-Type: Tail``, ``X-Amz-Client-Context`` (base64
JSON) and ``X-Amz-Tenant-Id``. Service errors are rest-json errors with ``x-amzn-ErrorType``
and the member names of botocore's Lambda model, so botocore raises the modelled exceptions.

A synchronous invocation of a function whose environment is warm (the common case) is started
by ``immediate``, from the HTTP server's parser callback without a task, and answered from a
callback of its future; the rest take ``handle``.

A qualifier names ``$LATEST``, the published version ``1`` or its alias
(``template.versions``); the answer's ``X-Amz-Executed-Version`` says which ran. The client
context reaches the function on synchronous invocations only (API_Invoke.html: "Lambda passes
the ClientContext object to your function for synchronous invocations only"). A function with
tenant isolation needs ``X-Amz-Tenant-Id``, and one without refuses it (400
InvalidParameterValueException, tenant-isolation-troubleshooting.html).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import functools
import json
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote

from lambdakit.emulator._http import LATER, BodyTooLarge, Request, Response, internal_error
from lambdakit.emulator.concurrency import Throttled
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.invocations import (
    EVENT_PAYLOAD_LIMIT,
    SYNC_PAYLOAD_LIMIT,
    InvocationResult,
    PendingInvocation,
    new_uuid,
)
from lambdakit.emulator.invoke_targets import (
    FunctionRef,
    ServiceError,
    Target,
    check_qualifier,
    check_tenant,
    parse_function_name,
)
from lambdakit.emulator.reports import LogTail
from lambdakit.template.versions import LATEST, executed_version

if TYPE_CHECKING:
    from lambdakit.emulator.scheduler import FunctionPool

INVOKE = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")
INVOKE_STREAM = re.compile(r"/2021-11-15/functions/([^/]+)/response-streaming-invocations")
_EVENT_SLICE = 1024 * 1024
CLIENT_CONTEXT_LIMIT = 3583  # bytes of base64 (botocore's Invoke documentation)
# The same few names come with every invocation: each is parsed once (a FunctionRef is frozen;
# a name that does not parse raises, and is not cached).
_parse_name = functools.lru_cache(maxsize=256)(parse_function_name)


class Functions(Protocol):
    """What the Invoke API needs from the emulator."""

    def pool(self, name: str) -> FunctionPool | None: ...
    def submit_event(self, pool: FunctionPool, invocation: PendingInvocation) -> None: ...
    def arn(self, name: str, qualifier: str | None = None) -> str: ...


class InvokeAPI:
    """HTTP handler for the Invoke API."""

    def __init__(self, functions: Functions) -> None:
        self.functions = functions
        self._tasks: set[asyncio.Task[None]] = set()  # immediate invocations that had to wait

    async def handle(self, request: Request) -> Response:
        request_id = new_uuid()
        try:
            return await self._route(request, request_id)
        except ServiceError as error:
            return error.response(request_id)

    def immediate(self, request: Request) -> Response | object | None:
        """A synchronous ``Invoke`` (no log tail), started without a task (the HTTP server's
        immediate handler) when no environment needs starting for it: ``LATER``, and the
        answer comes from the invocation's future. A refusal, or None for ``handle``; one
        that needs a new environment goes on in a task."""
        match = INVOKE.fullmatch(request.path) if request.method == "POST" else None
        headers = request.header_map
        if match is None or headers.get("x-amz-log-type") == "Tail":
            return None  # the tail waits for END and REPORT: the coroutine does
        if headers.get("x-amz-invocation-type", "RequestResponse") != "RequestResponse":
            return None
        request_id = new_uuid()
        try:
            target = self._resolve(unquote(match.group(1)), request.query.get("Qualifier"))
            check_tenant(target.pool, headers.get("x-amz-tenant-id"))
            invocation = _invocation(
                request, request_id, "RequestResponse", target.qualifier,
                _arrived_payload(request, SYNC_PAYLOAD_LIMIT, "RequestResponse"),
            )  # fmt: skip
        except ServiceError as error:
            return error.response(request_id)
        future = target.pool.invoke_now(invocation)
        if future is None:  # it waits for an environment, or is refused: in a task
            self._later(request, request_id, self._invoked(request, target, request_id, invocation))
            return LATER
        answer_headers = _answer_headers(request_id, target)
        answer = functools.partial(self._answer, request, request_id, invocation, answer_headers)
        invocation.on_result = answer  # the result: answered from resolve() itself
        future.add_done_callback(functools.partial(_if_failed, answer))  # else from here
        return LATER

    def _answer(
        self,
        request: Request,
        request_id: str,
        invocation: PendingInvocation,
        headers: list[tuple[str, str]],
        future: asyncio.Future[InvocationResult],
    ) -> None:
        """The answer to an Invoke that ``immediate`` started, once its result is known."""
        error = None if future.cancelled() else future.exception()
        if isinstance(error, EmulatorError):  # it waited in the queue, and the server closed
            request.reply(_service_error(error).response(request_id))
            return
        if future.cancelled() or error is not None:
            request.reply(None)
            return
        result = future.result()
        if result.stream is not None:  # a buffered Invoke of a streaming function: read whole
            self._later(request, request_id, _buffered(result, invocation, headers, None))
            return
        try:
            response = _result_response(result, invocation, headers, None)
        except Exception as failure:  # the boundary where a fault of ours becomes a 500
            response = internal_error(request, failure)
        request.reply(response)

    def _later(self, request: Request, request_id: str, answer: Awaitable[Response]) -> None:
        """Reply to REQUEST with ANSWER, in a task (kept until it ends)."""
        task = asyncio.get_running_loop().create_task(_reply(request, request_id, answer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _route(self, request: Request, request_id: str) -> Response:
        path = request.path
        match = INVOKE.fullmatch(path)
        streaming = match is None
        match = match or INVOKE_STREAM.fullmatch(path)
        if match is None:
            raise ServiceError(404, "UnknownOperationException", f"no operation at {path}")
        if request.method != "POST":
            raise ServiceError(405, "MethodNotAllowedException", f"{request.method} not allowed")
        target = self._resolve(unquote(match.group(1)), request.query.get("Qualifier"))
        check_tenant(target.pool, request.header("x-amz-tenant-id"))
        if streaming:
            return await self._invoke_stream(request, target, request_id)
        return await self._invoke(request, target, request_id)

    def _resolve(self, given: str, qualifier: str | None) -> Target:
        """Find the function named by a name, ARN or partial ARN, with an optional qualifier.
        An ARN of another partition, region or account names a function this emulator does
        not have, and a qualifier that names no version or alias of it nothing: 404, as
        Lambda answers for a function that does not exist."""
        ref = _parse_name(given)
        if qualifier is not None:
            check_qualifier(qualifier)
            if ref.qualifier is not None and ref.qualifier != qualifier:
                raise ServiceError(
                    400, "InvalidParameterValueException",
                    "The derived qualifier from the function name does not match the "
                    "specified qualifier.",
                )  # fmt: skip
        qualifier = qualifier or ref.qualifier
        pool = self.functions.pool(ref.name)
        plain = ref.region is None and ref.account is None and ref.partition in (None, "aws")
        if plain and pool is not None and qualifier is None:
            return Target(pool, None, LATEST)  # the common case, decided without an ARN
        modelled = _parse_name(self.functions.arn(ref.name))
        asked = FunctionRef(
            name=ref.name,
            qualifier=qualifier,
            region=ref.region or modelled.region,
            account=ref.account or modelled.account,
            partition=ref.partition or modelled.partition,
        )
        version = executed_version(pool.spec, qualifier) if pool is not None else None
        if (
            pool is None
            or version is None
            or asked != dataclasses.replace(modelled, qualifier=qualifier)
        ):
            raise ServiceError(
                404, "ResourceNotFoundException", f"Function not found: {asked.arn()}"
            )
        return Target(pool, qualifier, version)

    async def _invoke(self, request: Request, target: Target, request_id: str) -> Response:
        kind = _invocation_type(request, ("RequestResponse", "Event", "DryRun"))
        invocation = await _pending(request, request_id, kind, target.qualifier)
        return await self._invoked(request, target, request_id, invocation, kind)

    async def _invoked(
        self,
        request: Request,
        target: Target,
        request_id: str,
        invocation: PendingInvocation,
        kind: str = "RequestResponse",
    ) -> Response:
        headers = _answer_headers(request_id, target)
        pool = target.pool
        if kind == "DryRun":
            return Response(204, headers)
        if kind == "Event":
            self.functions.submit_event(pool, invocation)
            return Response(202, headers)
        result = await _run(pool, invocation)
        return await _buffered(result, invocation, headers, request.header("x-amz-log-type"))

    async def _invoke_stream(self, request: Request, target: Target, request_id: str) -> Response:
        """``InvokeWithResponseStream``: an event stream of PayloadChunk events as the function
        produces them, then InvokeComplete (with the error and the log tail when asked)."""
        kind = _invocation_type(request, ("RequestResponse", "DryRun"))
        invocation = await _pending(request, request_id, kind, target.qualifier)
        headers = _answer_headers(request_id, target)
        if kind == "DryRun":
            return Response(204, headers)
        result = await _run(target.pool, invocation)
        tail = request.header("x-amz-log-type") == "Tail"
        # Content-Type is the function's stream's (boto3's ResponseStreamContentType); the
        # body is an event stream whatever it says.
        content_type = result.stream.content_type if result.stream else result.content_type
        headers.append(("Content-Type", content_type))
        body = _event_stream(result, invocation, tail=tail)
        # A client that hangs up mid-stream abandons it: the function runs on to its end.
        hangup = result.stream.reader_finished if result.stream else None
        return Response(200, headers, body, on_finish=hangup)


def _invocation_type(request: Request, allowed: tuple[str, ...]) -> str:
    kind = request.header("x-amz-invocation-type", "RequestResponse") or "RequestResponse"
    if kind not in allowed:
        raise ServiceError(
            400, "InvalidParameterValueException", f"Unsupported invocation type {kind}"
        )
    return kind


async def _pending(
    request: Request, request_id: str, kind: str, qualifier: str | None = None
) -> PendingInvocation:
    limit = EVENT_PAYLOAD_LIMIT if kind == "Event" else SYNC_PAYLOAD_LIMIT
    try:
        payload = await request.body(limit=limit)
    except BodyTooLarge as error:
        raise _too_large(error.size, kind, limit) from error
    return _invocation(request, request_id, kind, qualifier, payload)


def _arrived_payload(request: Request, limit: int, kind: str) -> bytes:
    try:
        return request.arrived_body(limit=limit)
    except BodyTooLarge as error:
        raise _too_large(error.size, kind, limit) from error


def _invocation(
    request: Request, request_id: str, kind: str, qualifier: str | None, payload: bytes
) -> PendingInvocation:
    payload = _checked_payload(payload)
    headers = request.header_map
    client_context = _client_context(headers.get("x-amz-client-context"))
    invocation = PendingInvocation(
        payload=payload,
        request_id=request_id,
        # Checked on every invocation, passed on synchronous ones only, as Lambda does.
        client_context=None if kind == "Event" else client_context,
        tenant_id=headers.get("x-amz-tenant-id"),
        qualifier=qualifier,
        tail=LogTail() if headers.get("x-amz-log-type") == "Tail" else None,
        future=request.loop.create_future(),
    )
    trace = headers.get("x-amzn-trace-id")
    if trace:
        invocation.trace_id = trace
    return invocation


async def _run(pool: FunctionPool, invocation: PendingInvocation) -> InvocationResult:
    try:
        return await pool.invoke(invocation)
    except Throttled as error:
        raise ServiceError(
            429, "TooManyRequestsException", str(error), Reason=error.reason
        ) from error
    except EmulatorError as error:
        raise _service_error(error) from error


def _service_error(error: EmulatorError) -> ServiceError:
    return ServiceError(500, "ServiceException", str(error))


def _answer_headers(request_id: str, target: Target) -> list[tuple[str, str]]:
    return [("x-amzn-RequestId", request_id), ("X-Amz-Executed-Version", target.version)]


async def _buffered(
    result: InvocationResult,
    invocation: PendingInvocation,
    headers: list[tuple[str, str]],
    log_type: str | None,
) -> Response:
    """The answer of a buffered Invoke once RESULT is known: a streamed result read whole (as
    on Lambda), and with ``Tail`` the log tail once END and REPORT have ended it."""
    if result.stream is not None:
        result = await buffer_result(result, invocation)
    if log_type == "Tail":
        await invocation.reported.wait()
    return _result_response(result, invocation, headers, log_type)


async def buffer_result(
    result: InvocationResult, invocation: PendingInvocation
) -> InvocationResult:
    """Read a streamed result whole, as a buffered Invoke of a streaming function gets it (and
    wait for its REPORT, so the log tail is complete). Past the buffered limit the caller gets
    Function.ResponseSizeTooLarge at once and the function runs on, its output dropped."""
    from lambdakit.emulator.invocations import Outcome, StreamTooLarge, too_large_result

    stream = result.stream
    assert stream is not None
    try:
        body = await stream.read_all()
    except StreamTooLarge as error:
        return too_large_result(error.size)
    await invocation.reported.wait()
    if stream.error_type is not None:
        return InvocationResult(
            outcome=Outcome.ERROR, body=stream.error_body or b"", error_type=stream.error_type
        )
    return InvocationResult(outcome=Outcome.SUCCESS, body=body, content_type=stream.content_type)


async def _event_stream(
    result: InvocationResult, invocation: PendingInvocation, *, tail: bool
) -> AsyncIterator[bytes]:
    from lambdakit._eventstream import invoke_complete, payload_chunk

    error_type, error_details = None, None
    if result.stream is not None:
        async for chunk in result.stream.chunks():
            for start in range(0, len(chunk), _EVENT_SLICE):  # an event carries 24 MiB at most
                yield payload_chunk(chunk[start : start + _EVENT_SLICE])
        error_type = result.stream.error_type
        error_details = (result.stream.error_body or b"").decode("utf-8", "replace") or None
        await invocation.reported.wait()
    elif result.function_error:
        error_type = result.error_type or "Unhandled"
        error_details = result.body.decode("utf-8", "replace")
    elif result.body:
        yield payload_chunk(result.body)
    if tail:
        await invocation.reported.wait()
    log = invocation.tail.base64() if tail and invocation.tail is not None else None
    yield invoke_complete(error_type, error_details, log)


def _if_failed(
    answer: Callable[[asyncio.Future[InvocationResult]], None],
    future: asyncio.Future[InvocationResult],
) -> None:
    if future.cancelled() or future.exception() is not None:
        answer(future)


async def _reply(request: Request, request_id: str, answer: Awaitable[Response]) -> None:
    try:
        response = await answer
    except ServiceError as error:
        response = error.response(request_id)
    except asyncio.CancelledError:
        request.reply(None)
        raise
    except Exception as error:  # the boundary where a fault of ours becomes a 500
        response = internal_error(request, error)
    request.reply(response)


def _result_response(
    result: InvocationResult,
    invocation: PendingInvocation,
    headers: list[tuple[str, str]],
    log_type: str | None,
) -> Response:
    headers = [*headers, ("Content-Type", result.content_type)]
    if result.function_error:
        headers.append(("X-Amz-Function-Error", "Unhandled"))
    if log_type == "Tail" and invocation.tail is not None:
        headers.append(("X-Amz-Log-Result", invocation.tail.base64()))
    return Response(200, headers, result.body)


def _no_constants(token: str) -> object:
    # JSON (RFC 8259) has no NaN or Infinity; Python's json reads them, Lambda refuses them.
    raise ValueError(f"Non-standard token '{token}': not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)


def _too_large(size: int, kind: str, limit: int) -> ServiceError:
    return ServiceError(
        413,
        "RequestEntityTooLargeException",
        f"{size} byte payload is too large for the {kind} invocation type (limit {limit} bytes)",
    )


def _checked_payload(payload: bytes) -> bytes:
    """PAYLOAD as the function gets it; ``InvalidRequestContentException`` unless JSON."""
    if not payload.strip():
        return b"{}"  # Lambda passes an empty payload as an empty JSON object
    try:
        try:
            _DECODER.decode(payload.decode())  # json.loads without its encoding detection
        except UnicodeDecodeError:
            json.loads(payload, parse_constant=_no_constants)  # UTF-16 or UTF-32
    except ValueError as error:
        raise _unparsable(str(error)) from error
    except RecursionError as error:  # arrays or objects nested past the parser's depth
        raise _unparsable(
            f"the document is nested more than {sys.getrecursionlimit()} levels deep"
        ) from error
    return payload


def _unparsable(reason: str) -> ServiceError:
    return ServiceError(
        400, "InvalidRequestContentException", f"Could not parse request body into json: {reason}"
    )


def _client_context(value: str | None) -> str | None:
    """X-Amz-Client-Context is base64 of a JSON object; the runtime gets the decoded JSON."""
    if not value:
        return None
    problem = "Client context must be a valid Base64-encoded JSON object."
    if len(value) > CLIENT_CONTEXT_LIMIT:
        raise ServiceError(
            400, "InvalidParameterValueException",
            f"Client context is {len(value)} bytes; the limit is {CLIENT_CONTEXT_LIMIT}.",
        )  # fmt: skip
    try:
        text = base64.b64decode(value, validate=True).decode("utf-8")
        if not isinstance(json.loads(text), dict):
            raise ValueError("not an object")
    except (binascii.Error, ValueError) as error:
        raise ServiceError(400, "InvalidRequestContentException", problem) from error
    return text
