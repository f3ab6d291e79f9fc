"""REST routes with ``ResponseTransferMode: STREAM``: the function's stream sent on as it comes.

[doc] https://docs.aws.amazon.com/apigateway/latest/developerguide/response-transfer-mode-
lambda.html: API Gateway invokes the function with InvokeWithResponseStream; the function
writes a JSON metadata object (``statusCode``, ``headers``, ``multiValueHeaders``, ``cookies``),
eight NUL bytes, then the payload; "API Gateway starts the payload stream after receiving valid
metadata and the delimiter from Lambda". That is the framing of a Function URL's
``http-integration-response``, so ``url_responses.PreludeParser`` reads it. A stream that ends,
or fails, before its metadata is complete, or metadata that is not valid, is an integration
failure (502); a failure after the status line has gone cuts the response short, so that the
client sees a truncated body rather than a complete one. A function that does not stream (its
whole result at once) is read with the same framing.
"""

from __future__ import annotations

from lambdakit.emulator._http import Response
from lambdakit.emulator.apis.requests import ApiKind, RequestIds
from lambdakit.emulator.apis.responses import (
    GatewayError,
    HttpResponse,
    gateway_response,
    with_gateway_headers,
)
from lambdakit.emulator.invocations import InvocationResult
from lambdakit.emulator.url_responses import (
    Prelude,
    PreludeError,
    PreludeParser,
    prelude_headers,
)
from lambdakit.emulator.url_server import stream_body

__all__ = ["streamed_response"]


async def streamed_response(result: InvocationResult, ids: RequestIds) -> Response:
    """The client's response for a streamed REST integration: status and headers from the
    metadata, then the body, chunked, as the function produces it."""
    stream = result.stream
    if stream is None:
        return _buffered(result, ids)
    parser = PreludeParser()
    chunks = stream.chunks()
    try:
        async for chunk in chunks:
            prelude, rest = parser.feed(chunk)
            if prelude is not None:
                body = stream_body(rest, chunks, stream)
                return Response(
                    prelude.status_code,
                    _headers(prelude, ids),
                    body,
                    on_finish=stream.reader_finished,  # a client that hangs up abandons it
                )
    except PreludeError:
        stream.abandon()  # the client gets its 502 now; the function runs on
    return _failure(ids)


def _buffered(result: InvocationResult, ids: RequestIds) -> Response:
    if result.function_error:
        return _failure(ids)
    parser = PreludeParser()
    try:
        prelude, rest = parser.feed(result.body)
        parser.eof()
    except PreludeError:
        return _failure(ids)
    assert prelude is not None
    return Response(prelude.status_code, _headers(prelude, ids), rest)


def _headers(prelude: Prelude, ids: RequestIds) -> list[tuple[str, str]]:
    answer = HttpResponse(prelude.status_code, prelude_headers(prelude), b"")
    return list(with_gateway_headers(answer, ApiKind.REST, ids).headers)


def _failure(ids: RequestIds) -> Response:
    answer = gateway_response(ApiKind.REST, GatewayError.INTEGRATION_FAILURE, ids)
    return Response(answer.status, list(answer.headers), answer.body)
