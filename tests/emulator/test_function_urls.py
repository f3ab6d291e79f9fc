"""Function URLs: HTTP request -> payload format 2.0 event, function result -> HTTP response,
and the prelude of streamed HTTP responses. Pure functions, tested with tables of cases."""

from __future__ import annotations

import base64
import calendar
import json
from typing import Any

import pytest

from lambdakit.emulator.function_urls import (
    BAD_GATEWAY,
    HTTP_INTEGRATION,
    MAX_PRELUDE,
    HttpResponse,
    Prelude,
    PreludeError,
    PreludeParser,
    buffered_response,
    forbidden,
    iam_authorizer,
    is_text,
    prelude_headers,
    request_event,
)

# 12/Mar/2020:19:03:58.390 UTC, the docs' example time.
NOW = calendar.timegm((2020, 3, 12, 19, 3, 58)) + 0.390
BASE_HEADERS = [("Host", "127.0.0.1:9000"), ("User-Agent", "curl/8.5.0"), ("Accept", "*/*")]


def event(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "method": "GET",
        "target": "/",
        "headers": BASE_HEADERS,
        "body": b"",
        "source_ip": "203.0.113.9",
        "request_id": "a1b2c3d4-0000-4000-8000-000000000000",
        "url_id": "abcdefghijklmnopqrstuvwxyz012345",
        "now": NOW,
    }
    arguments.update(overrides)
    result = request_event(**arguments)
    json.dumps(result)  # it must be serialisable as it is
    return dict(result)


# --- the request event ------------------------------------------------------------------------


def test_a_complete_event() -> None:
    """Every field of one request, against the documented shape."""
    assert event(
        method="POST",
        target="/my/path?parameter1=value1&parameter1=value2&parameter2=value",
        headers=[
            *BASE_HEADERS,
            ("Content-Type", "text/plain"),
            ("Cookie", "cookie1=a; cookie2=b"),
            ("Header2", "value1"),
            ("header2", "value2"),
        ],
        body=b"Hello from client!",
    ) == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/my/path",
        "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
        "cookies": ["cookie1=a", "cookie2=b"],
        "headers": {
            "host": "127.0.0.1:9000",
            "user-agent": "curl/8.5.0",
            "accept": "*/*",
            "content-type": "text/plain",
            "header2": "value1,value2",
            "x-forwarded-for": "203.0.113.9",
            "x-forwarded-proto": "http",
            "x-forwarded-port": "9000",
        },
        "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "abcdefghijklmnopqrstuvwxyz012345",
            "domainName": "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnopqrstuvwxyz012345",
            "http": {
                "method": "POST",
                "path": "/my/path",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "a1b2c3d4-0000-4000-8000-000000000000",
            "routeKey": "$default",
            "stage": "$default",
            "time": "12/Mar/2020:19:03:58 +0000",
            "timeEpoch": 1584039838390,
        },
        "body": "Hello from client!",
        "isBase64Encoded": False,
    }


QUERIES = {
    "repeated parameters": (
        "/search?tag=a&tag=b&tag=c",
        "tag=a&tag=b&tag=c",
        {"tag": "a,b,c"},
    ),
    "decoded values, raw string kept": (
        "/?multiQuery=foo&multiQuery=%2Fbar&q=hello+world&u=%C3%A9",
        "multiQuery=foo&multiQuery=%2Fbar&q=hello+world&u=%C3%A9",
        {"multiQuery": "foo,/bar", "q": "hello world", "u": "\u00e9"},
    ),
    "blank and bare parameters": (
        "/?empty=&flag&&x=1",
        "empty=&flag&&x=1",
        {"empty": "", "flag": "", "x": "1"},
    ),
    "encoded name": ("/?a%20b=1&a+b=2", "a%20b=1&a+b=2", {"a b": "1,2"}),
    "no query": ("/path", "", None),
    "empty query": ("/path?", "", None),
}


@pytest.mark.parametrize(("target", "raw", "parameters"), QUERIES.values(), ids=QUERIES.keys())
def test_query_strings(target: str, raw: str, parameters: dict[str, str] | None) -> None:
    result = event(target=target)
    assert result["rawQueryString"] == raw
    assert result.get("queryStringParameters") == parameters


