"""What API Gateway answers (``emulator.apis.responses``): the function's result mapped to HTTP
for REST APIs and HTTP API payloads 1.0 and 2.0, and API Gateway's own answers, table by table;
then a real Flask app's results, through lambdakit's web adapter, mapped back to HTTP."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from flask import Flask, make_response

from lambdakit.emulator.apis.events import lambda_event
from lambdakit.emulator.apis.requests import (
    ApiKind,
    ApiRequest,
    PayloadFormat,
    RequestIds,
    RouteContext,
)
from lambdakit.emulator.apis.responses import (
    MAX_REQUEST_BODY,
    GatewayError,
    HttpResponse,
    default_timeout,
    gateway_response,
    proxy_response,
    with_gateway_headers,
)
from lambdakit.runtime.web import wsgi

IDS = RequestIds("c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "EXAMPLEeIAMEaXQ=", "Root=1-5e6722a7-0")
REST_502 = b'{"message": "Internal server error"}'
HTTP_500 = b'{"message":"Internal Server Error"}'
PNG = b"\x89PNG\r\n\x1a\n\x00"
PNG64 = base64.b64encode(PNG).decode()


def headers_of(response: HttpResponse) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for name, value in response.headers:
        result.setdefault(name.lower(), []).append(value)
    return result


def rest(result: Any, **options: Any) -> HttpResponse:
    payload = result if isinstance(result, bytes) else json.dumps(result).encode()
    options.setdefault("function_error", False)
    return proxy_response(payload, kind=ApiKind.REST, payload_format=PayloadFormat.V1, **options)


REST_CASES: list[tuple[str, Any, int, dict[str, list[str]], bytes]] = [
    # name, function result, status, headers (lower-cased, a subset), body
    ("status and body", {"statusCode": 201, "body": "hi"}, 201, {}, b"hi"),
    (
        "no content type: JSON",
        {"statusCode": 200},
        200,
        {"content-type": ["application/json"]},
        b"",
    ),
    ("own content type", {"headers": {"content-type": "text/plain"}}, 200, {}, b""),
    ("statusCode defaults to 200", {}, 200, {}, b""),
    ("statusCode as a string", {"statusCode": "418"}, 418, {}, b""),
    ("boolean header", {"statusCode": 200, "headers": {"X-B": True}}, 200, {"x-b": ["true"]}, b""),
    (
        "a pair in both maps appears once",
        {"statusCode": 200, "headers": {"X-A": "1"}, "multiValueHeaders": {"X-A": ["1", "2"]}},
        200,
        {"x-a": ["1", "2"]},
        b"",
    ),
    (
        "different values are merged",
        {"statusCode": 200, "headers": {"X-A": "3"}, "multiValueHeaders": {"x-a": ["1", "2"]}},
        200,
        {"x-a": ["1", "2", "3"]},
        b"",
    ),
    (
        "multi-value set-cookie",
        {"statusCode": 200, "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}},
        200,
        {"set-cookie": ["a=1", "b=2"]},
        b"",
    ),
    ("unknown key", {"statusCode": 200, "cookies": ["a=1"]}, 502, {}, REST_502),
    ("numeric header value", {"statusCode": 200, "headers": {"X-N": 3}}, 502, {}, REST_502),
    ("multi value not a list", {"multiValueHeaders": {"X-A": "1"}}, 502, {}, REST_502),
    ("body not a string", {"statusCode": 200, "body": {"a": 1}}, 502, {}, REST_502),
    ("bad status", {"statusCode": "abc"}, 502, {}, REST_502),
    ("status out of range", {"statusCode": 99}, 502, {}, REST_502),
    ("isBase64Encoded not a boolean", {"isBase64Encoded": "yes"}, 502, {}, REST_502),
    ("a JSON string", "hello", 502, {}, REST_502),
    ("a JSON list", [1], 502, {}, REST_502),
    ("not JSON", b"{oops", 502, {}, REST_502),
]


@pytest.mark.parametrize(
    ("result", "status", "headers", "body"),
    [case[1:] for case in REST_CASES],
    ids=[case[0] for case in REST_CASES],
)
def test_rest_proxy_responses(
    result: Any, status: int, headers: dict[str, list[str]], body: bytes
) -> None:
    response = rest(result)
    assert (response.status, response.body) == (status, body)
    assert headers_of(response).items() >= headers.items()
    if status == 502:
        assert headers_of(response) == {
            "content-type": ["application/json"],
            "x-amzn-errortype": ["InternalServerErrorException"],
        }


def test_a_function_error_is_a_502_on_rest_apis_and_a_500_on_http_apis() -> None:
    assert rest({"statusCode": 200}, function_error=True).status == 502
    for payload_format in PayloadFormat:
        response = proxy_response(
            b'{"errorMessage": "boom"}',
            kind=ApiKind.HTTP,
            payload_format=payload_format,
            function_error=True,
        )
        assert (response.status, response.body) == (500, HTTP_500)


BINARY = {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "isBase64Encoded": True}
REST_BINARY_CASES = [
    # Accept, binaryMediaTypes, body sent
    ("image/png", ("image/*",), PNG),
    ("image/webp,image/*,*/*;q=0.8", ("image/png",), PNG64.encode()),  # only the first counts
    ("image/webp,image/*,*/*;q=0.8", ("image/webp",), PNG),
    ("text/html", ("*/*",), PNG),
    (None, ("image/png",), PNG64.encode()),
    ("image/png", (), PNG64.encode()),
]


@pytest.mark.parametrize(("accept", "types", "body"), REST_BINARY_CASES)
def test_rest_binary_responses(accept: str | None, types: tuple[str, ...], body: bytes) -> None:
    response = rest({**BINARY, "body": PNG64}, accept=accept, binary_media_types=types)
    assert (response.status, response.body) == (200, body)


def test_rest_bad_base64_is_an_api_configuration_error() -> None:
    response = rest(
        {**BINARY, "body": "*not base64*"}, accept="image/png", binary_media_types=["*/*"]
    )
    assert (response.status, response.body) == (500, REST_502)


def http(result: Any, payload_format: PayloadFormat) -> HttpResponse:
    payload = result if isinstance(result, bytes) else json.dumps(result).encode()
    return proxy_response(
        payload, kind=ApiKind.HTTP, payload_format=payload_format, function_error=False
    )


V1, V2 = PayloadFormat.V1, PayloadFormat.V2
HTTP_CASES: list[tuple[str, PayloadFormat, Any, int, dict[str, list[str]], bytes]] = [
    ("1.0 needs statusCode", V1, {"body": "x"}, 500, {}, HTTP_500),
    ("1.0 ignores unknown keys", V1, {"statusCode": 200, "extra": 1, "body": "x"}, 200, {}, b"x"),
    (
        "1.0 decodes base64 whatever the Accept",
        V1,
        {"statusCode": 200, "body": PNG64, "isBase64Encoded": True},
        200,
        {},
        PNG,
    ),
    (
        "1.0 multi-value headers",
        V1,
        {"statusCode": 200, "multiValueHeaders": {"X-A": ["1", "2"]}},
        200,
        {"x-a": ["1", "2"]},
        b"",
    ),
    ("2.0 a string is the body", V2, "Hello from Lambda!", 200, {}, b"Hello from Lambda!"),
    (
        "2.0 an object without statusCode is JSON",
        V2,
        {"message": "hi"},
        200,
        {"content-type": ["application/json"]},
        b'{"message": "hi"}',
    ),
    ("2.0 a number", V2, 42, 200, {"content-type": ["application/json"]}, b"42"),
    (
        "2.0 cookies become set-cookie",
        V2,
        {"statusCode": 201, "cookies": ["a=1", "b=2; Secure"], "headers": {"X-A": "1"}},
        201,
        {"set-cookie": ["a=1", "b=2; Secure"], "x-a": ["1"]},
        b"",
    ),
    (
        "2.0 base64 body",
        V2,
        {"statusCode": 200, "body": PNG64, "isBase64Encoded": True},
        200,
        {},
        PNG,
    ),
    ("2.0 bad statusCode", V2, {"statusCode": "nope"}, 500, {}, HTTP_500),
    ("2.0 not JSON", V2, b"{oops", 500, {}, HTTP_500),
]


@pytest.mark.parametrize(
    ("payload_format", "result", "status", "headers", "body"),
    [case[1:] for case in HTTP_CASES],
    ids=[case[0] for case in HTTP_CASES],
)
def test_http_api_proxy_responses(
    payload_format: PayloadFormat,
    result: Any,
    status: int,
    headers: dict[str, list[str]],
    body: bytes,
) -> None:
    response = http(result, payload_format)
    assert (response.status, response.body) == (status, body)
    assert headers_of(response).items() >= headers.items()


GATEWAY_CASES = [
    (ApiKind.REST, GatewayError.INTEGRATION_FAILURE, 502, REST_502, "InternalServerErrorException"),
    (
        ApiKind.REST,
        GatewayError.INTEGRATION_TIMEOUT,
        504,
        b'{"message": "Endpoint request timed out"}',
        "InternalServerErrorException",
    ),
    (
        ApiKind.REST,
        GatewayError.NO_ROUTE,
        403,
        b'{"message":"Missing Authentication Token"}',
        "MissingAuthenticationTokenException",
    ),
    (
        ApiKind.REST,
        GatewayError.REQUEST_TOO_LARGE,
        413,
        b'{"message":"Request Too Long"}',
        "RequestTooLargeException",
    ),
    (
        ApiKind.REST,
        GatewayError.UNAUTHORIZED,
        401,
        b'{"message":"Unauthorized"}',
        "UnauthorizedException",
    ),
    (
        ApiKind.REST,
        GatewayError.ACCESS_DENIED,
        403,
        b'{"Message":"User is not authorized to access this resource"}',
        "AccessDeniedException",
    ),
    (
        ApiKind.REST,
        GatewayError.EXPLICIT_DENY,
        403,
        b'{"Message":"User is not authorized to access this resource with an explicit deny"}',
        "AccessDeniedException",
    ),
    (ApiKind.HTTP, GatewayError.INTEGRATION_FAILURE, 500, HTTP_500, None),
    (
        ApiKind.HTTP,
        GatewayError.INTEGRATION_TIMEOUT,
        503,
        b'{"message":"Service Unavailable"}',
        None,
    ),
    (ApiKind.HTTP, GatewayError.NO_ROUTE, 404, b'{"message":"Not Found"}', None),
    (ApiKind.HTTP, GatewayError.REQUEST_TOO_LARGE, 413, b'{"message":"Request Too Long"}', None),
    (ApiKind.HTTP, GatewayError.UNAUTHORIZED, 401, b'{"message":"Unauthorized"}', None),
    (ApiKind.HTTP, GatewayError.ACCESS_DENIED, 403, b'{"message":"Forbidden"}', None),
    (ApiKind.HTTP, GatewayError.EXPLICIT_DENY, 403, b'{"message":"Forbidden"}', None),
]


@pytest.mark.parametrize(("kind", "error", "status", "body", "error_type"), GATEWAY_CASES)
def test_api_gateways_own_answers(
    kind: ApiKind, error: GatewayError, status: int, body: bytes, error_type: str | None
) -> None:
    response = gateway_response(kind, error, IDS)
    assert (response.status, response.body) == (status, body)
    json.loads(body)  # every one of them is JSON
    headers = headers_of(response)
    if kind is ApiKind.REST:
        assert headers == {
            "content-type": ["application/json"],
            "x-amzn-errortype": [error_type],
            "x-amzn-requestid": [IDS.request_id],
            "x-amz-apigw-id": [IDS.extended_id],
        }
    else:
        assert headers["apigw-requestid"] == [IDS.request_id]
        timeout = error is GatewayError.INTEGRATION_TIMEOUT
        assert ("content-type" in headers) is not timeout  # the recorded 503 has none


def test_gateway_headers_on_integration_responses() -> None:
    mine = HttpResponse(200, [("X-Amzn-RequestId", "the function's"), ("X-A", "1")], b"")
    response = with_gateway_headers(mine, ApiKind.REST, IDS)
    assert headers_of(response) == {
        "x-a": ["1"],
        "x-amzn-requestid": [IDS.request_id],
        "x-amz-apigw-id": [IDS.extended_id],
        "x-amzn-trace-id": [IDS.trace_id],
    }
    response = with_gateway_headers(mine, ApiKind.HTTP, IDS)
    assert headers_of(response)["apigw-requestid"] == [IDS.request_id]
    assert "x-amz-apigw-id" not in headers_of(response)


def test_limits() -> None:
    assert MAX_REQUEST_BODY == 10_485_760
    assert (default_timeout(ApiKind.REST), default_timeout(ApiKind.HTTP)) == (29.0, 30.0)


# --- a real app's answers, through lambdakit's web adapter, back to HTTP --------------------

ROUTES = [
    (ApiKind.REST, PayloadFormat.V1, "Prod"),
    (ApiKind.HTTP, PayloadFormat.V1, "$default"),
    (ApiKind.HTTP, PayloadFormat.V2, "$default"),
]


@pytest.mark.parametrize(("kind", "payload_format", "stage"), ROUTES)
def test_a_flask_apps_answer_reaches_the_client(
    kind: ApiKind, payload_format: PayloadFormat, stage: str
) -> None:
    app = Flask(__name__)

    @app.get("/picture")
    def picture() -> Any:
        response = make_response(PNG)
        response.headers["Content-Type"] = "image/png"
        response.set_cookie("a", "1")
        response.set_cookie("b", "2")
        return response

    request = ApiRequest("GET", "/picture", "", (("Accept", "image/png"),), b"", "127.0.0.1")
    route = RouteContext(
        "abcdef1234",
        kind,
        stage,
        "/picture",
        "GET /picture",
        payload_format=payload_format,
        binary_media_types=("image/png",),
    )
    result = wsgi(app)(lambda_event(request, route, IDS), None)
    response = proxy_response(
        json.dumps(result).encode(),
        kind=kind,
        payload_format=payload_format,
        function_error=False,
        accept="image/png",
        binary_media_types=route.binary_media_types,
    )
    assert (response.status, response.body) == (200, PNG)
    headers = headers_of(response)
    assert headers["content-type"] == ["image/png"]
    assert [cookie.split(";")[0] for cookie in headers["set-cookie"]] == ["a=1", "b=2"]
