"""lambdakit.runtime.web in-process: event fixtures in, handler results out.

The fixtures under tests/data/events/ are one request (POST /items/42?tag=a&tag=b&q=hello
world, two cookies, a repeated X-Tag header, a JSON body) as each source delivers it.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import importlib.util
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import pytest

from lambdakit import _hooks
from lambdakit.runtime import web
from lambdakit.runtime._web_events import Source, detect, parse_event
from lambdakit.runtime._web_responses import encode_body, status_line
from lambdakit.runtime.streaming import StreamingResponse
from lambdakit.runtime.web import LifespanError

EVENTS = Path(__file__).parent.parent / "data" / "events"
APPS = Path(__file__).parent.parent / "functions" / "web"
BODY = b'{"name": "widget"}'
CONTEXT = SimpleNamespace(aws_request_id="0f5e6d7c-req", function_name="web")


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event


def load_app(name: str) -> ModuleType:
    """A module of tests/functions/web, imported once under a name of its own."""
    module_name = f"_lambdakit_web_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, APPS / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the whole test, as the runtime keeps one for the whole process."""
    loop = asyncio.new_event_loop()
    yield loop
    close_loop(loop)


def close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is left (lifespan tasks, as at the end of a process) and close."""

    async def cancel_the_rest() -> None:
        tasks = asyncio.all_tasks() - {asyncio.current_task()}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    loop.run_until_complete(cancel_the_rest())
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()


@pytest.fixture(autouse=True)
def _restore_hooks() -> Iterator[None]:
    saved = list(_hooks._shutdown_hooks)
    yield
    _hooks._shutdown_hooks[:] = saved


@pytest.fixture
def raw() -> ModuleType:
    return load_app("raw_apps")


@dataclass(frozen=True)
class Case:
    fixture: str
    source: Source
    root_path: str
    tags: list[str]  # the repeated query parameter as the app sees it
    x_tag: list[str]  # the repeated header's values as the app sees them
    host: str


SOURCES = {
    "rest-v1": Case(
        "apigw-rest-v1.json",
        Source.API_GATEWAY_V1,
        "/prod",
        ["a", "b"],
        ["one", "two"],
        "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
    ),
    "http-v2": Case(
        "apigw-http-v2.json",
        Source.API_GATEWAY_V2,
        "",
        ["a", "b"],
        ["one,two"],
        "f6g7h8i9j0.execute-api.eu-west-1.amazonaws.com",
    ),
    "function-url": Case(
        "function-url.json",
        Source.FUNCTION_URL,
        "",
        ["a", "b"],
        ["one,two"],
        "k5l6m7n8o9p0q1r2s3t4u5v6w7x8y9z0.lambda-url.eu-west-1.on.aws",
    ),
    # Single-value mode keeps only the last value of a repeated parameter or header.
    "alb": Case(
        "alb.json",
        Source.ALB,
        "",
        ["b"],
        ["two"],
        "lambda-web-1234567890.eu-west-1.elb.amazonaws.com",
    ),
    "alb-multi-value": Case(
        "alb-multi-value.json",
        Source.ALB,
        "",
        ["a", "b"],
        ["one", "two"],
        "lambda-web-1234567890.eu-west-1.elb.amazonaws.com",
    ),
}
each_source = pytest.mark.parametrize("case", SOURCES.values(), ids=SOURCES.keys())


def set_body(event: dict[str, Any], body: bytes, *, base64_encoded: bool) -> dict[str, Any]:
    event = copy.deepcopy(event)
    if base64_encoded:
        event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
    else:
        event["body"], event["isBase64Encoded"] = body.decode(), False
    return event


def get_event(fixture: str, path: str, method: str = "GET") -> dict[str, Any]:
    """A fixture turned into a body-less request for ``path`` (with its query string)."""
    event = load_event(fixture)
    path, _, query = path.partition("?")
    params = parse_qs(query)
    event["body"], event["isBase64Encoded"] = None, False
    if "rawPath" in event:
        event["rawPath"] = event["requestContext"]["http"]["path"] = path
        event["rawQueryString"] = query
        event["requestContext"]["http"]["method"] = method
    else:
        event["httpMethod"] = method
        event["path"] = path
        event["requestContext"]["path"] = "/prod" + path
        event["queryStringParameters"] = {key: values[-1] for key, values in params.items()}
        event["multiValueQueryStringParameters"] = params
    return event


def response_body(result: dict[str, Any]) -> bytes:
    if result["isBase64Encoded"]:
        return base64.b64decode(result["body"])
    return str(result["body"]).encode()


def response_headers(result: dict[str, Any]) -> dict[str, list[str]]:
    """Every header of a handler result, by lower-case name, from whichever fields it used."""
    headers: dict[str, list[str]] = {}
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.setdefault(name.lower(), []).extend(values)
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in (result.get("multiValueHeaders") or {}):
            headers.setdefault(name.lower(), []).append(value)
    headers.setdefault("set-cookie", []).extend(result.get("cookies", []))
    return headers


# --- detecting the source -------------------------------------------------------------------


@each_source
def test_each_fixture_is_detected_as_its_source(case: Case) -> None:
    assert detect(load_event(case.fixture)) is case.source


def test_http_api_payload_1_0_is_answered_like_a_rest_api() -> None:
    event = load_event("apigw-rest-v1.json")
    event["version"] = "1.0"
    assert detect(event) is Source.API_GATEWAY_V1


@pytest.mark.parametrize(
    ("event", "named"),
    [
        ({}, "[]"),
        ({"Records": [{"eventSource": "aws:sqs"}]}, "[Records]"),
        (
            {"requestContext": {"routeKey": "$connect", "connectionId": "x"}, "isBase64Encoded": 0},
            "requestContext has [connectionId, routeKey]",
        ),
        ({"version": "2.0", "rawPath": "/", "requestContext": {}}, "[rawPath, requestContext"),
    ],
    ids=["empty", "sqs", "websocket", "v2-without-http"],
)
def test_other_events_are_a_value_error_naming_their_keys(event: object, named: str) -> None:
    with pytest.raises(ValueError, match="not an HTTP event") as caught:
        web.wsgi(lambda environ, start: [])(event, CONTEXT)
    assert named in str(caught.value)


def test_a_payload_that_is_not_an_object_is_a_value_error(loop: asyncio.AbstractEventLoop) -> None:
    handler = web.asgi(load_app("raw_apps").echo)
    with pytest.raises(ValueError, match="got bytes"):
        loop.run_until_complete(handler(b"GET / HTTP/1.1", CONTEXT))


# --- the request the app sees ---------------------------------------------------------------


@each_source
def test_asgi_scope(case: Case, loop: asyncio.AbstractEventLoop, raw: ModuleType) -> None:
    result = loop.run_until_complete(raw.echo_handler(load_event(case.fixture), CONTEXT))
    seen = json.loads(response_body(result))
    assert seen["method"] == "POST"
    assert seen["path"] == f"{case.root_path}/items/42"
    assert seen["raw_path"] == f"{case.root_path}/items/42"
    assert seen["root_path"] == case.root_path
    assert parse_qs(seen["query_string"]) == {"tag": case.tags, "q": ["hello world"]}
    assert seen["scheme"] == "https"
    assert seen["http_version"] == "1.1"
    assert seen["asgi"] == {"version": "3.0", "spec_version": "2.3"}
    assert seen["client"] == ["203.0.113.7", 0]
    assert seen["server"] == [case.host, 443]
    headers = seen["headers"]
    assert all(name == name.lower() for name, _ in headers)
    assert [value for name, value in headers if name == "cookie"] == ["session=abc123; theme=dark"]
    assert [value for name, value in headers if name == "x-tag"] == case.x_tag
    assert ["content-type", "application/json"] in headers
    assert base64.b64decode(seen["body"]) == BODY
    assert seen["more_body"] is False
    assert seen["has_event"] is True
    assert seen["request_id"] == CONTEXT.aws_request_id


@each_source
def test_wsgi_environ(case: Case, raw: ModuleType) -> None:
    result = raw.wsgi_echo_handler(load_event(case.fixture), CONTEXT)
    environ = json.loads(response_body(result))
    assert environ["REQUEST_METHOD"] == "POST"
    assert environ["SCRIPT_NAME"] == case.root_path
    assert environ["PATH_INFO"] == "/items/42"
    assert parse_qs(environ["QUERY_STRING"]) == {"tag": case.tags, "q": ["hello world"]}
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == str(len(BODY))
    assert environ["HTTP_COOKIE"] == "session=abc123; theme=dark"
    assert environ["HTTP_X_TAG"] == ",".join(case.x_tag)
    assert environ["HTTP_HOST"] == case.host
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == (case.host, "443")
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["REMOTE_ADDR"] == "203.0.113.7"
    assert environ["wsgi.url_scheme"] == "https"
    assert environ["body"] == BODY.decode()
    assert environ["has_event"] is True
    assert environ["request_id"] == CONTEXT.aws_request_id
    assert "HTTP_CONTENT_TYPE" not in environ and "HTTP_CONTENT_LENGTH" not in environ


@each_source
def test_a_base64_request_body_is_decoded(
    case: Case, loop: asyncio.AbstractEventLoop, raw: ModuleType
) -> None:
    payload = bytes(range(256))
    event = set_body(load_event(case.fixture), payload, base64_encoded=True)
    seen = json.loads(response_body(loop.run_until_complete(raw.echo_handler(event, CONTEXT))))
    assert base64.b64decode(seen["body"]) == payload
    environ = json.loads(response_body(raw.wsgi_echo_handler(event, CONTEXT)))
    assert environ["body"].encode("latin-1") == payload
    assert environ["CONTENT_LENGTH"] == "256"


def test_a_missing_body_is_empty(loop: asyncio.AbstractEventLoop, raw: ModuleType) -> None:
    event = load_event("apigw-rest-v1.json")
    event["body"] = None
    seen = json.loads(response_body(loop.run_until_complete(raw.echo_handler(event, CONTEXT))))
    assert seen["body"] == ""


def test_an_alb_health_check(loop: asyncio.AbstractEventLoop, raw: ModuleType) -> None:
    event = {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:..."}},
        "httpMethod": "GET",
        "path": "/",
        "queryStringParameters": {},
        "headers": {"user-agent": "ELB-HealthChecker/2.0"},
        "body": "",
        "isBase64Encoded": False,
    }
    result = loop.run_until_complete(raw.echo_handler(event, CONTEXT))
    seen = json.loads(response_body(result))
    assert (seen["method"], seen["path"], seen["query_string"]) == ("GET", "/", "")
    assert seen["client"] is None
    assert seen["server"] == ["localhost", 443]


# --- paths: stages, base paths, encoding ----------------------------------------------------


def rest_on_custom_domain(path: str) -> dict[str, Any]:
    """The fixture as a REST API behind api.example.com, base path mapping "v1" -> prod: the
    base path is in both paths, the stage in neither."""
    event = load_event("apigw-rest-v1.json")
    event["path"] = event["requestContext"]["path"] = path
    event["headers"]["Host"] = event["multiValueHeaders"]["Host"][0] = "api.example.com"
    event["requestContext"]["domainName"] = "api.example.com"
    return event


def http_api_on_stage(stage: str, raw_path: str) -> dict[str, Any]:
    event = load_event("apigw-http-v2.json")
    event["requestContext"]["stage"] = stage
    event["rawPath"] = event["requestContext"]["http"]["path"] = raw_path
    return event


@pytest.mark.parametrize(
    ("event", "base_path", "path", "root_path"),
    [
        (load_event("apigw-rest-v1.json"), None, "/prod/items/42", "/prod"),
        (load_event("apigw-rest-v1.json"), "/items", "/prod/items/42", "/prod/items"),
        (rest_on_custom_domain("/v1/items/42"), None, "/v1/items/42", ""),
        (rest_on_custom_domain("/v1/items/42"), "v1", "/v1/items/42", "/v1"),
        (rest_on_custom_domain("/v1/items/42"), "/v1/", "/v1/items/42", "/v1"),
        (rest_on_custom_domain("/v10/items/42"), "/v1", "/v10/items/42", ""),
        (rest_on_custom_domain("/items/42"), "/v1", "/items/42", ""),
        (http_api_on_stage("prod", "/prod/items/42"), None, "/prod/items/42", "/prod"),
        (http_api_on_stage("prod", "/prod"), None, "/prod", "/prod"),
        (http_api_on_stage("prod", "/production/items"), None, "/production/items", ""),
        (http_api_on_stage("$default", "/items/42"), None, "/items/42", ""),
        (http_api_on_stage("prod", "/prod/api/items"), "/api", "/prod/api/items", "/prod/api"),
        (load_event("function-url.json"), "/", "/items/42", ""),
        (load_event("function-url.json"), "/items", "/items/42", "/items"),
        (load_event("alb.json"), "/items", "/items/42", "/items"),
    ],
    ids=[
        "rest-stage",
        "rest-stage-and-base",
        "rest-custom-domain",
        "rest-custom-domain-base",
        "base-slashes-normalized",
        "base-is-a-whole-segment",
        "base-absent-from-path",
        "http-named-stage",
        "http-stage-root",
        "http-stage-prefix-of-segment",
        "http-default-stage",
        "http-stage-and-base",
        "function-url-root-base",
        "function-url-base",
        "alb-base",
    ],
)
def test_stage_and_base_path(
    event: dict[str, Any], base_path: str | None, path: str, root_path: str
) -> None:
    request = parse_event(event, base_path)
    assert (request.path, request.root_path) == (path, root_path)
    environ = web.build_environ(request, event, CONTEXT)
    assert environ["SCRIPT_NAME"] + environ["PATH_INFO"] == path
    assert environ["SCRIPT_NAME"] == root_path


@pytest.mark.parametrize(
    ("fixture", "in_event", "path", "raw_path"),
    [
        # REST APIs, Function URLs and ALBs pass the path as received, percent-encoded.
        (
            "apigw-rest-v1.json",
            "/files/a%20b%2Fc%C3%A9",
            "/prod/files/a b/cé",
            "/prod/files/a%20b%2Fc%C3%A9",
        ),
        ("function-url.json", "/files/a%20b%2Fc", "/files/a b/c", "/files/a%20b%2Fc"),
        ("alb.json", "/files/a%20b", "/files/a b", "/files/a%20b"),
        ("alb.json", "/files/a b", "/files/a b", "/files/a%20b"),
        # HTTP APIs pass it decoded: a "%" in it is a literal one.
        ("apigw-http-v2.json", "/files/a b/cé", "/files/a b/cé", "/files/a%20b/c%C3%A9"),
        ("apigw-http-v2.json", "/100%25", "/100%25", "/100%2525"),
    ],
    ids=["rest", "function-url", "alb", "alb-unencoded", "http-api", "http-api-percent"],
)
def test_path_encoding(fixture: str, in_event: str, path: str, raw_path: str) -> None:
    event = load_event(fixture)
    if "rawPath" in event:
        event["rawPath"] = in_event
    else:
        event["path"] = in_event
        if "path" in event["requestContext"]:
            event["requestContext"]["path"] = "/prod" + in_event
    request = parse_event(event)
    assert (request.path, request.raw_path) == (path, raw_path.encode())


def test_rest_query_parameters_are_encoded_again() -> None:
    event = load_event("apigw-rest-v1.json")
    event["multiValueQueryStringParameters"] = {"a&b": ["c=d", "é"], "e": [""]}
    request = parse_event(event)
    assert request.query_string == b"a%26b=c%3Dd&a%26b=%C3%A9&e="
    assert parse_qs(request.query_string.decode(), keep_blank_values=True) == {
        "a&b": ["c=d", "é"],
        "e": [""],
    }


def test_rest_falls_back_to_single_value_parameters_and_headers() -> None:
    event = load_event("apigw-rest-v1.json")
    event["multiValueQueryStringParameters"] = event["multiValueHeaders"] = None
    request = parse_event(event)
    assert parse_qs(request.query_string.decode()) == {"tag": ["b"], "q": ["hello world"]}
    assert request.header("x-tag") == "two"


def test_v2_cookies_replace_a_cookie_header() -> None:
    event = load_event("function-url.json")
    event["headers"]["cookie"] = "stale=1"
    request = parse_event(event)
    assert [value for name, value in request.headers if name == "cookie"] == [
        "session=abc123; theme=dark"
    ]


@pytest.mark.parametrize(
    ("headers", "server", "scheme"),
    [
        ({"host": "example.com"}, ("example.com", 443), "https"),
        ({"host": "example.com:8443"}, ("example.com", 8443), "https"),
        ({"host": "example.com", "x-forwarded-proto": "http"}, ("example.com", 80), "http"),
        ({"host": "[::1]:9000"}, ("[::1]", 9000), "https"),
        ({"host": "example.com", "x-forwarded-port": "8080"}, ("example.com", 8080), "https"),
    ],
)
def test_server_and_scheme(headers: dict[str, str], server: tuple[str, int], scheme: str) -> None:
    event = load_event("alb.json")
    event["headers"] = headers
    request = parse_event(event)
    assert (request.server, request.scheme) == (server, scheme)


def test_alb_client_is_the_address_the_load_balancer_appended() -> None:
    event = load_event("alb.json")
    event["headers"]["x-forwarded-for"] = "10.9.9.9, 198.51.100.20"
    assert parse_event(event).client == ("198.51.100.20", 0)


# --- the answer -----------------------------------------------------------------------------


@each_source
def test_response_shape(case: Case, loop: asyncio.AbstractEventLoop, raw: ModuleType) -> None:
    result = loop.run_until_complete(raw.echo_handler(load_event(case.fixture), CONTEXT))
    assert result["statusCode"] == 201
    assert result["isBase64Encoded"] is False
    json.loads(result["body"])
    headers = response_headers(result)
    assert headers["content-type"] == ["application/json"]
    assert sorted(headers["set-cookie"]) == ["a=1; Path=/", "b=2; HttpOnly"]
    if case.source is Source.API_GATEWAY_V1:
        assert result["multiValueHeaders"]["set-cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]
        assert result["multiValueHeaders"]["x-multi"] == ["a", "b"]
        assert result["headers"] == {"content-type": "application/json"}
        assert set(result) == {
            "statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"
        }  # fmt: skip
    elif case.source is Source.ALB:
        assert result["statusDescription"] == "201 Created"
        if case.fixture == "alb.json":
            assert "multiValueHeaders" not in result
            assert result["headers"]["x-multi"] == "a,b"
            cookie_names = [name for name in result["headers"] if name.lower() == "set-cookie"]
            assert cookie_names == ["set-cookie", "Set-cookie"]
        else:
            assert "headers" not in result
            assert result["multiValueHeaders"]["x-multi"] == ["a", "b"]
            assert result["multiValueHeaders"]["set-cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]
    else:
        assert result["cookies"] == ["a=1; Path=/", "b=2; HttpOnly"]
        assert result["headers"] == {"content-type": "application/json", "x-multi": "a,b"}
        assert set(result) == {"statusCode", "headers", "cookies", "body", "isBase64Encoded"}


@each_source
def test_wsgi_response_keeps_every_set_cookie(case: Case, raw: ModuleType) -> None:
    result = raw.wsgi_echo_handler(load_event(case.fixture), CONTEXT)
    assert result["statusCode"] == 202
    assert sorted(response_headers(result)["set-cookie"]) == ["a=1; Path=/", "b=2; HttpOnly"]
    if case.source is Source.API_GATEWAY_V1:
        assert result["multiValueHeaders"]["set-cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]
    elif case.source is not Source.ALB:
        assert result["cookies"] == ["a=1; Path=/", "b=2; HttpOnly"]
        assert "set-cookie" not in result["headers"]


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(200))


@pytest.mark.parametrize(
    ("headers", "body", "binary"),
    [
        ([(b"content-type", b"image/png")], PNG, True),
        ([(b"content-type", b"application/octet-stream")], b"plain ascii", True),
        ([(b"content-type", b"application/pdf")], b"%PDF-1.7", True),
        ([(b"content-type", b"font/woff2")], b"wOF2", True),
        ([(b"content-type", b"text/plain"), (b"content-encoding", b"gzip")], b"\x1f\x8b", True),
        ([(b"content-type", b"text/plain; charset=utf-8")], "héllo".encode(), False),
        ([(b"content-type", b"application/json")], b'{"a": 1}', False),
        ([(b"content-type", b"image/svg+xml")], b"<svg/>", False),
        ([(b"content-type", b"text/plain")], b"\xff\xfe not utf-8", True),
        ([], b"\x00\x01\x02\xff", True),
        ([(b"content-type", b"image/png")], b"", False),
    ],
    ids=[
        "png",
        "octet-stream",
        "pdf",
        "font",
        "gzip",
        "utf8-text",
        "json",
        "svg-is-text",
        "invalid-utf8-text",
        "no-type-binary",
        "empty",
    ],
)
@each_source
def test_binary_bodies_are_base64_encoded(
    case: Case,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    binary: bool,
    loop: asyncio.AbstractEventLoop,
    raw: ModuleType,
) -> None:
    handler = web.asgi(raw.answer(200, headers, body))
    result = loop.run_until_complete(handler(load_event(case.fixture), CONTEXT))
    assert result["isBase64Encoded"] is binary
    assert response_body(result) == body


def test_binary_types_can_be_chosen(loop: asyncio.AbstractEventLoop, raw: ModuleType) -> None:
    app = raw.answer(200, [(b"content-type", b"application/x-thing")], b"text really")
    event = load_event("function-url.json")
    plain = loop.run_until_complete(web.asgi(app)(event, CONTEXT))
    chosen = loop.run_until_complete(web.asgi(app, binary_types=["application/*"])(event, CONTEXT))
    assert (plain["isBase64Encoded"], chosen["isBase64Encoded"]) == (False, True)
    assert encode_body(b"x", [("Content-Type", "IMAGE/PNG")], ["image/png"]) == ("eA==", True)


@pytest.mark.parametrize(
    ("status", "line"), [(200, "200 OK"), (404, "404 Not Found"), (599, "599 Unknown")]
)
def test_alb_status_description(status: int, line: str) -> None:
    assert status_line(status) == line


# --- streaming ------------------------------------------------------------------------------


async def collect(body: Any) -> list[tuple[float, bytes]]:
    """The chunks of a streamed body, each with the time it arrived."""
    chunks = []
    async for chunk in body:
        chunks.append((time.monotonic(), chunk if isinstance(chunk, bytes) else chunk.encode()))
    return chunks


def test_streaming_answers_function_urls_only(
    loop: asyncio.AbstractEventLoop, raw: ModuleType
) -> None:
    handler = web.asgi(raw.echo, streaming=True)
    streamed = loop.run_until_complete(handler(load_event("function-url.json"), CONTEXT))
    assert isinstance(streamed, StreamingResponse)
    assert streamed.status_code == 201
    assert streamed.headers == {"content-type": "application/json", "x-multi": "a,b"}
    assert streamed.cookies == ["a=1; Path=/", "b=2; HttpOnly"]
    body = b"".join(chunk for _, chunk in loop.run_until_complete(collect(streamed.body)))
    assert json.loads(body)["path"] == "/items/42"
    for name in ("apigw-rest-v1.json", "apigw-http-v2.json", "alb.json"):
        buffered = loop.run_until_complete(handler(load_event(name), CONTEXT))
        assert isinstance(buffered, dict) and buffered["statusCode"] == 201


def test_streamed_chunks_arrive_while_the_app_produces_them(
    loop: asyncio.AbstractEventLoop,
) -> None:
    fastapi_app = load_app("fastapi_app")
    event = get_event("function-url.json", "/events")
    finished_before = len(fastapi_app.SSE_FINISHED)
    streamed = loop.run_until_complete(fastapi_app.streaming_handler(event, CONTEXT))
    assert isinstance(streamed, StreamingResponse)
    assert streamed.status_code == 200
    assert streamed.headers["content-type"].startswith("text/event-stream")

    async def read() -> list[tuple[float, Any, int]]:
        received = []
        async for chunk in streamed.body:  # type: ignore[union-attr]
            received.append((time.monotonic(), chunk, len(fastapi_app.SSE_FINISHED)))
        return received

    received = loop.run_until_complete(read())
    assert [chunk for _, chunk, _ in received] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    # The first event was in hand while the app was still producing the others.
    assert received[0][2] == finished_before
    (finished,) = fastapi_app.SSE_FINISHED[finished_before:]
    assert received[0][0] < finished - 0.08
    assert received[1][0] - received[0][0] >= 0.04


def test_buffered_mode_returns_the_whole_event_stream(loop: asyncio.AbstractEventLoop) -> None:
    fastapi_app = load_app("fastapi_app")
    result = loop.run_until_complete(
        fastapi_app.handler(get_event("function-url.json", "/events"), CONTEXT)
    )
    assert result["body"] == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
    assert result["headers"]["content-type"].startswith("text/event-stream")


def test_a_streamed_response_through_the_runtimes_stream_writer(raw: ModuleType) -> None:
    """What the runtime sends for a streamed ASGI answer: the prelude, then the body."""
    from lambdakit.runtime.loop import AsyncRunner
    from lambdakit.runtime.streaming import HTTP_INTEGRATION, PRELUDE_END, open_stream

    runner = AsyncRunner()
    handler = web.asgi(
        raw.answer(200, [(b"content-type", b"text/plain")], b"abcdef"), streaming=True
    )
    try:
        result = runner.run(handler(load_event("function-url.json"), CONTEXT))
        content_type, chunks = open_stream(result, runner)
        sent = b"".join(chunks)
    finally:
        runner.loop().close()
    assert content_type == HTTP_INTEGRATION
    prelude, _, body = sent.partition(PRELUDE_END)
    assert json.loads(prelude) == {"statusCode": 200, "headers": {"content-type": "text/plain"}}
    assert body == b"abcdef"


def test_streaming_failure_before_the_start_is_raised(
    loop: asyncio.AbstractEventLoop, raw: ModuleType
) -> None:
    handler = web.asgi(raw.fails_before_start, streaming=True)
    with pytest.raises(ValueError, match="no response at all"):
        loop.run_until_complete(handler(load_event("function-url.json"), CONTEXT))
    silent = web.asgi(raw.never_starts, streaming=True)
    with pytest.raises(RuntimeError, match=r"without sending http\.response\.start"):
        loop.run_until_complete(silent(load_event("function-url.json"), CONTEXT))


def test_streaming_failure_mid_body_is_raised_by_the_body(
    loop: asyncio.AbstractEventLoop, raw: ModuleType
) -> None:
    handler = web.asgi(raw.fails_mid_body, streaming=True)
    streamed = loop.run_until_complete(handler(load_event("function-url.json"), CONTEXT))
    assert streamed.status_code == 200
    received: list[bytes] = []

    async def read() -> None:
        async for chunk in streamed.body:
            received.append(chunk)

    with pytest.raises(ConnectionResetError, match="upstream went away"):
        loop.run_until_complete(read())
    assert received == [b"first "]


def test_a_reader_that_stops_early_cancels_the_app(loop: asyncio.AbstractEventLoop) -> None:
    cancelled = []

    async def endless(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"x", "more_body": True})
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def read_one() -> bytes:
        streamed = await web.asgi(endless, streaming=True)(load_event("function-url.json"), CONTEXT)
        body: Any = streamed.body
        first: bytes = await body.__anext__()
        await body.aclose()
        return first

    assert loop.run_until_complete(read_one()) == b"x"
    assert cancelled == [True]


@pytest.mark.parametrize("streaming", [False, True])
def test_receive_answers_disconnect_once_the_response_is_complete(
    streaming: bool, loop: asyncio.AbstractEventLoop, raw: ModuleType
) -> None:
    raw.DISCONNECTS.clear()
    handler = web.asgi(raw.waits_for_disconnect, streaming=streaming)
    result = loop.run_until_complete(handler(load_event("function-url.json"), CONTEXT))
    if streaming:
        assert b"".join(c for _, c in loop.run_until_complete(collect(result.body))) == b"done"
    else:
        assert result["body"] == "done"
    assert raw.DISCONNECTS == [{"type": "http.disconnect"}]


# --- errors ---------------------------------------------------------------------------------


def test_a_failure_before_the_response_start_fails_the_invocation(
    loop: asyncio.AbstractEventLoop, raw: ModuleType
) -> None:
    with pytest.raises(ValueError, match="no response at all"):
        loop.run_until_complete(
            web.asgi(raw.fails_before_start)(load_event("apigw-rest-v1.json"), CONTEXT)
        )
    with pytest.raises(RuntimeError, match=r"without sending http\.response\.start"):
        loop.run_until_complete(web.asgi(raw.never_starts)(load_event("alb.json"), CONTEXT))


def test_a_buffered_failure_mid_body_fails_the_invocation(
    loop: asyncio.AbstractEventLoop, raw: ModuleType
) -> None:
    with pytest.raises(ConnectionResetError):
        loop.run_until_complete(web.asgi(raw.fails_mid_body)(load_event("alb.json"), CONTEXT))


def test_a_failure_after_a_complete_response_is_logged_and_the_response_kept(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    """Starlette answers an unhandled error with a 500, then re-raises it (as under uvicorn)."""
    fastapi_app = load_app("fastapi_app")
    with caplog.at_level(logging.ERROR, logger="lambdakit.web"):
        result = loop.run_until_complete(
            fastapi_app.handler(get_event("apigw-http-v2.json", "/boom", "GET"), CONTEXT)
        )
    assert result["statusCode"] == 500
    assert result["body"] == "Internal Server Error"
    (record,) = [record for record in caplog.records if record.name == "lambdakit.web"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], LookupError)


def test_streaming_failure_after_a_complete_response_is_logged(
    loop: asyncio.AbstractEventLoop, caplog: pytest.LogCaptureFixture
) -> None:
    fastapi_app = load_app("fastapi_app")
    event = get_event("function-url.json", "/boom")
    with caplog.at_level(logging.ERROR, logger="lambdakit.web"):
        streamed = loop.run_until_complete(fastapi_app.streaming_handler(event, CONTEXT))
        chunks = loop.run_until_complete(collect(streamed.body))
    assert streamed.status_code == 500
    assert b"".join(chunk for _, chunk in chunks) == b"Internal Server Error"
    assert [r.name for r in caplog.records if r.name == "lambdakit.web"] == ["lambdakit.web"]


@pytest.mark.parametrize("streaming", [False, True])
def test_an_unfinished_body_is_an_error(streaming: bool, loop: asyncio.AbstractEventLoop) -> None:
    async def unfinished(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"half", "more_body": True})

    async def run() -> object:
        result = await web.asgi(unfinished, streaming=streaming)(
            load_event("function-url.json"), CONTEXT
        )
        if streaming:
            return await collect(result.body)
        return result

    with pytest.raises(RuntimeError, match="without finishing its response body"):
        loop.run_until_complete(run())


def test_unexpected_messages_are_errors(loop: asyncio.AbstractEventLoop) -> None:
    async def websocket_answer(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "websocket.accept"})

    async def body_first(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await send({"type": "http.response.body", "body": b"x"})

    event = load_event("function-url.json")
    with pytest.raises(RuntimeError, match=r"unexpected ASGI message 'websocket\.accept'"):
        loop.run_until_complete(web.asgi(websocket_answer)(event, CONTEXT))
    with pytest.raises(RuntimeError, match="before its start"):
        loop.run_until_complete(web.asgi(body_first)(event, CONTEXT))

    async def starts_twice(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for _ in range(2):
                await send({"type": "http.response.start", "status": 200, "headers": []})

    with pytest.raises(RuntimeError, match="start twice"):
        loop.run_until_complete(web.asgi(starts_twice)(event, CONTEXT))


def test_wsgi_app_errors(raw: ModuleType) -> None:
    closed = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"partial"
            raise OSError("disk gone")

        def close(self) -> None:
            closed.append(True)

    def failing(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("200 OK", [])
        return Body()

    with pytest.raises(OSError, match="disk gone"):
        web.wsgi(failing)(load_event("alb.json"), CONTEXT)
    assert closed == [True]
    with pytest.raises(RuntimeError, match="start_response"):
        web.wsgi(lambda environ, start_response: [])(load_event("alb.json"), CONTEXT)


def test_wsgi_write_callable_and_chunk_types() -> None:
    def writes(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written ")
        return [b"", b"returned"]

    result = web.wsgi(writes)(load_event("apigw-http-v2.json"), CONTEXT)
    assert result["body"] == "written returned"

    def text_body(environ: dict[str, Any], start_response: Any) -> list[str]:
        start_response("200 OK", [])
        return ["not bytes"]

    with pytest.raises(TypeError, match="must be bytes, not str"):
        web.wsgi(text_body)(load_event("apigw-http-v2.json"), CONTEXT)  # type: ignore[arg-type]

    def twice(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        start_response("200 OK", [])
        return []

    with pytest.raises(RuntimeError, match="second time"):
        web.wsgi(twice)(load_event("apigw-http-v2.json"), CONTEXT)


def test_wsgi_exc_info_after_the_body_started_is_raised() -> None:
    def late(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response("200 OK", [])
        write(b"started")
        try:
            raise KeyError("too late")
        except KeyError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return []

    with pytest.raises(KeyError, match="too late"):
        web.wsgi(late)(load_event("apigw-http-v2.json"), CONTEXT)


def test_non_latin1_header_values_are_sent_as_utf8(raw: ModuleType) -> None:
    event = load_event("function-url.json")
    event["headers"]["x-name"] = "Zoë ✓"
    request = parse_event(event)
    scope = web.build_scope(request, event, CONTEXT)
    assert (b"x-name", "Zoë ✓".encode()) in scope["headers"]
    environ = web.build_environ(request, event, CONTEXT)
    assert environ["HTTP_X_NAME"] == "Zoë ✓".encode().decode("latin-1")
    assert request.header("x-absent") is None


def test_wsgi_exc_info_replaces_the_headers_until_the_body_starts() -> None:
    def recovers(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            raise KeyError("late")
        except KeyError:
            start_response("500 Internal Server Error", [("X-Error", "1")], sys.exc_info())
        return [b"error page"]

    result = web.wsgi(recovers)(load_event("function-url.json"), CONTEXT)
    assert (result["statusCode"], result["headers"], result["body"]) == (
        500, {"x-error": "1"}, "error page"
    )  # fmt: skip


def test_lifespan_must_be_a_known_mode(raw: ModuleType) -> None:
    with pytest.raises(ValueError, match="lifespan must be"):
        web.asgi(raw.echo, lifespan="always")  # type: ignore[arg-type]


# --- lifespan -------------------------------------------------------------------------------


def test_lifespan_starts_once_and_shuts_down_on_the_shutdown_hook(
    loop: asyncio.AbstractEventLoop,
) -> None:
    fastapi_app = load_app("fastapi_app")
    hooks_before = list(_hooks._shutdown_hooks)
    handler = web.asgi(fastapi_app.app)
    # The hook is registered by asgi(), during init: registered in the first invocation, it
    # would come after Lambda closed extension registration, and the runtime could not get
    # its shutdown phase (no SIGTERM on AWS without an extension).
    assert len(_hooks._shutdown_hooks) == len(hooks_before) + 1
    startups = len(fastapi_app.STARTUPS)
    event = load_event("apigw-rest-v1.json")
    first = json.loads(loop.run_until_complete(handler(event, CONTEXT))["body"])
    second = json.loads(loop.run_until_complete(handler(event, CONTEXT))["body"])
    assert len(fastapi_app.STARTUPS) == startups + 1
    assert first["pool"] == second["pool"] == f"pool-{startups + 1}"

    hooks = [hook for hook in _hooks._shutdown_hooks if hook not in hooks_before]
    assert len(hooks) == 1
    shutdowns = len(fastapi_app.SHUTDOWNS)
    hooks[0]()  # what the runtime does on SIGTERM, between invocations
    assert len(fastapi_app.SHUTDOWNS) == shutdowns + 1


def test_lifespan_off_never_starts(loop: asyncio.AbstractEventLoop) -> None:
    fastapi_app = load_app("fastapi_app")
    startups = len(fastapi_app.STARTUPS)
    hooks_before = list(_hooks._shutdown_hooks)
    handler = web.asgi(fastapi_app.app, lifespan="off")
    result = loop.run_until_complete(handler(get_event("function-url.json", "/hello"), CONTEXT))
    assert json.loads(result["body"]) == {"message": "hello"}
    assert len(fastapi_app.STARTUPS) == startups
    assert _hooks._shutdown_hooks == hooks_before  # no hook: no shutdown phase asked for


def test_an_app_without_lifespan_support_runs_under_auto(
    loop: asyncio.AbstractEventLoop, raw: ModuleType
) -> None:
    hooks_before = list(_hooks._shutdown_hooks)
    handler = web.asgi(raw.echo)  # asserts scope["type"] == "http"
    for _ in range(2):
        result = loop.run_until_complete(handler(load_event("alb.json"), CONTEXT))
        assert result["statusCode"] == 201
    # Under "auto" the hook is registered at asgi() time, before anyone can know whether the
    # app supports lifespan (only startup tells, and it runs in the first invocation, after
    # Lambda closed registration): for an app without it the hook does nothing.
    hook = registered_hook(hooks_before)
    hook()
    assert hook.__self__._task.done()


def test_an_app_without_lifespan_support_fails_under_on(
    loop: asyncio.AbstractEventLoop, raw: ModuleType
) -> None:
    with pytest.raises(LifespanError, match="raised AssertionError"):
        loop.run_until_complete(web.asgi(raw.echo, lifespan="on")(load_event("alb.json"), CONTEXT))
    with pytest.raises(LifespanError, match="returned before completing"):
        loop.run_until_complete(
            web.asgi(raw.never_starts, lifespan="on")(load_event("alb.json"), CONTEXT)
        )


def test_a_failed_startup_fails_the_invocation_and_is_tried_again(
    loop: asyncio.AbstractEventLoop,
) -> None:
    from fastapi import FastAPI

    attempts = []

    async def flaky(app: FastAPI) -> AsyncIterator[None]:
        attempts.append(True)
        if len(attempts) == 1:
            raise ConnectionRefusedError("database not up yet")
        yield

    from contextlib import asynccontextmanager

    app = FastAPI(lifespan=asynccontextmanager(flaky))
    app.get("/hello")(lambda: {"message": "hello"})
    handler = web.asgi(app)
    event = get_event("function-url.json", "/hello")
    with pytest.raises(LifespanError, match="database not up yet"):
        loop.run_until_complete(handler(event, CONTEXT))
    result = loop.run_until_complete(handler(event, CONTEXT))
    assert json.loads(result["body"]) == {"message": "hello"}
    assert len(attempts) == 2


def test_lifespan_is_shared_by_concurrent_first_invocations(
    loop: asyncio.AbstractEventLoop,
) -> None:
    fastapi_app = load_app("fastapi_app")
    handler = web.asgi(fastapi_app.app)
    startups = len(fastapi_app.STARTUPS)
    event = get_event("function-url.json", "/hello")

    async def both() -> list[Any]:
        return list(await asyncio.gather(handler(event, CONTEXT), handler(event, CONTEXT)))

    results = loop.run_until_complete(both())
    assert [r["statusCode"] for r in results] == [200, 200]
    assert len(fastapi_app.STARTUPS) == startups + 1


def lifespan_app(
    log: list[str], *, startup: str = "complete", shutdown: str = "complete", delay: float = 0
) -> Any:
    """A raw ASGI app with a lifespan that answers as told, and answers requests with its
    lifespan state."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            log.append((await receive())["type"])
            scope["state"]["connections"] = ["db"]
            await send({"type": f"lifespan.startup.{startup}", "message": "no database"})
            if startup == "failed":
                return
            log.append((await receive())["type"])
            await asyncio.sleep(delay)
            await send({"type": f"lifespan.shutdown.{shutdown}", "message": "pool stuck"})
            return
        state = scope["state"]
        state["mine"] = True  # a copy per request: the next one does not see this
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps(sorted(state)).encode()})

    return app