PATHS = {
    "plain": ("/a/b", "/a/b"),
    "root": ("/", "/"),
    "percent-escapes stay raw": ("/pa2%Fth/1", "/pa2%Fth/1"),
    "encoded unicode": ("/caf%C3%A9/%E2%98%83", "/caf%C3%A9/%E2%98%83"),
    "unicode text is encoded": ("/caf\u00e9/\u2603", "/caf%C3%A9/%E2%98%83"),
    "raw UTF-8 bytes are encoded": (b"/caf\xc3\xa9?q=\xc3\xa9", "/caf%C3%A9"),
    "invalid UTF-8 bytes are encoded": (b"/\xff\xfe", "/%FF%FE"),
    "reserved characters": ("/a;b,c=d+e@f:g!$&'()*", "/a;b,c=d+e@f:g!$&'()*"),
}


@pytest.mark.parametrize(("target", "path"), PATHS.values(), ids=PATHS.keys())
def test_paths_are_raw(target: str | bytes, path: str) -> None:
    result = event(target=target)
    assert result["rawPath"] == path
    assert result["requestContext"]["http"]["path"] == path


def test_raw_utf8_query_is_encoded_but_decoded_in_parameters() -> None:
    result = event(target=b"/p?q=\xc3\xa9")
    assert result["rawQueryString"] == "q=%C3%A9"
    assert result["queryStringParameters"] == {"q": "\u00e9"}


HEADERS = {
    "repeated headers are joined": (
        [("X-Custom", "1"), ("x-custom", "2"), ("X-CUSTOM", "3")],
        {"x-custom": "1,2,3"},
        None,
    ),
    "names are lower-cased": (
        [("Content-Type", "text/plain"), ("ETag", "x")],
        {"content-type": "text/plain", "etag": "x"},
        None,
    ),
    "cookies become a list": (
        [("Cookie", "a=1; b=2"), ("Cookie", "c=3")],
        {},
        ["a=1", "b=2", "c=3"],
    ),
    "tolerant cookie splitting": ([("cookie", "a=1;b=2;  ; c=3")], {}, ["a=1", "b=2", "c=3"]),
    "an existing x-forwarded-for is extended": (
        [("X-Forwarded-For", "198.51.100.1")],
        {"x-forwarded-for": "198.51.100.1, 203.0.113.9"},
        None,
    ),
    "the client's x-forwarded-proto is kept": (
        [("X-Forwarded-Proto", "https")],
        {"x-forwarded-proto": "https"},
        None,
    ),
}


@pytest.mark.parametrize(("extra", "expected", "cookies"), HEADERS.values(), ids=HEADERS.keys())
def test_headers(
    extra: list[tuple[str, str]], expected: dict[str, str], cookies: list[str] | None
) -> None:
    result = event(headers=[*BASE_HEADERS, *extra])
    for name, value in expected.items():
        assert result["headers"][name] == value
    assert "cookie" not in result["headers"]
    assert result.get("cookies") == cookies


def test_forwarded_port_defaults_to_80_without_one_in_host() -> None:
    result = event(headers=[("Host", "localhost")])
    assert result["headers"]["x-forwarded-port"] == "80"
    assert result["requestContext"]["http"]["userAgent"] == ""


BINARY = bytes(range(256))
BODIES = {
    "empty body: no body key": (None, b"", None, False),
    "JSON": ("application/json", b'{"k": "v\xc3\xa4"}', '{"k": "v\u00e4"}', False),
    "JSON with charset": ("Application/JSON; charset=utf-8", b"[1, 2]", "[1, 2]", False),
    "plain text": ("text/plain", b"hello", "hello", False),
    "html": ("text/html; charset=utf-8", "<p>\u00e9</p>".encode(), "<p>\u00e9</p>", False),
    "binary": ("application/octet-stream", BINARY, base64.b64encode(BINARY).decode(), True),
    "image": ("image/png", b"\x89PNG\r\n", base64.b64encode(b"\x89PNG\r\n").decode(), True),
    "text that is not UTF-8": (
        "text/plain",
        b"caf\xe9",
        base64.b64encode(b"caf\xe9").decode(),
        True,
    ),
    "form": ("application/x-www-form-urlencoded", b"a=1&b=2", "YT0xJmI9Mg==", True),
    "multipart": ("multipart/form-data; boundary=x", b"--x--", "LS14LS0=", True),
    "xml": ("application/xml", b"<a/>", "PGEvPg==", True),
    "no content type": (None, b"{}", "e30=", True),
}


