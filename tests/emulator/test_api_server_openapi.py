"""Explicit APIs through a real ``lambdakit serve`` (tests/functions/apis/openapi.yaml): a REST
API from an OpenAPI ``DefinitionBody`` with a named stage, a streaming route and SAM ``Cors``;
an HTTP API with ``CorsConfiguration``; and an HTTP-only template for HTTP API's 404."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulator.conftest import Server
from tests.emulator.test_api_server import api_base
from tests.helpers import FUNCTIONS

httpx = pytest.importorskip("httpx", reason="httpx is not installed")

HTTP_ONLY = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Echo:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: {code}
      Handler: app.echo
      Runtime: python3.12
      Events:
        Get:
          Type: HttpApi
          Properties: {{Path: /there, Method: get}}
"""


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    server = Server(FUNCTIONS / "apis" / "openapi.yaml")
    with httpx.Client(base_url=api_base(server), timeout=30) as session:
        yield session
    server.stop()


def test_openapi_route_with_a_named_stage(client: object) -> None:
    for path in ("/dev/hello/ann", "/hello/ann"):
        response = client.get(path)  # type: ignore[attr-defined]
        assert response.status_code == 200, path
        event = response.json()
        assert event["resource"] == "/hello/{name}" and event["pathParameters"] == {"name": "ann"}
        assert event["requestContext"]["stage"] == "dev"
        assert event["requestContext"]["path"] == "/dev/hello/ann"
    response = client.get("/dev/nothing")  # type: ignore[attr-defined]
    assert (response.status_code, response.content) == (
        403,
        b'{"message":"Missing Authentication Token"}',
    )


def test_a_streaming_rest_route_is_read_chunk_by_chunk(client: object) -> None:
    with client.stream("GET", "/dev/stream") as response:  # type: ignore[attr-defined]
        assert response.status_code == 201
        assert response.headers["x-streamed"] == "yes"
        assert response.headers["transfer-encoding"] == "chunked"
        assert "x-amzn-requestid" in response.headers
        chunks = list(response.iter_raw())
    assert chunks[0] == b"chunk 0\n"  # the first chunk came alone, before the function slept
    assert b"".join(chunks) == b"chunk 0\nchunk 1\nchunk 2\n"


def test_rest_cors_is_a_mock_options_method(client: object) -> None:
    preflight = {"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "GET"}
    response = client.options("/dev/hello/ann", headers=preflight)  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET,OPTIONS"
    assert response.headers["access-control-allow-headers"] == "X-Custom,Content-Type"
    assert "x-amzn-requestid" in response.headers
    # The proxy integration's own response gets no CORS headers from API Gateway.
    response = client.get("/dev/hello/ann", headers={"Origin": "https://a.example"})  # type: ignore[attr-defined]
    assert "access-control-allow-origin" not in response.headers
    response = client.options("/dev/nothing")  # type: ignore[attr-defined]
    assert response.status_code == 403  # no resource, no mock method


def test_http_api_cors_preflight_and_response_headers(client: object) -> None:
    origin = "https://app.example.com"
    preflight = {
        "Origin": origin,
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "x-custom",
    }
    response = client.options("/only", headers=preflight)  # type: ignore[attr-defined]
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-allow-methods"] == "GET,POST"
    assert response.headers["access-control-allow-headers"] == "x-custom"
    assert response.headers["access-control-max-age"] == "600"
    assert "apigw-requestid" in response.headers
    response = client.get("/only", headers={"Origin": origin})  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == origin
    assert response.headers["access-control-expose-headers"] == "x-function"
    response = client.get("/only", headers={"Origin": "https://evil.example"})  # type: ignore[attr-defined]
    assert "access-control-allow-origin" not in response.headers


def test_http_api_answers_404_for_an_unknown_route(tmp_path: Path) -> None:
    (tmp_path / "template.yaml").write_text(HTTP_ONLY.format(code=FUNCTIONS / "apis"))
    server = Server(tmp_path)
    try:
        with httpx.Client(base_url=api_base(server), timeout=30) as session:
            assert session.get("/there").status_code == 200
            response = session.get("/elsewhere")
            assert (response.status_code, response.content) == (404, b'{"message":"Not Found"}')
            assert session.get("/there/").status_code == 404  # a trailing slash is the path's
    finally:
        server.stop()