def registered_hook(before: list[Any]) -> Any:
    (hook,) = [hook for hook in _hooks._shutdown_hooks if hook not in before]
    return hook


def test_lifespan_state_is_copied_into_each_request(loop: asyncio.AbstractEventLoop) -> None:
    log: list[str] = []
    handler = web.asgi(lifespan_app(log))
    event = load_event("alb.json")
    for _ in range(2):
        result = loop.run_until_complete(handler(event, CONTEXT))
        assert json.loads(result["body"]) == ["connections", "mine"]
    assert log == ["lifespan.startup"]


def test_startup_failed_is_an_error_even_under_auto(loop: asyncio.AbstractEventLoop) -> None:
    log: list[str] = []
    handler = web.asgi(lifespan_app(log, startup="failed"))
    for _ in range(2):
        with pytest.raises(LifespanError, match="no database"):
            loop.run_until_complete(handler(load_event("alb.json"), CONTEXT))
    assert log == ["lifespan.startup", "lifespan.startup"]


def test_shutdown_failures_and_timeouts_are_reported(
    loop: asyncio.AbstractEventLoop, capsys: pytest.CaptureFixture[str]
) -> None:
    before = list(_hooks._shutdown_hooks)
    failing = web.asgi(lifespan_app([], shutdown="failed"))
    loop.run_until_complete(failing(load_event("alb.json"), CONTEXT))
    with pytest.raises(LifespanError, match="shutdown failed: pool stuck"):
        registered_hook(before)()

    before = list(_hooks._shutdown_hooks)
    log: list[str] = []
    slow = web.asgi(lifespan_app(log, delay=5))
    loop.run_until_complete(slow(load_event("alb.json"), CONTEXT))
    hook = registered_hook(before)
    started = time.monotonic()
    loop.run_until_complete(hook.__self__.shutdown(timeout=0.05))
    assert time.monotonic() - started < 1
    assert "lifespan shutdown took over 0.05 s" in capsys.readouterr().err
    assert log == ["lifespan.startup", "lifespan.shutdown"]
    hook()  # a second shutdown finds the task gone and does nothing