@pytest.mark.parametrize(
    ("content_type", "body", "text", "encoded"), BODIES.values(), ids=BODIES.keys()
)
def test_bodies(content_type: str | None, body: bytes, text: str | None, encoded: bool) -> None:
    headers = [*BASE_HEADERS, *([("Content-Type", content_type)] if content_type else [])]
    result = event(method="POST", headers=headers, body=body)
    assert result.get("body") == text
    assert result["isBase64Encoded"] is encoded
    if encoded:
        assert base64.b64decode(result["body"]) == body


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/plain", True),
        ("text/event-stream", True),
        ("application/json", True),
        ("APPLICATION/JSON ; x=y", True),
        ("application/ld+json", False),
        ("application/javascript", False),
        ("", False),
        (None, False),
    ],
)
def test_is_text(content_type: str | None, text: bool) -> None:
    assert is_text(content_type) is text


TIMES = {
    "the docs' example": (1631055022.677, "07/Sep/2021:22:50:22 +0000", 1631055022677),
    "the epoch": (0.0, "01/Jan/1970:00:00:00 +0000", 0),
    "end of a year": (
        calendar.timegm((2025, 12, 31, 23, 59, 59)),
        "31/Dec/2025:23:59:59 +0000",
        1767225599000,
    ),
}


@pytest.mark.parametrize(("now", "text", "epoch"), TIMES.values(), ids=TIMES.keys())
def test_times(now: float, text: str, epoch: int) -> None:
    context = event(now=now)["requestContext"]
    assert (context["time"], context["timeEpoch"]) == (text, epoch)


def test_the_clock_is_read_when_no_time_is_given() -> None:
    assert event(now=None)["requestContext"]["timeEpoch"] > 1_700_000_000_000


def test_region_and_host() -> None:
    assert event(region="eu-west-1")["requestContext"]["domainName"] == (
        "abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws"
    )
    assert event(host="127.0.0.1:9000")["requestContext"]["domainName"] == "127.0.0.1:9000"


# --- AWS_IAM ----------------------------------------------------------------------------------


def test_iam_authorizer() -> None:
    """The identity of a verified signer (signatures themselves: tests/emulator/test_sigv4.py)."""
    identity = iam_authorizer("AKIAIOSFODNN7EXAMPLE", account_id="111122223333")["iam"]
    assert identity["accessKey"] == "AKIAIOSFODNN7EXAMPLE"
    assert identity["accountId"] == "111122223333"
    assert identity["userArn"].startswith("arn:aws:iam::111122223333:")
    assert identity["cognitoIdentity"] is None and identity["principalOrgId"] is None


def test_an_iam_event_carries_the_authorizer_and_the_owner_account() -> None:
    authorizer = iam_authorizer("AKIAIOSFODNN7EXAMPLE")
    context = event(authorizer=authorizer, account_id="444455556666")["requestContext"]
    assert context["authorizer"] == authorizer
    assert context["accountId"] == "444455556666"
    assert "authorizer" not in event()["requestContext"]


def test_forbidden() -> None:
    response = forbidden()
    assert response.status == 403
    assert ("x-amzn-ErrorType", "AccessDeniedException") in response.headers
    assert json.loads(response.body)["Message"].startswith("Forbidden.")


# --- buffered responses -----------------------------------------------------------------------

JSON_CT = ("content-type", "application/json")
PNG = b"\x89PNG\r\n\x1a\n\x00"


def dump(document: object) -> bytes:
    return json.dumps(document).encode()


