"""What API Gateway answers: the function's result mapped to HTTP, and its own error responses.

- ``proxy_response`` maps a Lambda proxy integration's result (REST, HTTP API 1.0 or 2.0).
- ``gateway_response`` is API Gateway's own answer (no route, a timeout, a failed function...).
- ``with_gateway_headers`` adds the ids API Gateway puts on every response.

Sources, and how strong they are:

- [doc] REST output format: https://docs.aws.amazon.com/apigateway/latest/developerguide/
  set-up-lambda-proxy-integrations.html (``headers`` and ``multiValueHeaders`` merged, a pair
  in both appearing once; any other format -> 502). Binary responses: .../lambda-proxy-binary-
  media.html and .../api-gateway-payload-encodings-workflow.html (a base64 body is decoded only
  when the request's *first* ``Accept`` media type is a binary media type). HTTP APIs: .../http-
  api-develop-integrations-lambda.html (2.0 inference; ``cookies`` become ``set-cookie``), .../
  http-api-troubleshooting-lambda.html (``{"message":"Internal Server Error"}``). Lambda's
  guide, services-apigateway.html: a function error or a malformed response is a 502 with
  ``{"message": "Internal server error"}`` (REST); the response carries ``x-amzn-RequestId`` and
  ``X-Amzn-Trace-Id``. Gateway response types and statuses: .../supported-gateway-response-
  types.html.
- [aws] LocalStack's REST API snapshots (recorded against AWS): a result with keys outside the
  documented five, header values that are not strings or booleans, or a ``statusCode`` that is
  not an integer -> 502; boolean header values become ``true``/``false``; no content type ->
  ``application/json``; gateway errors carry ``x-amzn-ErrorType``; an ``ACCESS_DENIED`` body
  says ``Message`` with a capital M.
- [3rd] A recorded HTTP API timeout (cortex-labs #1225): ``503 {"message":"Service
  Unavailable"}`` with ``apigw-requestid`` and no content type. The exact spacing of the REST
  bodies is as users quote them (``{"message": "Internal server error"}``,
  ``{"message":"Missing Authentication Token"}``).
- UNVERIFIED: the 413 body ``{"message":"Request Too Long"}`` and its error type.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace

from lambdakit.emulator.apis.bodies import matches_media_type
from lambdakit.emulator.apis.requests import ApiKind, PayloadFormat, RequestIds
from lambdakit.emulator.url_events import JSON
from lambdakit.emulator.url_responses import BAD_GATEWAY, HttpResponse, buffered_response

__all__ = [
    "MAX_REQUEST_BODY",
    "GatewayError",
    "HttpResponse",
    "default_timeout",
    "gateway_response",
    "proxy_response",
    "with_gateway_headers",
]

MAX_REQUEST_BODY = 10 * 1024 * 1024
"""API Gateway's payload quota, REST and HTTP APIs alike: 10 MB; larger requests get a 413."""

_REST_KEYS = frozenset({"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"})


def default_timeout(kind: ApiKind) -> float:
    """Seconds API Gateway waits for the function without ``TimeoutInMillis``: 29 for REST APIs,
    30 for HTTP APIs (AWS::ApiGatewayV2::Integration ``TimeoutInMillis``)."""
    return 29.0 if kind is ApiKind.REST else 30.0


# --- API Gateway's own answers ------------------------------------------------------------------


class GatewayError(enum.Enum):
    """The answers API Gateway gives on its own, without the function's say."""

    INTEGRATION_FAILURE = "integration-failure"
    """The function failed (error, crash, timeout inside Lambda) or returned a malformed proxy
    response: REST 502, HTTP API 500."""
    INTEGRATION_TIMEOUT = "integration-timeout"
    """No answer within the integration timeout: REST 504, HTTP API 503."""
    REQUEST_TOO_LARGE = "request-too-large"
    """A body over ``MAX_REQUEST_BODY``: 413."""
    NO_ROUTE = "no-route"
    """No resource and method match: REST 403 ``Missing Authentication Token``, HTTP API 404."""
    UNAUTHORIZED = "unauthorized"
    """An authorizer's identity source is missing, or a TOKEN authorizer said
    ``Unauthorized``: 401."""
    ACCESS_DENIED = "access-denied"
    """An authorizer allowed nothing that covers this method (REST), or said
    ``isAuthorized: false`` (HTTP API): 403."""
    EXPLICIT_DENY = "explicit-deny"
    """A REST authorizer's policy denies this method explicitly: 403 (HTTP APIs answer as for
    ``ACCESS_DENIED``)."""
    AUTHORIZER_FAILURE = "authorizer-failure"
    """A Lambda authorizer failed or answered what is not an authorizer response: REST 500
    ``{"message":null}`` with ``x-amzn-ErrorType: AuthorizerConfigurationException`` (as users
    record it; the gateway response types AUTHORIZER_FAILURE / AUTHORIZER_CONFIGURATION_ERROR),
    HTTP API 500 ``{"message":"Internal Server Error"}``."""


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes
    error_type: str | None = None
    """``x-amzn-ErrorType`` (REST APIs only)."""
    content_type: str | None = JSON


