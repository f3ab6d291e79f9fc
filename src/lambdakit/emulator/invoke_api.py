"""The Invoke API (2015-03-31) as boto3 and the AWS CLI speak it.

``POST /2015-03-31/functions/{FunctionName}/invocations`` with the function given as a name,
``name:qualifier``, a full or partial ARN, or ``?Qualifier=``; ``X-Amz-Invocation-Type``
(RequestResponse, Event, DryRun), ``X-Amz-Log-Type: Tail``, ``X-Amz-Client-Context`` (base64
JSON) and ``X-Amz-Tenant-Id``. Service errors are rest-json errors with ``x-amzn-ErrorType``
and the member names of botocore's Lambda model, so botocore raises the modelled exceptions.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote

from lambdakit.emulator._http import BodyTooLarge, Request, Response, json_response
from lambdakit.emulator.concurrency import Throttled
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.invocations import (
    EVENT_PAYLOAD_LIMIT,
    SYNC_PAYLOAD_LIMIT,
    InvocationResult,
    PendingInvocation,
    new_uuid,
)

if TYPE_CHECKING:
    from lambdakit.emulator.scheduler import FunctionPool

INVOKE = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")
INVOKE_STREAM = re.compile(r"/2021-11-15/functions/([^/]+)/response-streaming-invocations")
_EVENT_SLICE = 1024 * 1024
CLIENT_CONTEXT_LIMIT = 3583  # bytes of base64 (botocore's Invoke documentation)


class Functions(Protocol):
    """What the Invoke API needs from the emulator."""

    def pool(self, name: str) -> FunctionPool | None: ...
    def submit_event(self, pool: FunctionPool, invocation: PendingInvocation) -> None: ...
    def arn(self, name: str, qualifier: str | None = None) -> str: ...


class ServiceError(Exception):
    """An Invoke API error: HTTP status, botocore error code and its JSON members."""

    def __init__(self, status: int, code: str, message: str, **members: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.members = members

    def response(self, request_id: str) -> Response:
        # botocore's models spell the message member "Message" for some errors, "message" for
        # most; both parse, the modelled spelling keeps e.response['Error'] identical to AWS.
        key = (
            "Message"
            if self.code in ("ResourceNotFoundException", "ServiceException")
            else "message"
        )
        document = {"Type": "User" if self.status < 500 else "Service", key: self.message}
        document.update(self.members)
        headers = [("x-amzn-ErrorType", self.code), ("x-amzn-RequestId", request_id)]
        if self.code == "TooManyRequestsException":
            headers.append(("Retry-After", "1"))
        return json_response(self.status, document, headers)


class InvokeAPI:
    """HTTP handler for the Invoke API."""

    def __init__(self, functions: Functions) -> None:
        self.functions = functions

    async def handle(self, request: Request) -> Response:
        request_id = new_uuid()
        try:
            return await self._route(request, request_id)
        except ServiceError as error:
            return error.response(request_id)

    async def _route(self, request: Request, request_id: str) -> Response:
        match = INVOKE.fullmatch(request.path)
        streaming = match is None
        match = match or INVOKE_STREAM.fullmatch(request.path)
        if match is None:
            raise ServiceError(404, "UnknownOperationException", f"no operation at {request.path}")
        if request.method != "POST":
            raise ServiceError(405, "MethodNotAllowedException", f"{request.method} not allowed")
        pool = self._resolve(unquote(match.group(1)), request.query.get("Qualifier"))
        if streaming:
            return await self._invoke_stream(request, pool, request_id)
        return await self._invoke(request, pool, request_id)

    def _resolve(self, given: str, qualifier: str | None) -> FunctionPool:
        """Find the function named by a name, ARN or partial ARN, with an optional qualifier.
        An ARN of another partition, region or account names a function this emulator does
        not have: 404, as Lambda answers for a function that does not exist."""
        ref = parse_function_name(given)
        if qualifier is not None:
            _check_qualifier(qualifier)
        qualifier = qualifier or ref.qualifier
        pool = self.functions.pool(ref.name)
        plain = ref.region is None and ref.account is None and ref.partition in (None, "aws")
        if plain and pool is not None and qualifier in (None, "$LATEST"):
            return pool  # the common case, decided without building an ARN
        modelled = parse_function_name(self.functions.arn(ref.name))
        asked = FunctionRef(
            name=ref.name,
            qualifier=qualifier,
            region=ref.region or modelled.region,
            account=ref.account or modelled.account,
            partition=ref.partition or modelled.partition,
        )
        if (
            pool is None
            or asked != dataclasses.replace(modelled, qualifier=qualifier)
            or (qualifier not in (None, "$LATEST"))
        ):
            raise ServiceError(
                404, "ResourceNotFoundException", f"Function not found: {asked.arn()}"
            )
        return pool

    async def _invoke(self, request: Request, pool: FunctionPool, request_id: str) -> Response:
        kind = _invocation_type(request, ("RequestResponse", "Event", "DryRun"))
        invocation = await _pending(request, request_id, kind)
        headers = [("x-amzn-RequestId", request_id), ("X-Amz-Executed-Version", "$LATEST")]
        if kind == "DryRun":
            return Response(204, headers)
        if kind == "Event":
            self.functions.submit_event(pool, invocation)
            return Response(202, headers)
        result = await _run(pool, invocation)
        if result.stream is not None:
            # A buffered Invoke of a streaming function gets the whole body, as on Lambda.
            result = await buffer_result(result, invocation)
        log_type = request.header("x-amz-log-type")
        if log_type == "Tail":
            await invocation.reported.wait()  # the tail ends with END and REPORT
        return _result_response(result, invocation, headers, log_type)

    async def _invoke_stream(
        self, request: Request, pool: FunctionPool, request_id: str
    ) -> Response:
        """``InvokeWithResponseStream``: an event stream of PayloadChunk events as the function
        produces them, then InvokeComplete (with the error and the log tail when asked)."""
        kind = _invocation_type(request, ("RequestResponse", "DryRun"))
        invocation = await _pending(request, request_id, kind)
        headers = [("x-amzn-RequestId", request_id), ("X-Amz-Executed-Version", "$LATEST")]
        if kind == "DryRun":
            return Response(204, headers)
        result = await _run(pool, invocation)
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


async def _pending(request: Request, request_id: str, kind: str) -> PendingInvocation:
    limit = EVENT_PAYLOAD_LIMIT if kind == "Event" else SYNC_PAYLOAD_LIMIT
    payload = await _read_payload(request, limit, kind)
    invocation = PendingInvocation(
        payload=payload,
        request_id=request_id,
        client_context=_client_context(request.header("x-amz-client-context")),
        tenant_id=request.header("x-amz-tenant-id"),
    )
    trace = request.header("x-amzn-trace-id")
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
        raise ServiceError(500, "ServiceException", str(error)) from error


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
    log = invocation.tail.base64() if tail else None
    yield invoke_complete(error_type, error_details, log)


def _result_response(
    result: InvocationResult,
    invocation: PendingInvocation,
    headers: list[tuple[str, str]],
    log_type: str | None,
) -> Response:
    headers = [*headers, ("Content-Type", result.content_type)]
    if result.function_error:
        headers.append(("X-Amz-Function-Error", "Unhandled"))
    if log_type == "Tail":
        headers.append(("X-Amz-Log-Result", invocation.tail.base64()))
    return Response(200, headers, result.body)


def _no_constants(token: str) -> object:
    # JSON (RFC 8259) has no NaN or Infinity; Python's json reads them, Lambda refuses them.
    raise ValueError(f"Non-standard token '{token}': not valid JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constants)
# botocore's Lambda model: the pattern of NamespacedFunctionName (Invoke's FunctionName) and of
# its Qualifier. Lambda validates both and answers 400 ValidationException otherwise.
_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
_FUNCTION_NAME = re.compile(_NAME_PATTERN)
# Its groups: 2 the partition, 3 "region:", 9 "account:", 11 the name, 13 the qualifier.
_PARTITION, _REGION, _ACCOUNT, _NAME, _QUALIFIER_GROUP = 2, 3, 9, 11, 13
_QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
_QUALIFIER = re.compile(_QUALIFIER_PATTERN)
_NAME_LIMIT = 256  # characters of FunctionName (botocore's model)


@dataclasses.dataclass(frozen=True)
class FunctionRef:
    """A FunctionName as Invoke accepts it, in its parts."""

    name: str
    qualifier: str | None = None
    region: str | None = None
    account: str | None = None
    partition: str | None = None

    def arn(self) -> str:
        """The ARN this names (what is not given is left empty)."""
        arn = (
            f"arn:{self.partition or 'aws'}:lambda:{self.region or ''}:{self.account or ''}"
            f":function:{self.name}"
        )
        return f"{arn}:{self.qualifier}" if self.qualifier else arn


def parse_function_name(given: str) -> FunctionRef:
    """``name``, ``name:qualifier``, ``123456789012:function:name[:q]`` or a full ARN, in its
    parts; raises the ServiceError Lambda answers for a name that does not fit the pattern."""
    match = _FUNCTION_NAME.fullmatch(given) if len(given) <= _NAME_LIMIT else None
    if match is None:
        raise _validation_error(given, "functionName", _NAME_PATTERN)
    region, account = match[_REGION], match[_ACCOUNT]
    return FunctionRef(
        name=match[_NAME],
        qualifier=match[_QUALIFIER_GROUP],
        region=region[:-1] if region else None,  # without the ":" that ends it
        account=account[:-1] if account else None,
        partition=match[_PARTITION],
    )


def _check_qualifier(qualifier: str) -> None:
    if not 1 <= len(qualifier) <= 128 or _QUALIFIER.fullmatch(qualifier) is None:
        raise _validation_error(qualifier, "qualifier", _QUALIFIER_PATTERN)


def _validation_error(value: str, member: str, pattern: str) -> ServiceError:
    # The wording of AWS's request validation (the "1 validation error detected" family).
    constraint = (
        "Member must have length greater than or equal to 1"
        if not value
        else f"Member must satisfy regular expression pattern: {pattern}"
    )
    return ServiceError(
        400,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}",
    )


async def _read_payload(request: Request, limit: int, kind: str) -> bytes:
    try:
        payload = await request.body(limit=limit)
    except BodyTooLarge as error:
        raise ServiceError(
            413,
            "RequestEntityTooLargeException",
            f"{error.size} byte payload is too large for the {kind} invocation type "
            f"(limit {limit} bytes)",
        ) from error
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