RESPONSES: dict[str, tuple[bytes, HttpResponse]] = {
    "full form with cookies and a base64 body": (
        dump(
            {
                "statusCode": 201,
                "headers": {"Content-Type": "image/png", "X-Custom": "v"},
                "cookies": ["a=1; Max-Age=10", "b=2; Secure"],
                "body": base64.b64encode(PNG).decode(),
                "isBase64Encoded": True,
            }
        ),
        HttpResponse(
            201,
            [
                ("content-type", "image/png"),
                ("x-custom", "v"),
                ("set-cookie", "a=1; Max-Age=10"),
                ("set-cookie", "b=2; Secure"),
            ],
            PNG,
        ),
    ),
    "statusCode and body only: JSON content type": (
        dump({"statusCode": 200, "body": "body123"}),
        HttpResponse(200, [JSON_CT], b"body123"),
    ),
    "a string statusCode": (
        dump({"statusCode": "418", "body": "i'm a teapot"}),
        HttpResponse(418, [JSON_CT], b"i'm a teapot"),
    ),
    "no body": (dump({"statusCode": 204}), HttpResponse(204, [JSON_CT], b"")),
    "null body": (dump({"statusCode": 200, "body": None}), HttpResponse(200, [JSON_CT], b"")),
    "unicode body": (
        dump({"statusCode": 200, "body": "\u00e9\u2603"}),
        HttpResponse(200, [JSON_CT], "\u00e9\u2603".encode()),
    ),
    "an object body is sent as JSON": (
        dump({"statusCode": 200, "body": {"a": [1, "\u00e9"]}}),
        HttpResponse(200, [JSON_CT], '{"a":[1,"\u00e9"]}'.encode()),
    ),
    "base64 with line breaks": (
        dump({"statusCode": 200, "body": "aGVs\nbG8=\n", "isBase64Encoded": True}),
        HttpResponse(200, [JSON_CT], b"hello"),
    ),
    "isBase64Encoded false": (
        dump({"statusCode": 200, "body": "aGk=", "isBase64Encoded": False}),
        HttpResponse(200, [JSON_CT], b"aGk="),
    ),
    "scalar and null header values": (
        dump(
            {
                "statusCode": 200,
                "headers": {"X-Num": 3, "X-Bool": True, "X-Float": 1.5, "X-Null": None},
            }
        ),
        HttpResponse(200, [("x-num", "3"), ("x-bool", "true"), ("x-float", "1.5"), JSON_CT], b""),
    ),
    "empty cookies": (dump({"statusCode": 200, "cookies": []}), HttpResponse(200, [JSON_CT], b"")),
    # Inferred: valid JSON without statusCode is a 200 application/json, body as it came.
    "inferred: object": (b'{"hello":"world"}', HttpResponse(200, [JSON_CT], b'{"hello":"world"}')),
    "inferred: object with a statusCode inside the body": (
        b'{"body": {"statusCode": 500}}',
        HttpResponse(200, [JSON_CT], b'{"body": {"statusCode": 500}}'),
    ),
    "inferred: list": (b'["hello",3,true]', HttpResponse(200, [JSON_CT], b'["hello",3,true]')),
    "inferred: number": (b"3", HttpResponse(200, [JSON_CT], b"3")),
    "inferred: float": (b"3.1", HttpResponse(200, [JSON_CT], b"3.1")),
    "inferred: boolean": (b"true", HttpResponse(200, [JSON_CT], b"true")),
    "inferred: null": (b"null", HttpResponse(200, [JSON_CT], b"null")),
    # A JSON string is unwrapped (AWS, recorded by LocalStack: "hello" -> Content-Length 5).
    "inferred: string": (b'"hello"', HttpResponse(200, [JSON_CT], b"hello")),
    "inferred: unicode string": (
        b'"\\u00e9\\n"',
        HttpResponse(200, [JSON_CT], "\u00e9\n".encode()),
    ),
}


@pytest.mark.parametrize(("payload", "expected"), RESPONSES.values(), ids=RESPONSES.keys())
def test_buffered_responses(payload: bytes, expected: HttpResponse) -> None:
    assert buffered_response(payload, function_error=False) == expected


def test_a_function_error_is_a_bad_gateway() -> None:
    error = dump({"errorMessage": "boom", "errorType": "Exception", "stackTrace": []})
    assert buffered_response(error, function_error=True) == BAD_GATEWAY
    # ... even when the error body looks like an HTTP response.
    assert buffered_response(dump({"statusCode": 200}), function_error=True) == BAD_GATEWAY
    assert BAD_GATEWAY.status == 502
    assert BAD_GATEWAY.body == b"Internal Server Error"


