"""The local API Gateway through a real ``lambdakit serve``: implicit REST and HTTP APIs
(tests/functions/apis), with httpx and curl as clients."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator

import pytest

from tests.emulator.conftest import Server
from tests.helpers import FUNCTIONS

httpx = pytest.importorskip("httpx", reason="httpx is not installed")

API_LINE = re.compile(r"lambdakit: (\S+) \((REST|HTTP) API[^)]*\): (http://[^/\s]+)")


def api_base(server: Server) -> str:
    """The API listener's address, from the start-up lines ``serve`` printed."""
    match = API_LINE.search(server.wait_for_output("  METHOD  PATH"))
    assert match, server.output()
    return match.group(3)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Server, str]]:
    server = Server(FUNCTIONS / "apis")
    yield server, api_base(server)
    server.stop()


@pytest.fixture(scope="module")
def client(served: tuple[Server, str]) -> Iterator[object]:
    with httpx.Client(base_url=served[1], timeout=30) as session:
        yield session


def curl(url: str, *args: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-case names, the last of each) and body, as curl got them."""
    done = subprocess.run(
        ["curl", "-s", "-i", *args, url],
        stdin=subprocess.DEVNULL, capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_start_up_lists_each_api_and_its_routes(served: tuple[Server, str]) -> None:
    output = served[0].output()
    assert "ServerlessRestApi (REST API, stage Prod)" in output
    assert "ServerlessHttpApi (HTTP API)" in output
    assert re.search(r"GET +/users/\{id\} +echo +1\.0 +-", output)
    assert re.search(r"ANY +/files/\{proxy\+\} +echo +1\.0", output)
    assert re.search(r"GET +/items/\{id\} +echo +2\.0", output)


def test_rest_event_path_parameters_and_headers(client: object) -> None:
    response = client.get("/users/42", params=[("a", "1"), ("a", "2")])  # type: ignore[attr-defined]
    assert response.status_code == 200
    event = response.json()
    assert event["resource"] == "/users/{id}" and event["path"] == "/users/42"
    assert event["pathParameters"] == {"id": "42"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["queryStringParameters"] == {"a": "2"}
    context = event["requestContext"]
    assert context["stage"] == "Prod" and context["path"] == "/Prod/users/42"
    assert response.headers["x-amzn-requestid"] == context["requestId"]
    assert response.headers["x-amz-apigw-id"] == context["extendedRequestId"]
    assert response.headers.get_list("x-multi") == ["a", "b"]
    assert response.headers["x-function"] == "echo"


def test_the_stage_is_optional(client: object) -> None:
    for path in ("/Prod/users/7", "/users/7"):
        event = client.get(path).json()  # type: ignore[attr-defined]
        assert event["requestContext"]["path"] == "/Prod/users/7", path
        assert event["path"] == "/users/7"


def test_greedy_proxy_takes_one_or_more_segments(client: object) -> None:
    event = client.post("/files/a/b/c.txt", content=b"x").json()  # type: ignore[attr-defined]
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["httpMethod"] == "POST" and event["body"] == "x"
    assert client.get("/files").status_code == 403  # type: ignore[attr-defined]


def test_http_api_payload_2_and_1(client: object) -> None:
    response = client.get("/items/7?x=1")  # type: ignore[attr-defined]
    event = response.json()
    assert event["version"] == "2.0" and event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/7" and event["rawQueryString"] == "x=1"
    assert event["pathParameters"] == {"id": "7"}
    assert response.headers["apigw-requestid"] == event["requestContext"]["requestId"]
    assert "x-amzn-requestid" not in response.headers
    event = client.get("/v1/items/8").json()  # type: ignore[attr-defined]
    assert event["version"] == "1.0" and event["pathParameters"] == {"id": "8"}


def test_http_api_infers_a_response_without_status(client: object) -> None:
    response = client.get("/inferred")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"route": "GET /inferred", "raw": "/inferred"}


def test_unknown_routes_with_curl(served: tuple[Server, str]) -> None:
    status, headers, body = curl(served[1] + "/nothing/here")
    assert (status, body) == (403, b'{"message":"Missing Authentication Token"}')
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    status, _, body = curl(served[1] + "/users/1", "-X", "DELETE")  # a resource, not its method
    assert (status, body) == (403, b'{"message":"Missing Authentication Token"}')


def test_malformed_results_and_function_errors(client: object) -> None:
    cases = {
        "/malformed": (502, b'{"message": "Internal server error"}'),
        "/fails": (502, b'{"message": "Internal server error"}'),
        "/fails-http": (500, b'{"message":"Internal Server Error"}'),
        "/no-status": (500, b'{"message":"Internal Server Error"}'),
    }
    for path, (status, body) in cases.items():
        response = client.get(path)  # type: ignore[attr-defined]
        assert (response.status_code, response.content) == (status, body), path


def test_integration_timeout(client: object, served: tuple[Server, str]) -> None:
    response = client.get("/slow")  # type: ignore[attr-defined]
    assert response.status_code == 504
    assert response.content == b'{"message": "Endpoint request timed out"}'
    response = client.get("/slow-http")  # type: ignore[attr-defined]
    assert (response.status_code, response.content) == (503, b'{"message":"Service Unavailable"}')


def test_bodies_over_10_mb_are_refused(served: tuple[Server, str], tmp_path: object) -> None:
    status, _, body = curl(served[1] + "/size", "--data-binary", "@-", "-H", "Expect:")
    assert (status, body) == (200, b"0")
    big = tmp_path / "big.bin"  # type: ignore[operator]
    big.write_bytes(b"a" * (10 * 1024 * 1024 + 1))
    status, _, body = curl(served[1] + "/size", "--data-binary", f"@{big}", "-H", "Expect:")
    assert (status, body) == (413, b'{"message":"Request Too Long"}')
    big.write_bytes(b"a" * 1000)
    status, _, body = curl(served[1] + "/size", "--data-binary", f"@{big}")
    assert (status, body) == (200, b"1000")


def test_each_request_is_logged(client: object, served: tuple[Server, str]) -> None:
    client.get("/users/log-me")  # type: ignore[attr-defined]
    line = served[0].wait_for_output("GET /users/log-me 200")
    assert re.search(r"lambdakit: GET /users/log-me 200 [\d.]+ ms", line)


def test_event_is_valid_json_for_a_binary_body(client: object) -> None:
    event = client.post("/files/upload", content=bytes(range(256))).json()  # type: ignore[attr-defined]
    assert json.dumps(event)  # the event survived the trip
    assert event["isBase64Encoded"] is True


def test_an_api_port_in_use_is_named_with_the_option_that_moves_it() -> None:
    import socket
    import sys

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "lambdakit", "serve", str(FUNCTIONS / "apis")]
        done = subprocess.run(
            [*command, "--port", "0", "--api-port", str(port)],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port} for the template's APIs" in done.stderr
    assert "choose another port with --api-port" in done.stderr
    assert "Traceback" not in done.stderr