def test_shutdown_hook_skips_a_busy_or_closed_loop(
    loop: asyncio.AbstractEventLoop, capsys: pytest.CaptureFixture[str]
) -> None:
    before = list(_hooks._shutdown_hooks)
    log: list[str] = []
    handler = web.asgi(lifespan_app(log))
    loop.run_until_complete(handler(load_event("alb.json"), CONTEXT))
    hook = registered_hook(before)

    async def sigterm_mid_invocation() -> None:
        hook()

    loop.run_until_complete(sigterm_mid_invocation())
    assert "shutdown skipped: the event loop is busy" in capsys.readouterr().err
    assert log == ["lifespan.startup"]
    other = asyncio.new_event_loop()
    other.close()
    hook.__self__._loop = other
    hook()  # a closed loop: nothing to do
    assert log == ["lifespan.startup"]


def test_a_new_event_loop_starts_the_lifespan_again(loop: asyncio.AbstractEventLoop) -> None:
    log: list[str] = []
    handler = web.asgi(lifespan_app(log))
    loop.run_until_complete(handler(load_event("alb.json"), CONTEXT))
    other = asyncio.new_event_loop()
    try:
        other.run_until_complete(handler(load_event("alb.json"), CONTEXT))
    finally:
        close_loop(other)
    assert log == ["lifespan.startup", "lifespan.startup"]