MALFORMED = {
    "not JSON": b"hello",
    "empty": b"",
    "not UTF-8": b'"\xff"',
    "truncated JSON": b'{"statusCode": 200',
    "statusCode not a number": dump({"statusCode": "abc"}),
    "statusCode a superscript digit": dump({"statusCode": "\u00b2"}),
    "statusCode with spaces": dump({"statusCode": " 200"}),
    "statusCode below 100": dump({"statusCode": 99}),
    "statusCode above 599": dump({"statusCode": 600}),
    "statusCode boolean": dump({"statusCode": True}),
    "statusCode float": dump({"statusCode": 200.5}),
    "statusCode null": dump({"statusCode": None}),
    "headers not an object": dump({"statusCode": 200, "headers": ["a", "b"]}),
    "header value an object": dump({"statusCode": 200, "headers": {"x": {"y": 1}}}),
    "header value a list": dump({"statusCode": 200, "headers": {"x": ["a", "b"]}}),
    "header value with CRLF": dump({"statusCode": 200, "headers": {"x": "a\r\nInjected: 1"}}),
    "header name with a space": dump({"statusCode": 200, "headers": {"bad name": "x"}}),
    "empty header name": dump({"statusCode": 200, "headers": {"": "x"}}),
    "cookies a string": dump({"statusCode": 200, "cookies": "a=1"}),
    "cookies with a number": dump({"statusCode": 200, "cookies": ["a=1", 2]}),
    "cookie with a line break": dump({"statusCode": 200, "cookies": ["a=1\nb"]}),
    "invalid base64": dump({"statusCode": 200, "body": "not base64!", "isBase64Encoded": True}),
    "base64 without padding": dump({"statusCode": 200, "body": "aGk", "isBase64Encoded": True}),
    "base64 flag on an object body": dump({"statusCode": 200, "body": {}, "isBase64Encoded": True}),
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_results_are_a_bad_gateway(payload: bytes) -> None:
    assert buffered_response(payload, function_error=False) == BAD_GATEWAY


def test_a_buffered_http_integration_stream() -> None:
    prelude = dump(
        {"statusCode": 201, "headers": {"Content-Type": "text/html"}, "cookies": ["c=1"]}
    )
    payload = prelude + b"\x00" * 8 + b"<p>hi</p>\x00"
    response = buffered_response(payload, function_error=False, content_type=HTTP_INTEGRATION)
    assert response == HttpResponse(
        201, [("content-type", "text/html"), ("set-cookie", "c=1")], b"<p>hi</p>\x00"
    )
    broken = buffered_response(prelude, function_error=False, content_type=HTTP_INTEGRATION)
    assert broken == BAD_GATEWAY


# --- the streamed prelude ---------------------------------------------------------------------

DELIMITER = b"\x00" * 8
PRELUDE = dump(
    {"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-A": "b"}, "cookies": ["s=1"]}
)
EXPECTED_PRELUDE = Prelude(201, (("content-type", "text/plain"), ("x-a", "b")), ("s=1",))

STREAMS = {
    "with a body": (PRELUDE + DELIMITER + b"hello world", b"hello world"),
    "without a body": (PRELUDE + DELIMITER, b""),
    "NUL bytes in the body": (
        PRELUDE + DELIMITER + b"a\x00b" + DELIMITER + b"\x00",
        b"a\x00b" + DELIMITER + b"\x00",
    ),
    "a ninth NUL belongs to the body": (PRELUDE + DELIMITER + b"\x00", b"\x00"),
    "whitespace around the JSON": (b"  \n" + PRELUDE + b"\n" + DELIMITER + b"x", b"x"),
}


def feed_all(parser: PreludeParser, pieces: list[bytes]) -> tuple[list[Prelude], bytes]:
    preludes, body = [], b""
    for piece in pieces:
        prelude, data = parser.feed(piece)
        if prelude is not None:
            preludes.append(prelude)
        body += data
    return preludes, body


@pytest.mark.parametrize(("stream", "body"), STREAMS.values(), ids=STREAMS.keys())
def test_prelude_in_one_piece(stream: bytes, body: bytes) -> None:
    parser = PreludeParser()
    assert feed_all(parser, [stream]) == ([EXPECTED_PRELUDE], body)
    parser.eof()


@pytest.mark.parametrize(("stream", "body"), STREAMS.values(), ids=STREAMS.keys())
def test_prelude_byte_by_byte(stream: bytes, body: bytes) -> None:
    parser = PreludeParser()
    end = stream.index(DELIMITER) + len(DELIMITER)
    for i in range(len(stream)):
        prelude, data = parser.feed(stream[i : i + 1])
        # The prelude comes out with the byte that completes the delimiter, and only then.
        assert (prelude is not None) == (i == end - 1)
        assert parser.done == (i >= end - 1)
        assert data == (stream[i : i + 1] if i >= end else b"")
    parser.eof()
    assert feed_all(PreludeParser(), [stream[i : i + 1] for i in range(len(stream))]) == (
        [EXPECTED_PRELUDE],
        body,
    )


