"""Function URLs: each function with ``FunctionUrlConfig`` served at the root of its own address.

A request becomes a payload-format-2.0 event (``function_urls.request_event``); the answer is
read as Function URLs read it (``buffered_response``), or, with ``InvokeMode:
RESPONSE_STREAM``, sent as it arrives: the status and headers from the stream's prelude, then
the body, chunked.

A URL with ``Cors`` answers preflights itself, without invoking the function, and adds the CORS
headers to every other response (``url_cors``). An ``AWS_IAM`` URL lets through only requests
signed with the emulator's credentials (``url_auth``); preflights need no signature, as browsers
send none.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from lambdakit.emulator._http import BodyTooLarge, Request, Response, json_response
from lambdakit.emulator.concurrency import Throttled
from lambdakit.emulator.console import warn
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.invocations import (
    SYNC_PAYLOAD_LIMIT,
    InvocationResult,
    PendingInvocation,
    ResponseStream,
    StreamTooLarge,
    new_uuid,
)
from lambdakit.emulator.sigv4 import SignedRequest
from lambdakit.emulator.url_auth import LocalCredentials, authorize, local_credentials
from lambdakit.emulator.url_cors import CorsPolicy, cors_headers, is_preflight, preflight
from lambdakit.emulator.url_events import IamAuthorizer, request_event
from lambdakit.emulator.url_responses import (
    BAD_GATEWAY,
    HTTP_INTEGRATION,
    HttpResponse,
    PreludeError,
    PreludeParser,
    buffered_response,
    prelude_headers,
)

if TYPE_CHECKING:
    from lambdakit.emulator.scheduler import FunctionPool


class FunctionUrl:
    """HTTP handler for one function's URL."""

    def __init__(
        self,
        pool: FunctionPool,
        *,
        region: str,
        streaming: bool,
        iam: bool = False,
        credentials: LocalCredentials | None = None,
    ) -> None:
        self.pool = pool
        self.region = region
        self.streaming = streaming
        self.iam = iam  # AuthType AWS_IAM: requests must be signed with our credentials
        if iam and credentials is None:
            credentials = local_credentials()
            if not credentials.credentials:
                warn(
                    f"{pool.spec.name} Function URL (AWS_IAM): no credentials to check "
                    f"signatures against ({credentials.source}); every request will be refused"
                )
        self.credentials = credentials
        url = pool.spec.url
        self.cors = CorsPolicy.from_template(url.cors) if url and url.cors else None
        self.url_id = uuid.uuid4().hex  # 32 lower-case characters, like a real URL id

    async def handle(self, request: Request) -> Response:
        if self.cors is not None and is_preflight(request.method, request.headers):
            return _respond(preflight(self.cors, request.headers), new_uuid())
        response = await self._answer(request)
        if self.cors is not None:
            response.headers += cors_headers(self.cors, request.headers)
        return response

    async def _answer(self, request: Request) -> Response:
        request_id = new_uuid()
        try:
            body = await request.body(limit=SYNC_PAYLOAD_LIMIT)
        except BodyTooLarge:
            message = "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
            return json_response(413, {"Message": message}, _ids(request_id))
        authorizer = None
        if self.iam:
            checked = self._authorize(request, body)
            if isinstance(checked, HttpResponse):
                return _respond(checked, request_id)
            authorizer = checked
        event = request_event(
            method=request.method, target=request.target, headers=request.headers, body=body,
            source_ip="127.0.0.1", request_id=request_id, url_id=self.url_id,
            region=self.region, authorizer=authorizer, account_id=self.pool.settings.account_id,
        )  # fmt: skip
        # SAM points a function's URL at its AutoPublishAlias when it has one.
        invocation = PendingInvocation(
            payload=json.dumps(event).encode(),
            request_id=request_id,
            qualifier=self.pool.spec.alias,
            kind="url",
        )
        try:
            result = await self.pool.invoke(invocation)
        except Throttled:
            return json_response(429, {"Message": "Rate Exceeded."}, _ids(request_id))
        except EmulatorError as error:
            return json_response(500, {"Message": str(error)}, _ids(request_id))
        if self.streaming:
            return await self._stream(result, request_id)
        return await self._buffered(result, request_id)

    def _authorize(self, request: Request, body: bytes) -> IamAuthorizer | HttpResponse:
        signed = SignedRequest(request.method, request.target, request.headers, body)
        known = self.credentials.credentials if self.credentials else ()
        return authorize(
            signed, known, region=self.region, account_id=self.pool.settings.account_id
        )

    async def _buffered(self, result: InvocationResult, request_id: str) -> Response:
        payload, failed = result.body, result.function_error
        content_type = None
        if result.stream is not None:
            try:
                payload = await result.stream.read_all()
            except StreamTooLarge:  # over a buffered response's 6 MB: a function error
                return _respond(BAD_GATEWAY, request_id)
            content_type = result.stream.content_type
            if result.stream.error_type is not None:
                payload, failed = result.stream.error_body or b"", True
        answer = buffered_response(payload, function_error=failed, content_type=content_type)
        return _respond(answer, request_id)

    async def _stream(self, result: InvocationResult, request_id: str) -> Response:
        """RESPONSE_STREAM: the prelude's status and headers, then the body as it arrives."""
        stream = result.stream
        if stream is None:
            # A function that answered buffered: its payload goes out as it is.
            if result.function_error:
                return _respond(BAD_GATEWAY, request_id)
            headers = [("Content-Type", result.content_type), *_ids(request_id)]
            return Response(200, headers, result.body)
        chunks = stream.chunks()
        hangup = stream.reader_finished  # a client that hangs up abandons the stream
        if stream.content_type != HTTP_INTEGRATION:
            headers = [("Content-Type", stream.content_type), *_ids(request_id)]
            return Response(200, headers, stream_body(b"", chunks, stream), on_finish=hangup)
        parser = PreludeParser()
        try:
            async for chunk in chunks:
                prelude, rest = parser.feed(chunk)
                if prelude is not None:
                    headers = [*prelude_headers(prelude), *_ids(request_id)]
                    body = stream_body(rest, chunks, stream)
                    return Response(prelude.status_code, headers, body, on_finish=hangup)
        except PreludeError:
            stream.abandon()  # the client gets its 502 now; the function runs on
            return _respond(BAD_GATEWAY, request_id)
        if stream.error_type is not None:  # it failed before its prelude was complete
            return _respond(BAD_GATEWAY, request_id)
        return Response(200, _ids(request_id))  # an empty stream


async def stream_body(
    first: bytes, rest: AsyncIterator[bytes], stream: ResponseStream
) -> AsyncIterator[bytes]:
    """A streamed response's body for the HTTP server: FIRST, then REST, cut short if the
    function failed mid-stream (the Function URL's, and the API's streaming routes')."""
    if first:
        yield first
    async for chunk in rest:
        yield chunk
    if stream.error_type is not None:
        # The status line is long gone: cut the response short, so that the client sees a
        # truncated body rather than a complete one.
        raise ConnectionAbortedError(f"the function failed mid-stream: {stream.error_type}")


def _respond(answer: HttpResponse, request_id: str) -> Response:
    return Response(answer.status, [*answer.headers, *_ids(request_id)], answer.body)


def _ids(request_id: str) -> list[tuple[str, str]]:
    return [("x-amzn-RequestId", request_id)]
