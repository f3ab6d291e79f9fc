"""The Lambda proxy events of API Gateway REST and HTTP APIs (``emulator.apis.events``).

First the events lambdakit builds for the requests behind events AWS published or recorded
(``tests/data/events/apigateway``), compared field by field; then tables for the rules; then
third parties reading our events: Powertools' models and resolvers, lambdakit's web adapter
with a real Flask app."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, APIGatewayRestResolver
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayProxyEventModel,
    APIGatewayProxyEventV2Model,
)
from flask import Flask, request

from lambdakit.emulator.apis.bodies import http_api_body, matches_media_type, rest_body
from lambdakit.emulator.apis.events import http_lambda_authorizer, lambda_event, rest_authorizer
from lambdakit.emulator.apis.requests import (
    ApiKind,
    ApiRequest,
    PayloadFormat,
    RequestIds,
    RouteContext,
)
from lambdakit.runtime.web import wsgi

FIXTURES = Path(__file__).parents[1] / "data" / "events" / "apigateway"
IDS = RequestIds("c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "EXAMPLEeIAMEaXQ=", "Root=1-5e6722a7-0")
HTTP_IDS = RequestIds("JKJaXmPLvHcESHA=", "JKJaXmPLvHcESHA=", "Root=1-5e6722a7-0")
# What API Gateway's front end (CloudFront for REST APIs) adds: not part of the client's request.
ADDED = ("cloudfront-", "via", "x-amz-cf-id", "x-amzn-trace-id", "x-forwarded-")


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return document


def client_headers(event: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The headers the client sent, recovered from an AWS event."""
    multi = event.get("multiValueHeaders") or {k: [v] for k, v in event["headers"].items()}
    pairs = [(k, v) for k, values in multi.items() for v in values]
    pairs += [("cookie", c) for c in event.get("cookies") or []]
    return tuple((k, v) for k, v in pairs if not k.lower().startswith(ADDED))