@pytest.mark.parametrize("cut", [1, 4, 7])
def test_delimiter_split_across_feeds(cut: int) -> None:
    stream = PRELUDE + DELIMITER + b"tail"
    split = len(PRELUDE) + cut
    assert feed_all(PreludeParser(), [stream[:split], stream[split:]]) == (
        [EXPECTED_PRELUDE],
        b"tail",
    )


def test_after_the_prelude_everything_is_body() -> None:
    parser = PreludeParser()
    parser.feed(b"{}" + DELIMITER)
    assert parser.feed(b"{}" + DELIMITER) == (None, b"{}" + DELIMITER)
    assert parser.feed(b"") == (None, b"")


DEFAULTS = {
    "empty object": (b"{}", Prelude(200, (), ())),
    "Node's 'status' key is not statusCode": (b'{"status": 404}', Prelude(200, (), ())),
    "string status": (b'{"statusCode": "503"}', Prelude(503, (), ())),
    "null headers and cookies": (b'{"headers": null, "cookies": null}', Prelude(200, (), ())),
}


@pytest.mark.parametrize(("json_text", "expected"), DEFAULTS.values(), ids=DEFAULTS.keys())
def test_prelude_defaults(json_text: bytes, expected: Prelude) -> None:
    assert PreludeParser().feed(json_text + DELIMITER) == (expected, b"")


BAD_PRELUDES = {
    "not JSON": (b"hello" + DELIMITER, "not JSON"),
    "empty": (DELIMITER, "not JSON"),
    "a list": (b"[1]" + DELIMITER, "not a JSON object"),
    "bad status": (b'{"statusCode": 1000}' + DELIMITER, "statusCode"),
    "headers not an object": (b'{"headers": "x"}' + DELIMITER, "headers"),
    "cookies not a list": (b'{"cookies": {"a": 1}}' + DELIMITER, "cookies"),
    "not UTF-8": (b'{"a": "\xff"}' + DELIMITER, "not JSON"),
}


@pytest.mark.parametrize(("stream", "problem"), BAD_PRELUDES.values(), ids=BAD_PRELUDES.keys())
def test_malformed_preludes(stream: bytes, problem: str) -> None:
    with pytest.raises(PreludeError, match=problem):
        PreludeParser().feed(stream)


def test_no_delimiter_within_16_kib() -> None:
    parser = PreludeParser()
    padding = b" " * (16 * 1024 - 1)
    assert parser.feed(padding) == (None, b"")
    with pytest.raises(PreludeError, match="no prelude delimiter"):
        parser.feed(b" ")


def test_no_delimiter_within_16_kib_byte_by_byte() -> None:
    parser = PreludeParser()
    for _ in range(16 * 1024 - 1):
        parser.feed(b"{")
    with pytest.raises(PreludeError):
        parser.feed(b"{")


def test_the_largest_prelude() -> None:
    largest = b"{}" + b" " * (MAX_PRELUDE - 2)
    assert PreludeParser().feed(largest + DELIMITER + b"x") == (Prelude(), b"x")
    with pytest.raises(PreludeError, match="the limit is"):
        PreludeParser().feed(largest + b" " + DELIMITER)


def test_a_stream_that_ends_inside_the_prelude() -> None:
    parser = PreludeParser()
    parser.feed(PRELUDE + DELIMITER[:7])
    with pytest.raises(PreludeError, match="ended inside the prelude"):
        parser.eof()


PRELUDE_HEADERS = {
    "headers and cookies": (
        EXPECTED_PRELUDE,
        [("content-type", "text/plain"), ("x-a", "b"), ("set-cookie", "s=1")],
    ),
    "default content type": (
        Prelude(200, (("x-a", "b"),), ("a=1", "b=2")),
        [
            ("x-a", "b"),
            ("content-type", "application/octet-stream"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ],
    ),
    "nothing": (Prelude(), [("content-type", "application/octet-stream")]),
}


@pytest.mark.parametrize(
    ("prelude", "headers"), PRELUDE_HEADERS.values(), ids=PRELUDE_HEADERS.keys()
)
def test_prelude_headers(prelude: Prelude, headers: list[tuple[str, str]]) -> None:
    assert prelude_headers(prelude) == headers
