"""The Lambda proxy event API Gateway builds for a request, as pure functions.

Sources, and how strong they are:

- [doc] REST payload 1.0: https://docs.aws.amazon.com/apigateway/latest/developerguide/
  set-up-lambda-proxy-integrations.html (input format; ``headers`` keeps one value per name,
  ``multiValueHeaders`` all of them; the single-value maps keep the *last* value, as the
  ``multivalueName`` example shows). HTTP API 1.0 and 2.0: .../http-api-develop-integrations-
  lambda.html ("All header names are lowercase"; 2.0 joins repeats with commas; ``cookies``;
  1.0's ``requestContext.authorizer`` is ``{"claims": null, "scopes": null}`` without an
  authorizer and its ``resourceId`` is null). Binary bodies: .../api-gateway-payload-encodings-
  workflow.html (REST: ``Content-Type`` against ``binaryMediaTypes``).
- [doc] https://docs.aws.amazon.com/lambda/latest/dg/services-apigateway.html: an HTTP API
  event from a named stage has the stage in ``rawPath`` and ``requestContext.http.path``.
- [aws] LocalStack's ``test_lambda_aws_proxy_integration`` snapshot, recorded against AWS on
  2024-08-02: the REST event's field set (``deploymentId``, ``domainPrefix`` = the api id,
  ``requestContext.path`` = ``/<stage><path>``, ``body: null`` when empty), hop-by-hop headers
  (``Content-Length``, ``Connection``...) dropped, ``X-Forwarded-*`` and ``X-Amzn-Trace-Id``
  added, header names kept in the client's case.
- [3rd] ministack PR #766 (checked against AWS): HTTP APIs pass ``text/*``,
  ``application/json``, ``application/xml`` and ``application/javascript`` bodies as text and
  base64-encode everything else, also a missing content type and form posts.
- UNVERIFIED: a REST body whose type is not binary but whose bytes are not UTF-8 is sent
  base64-encoded (as LocalStack does) rather than mangled; HTTP API 1.0 keeps the *first* value
  of a repeated query parameter in ``queryStringParameters``, as the AWS example shows.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TypedDict, cast
from urllib.parse import unquote_plus

from lambdakit.emulator.apis.bodies import http_api_body, rest_body
from lambdakit.emulator.apis.requests import (
    ApiKind,
    ApiRequest,
    PayloadFormat,
    RequestIds,
    RouteContext,
    execute_api_domain,
)
from lambdakit.emulator.url_events import request_event, request_time

__all__ = [
    "Identity",
    "V1Event",
    "http_lambda_authorizer",
    "lambda_event",
    "rest_authorizer",
]

# Request headers API Gateway never passes on, not even to proxy integrations [aws].
_DROPPED = frozenset(
    [
        "connection",
        "content-length",
        "content-md5",
        "expect",
        "max-forwards",
        "proxy-authenticate",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "www-authenticate",
    ]
)
# What the front end adds (``_v1_headers``) replaces what the client sent under those names.
_ADDED = {"x-forwarded-for", "x-forwarded-port", "x-forwarded-proto", "x-amzn-trace-id"}
_DROPPED_OR_ADDED = _DROPPED | _ADDED
# CloudFront, in front of REST APIs, title-cases these two [aws].
_TITLE_CASED = {"authorization": "Authorization", "user-agent": "User-Agent"}


class Identity(TypedDict):
    accessKey: None
    accountId: None
    caller: None
    cognitoAuthenticationProvider: None
    cognitoAuthenticationType: None
    cognitoIdentityId: None
    cognitoIdentityPoolId: None
    principalOrgId: None
    sourceIp: str
    user: None
    userAgent: str | None
    userArn: None


class _V1Event(TypedDict):
    resource: str
    path: str
    httpMethod: str
    headers: dict[str, str] | None
    multiValueHeaders: dict[str, list[str]] | None
    queryStringParameters: dict[str, str] | None
    multiValueQueryStringParameters: dict[str, list[str]] | None
    pathParameters: dict[str, str] | None
    stageVariables: dict[str, str] | None
    requestContext: dict[str, object]
    body: str | None
    isBase64Encoded: bool


class V1Event(_V1Event, total=False):
    version: str
    """``"1.0"`` on HTTP APIs; absent on REST APIs."""


def lambda_event(request: ApiRequest, route: RouteContext, ids: RequestIds) -> dict[str, object]:
    """The event API Gateway sends the route's function: REST 1.0, HTTP API 1.0 or 2.0."""
    if route.kind is ApiKind.REST:
        return cast("dict[str, object]", _rest_event(request, route, ids))
    if route.payload_format is PayloadFormat.V2:
        return _http_event_v2(request, route, ids)
    return cast("dict[str, object]", _http_event_v1(request, route, ids))


# --- REST APIs and HTTP API payload 1.0 ---------------------------------------------------------


