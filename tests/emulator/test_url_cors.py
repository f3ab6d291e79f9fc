"""Function URL ``Cors``: preflights answered by the URL, headers added to responses. The pure
functions with tables of cases, then a real ``lambdakit serve`` spoken to over HTTP."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from lambdakit.emulator.url_cors import CorsPolicy, cors_headers, is_preflight, preflight
from tests.emulator.conftest import Server
from tests.helpers import FUNCTIONS

ORIGIN = "https://app.example.com"
POLICY = CorsPolicy.from_template(
    {
        "AllowOrigins": [ORIGIN, "http://localhost:3000"],
        "AllowMethods": ["GET", "post"],
        "AllowHeaders": ["X-Custom", "Content-Type"],
        "ExposeHeaders": ["X-Result"],
        "AllowCredentials": True,
        "MaxAge": 300,
    }
)
ASK = [("Origin", ORIGIN), ("Access-Control-Request-Method", "POST")]


def test_the_template_mapping_becomes_a_policy() -> None:
    assert (
        CorsPolicy(
            allow_origins=(ORIGIN, "http://localhost:3000"),
            allow_methods=("GET", "POST"),
            allow_headers=("x-custom", "content-type"),
            expose_headers=("x-result",),
            allow_credentials=True,
            max_age=300,
        )
        == POLICY
    )


PREFLIGHTS = {
    "a preflight": ("OPTIONS", ASK, True),
    "lower-case names": ("OPTIONS", [(k.lower(), v) for k, v in ASK], True),
    "no Origin": ("OPTIONS", ASK[1:], False),
    "no request method": ("OPTIONS", ASK[:1], False),
    "not OPTIONS": ("POST", ASK, False),
}


@pytest.mark.parametrize(
    ("method", "headers", "expected"), PREFLIGHTS.values(), ids=PREFLIGHTS.keys()
)
def test_is_preflight(method: str, headers: list[tuple[str, str]], expected: bool) -> None:
    assert is_preflight(method, headers) is expected


def test_a_preflight_from_an_allowed_origin_gets_the_configured_lists() -> None:
    answer = preflight(POLICY, [*ASK, ("Access-Control-Request-Headers", "x-custom")])
    assert (answer.status, answer.body) == (200, b"")
    assert answer.headers == [
        ("Content-Type", "application/json"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Origin", ORIGIN),
        ("Access-Control-Allow-Headers", "x-custom,content-type"),
        ("Access-Control-Allow-Methods", "GET,POST"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Max-Age", "300"),
    ]


def test_a_preflight_from_another_origin_gets_no_cors_headers() -> None:
    answer = preflight(POLICY, [("Origin", "https://evil.example"), ASK[1]])
    assert answer.status == 200
    assert answer.headers == [("Content-Type", "application/json")]


def test_optional_settings_are_left_out_when_not_configured() -> None:
    policy = CorsPolicy.from_template({"AllowOrigins": [ORIGIN]})
    assert preflight(policy, ASK).headers == [
        ("Content-Type", "application/json"),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Origin", ORIGIN),
    ]
    assert cors_headers(policy, ASK[:1]) == [
        ("Vary", "Origin"),
        ("Access-Control-Allow-Origin", ORIGIN),
    ]


ORIGINS = {
    "listed": (POLICY, ORIGIN, ORIGIN),
    "listed, other case": (POLICY, "HTTPS://APP.EXAMPLE.COM", "HTTPS://APP.EXAMPLE.COM"),
    "another port": (POLICY, "http://localhost:3001", None),
    "a subdomain": (POLICY, "https://x.app.example.com", None),
    "a prefix": (POLICY, "https://app.example.co", None),
    "null": (POLICY, "null", None),
    "wildcard": (CorsPolicy(allow_origins=("*",)), "https://any.example", "*"),
    "wildcard with credentials echoes the origin": (
        CorsPolicy(allow_origins=("*",), allow_credentials=True),
        "https://any.example",
        "https://any.example",
    ),
    "a pattern is not a pattern": (
        CorsPolicy(allow_origins=("https://*.example.com",)),
        "https://a.example.com",
        None,
    ),
    "none configured": (CorsPolicy(), ORIGIN, None),
}


@pytest.mark.parametrize(("policy", "origin", "allowed"), ORIGINS.values(), ids=ORIGINS.keys())
def test_allowed_origin(policy: CorsPolicy, origin: str, allowed: str | None) -> None:
    assert policy.allowed_origin(origin) == allowed


def test_headers_added_to_an_ordinary_response() -> None:
    assert cors_headers(POLICY, [("Origin", ORIGIN)]) == [
        ("Vary", "Origin"),
        ("Access-Control-Allow-Origin", ORIGIN),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Expose-Headers", "x-result"),
    ]
    assert cors_headers(POLICY, [("Origin", "https://evil.example")]) == []
    assert cors_headers(POLICY, []) == []  # not a cross-origin request


# --- a real serve ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def urls() -> Iterator[Server]:
    server = Server(FUNCTIONS / "urls")
    yield server
    server.stop()


def url_of(server: Server, name: str) -> str:
    prefix = f"lambdakit: {name} Function URL"
    output = server.wait_for_output(prefix)
    return next(line.rsplit(" ", 1)[1] for line in output.splitlines() if line.startswith(prefix))


def send(
    server: Server, name: str, method: str, target: str = "/", headers: dict[str, str] | None = None
) -> tuple[http.client.HTTPResponse, bytes]:
    parts = urlsplit(url_of(server, name))
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    connection.request(method, target, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def invocations(server: Server, name: str, method: str) -> int:
    return server.output().count(f"invoked {method} {name}\n")


def test_a_preflight_is_answered_by_the_url_not_the_function(urls: Server) -> None:
    send(urls, "cors", "OPTIONS")  # not a preflight: the function gets it
    urls.wait_for_output("invoked OPTIONS cors")
    before = invocations(urls, "cors", "OPTIONS")
    ask = {"Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST"}
    response, body = send(urls, "cors", "OPTIONS", headers=ask)
    assert (response.status, body) == (200, b"")
    assert response.getheader("Access-Control-Allow-Origin") == "http://127.0.0.1:1"
    assert response.getheader("Access-Control-Allow-Methods") == "GET,POST"
    assert response.getheader("Access-Control-Allow-Headers") == "x-custom,content-type"
    assert response.getheader("Access-Control-Allow-Credentials") == "true"
    assert response.getheader("Access-Control-Max-Age") == "0"
    assert response.getheader("x-amzn-RequestId")
    send(urls, "cors", "GET")  # a marker in the output after the preflight
    urls.wait_for_output("invoked GET cors")
    assert invocations(urls, "cors", "OPTIONS") == before


def test_without_cors_a_preflight_goes_to_the_function(urls: Server) -> None:
    ask = {"Origin": "http://127.0.0.1:1", "Access-Control-Request-Method": "POST"}
    response, body = send(urls, "no-cors", "OPTIONS", headers=ask)
    assert response.status == 200 and json.loads(body)["method"] == "OPTIONS"
    assert response.getheader("Access-Control-Allow-Origin") is None


def test_an_allowed_origin_gets_the_headers_on_the_function_response(urls: Server) -> None:
    response, body = send(urls, "cors", "GET", headers={"Origin": "http://allowed.localhost:1"})
    assert response.status == 200 and json.loads(body)["method"] == "GET"
    assert response.getheader("Access-Control-Allow-Origin") == "http://allowed.localhost:1"
    assert response.getheader("Access-Control-Allow-Credentials") == "true"
    assert response.getheader("Access-Control-Expose-Headers") == "x-result"
    assert response.getheader("Vary") == "Origin"
    assert response.getheader("X-Result") == "ok"


def test_another_origin_gets_the_function_response_without_cors_headers(urls: Server) -> None:
    response, body = send(urls, "cors", "GET", headers={"Origin": "http://evil.localhost:1"})
    assert response.status == 200 and json.loads(body)["method"] == "GET"
    assert not [k for k, _ in response.getheaders() if k.lower().startswith("access-control-")]


def test_the_function_own_cors_headers_are_kept_beside_the_url_ones(urls: Server) -> None:
    """As Lambda does for non-preflight requests: both, even if that makes two values."""
    headers = {"Origin": "http://allowed.localhost:1"}
    response, _ = send(urls, "cors", "GET", "/?own=1", headers=headers)
    values = [v for k, v in response.getheaders() if k.lower() == "access-control-allow-origin"]
    assert values == ["http://own.localhost:1", "http://allowed.localhost:1"]


def test_a_wildcard_origin(urls: Server) -> None:
    response, _ = send(urls, "any-origin", "GET", headers={"Origin": "http://x.localhost:1"})
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    ask = {"Origin": "http://x.localhost:1", "Access-Control-Request-Method": "DELETE"}
    response, _ = send(urls, "any-origin", "OPTIONS", headers=ask)
    assert response.getheader("Access-Control-Allow-Methods") == "*"


def test_an_iam_url_answers_preflights_without_a_signature(urls: Server) -> None:
    ask = {"Origin": "http://x.localhost:1", "Access-Control-Request-Method": "GET"}
    response, _ = send(urls, "iam", "OPTIONS", headers=ask)
    assert response.status == 200
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    # ...but the request itself still needs one, and its 403 carries the CORS headers, so
    # that the page can read why.
    response, body = send(urls, "iam", "GET", headers={"Origin": "http://x.localhost:1"})
    assert response.status == 403 and json.loads(body)["Message"].startswith("Forbidden")
    assert response.getheader("Access-Control-Allow-Origin") == "*"