# --- real frameworks ------------------------------------------------------------------------


@each_source
def test_fastapi_json_path_and_query_parameters(
    case: Case, loop: asyncio.AbstractEventLoop
) -> None:
    fastapi_app = load_app("fastapi_app")
    result = loop.run_until_complete(fastapi_app.handler(load_event(case.fixture), CONTEXT))
    assert result["statusCode"] == 200, result["body"]
    answer = json.loads(result["body"])
    assert answer["item_id"] == 42
    assert answer["tags"] == case.tags
    assert answer["payload"] == {"name": "widget"}
    assert answer["session"] == "abc123"
    assert answer["pool"].startswith("pool-")
    assert answer["url"] == f"https://{case.host}{case.root_path}/items/42"

    search = get_event(case.fixture, "/search?q=lambda&limit=3")
    result = loop.run_until_complete(fastapi_app.handler(search, CONTEXT))
    assert json.loads(result["body"]) == {"q": "lambda", "limit": 3}


@each_source
def test_fastapi_cookies_and_404(case: Case, loop: asyncio.AbstractEventLoop) -> None:
    fastapi_app = load_app("fastapi_app")
    result = loop.run_until_complete(
        fastapi_app.handler(get_event(case.fixture, "/login"), CONTEXT)
    )
    cookies = response_headers(result)["set-cookie"]
    assert sorted(cookie.split(";")[0] for cookie in cookies) == ["session=s3cr3t", "theme=dark"]
    missing = loop.run_until_complete(
        fastapi_app.handler(get_event(case.fixture, "/nowhere"), CONTEXT)
    )
    assert missing["statusCode"] == 404