def _rest_event(request: ApiRequest, route: RouteContext, ids: RequestIds) -> V1Event:
    headers = _v1_headers(request, ids, lower=False)
    body, encoded = rest_body(
        request.body, request.header("content-type"), route.binary_media_types
    )
    stamp, epoch = _request_time(request.time)
    # The route's fields in place, the request's filled in: the keys keep their order.
    context = dict(_rest_context(route.api_id, route.resource_path, route.stage, route.account_id))
    context.update(
        httpMethod=request.method, extendedRequestId=ids.extended_id, requestTime=stamp,
        path=f"/{route.stage}{request.path}", protocol=request.protocol, requestTimeEpoch=epoch,
        requestId=ids.request_id, identity=_identity(request), domainName=_domain(request, route),
    )  # fmt: skip
    if route.authorizer is not None:
        context["authorizer"] = dict(route.authorizer)
    return _v1_event(request, route, headers, context, (body, encoded), first_query=False)


@functools.lru_cache(maxsize=1024)
def _rest_context(
    api_id: str, resource_path: str, stage: str, account_id: str
) -> dict[str, object]:
    """A REST ``requestContext``: the route's fields, ``None`` for the request's; copied."""
    return {
        "resourceId": _resource_id(api_id, "resource", resource_path),
        "resourcePath": resource_path,
        "httpMethod": None,
        "extendedRequestId": None,
        "requestTime": None,
        "path": None,
        "accountId": account_id,
        "protocol": None,
        "stage": stage,
        "domainPrefix": api_id,
        "requestTimeEpoch": None,
        "requestId": None,
        "identity": None,
        "domainName": None,
        "deploymentId": _resource_id(api_id, "deployment", resource_path),
        "apiId": api_id,
    }


def _http_event_v1(request: ApiRequest, route: RouteContext, ids: RequestIds) -> V1Event:
    path = _client_path(request, route)
    stamp, epoch = _request_time(request.time)
    authorizer = route.authorizer if route.authorizer is not None else _NO_AUTHORIZER_V1
    context: dict[str, object] = {
        "accountId": route.account_id,
        "apiId": route.api_id,
        "authorizer": dict(authorizer),
        "domainName": _domain(request, route),
        "domainPrefix": route.api_id,
        "extendedRequestId": ids.extended_id,
        "httpMethod": request.method,
        "identity": _identity(request),
        "path": path,
        "protocol": request.protocol,
        "requestId": ids.request_id,
        "requestTime": stamp,
        "requestTimeEpoch": epoch,
        "resourceId": None,
        "resourcePath": route.resource_path,
        "stage": route.stage,
    }
    headers = _v1_headers(request, ids, lower=True)
    body = http_api_body(request.body, request.header("content-type"))
    event = _v1_event(request, route, headers, context, body, first_query=True)
    event["path"] = path
    # In the order of the documented example: the request context before the parameters.
    fields: dict[str, object] = dict(event)
    first = {key: fields.pop(key) for key in _V1_HTTP_ORDER}
    return cast("V1Event", {"version": "1.0", **first, **fields})


_NO_AUTHORIZER_V1: Mapping[str, object] = {"claims": None, "scopes": None}
_V1_HTTP_ORDER = (
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "requestContext",
)


def _v1_event(
    request: ApiRequest,
    route: RouteContext,
    headers: Sequence[tuple[str, str]],
    context: dict[str, object],
    body: tuple[str | None, bool],
    *,
    first_query: bool,
) -> V1Event:
    single_headers, multi_headers = _single_and_multi(headers, first=False)
    single_query, multi_query = _single_and_multi(_query_pairs(request.query), first=first_query)
    return {
        "resource": route.resource_path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": single_headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": single_query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": dict(route.path_parameters) or None,
        "stageVariables": dict(route.stage_variables) or None,
        "requestContext": context,
        "body": body[0],
        "isBase64Encoded": body[1],
    }


def _v1_headers(request: ApiRequest, ids: RequestIds, *, lower: bool) -> list[tuple[str, str]]:
    """The client's headers less the hop-by-hop ones, plus what API Gateway's front end adds."""
    added = [*_forwarded(request), ("X-Amzn-Trace-Id", ids.trace_id)]
    headers = []
    for name, value in request.headers:  # one pass, one lower() a header
        low = name.lower()
        if low not in _DROPPED_OR_ADDED:
            headers.append((low if lower else _TITLE_CASED.get(low, name), value))
    if lower:
        return headers + [(name.lower(), value) for name, value in added]
    return headers + added


def _forwarded(request: ApiRequest) -> list[tuple[str, str]]:
    """``X-Forwarded-For`` gains the client's address; port and protocol are the local server's
    (plain HTTP here, where AWS says ``443``/``https``)."""
    chain = request.header("x-forwarded-for")
    _, colon, port = (request.header("host") or "").rpartition(":")
    return [
        ("X-Forwarded-For", f"{chain}, {request.source_ip}" if chain else request.source_ip),
        ("X-Forwarded-Port", port if colon and port.isdigit() else "80"),
        ("X-Forwarded-Proto", "http"),
    ]


