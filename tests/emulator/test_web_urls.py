"""Web frameworks behind local Function URLs: FastAPI (with SSE streaming) and Flask."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.emulator.conftest import Server
from tests.helpers import FUNCTIONS


@pytest.fixture(scope="module")
def web() -> Iterator[Server]:
    server = Server(FUNCTIONS / "web")
    yield server
    server.stop()


def connect(server: Server, name: str) -> http.client.HTTPConnection:
    """A connection to the Function URL that ``lambdakit serve`` printed for ``name``."""
    prefix = f"lambdakit: {name} Function URL"
    output = server.wait_for_output(prefix)
    url = next(line.rsplit(" ", 1)[1] for line in output.splitlines() if line.startswith(prefix))
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)


def request(
    server: Server, name: str, method: str, target: str, **kwargs: object
) -> tuple[http.client.HTTPResponse, bytes]:
    connection = connect(server, name)
    connection.request(method, target, **kwargs)  # type: ignore[arg-type]
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def test_fastapi_routes_query_and_cookies(web: Server) -> None:
    response, body = request(web, "fastapi", "GET", "/search?q=lambda&limit=3")
    assert response.status == 200
    assert json.loads(body) == {"q": "lambda", "limit": 3}
    response, _ = request(web, "fastapi", "GET", "/login")
    assert response.getheader("set-cookie")


def test_fastapi_server_sent_events_stream(web: Server) -> None:
    request(web, "fastapi-streaming", "GET", "/hello")  # warm: the app's lifespan starts once
    connection = connect(web, "fastapi-streaming")
    start = time.monotonic()
    connection.request("GET", "/events")
    response = connection.getresponse()
    assert response.status == 200
    assert response.getheader("content-type", "").startswith("text/event-stream")
    assert response.getheader("transfer-encoding") == "chunked"
    events = response.read().decode()
    connection.close()
    assert [line for line in events.split("\n\n") if line] == ["data: 0", "data: 1", "data: 2"]
    assert time.monotonic() - start < 10


def test_fastapi_error_is_a_500_from_the_app(web: Server) -> None:
    response, _ = request(web, "fastapi", "GET", "/boom")
    assert response.status == 500


def test_flask_behind_a_buffered_url(web: Server) -> None:
    response, body = request(web, "flask", "GET", "/hello")
    assert response.status == 200 and json.loads(body)
    response, body = request(
        web, "flask", "POST", "/form", body=b"name=lambdakit",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert response.status == 200 and b"lambdakit" in body
    response, _ = request(web, "flask", "GET", "/nope")
    assert response.status == 404