def test_fastapi_validation_error(loop: asyncio.AbstractEventLoop) -> None:
    fastapi_app = load_app("fastapi_app")
    event = get_event("apigw-http-v2.json", "/search?limit=many")
    result = loop.run_until_complete(fastapi_app.handler(event, CONTEXT))
    assert result["statusCode"] == 422


@each_source
def test_flask_json_and_url_for(case: Case) -> None:
    flask_app = load_app("flask_app")
    result = flask_app.handler(get_event(case.fixture, "/hello"), CONTEXT)
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {
        "message": "hello",
        "url": f"https://{case.host}{case.root_path}/hello",
    }


@each_source
def test_flask_form_post(case: Case) -> None:
    flask_app = load_app("flask_app")
    event = get_event(case.fixture, "/form", "POST")
    form = b"name=Ada+Lovelace&colour=red&colour=blue"
    event = set_body(event, form, base64_encoded=case.source is Source.FUNCTION_URL)
    for name in list(event.get("headers") or {}):
        if name.lower() == "content-type":
            event["headers"][name] = "application/x-www-form-urlencoded"
    for name in list(event.get("multiValueHeaders") or {}):
        if name.lower() == "content-type":
            event["multiValueHeaders"][name] = ["application/x-www-form-urlencoded"]
    result = flask_app.handler(event, CONTEXT)
    assert result["statusCode"] == 200, result["body"]
    assert json.loads(result["body"]) == {"name": "Ada Lovelace", "colours": ["red", "blue"]}