def _single_and_multi(
    pairs: Iterable[tuple[str, str]], *, first: bool
) -> tuple[dict[str, str], dict[str, list[str]]]:
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    single = {name: values[0 if first else -1] for name, values in multi.items()}
    return single, multi


def _query_pairs(query: str) -> list[tuple[str, str]]:
    """Decoded names and values (``+`` is a space), in order; ``?flag`` gives ``("flag", "")``."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def _identity(request: ApiRequest) -> Identity:
    """``requestContext.identity`` for a caller API Gateway did not authenticate with IAM or
    Cognito: everything null but the address and user agent."""
    return {
        "accessKey": None,
        "accountId": None,
        "caller": None,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "sourceIp": request.source_ip,
        "user": None,
        "userAgent": request.header("user-agent"),
        "userArn": None,
    }


@functools.lru_cache(maxsize=1024)
def _resource_id(api_id: str, what: str, resource_path: str) -> str:
    """A stable stand-in for the ids AWS assigns at deployment (``roq9wj``-like); the same for
    every request to a resource, so computed once."""
    seed = f"{api_id}:{what}:{resource_path}".encode()
    return hashlib.sha256(seed).hexdigest()[:6]


def _request_time(now: float) -> tuple[str, int]:
    """``request_time``, its text formatted once per second rather than once per request."""
    return _stamp(int(now)), int(now * 1000)


@functools.lru_cache(maxsize=4)
def _stamp(second: int) -> str:
    return request_time(second)[0]


# --- HTTP API payload 2.0 -----------------------------------------------------------------------


def _http_event_v2(request: ApiRequest, route: RouteContext, ids: RequestIds) -> dict[str, object]:
    """Built by the Function URL builder (the same 2.0 format), then given the API's identity:
    route key, stage, account, domain, path parameters, stage variables, authorizer."""
    path = _client_path(request, route)
    base = request_event(
        method=request.method,
        target=f"{path}?{request.query}" if request.query else path,
        headers=request.headers,
        body=b"",
        source_ip=request.source_ip,
        request_id=ids.request_id,
        url_id=route.api_id,
        region=route.region,
        account_id=route.account_id,
        now=request.time,
        host=_domain(request, route),
    )
    headers = base["headers"]
    headers.setdefault("x-amzn-trace-id", ids.trace_id)
    context = dict(base["requestContext"])
    context.update(accountId=route.account_id, routeKey=route.route_key, stage=route.stage)
    context["http"] = {**base["requestContext"]["http"], "protocol": request.protocol}
    if route.authorizer is not None:
        context["authorizer"] = dict(route.authorizer)
    body, encoded = http_api_body(request.body, headers.get("content-type"))
    event: dict[str, object] = {"version": "2.0", "routeKey": route.route_key}
    skipped = ("version", "routeKey", "isBase64Encoded")
    event.update({k: v for k, v in base.items() if k not in skipped})
    event["requestContext"] = dict(sorted(context.items()))
    if body is not None:
        event["body"] = body
    if route.path_parameters:
        event["pathParameters"] = dict(route.path_parameters)
    event["isBase64Encoded"] = encoded
    if route.stage_variables:
        event["stageVariables"] = dict(route.stage_variables)
    return event


# --- shared -------------------------------------------------------------------------------------


def _client_path(request: ApiRequest, route: RouteContext) -> str:
    """HTTP APIs show the path the client called: with ``/<stage>`` unless the stage is
    ``$default``."""
    if route.stage == "$default":
        return request.path
    return f"/{route.stage}{request.path}"


def _domain(request: ApiRequest, route: RouteContext) -> str:
    """``domainName`` is the host the client called (AWS: the ``Host`` header), so absolute URLs
    an app builds from it point back at the local server."""
    return request.header("host") or execute_api_domain(route.api_id, route.region)


# --- authorizer blocks --------------------------------------------------------------------------


def rest_authorizer(
    principal_id: str, context: Mapping[str, object] | None = None, *, latency_ms: int = 0
) -> dict[str, object]:
    """``requestContext.authorizer`` after a REST Lambda authorizer allowed the request: its
    ``principalId`` and ``context`` keys side by side, and ``integrationLatency`` [doc]."""
    return {"principalId": principal_id, **(context or {}), "integrationLatency": latency_ms}


def http_lambda_authorizer(context: Mapping[str, object] | None) -> dict[str, object]:
    """``requestContext.authorizer`` after an HTTP API Lambda authorizer allowed the request:
    its ``context`` under ``lambda`` [doc]."""
    return {"lambda": dict(context or {})}