_REST_ANSWERS = {
    GatewayError.INTEGRATION_FAILURE: _Answer(
        502, b'{"message": "Internal server error"}', "InternalServerErrorException"
    ),
    GatewayError.INTEGRATION_TIMEOUT: _Answer(
        504, b'{"message": "Endpoint request timed out"}', "InternalServerErrorException"
    ),
    GatewayError.REQUEST_TOO_LARGE: _Answer(
        413, b'{"message":"Request Too Long"}', "RequestTooLargeException"
    ),
    GatewayError.NO_ROUTE: _Answer(
        403, b'{"message":"Missing Authentication Token"}', "MissingAuthenticationTokenException"
    ),
    GatewayError.UNAUTHORIZED: _Answer(401, b'{"message":"Unauthorized"}', "UnauthorizedException"),
    GatewayError.ACCESS_DENIED: _Answer(
        403,
        b'{"Message":"User is not authorized to access this resource"}',
        "AccessDeniedException",
    ),
    GatewayError.EXPLICIT_DENY: _Answer(
        403,
        b'{"Message":"User is not authorized to access this resource with an explicit deny"}',
        "AccessDeniedException",
    ),
    GatewayError.AUTHORIZER_FAILURE: _Answer(
        500, b'{"message":null}', "AuthorizerConfigurationException"
    ),
}
_HTTP_ANSWERS = {
    GatewayError.INTEGRATION_FAILURE: _Answer(500, b'{"message":"Internal Server Error"}'),
    GatewayError.INTEGRATION_TIMEOUT: _Answer(
        503, b'{"message":"Service Unavailable"}', None, None
    ),
    GatewayError.REQUEST_TOO_LARGE: _Answer(413, b'{"message":"Request Too Long"}'),
    GatewayError.NO_ROUTE: _Answer(404, b'{"message":"Not Found"}'),
    GatewayError.UNAUTHORIZED: _Answer(401, b'{"message":"Unauthorized"}'),
    GatewayError.ACCESS_DENIED: _Answer(403, b'{"message":"Forbidden"}'),
    GatewayError.EXPLICIT_DENY: _Answer(403, b'{"message":"Forbidden"}'),
    GatewayError.AUTHORIZER_FAILURE: _Answer(500, b'{"message":"Internal Server Error"}'),
}


def gateway_response(kind: ApiKind, error: GatewayError, ids: RequestIds) -> HttpResponse:
    """API Gateway's own answer, with its headers (``x-amzn-ErrorType`` on REST APIs)."""
    return with_gateway_headers(_bare(kind, error), kind, ids, integration=False)


def with_gateway_headers(
    response: HttpResponse, kind: ApiKind, ids: RequestIds, *, integration: bool = True
) -> HttpResponse:
    """Adds the ids API Gateway puts on responses: REST ``x-amzn-RequestId``, ``x-amz-apigw-id``
    and, when the integration ran, ``X-Amzn-Trace-Id``; HTTP APIs ``apigw-requestid``. The
    server adds ``Date``, ``Content-Length`` and ``Connection``."""
    if kind is ApiKind.HTTP:
        added = [("apigw-requestid", ids.request_id)]
    else:
        added = [("x-amzn-RequestId", ids.request_id), ("x-amz-apigw-id", ids.extended_id)]
        if integration:
            added.append(("X-Amzn-Trace-Id", ids.trace_id))
    names = {name.lower() for name, _ in added}
    kept = [(name, value) for name, value in response.headers if name.lower() not in names]
    return HttpResponse(response.status, kept + added, response.body)


# --- the function's result ----------------------------------------------------------------------


class _Malformed(Exception):
    """Not a proxy response API Gateway accepts."""