@each_source
def test_flask_cookies_set_and_read(case: Case) -> None:
    flask_app = load_app("flask_app")
    login = flask_app.handler(get_event(case.fixture, "/login"), CONTEXT)
    cookies = response_headers(login)["set-cookie"]
    assert sorted(cookie.split(";")[0] for cookie in cookies) == ["session=s3cr3t", "theme=dark"]
    if case.source is Source.API_GATEWAY_V1:
        assert len(login["multiValueHeaders"]["set-cookie"]) == 2
    elif case.source is not Source.ALB:
        assert len(login["cookies"]) == 2

    whoami = flask_app.handler(get_event(case.fixture, "/whoami"), CONTEXT)
    assert json.loads(whoami["body"]) == {"session": "abc123", "theme": "dark"}


@each_source
def test_flask_404(case: Case) -> None:
    flask_app = load_app("flask_app")
    result = flask_app.handler(get_event(case.fixture, "/nowhere"), CONTEXT)
    assert result["statusCode"] == 404
    assert "Not Found" in result["body"]
    if case.source is Source.ALB:
        assert result["statusDescription"] == "404 Not Found"


# --- in the real runtime ---------------------------------------------------------------------


def test_in_the_runtime_lifespan_runs_once_per_process_and_shuts_down_on_sigterm() -> None:
    import signal

    from tests.helpers import RuntimeProcess
    from tests.stub import StubRuntimeAPI

    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("fastapi_app.handler", api.address, cwd=APPS) as runtime,
    ):
        api.push(load_event("apigw-rest-v1.json"))
        api.push(get_event("alb.json", "/hello"))
        first, second = api.wait_for_answers(2)
        api.wait_for_next(3)
        runtime.process.send_signal(signal.SIGTERM)
        assert runtime.wait() == 0
    assert json.loads(first.json()["body"])["url"] == (  # type: ignore[index]
        "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/items/42"
    )
    assert second.json()["statusDescription"] == "200 OK"  # type: ignore[index]
    assert runtime.stdout.count("lifespan startup") == 1
    assert runtime.stdout.count("lifespan shutdown") == 1
    # The internal extension that gets the runtime its SIGTERM on AWS registered during init,
    # before the first /next closed registration (the hook comes from asgi(), at import).
    paths = [request.path for request in api.requests]
    register = paths.index("/2020-01-01/extension/register")
    assert register < paths.index("/2018-06-01/runtime/invocation/next")