def shape(value: Any) -> Any:
    """Keys and value types, recursively: what a parser of the event relies on."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return type(value).__name__


def rest_request_for(event: dict[str, Any]) -> tuple[ApiRequest, RouteContext]:
    context = event["requestContext"]
    query = "&".join(
        f"{k}={v}" for k, vs in (event["multiValueQueryStringParameters"] or {}).items() for v in vs
    )
    request = ApiRequest(
        method=event["httpMethod"],
        path=event["path"],
        query=query,
        headers=client_headers(event),
        body=(event["body"] or "").encode(),
        source_ip=context["identity"]["sourceIp"],
        time=context["requestTimeEpoch"] / 1000,
    )
    route = RouteContext(
        api_id=context["apiId"],
        kind=ApiKind.REST,
        stage=context["stage"],
        resource_path=event["resource"],
        path_parameters=event["pathParameters"] or {},
        stage_variables=event["stageVariables"] or {},
        account_id=context["accountId"],
    )
    return request, route


REST_CASES = {
    # fixture: keys of requestContext the fixture lacks but API Gateway sends today
    "rest-aws-recorded.json": set(),
    "rest-docs.json": {"deploymentId", "extendedRequestId", "path", "protocol"},
}


@pytest.mark.parametrize("name", sorted(REST_CASES))
def test_rest_events_have_the_shape_and_values_of_aws_events(name: str) -> None:
    expected = load(name)
    request, route = rest_request_for(expected)
    event = lambda_event(request, route, IDS)

    assert list(event) == list(expected) or set(event) == set(expected)
    context, wanted = dict(event["requestContext"]), expected["requestContext"]  # type: ignore[call-overload]
    assert set(context) - set(wanted) == REST_CASES[name]
    assert not set(wanted) - set(context)
    assert (
        shape(context["identity"]).items()
        >= {k: v for k, v in shape(wanted["identity"]).items() if k != "apiKey"}.items()
    )
    for key in ("resource", "path", "httpMethod", "pathParameters", "stageVariables", "body"):
        assert event[key] == expected[key], key
    for key in ("queryStringParameters", "multiValueQueryStringParameters", "isBase64Encoded"):
        assert event[key] == expected[key], key
    for key in ("resourcePath", "httpMethod", "stage", "apiId", "accountId"):
        assert context[key] == wanted[key], key
    assert context["requestTime"] == wanted["requestTime"]
    assert context["requestTimeEpoch"] // 1000 == wanted["requestTimeEpoch"] // 1000
    assert context["identity"]["sourceIp"] == wanted["identity"]["sourceIp"]
    assert context["identity"]["userAgent"] == wanted["identity"]["userAgent"]
    if "path" in wanted:
        assert context["path"] == wanted["path"]
    headers = event["headers"]
    assert isinstance(headers, dict)
    for key, value in client_headers(expected):  # the client's headers, in the client's case
        assert headers[key] == value
    assert set(headers) >= {"X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto"}


def http_request_for(
    event: dict[str, Any], payload: PayloadFormat
) -> tuple[ApiRequest, RouteContext]:
    context = event["requestContext"]
    stage = context["stage"]
    path = event["rawPath"] if payload is PayloadFormat.V2 else event["path"]
    if stage != "$default":
        path = path.removeprefix(f"/{stage}")
    if payload is PayloadFormat.V2:
        query, method = event["rawQueryString"], context["http"]["method"]
        epoch, source = context["timeEpoch"], context["http"]["sourceIp"]
    else:
        query = "&".join(
            f"{k}={v}" for k, vs in event["multiValueQueryStringParameters"].items() for v in vs
        )
        method, epoch = event["httpMethod"], context["requestTimeEpoch"]
        source = context["identity"]["sourceIp"]
    agent = (context.get("http") or context.get("identity"))["userAgent"]
    headers = client_headers(event)
    if not any(name.lower() == "user-agent" for name, _ in headers):
        headers += (("User-Agent", agent),)
    request = ApiRequest(
        method=method,
        path=path,
        query=query,
        headers=(*headers, ("Content-Type", "text/plain")),
        body=(event.get("body") or "").encode(),
        source_ip=source,
        time=epoch / 1000,
    )
    route = RouteContext(
        api_id=context["apiId"],
        kind=ApiKind.HTTP,
        stage=stage,
        resource_path=event.get("resource") or event["routeKey"],
        route_key=event.get("routeKey", "$default"),
        path_parameters=event.get("pathParameters") or {},
        stage_variables=event.get("stageVariables") or {},
        payload_format=payload,
        account_id=context["accountId"],
        authorizer=context.get("authorizer") if payload is PayloadFormat.V2 else None,
    )
    return request, route


HTTP_CASES = {
    # fixture: (payload format, top-level keys to ignore, requestContext keys to ignore)
    "http-v2-docs.json": (PayloadFormat.V2, set(), set()),
    "http-v2-named-stage.json": (PayloadFormat.V2, {"isBase64Encoded"}, {"routeId"}),
    "http-v1-docs.json": (PayloadFormat.V1, set(), set()),
}


@pytest.mark.parametrize("name", sorted(HTTP_CASES))
def test_http_api_events_have_the_shape_and_values_of_aws_events(name: str) -> None:
    expected = load(name)
    payload, ignored, ignored_context = HTTP_CASES[name]
    request, route = http_request_for(expected, payload)
    event: dict[str, Any] = lambda_event(request, route, HTTP_IDS)

    assert list(event) == list(expected)
    skip = {"headers", "multiValueHeaders", "requestContext", *ignored}
    assert {k: shape(event[k]) for k in event if k not in skip} == {
        k: shape(expected[k]) for k in expected if k not in skip
    }
    context, wanted = event["requestContext"], expected["requestContext"]
    assert set(context) == set(wanted) - ignored_context
    assert shape(context) == {k: shape(v) for k, v in wanted.items() if k not in ignored_context}
    for key in set(expected) - skip - {"body"}:
        assert event[key] == expected[key], key
    for key in ("routeKey", "stage", "path", "resourcePath", "authorizer"):
        if key in wanted:
            assert context[key] == wanted[key], key
    if "http" in wanted:
        assert context["http"] == wanted["http"]
    assert all(name == name.lower() for name in event["headers"])
    received = event.get("multiValueHeaders") or event["headers"]  # 1.0: lists; 2.0: joined
    for key, value in client_headers(expected):
        if key.lower() != "cookie":
            assert value in received[key.lower()]


# --- the rules, table by table --------------------------------------------------------------


def make_request(**changes: Any) -> ApiRequest:
    values: dict[str, Any] = {
        "method": "GET",
        "path": "/users/42",
        "query": "",
        "headers": (("Host", "127.0.0.1:3000"), ("User-Agent", "curl/8.5.0")),
        "body": b"",
        "source_ip": "127.0.0.1",
        "time": 1428582896.123,
    }
    return ApiRequest(**(values | changes))


def make_route(kind: ApiKind = ApiKind.REST, **changes: Any) -> RouteContext:
    values: dict[str, Any] = {
        "api_id": "abcdef1234",
        "kind": kind,
        "stage": "Prod" if kind is ApiKind.REST else "$default",
        "resource_path": "/users/{id}",
        "route_key": "GET /users/{id}",
        "path_parameters": {"id": "42"},
        "payload_format": PayloadFormat.V1 if kind is ApiKind.REST else PayloadFormat.V2,
    }
    return RouteContext(**(values | changes))


ROUTES = {
    "rest": make_route(ApiKind.REST),
    "http-1.0": make_route(ApiKind.HTTP, payload_format=PayloadFormat.V1),
    "http-2.0": make_route(ApiKind.HTTP),
}
QUERY = "a=1&a=2&b=x+y&c=%2Fz&flag"
QUERY_CASES = [
    ("rest", {"a": "2", "b": "x y", "c": "/z", "flag": ""}, True),
    ("http-1.0", {"a": "1", "b": "x y", "c": "/z", "flag": ""}, True),
    ("http-2.0", {"a": "1,2", "b": "x y", "c": "/z", "flag": ""}, False),
]


@pytest.mark.parametrize(("route", "single", "has_multi"), QUERY_CASES)
def test_query_parameters(route: str, single: dict[str, str], has_multi: bool) -> None:
    event = lambda_event(make_request(query=QUERY), ROUTES[route], IDS)
    assert event["queryStringParameters"] == single
    if has_multi:
        multi = {"a": ["1", "2"], "b": ["x y"], "c": ["/z"], "flag": [""]}
        assert event["multiValueQueryStringParameters"] == multi
    else:
        assert "multiValueQueryStringParameters" not in event
        assert event["rawQueryString"] == QUERY


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_no_query_string_no_path_parameters(route: str) -> None:
    request = make_request()
    base = ROUTES[route]
    routed = make_route(base.kind, payload_format=base.payload_format, path_parameters={})
    event = lambda_event(request, routed, IDS)
    if route == "http-2.0":
        assert "queryStringParameters" not in event and "pathParameters" not in event
    else:
        assert event["queryStringParameters"] is None
        assert event["multiValueQueryStringParameters"] is None
        assert event["pathParameters"] is None


HEADERS = (
    ("Host", "127.0.0.1:3000"),
    ("X-Multi", "one"),
    ("x-multi", "two"),
    ("Content-Length", "0"),
    ("Connection", "keep-alive"),
    ("authorization", "Bearer t"),
    ("X-Forwarded-For", "198.51.100.7"),
    ("Cookie", "a=1; b=2"),
)


def test_rest_headers() -> None:
    event: dict[str, Any] = lambda_event(make_request(headers=HEADERS), ROUTES["rest"], IDS)
    headers, multi = event["headers"], event["multiValueHeaders"]
    assert multi["X-Multi"] == ["one"] and multi["x-multi"] == ["two"]  # names as sent
    assert "Content-Length" not in headers and "Connection" not in headers
    assert headers["Authorization"] == "Bearer t"
    assert headers["Cookie"] == "a=1; b=2"
    assert headers["X-Forwarded-For"] == "198.51.100.7, 127.0.0.1"
    assert headers["X-Forwarded-Port"] == "3000"
    assert headers["X-Amzn-Trace-Id"] == IDS.trace_id


def test_http_api_headers() -> None:
    v1: dict[str, Any] = lambda_event(make_request(headers=HEADERS), ROUTES["http-1.0"], IDS)
    assert v1["multiValueHeaders"]["x-multi"] == ["one", "two"]
    assert v1["headers"]["x-multi"] == "two"
    v2: dict[str, Any] = lambda_event(make_request(headers=HEADERS), ROUTES["http-2.0"], IDS)
    assert v2["headers"]["x-multi"] == "one,two"
    assert v2["cookies"] == ["a=1", "b=2"] and "cookie" not in v2["headers"]
    assert v2["headers"]["x-forwarded-for"] == "198.51.100.7, 127.0.0.1"


STAGE_CASES = [
    # route, stage, what the event shows as the path, and where
    ("rest", "Prod", ("path", "/users/42"), ("requestContext.path", "/Prod/users/42")),
    ("http-2.0", "$default", ("rawPath", "/users/42"), ("requestContext.http.path", "/users/42")),
    (
        "http-2.0",
        "dev",
        ("rawPath", "/dev/users/42"),
        ("requestContext.http.path", "/dev/users/42"),
    ),
    ("http-1.0", "dev", ("path", "/dev/users/42"), ("requestContext.path", "/dev/users/42")),
]


@pytest.mark.parametrize(("route", "stage", "top", "nested"), STAGE_CASES)
def test_where_the_stage_shows(
    route: str, stage: str, top: tuple[str, str], nested: tuple[str, str]
) -> None:
    base = ROUTES[route]
    event: Any = lambda_event(
        make_request(), make_route(base.kind, stage=stage, payload_format=base.payload_format), IDS
    )
    assert event[top[0]] == top[1]
    for part in nested[0].split("."):
        event = event[part]
    assert event == nested[1]


BINARY_CASES = [
    ("image/png", ("image/png",), True),
    ("image/png; q=1", ("image/*",), True),
    ("IMAGE/PNG", ("image~1png",), True),
    ("application/json", ("*/*",), True),
    ("application/json", ("image/*", "application/octet-stream"), False),
    ("text/plain", (), False),
    (None, ("*/*",), False),
]


@pytest.mark.parametrize(("media", "types", "expected"), BINARY_CASES)
def test_binary_media_types(media: str | None, types: tuple[str, ...], expected: bool) -> None:
    assert matches_media_type(media, types) is expected


B64 = base64.b64encode(b"\x89PNG\x00").decode()
REST_BODY_CASES = [
    (b"", "image/png", ("image/*",), (None, False)),
    (b"\x89PNG\x00", "image/png", ("image/*",), (B64, True)),
    (b'{"a": 1}', "application/json", ("image/*",), ('{"a": 1}', False)),
    (b'{"a": 1}', "application/json", ("*/*",), (base64.b64encode(b'{"a": 1}').decode(), True)),
    (b"\x89PNG\x00", "application/octet-stream", (), (B64, True)),  # not UTF-8: base64 anyway
]


@pytest.mark.parametrize(("body", "content_type", "types", "expected"), REST_BODY_CASES)
def test_rest_body(
    body: bytes, content_type: str, types: tuple[str, ...], expected: tuple[str | None, bool]
) -> None:
    assert rest_body(body, content_type, types) == expected


HTTP_BODY_CASES = [
    ("text/html; charset=utf-8", False),
    ("application/json", False),
    ("application/xml", False),
    ("application/javascript", False),
    ("application/x-www-form-urlencoded", True),
    ("multipart/form-data; boundary=x", True),
    ("application/octet-stream", True),
    (None, True),
]


@pytest.mark.parametrize(("content_type", "encoded"), HTTP_BODY_CASES)
def test_http_api_body(content_type: str | None, encoded: bool) -> None:
    body, flag = http_api_body(b"a=1&b=2", content_type)
    assert flag is encoded
    assert body == (base64.b64encode(b"a=1&b=2").decode() if encoded else "a=1&b=2")


def test_http_api_2_body_in_the_event() -> None:
    request = make_request(method="POST", body=b"\x00\x01", headers=(("Content-Type", "x/y"),))
    event = lambda_event(request, ROUTES["http-2.0"], IDS)
    assert (event["body"], event["isBase64Encoded"]) == ("AAE=", True)
    assert "body" not in lambda_event(make_request(), ROUTES["http-2.0"], IDS)


AUTHORIZER_CASES = [
    ("rest", None, None),
    (
        "rest",
        rest_authorizer("user-1", {"tier": "gold"}),
        {"principalId": "user-1", "tier": "gold", "integrationLatency": 0},
    ),
    ("http-1.0", None, {"claims": None, "scopes": None}),
    ("http-2.0", None, None),
    ("http-2.0", http_lambda_authorizer({"tier": "gold"}), {"lambda": {"tier": "gold"}}),
]


@pytest.mark.parametrize(("route", "block", "expected"), AUTHORIZER_CASES)
def test_authorizer_block(route: str, block: Any, expected: Any) -> None:
    base = ROUTES[route]
    routed = make_route(base.kind, payload_format=base.payload_format, authorizer=block)
    context: Any = lambda_event(make_request(), routed, IDS)["requestContext"]
    assert context.get("authorizer") == expected
    assert ("authorizer" in context) is (expected is not None)


def test_request_time_and_ids() -> None:
    context: Any = lambda_event(make_request(), ROUTES["rest"], IDS)["requestContext"]
    assert context["requestTime"] == "09/Apr/2015:12:34:56 +0000"
    assert context["requestTimeEpoch"] == 1428582896123
    assert (context["requestId"], context["extendedRequestId"]) == (IDS.request_id, IDS.extended_id)
    assert context["domainName"] == "127.0.0.1:3000" and context["domainPrefix"] == "abcdef1234"
    http: Any = lambda_event(make_request(), ROUTES["http-2.0"], HTTP_IDS)["requestContext"]
    assert http["time"] == "09/Apr/2015:12:34:56 +0000" and http["requestId"] == HTTP_IDS.request_id
    assert http["accountId"] == "123456789012" and http["routeKey"] == "GET /users/{id}"


@pytest.mark.parametrize("kind", list(ApiKind))
def test_new_ids_look_like_aws_ids(kind: ApiKind) -> None:
    ids = RequestIds.new(kind, now=1428582896)
    assert len(ids.extended_id) == 16 and ids.extended_id.endswith("=")
    assert len(ids.request_id) == (36 if kind is ApiKind.REST else 16)
    assert ids.trace_id.startswith("Root=1-552671f0-")
    assert RequestIds.new(kind) != RequestIds.new(kind)


# --- third parties read our events ----------------------------------------------------------


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_powertools_models_accept_our_events(route: str) -> None:
    request = make_request(method="POST", query=QUERY, headers=HEADERS, body=b'{"x": 1}')
    event = lambda_event(request, ROUTES[route], IDS)
    if route == "http-2.0":
        parsed = APIGatewayProxyEventV2Model.model_validate(event)
        assert parsed.requestContext.http.method == "POST"
    else:
        rest = APIGatewayProxyEventModel.model_validate(event)
        assert rest.path == event["path"] and rest.body == event["body"]


def test_powertools_resolvers_route_our_events() -> None:
    rest, http = APIGatewayRestResolver(), APIGatewayHttpResolver()

    @rest.get("/users/<user_id>")
    def rest_user(user_id: str) -> dict[str, str]:
        return {"id": user_id, "q": rest.current_event.get_query_string_value("b") or ""}

    @http.get("/users/<user_id>")
    def http_user(user_id: str) -> dict[str, str]:
        return {"id": user_id, "q": http.current_event.get_query_string_value("b") or ""}

    request = make_request(query=QUERY)
    for resolver, route in ((rest, ROUTES["rest"]), (http, ROUTES["http-2.0"])):
        result = resolver.resolve(lambda_event(request, route, IDS), None)
        assert result["statusCode"] == 200
        assert json.loads(result["body"]) == {"id": "42", "q": "x y"}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_flask_app_behind_lambdakits_adapter_sees_the_request(route: str) -> None:
    app = Flask(__name__)

    @app.post("/users/<user_id>")
    def user(user_id: str) -> dict[str, object]:
        return {
            "id": user_id,
            "a": request.args.getlist("a"),
            "body": request.get_data(as_text=True),
            "multi": request.headers.getlist("X-Multi"),
        }

    body = "é=1".encode()
    incoming = make_request(method="POST", query=QUERY, headers=HEADERS, body=body)
    result = wsgi(app)(lambda_event(incoming, ROUTES[route], IDS), None)
    assert result["statusCode"] == 200
    document = json.loads(result["body"])
    assert document["id"] == "42" and document["a"] == ["1", "2"]
    assert document["body"] == "é=1"
    assert "one" in ",".join(document["multi"]) and "two" in ",".join(document["multi"])