class _BadBase64(_Malformed):
    """``isBase64Encoded`` with a body that is not base64: REST APIs answer 500 (their
    ``API_CONFIGURATION_ERROR``), not 502 [doc]."""


def proxy_response(
    payload: bytes,
    *,
    kind: ApiKind,
    payload_format: PayloadFormat,
    function_error: bool,
    accept: str | None = None,
    binary_media_types: Iterable[str] = (),
) -> HttpResponse:
    """The HTTP response for the function's result (``function_error``: Lambda reported
    ``X-Amz-Function-Error``). ``accept`` is the request's ``Accept`` header (REST binary
    responses). Gateway headers are not added here (``with_gateway_headers``)."""
    failure = GatewayError.INTEGRATION_FAILURE
    if function_error:
        return _bare(kind, failure)
    if kind is ApiKind.HTTP and payload_format is PayloadFormat.V2:
        response = buffered_response(payload, function_error=False)
        return _bare(kind, failure) if response is BAD_GATEWAY else response
    try:
        document = _proxy_document(payload, strict=kind is ApiKind.REST)
        decode = document.get("isBase64Encoded") is True
        if kind is ApiKind.REST:
            decode = decode and _first_accept_is_binary(accept, binary_media_types)
        return HttpResponse(
            _status(document.get("statusCode", 200)),
            _merged_headers(document.get("headers"), document.get("multiValueHeaders")),
            _body(document.get("body"), decode),
        )
    except _BadBase64:
        bare = _bare(kind, failure)
        return replace(bare, status=500) if kind is ApiKind.REST else bare
    except _Malformed:
        return _bare(kind, failure)


def _bare(kind: ApiKind, error: GatewayError) -> HttpResponse:
    """A gateway answer without the id headers (the caller adds them once, for every answer)."""
    answer = (_REST_ANSWERS if kind is ApiKind.REST else _HTTP_ANSWERS)[error]
    headers = [("Content-Type", answer.content_type)] if answer.content_type else []
    if answer.error_type:
        headers.append(("x-amzn-ErrorType", answer.error_type))
    return HttpResponse(answer.status, headers, answer.body)


def _proxy_document(payload: bytes, *, strict: bool) -> dict[str, object]:
    """The result as a 1.0 proxy response. REST APIs refuse unknown keys and default
    ``statusCode`` to 200; HTTP APIs ignore unknown keys but need ``statusCode``."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise _Malformed("not JSON") from None
    if not isinstance(document, dict):
        raise _Malformed("not a JSON object")
    if strict and not document.keys() <= _REST_KEYS:
        raise _Malformed(f"unknown keys {sorted(document.keys() - _REST_KEYS)}")
    if not strict and "statusCode" not in document:
        raise _Malformed("no statusCode")
    if document.get("isBase64Encoded", False) not in (True, False):
        raise _Malformed("isBase64Encoded is not a boolean")
    return document


def _status(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise _Malformed(f"statusCode {value!r}")
    return value


def _header_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str) or any(c in value for c in "\r\n\0"):
        raise _Malformed(f"header value {value!r}")
    return value


def _merged_headers(single: object, multi: object) -> list[tuple[str, str]]:
    """``multiValueHeaders`` first, then each ``headers`` pair not already among them (names
    compared without case); ``Content-Type: application/json`` if neither names a type."""
    if not isinstance(single, (dict, type(None))) or not isinstance(multi, (dict, type(None))):
        raise _Malformed("headers or multiValueHeaders is not an object")
    merged: list[tuple[str, str]] = []
    for name, values in (multi or {}).items():
        if not isinstance(values, list):
            raise _Malformed(f"multiValueHeaders[{name!r}] is not a list")
        merged += [(name, _header_value(value)) for value in values]
    seen = {(name.lower(), value) for name, value in merged}
    for name, value in (single or {}).items():
        text = _header_value(value)
        if (name.lower(), text) not in seen:
            merged.append((name, text))
    if not any(name.lower() == "content-type" for name, _ in merged):
        merged.append(("Content-Type", JSON))
    return merged


def _body(value: object, decode: bool) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise _Malformed("body is not a string")
    if not decode:
        return value.encode("utf-8", "replace")
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _BadBase64("body is not base64") from None


def _first_accept_is_binary(accept: str | None, binary_media_types: Iterable[str]) -> bool:
    """API Gateway honours only the first media type of ``Accept`` [doc]."""
    first = (accept or "").split(",", 1)[0]
    return matches_media_type(first, binary_media_types)