def test_in_the_runtime_server_sent_events_go_out_one_chunk_each() -> None:
    from tests.helpers import RuntimeProcess
    from tests.stub import StubRuntimeAPI

    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("fastapi_app.streaming_handler", api.address, cwd=APPS),
    ):
        api.push(get_event("function-url.json", "/events"))
        (answer,) = api.wait_for_answers(1)
    assert answer.header("Lambda-Runtime-Function-Response-Mode") == "streaming"
    prelude, _, first = answer.chunks[0].partition(b"\x00" * 8)
    assert json.loads(prelude)["statusCode"] == 200
    assert [first, *answer.chunks[1:]] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]
    assert answer.trailers == {}


# --- import cost ----------------------------------------------------------------------------


def test_wsgi_does_not_import_asyncio() -> None:
    import subprocess

    code = """if True:
        import sys
        from lambdakit.runtime.web import wsgi

        def app(environ, start_response):
            start_response("204 No Content", [])
            return []

        event = {"requestContext": {"elb": {}}, "httpMethod": "GET", "path": "/", "headers": {}}
        assert wsgi(app)(event, None)["statusCode"] == 204
        print(sorted(name for name in sys.modules if name.startswith("asyncio")))
    """
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, text=True)
    assert out.stdout.strip() == "[]"
