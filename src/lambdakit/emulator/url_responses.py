"""Function URL responses as pure functions: the function's result -> the HTTP response.

- ``buffered_response`` turns the function's result into the HTTP response (``InvokeMode:
  BUFFERED``, the default).
- ``PreludeParser`` splits a streamed ``http-integration-response`` body into its JSON prelude
  (status, headers, cookies) and the body that follows (``InvokeMode: RESPONSE_STREAM``).

Sources, and how strong they are:

- [doc] https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html: the response
  shape, cookies as ``set-cookie``.
- [aws] LocalStack's ``TestLambdaURL`` snapshots, recorded against real AWS on 2025-11-24: a
  function error is ``502`` with the body ``Internal Server Error``; a result without
  ``statusCode`` is ``200`` ``application/json`` with the result as the body, *except* a JSON
  string, whose value is the body (``"hello"`` -> ``hello``, Content-Length 5: the docs' table,
  which shows the quotes, is wrong); a ``statusCode`` response without a content type gets
  ``application/json``; a string ``statusCode`` (``"418"``) works; a non-string ``body`` (a JSON
  object) is sent as JSON.

Exceptions::

    ValueError
    └── PreludeError   a streamed prelude that is too long, not JSON, or not the right shape
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lambdakit.emulator.url_events import JSON

__all__ = [
    "BAD_GATEWAY",
    "DELIMITER",
    "HTTP_INTEGRATION",
    "MAX_PRELUDE",
    "HttpResponse",
    "Prelude",
    "PreludeError",
    "PreludeParser",
    "buffered_response",
    "forbidden",
    "parse_prelude",
    "prelude_headers",
]

HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\x00" * 8
# The prelude and its delimiter must fit in 16 KiB. A port of Lambda's behaviour observed a
# 16,376-byte maximum for the JSON (lambda-wire-protocol.md §1.6, UNVERIFIED): 16 KiB - 8.
MAX_PRELUDE = 16 * 1024 - len(DELIMITER)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2


# --- buffered responses -----------------------------------------------------------------------


@dataclass(frozen=True)
class HttpResponse:
    """What the Function URL answers. The server adds Content-Length, Date and request ids."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


BAD_GATEWAY = HttpResponse(502, [("content-type", JSON)], b"Internal Server Error")
"""A function error, a timeout, or a result Lambda cannot read. Status and body are [aws];
the content type is our assumption (UNVERIFIED)."""


def forbidden() -> HttpResponse:
    """An unsigned request to an ``AWS_IAM`` URL. Body and error type are [aws] (the answer
    LocalStack recorded for a URL whose permission is gone)."""
    message = (
        "Forbidden. For troubleshooting Function URL authorization issues, see: "
        "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
    )
    body = json.dumps({"Message": message}, separators=(",", ":")).encode()
    return HttpResponse(
        403, [("content-type", JSON), ("x-amzn-ErrorType", "AccessDeniedException")], body
    )


class _Malformed(Exception):
    """The function's answer has a ``statusCode`` but the rest is not a valid response."""


def buffered_response(
    payload: bytes, *, function_error: bool, content_type: str | None = None
) -> HttpResponse:
    """The HTTP response for a function's result, as a ``BUFFERED`` Function URL builds it.

    - A function error (``X-Amz-Function-Error``: an exception, a timeout, a crash) -> 502.
    - A JSON object with ``statusCode`` -> that status, ``headers``, ``cookies`` (each one a
      ``set-cookie`` header) and ``body`` (base64-decoded when ``isBase64Encoded``); an invalid
      one (bad status, headers that are not strings, bad base64...) -> 502.
    - A JSON string -> 200, ``application/json``, the string's value as the body.
    - Any other JSON (object without ``statusCode``, list, number, boolean, null) -> 200,
      ``application/json``, the payload as it is.
    - Not JSON -> 502.

    A result streamed with the ``http-integration-response`` content type (a prelude and a
    body) is answered as the stream describes, as LocalStack does; UNVERIFIED on AWS.
    """
    if function_error:
        return BAD_GATEWAY
    if content_type is not None and content_type.split(";")[0].strip() == HTTP_INTEGRATION:
        return _integration_response(payload)
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return BAD_GATEWAY
    if isinstance(document, dict) and "statusCode" in document:
        try:
            return _http_response(document)
        except _Malformed:
            return BAD_GATEWAY
    if isinstance(document, str):
        return HttpResponse(200, [("content-type", JSON)], document.encode("utf-8", "replace"))
    return HttpResponse(200, [("content-type", JSON)], payload)


def _http_response(document: Mapping[str, object]) -> HttpResponse:
    headers = _response_headers(document.get("headers"))
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", JSON))
    headers += [("set-cookie", cookie) for cookie in _cookies(document.get("cookies"))]
    body = _body(document.get("body"), document.get("isBase64Encoded") is True)
    return HttpResponse(_status(document.get("statusCode")), headers, body)


def _status(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)  # Lambda accepts "418" [aws]
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise _Malformed(f"statusCode {value!r}")
    return value


def _response_headers(value: object) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise _Malformed("headers is not an object")
    headers = []
    for name, raw in value.items():
        if raw is None:
            continue
        text = raw if isinstance(raw, str) else _scalar(raw)
        if not _TOKEN.fullmatch(name) or any(c in text for c in "\r\n\0"):
            raise _Malformed(f"header {name!r}")
        headers.append((name.lower(), text))
    return headers


def _scalar(value: object) -> str:
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)  # true, 3, 1.5: as JSON writes them
    raise _Malformed(f"header value {value!r}")


def _cookies(value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise _Malformed("cookies is not a list of strings")
    if any(c in cookie for cookie in value for c in "\r\n\0"):
        raise _Malformed("a cookie contains a line break")
    return value


def _body(value: object, encoded: bool) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        if encoded:
            raise _Malformed("isBase64Encoded with a body that is not a string")
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    if not encoded:
        return value.encode("utf-8", "replace")
    try:  # whitespace (MIME line breaks) is tolerated; anything else must be base64
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise _Malformed(f"body is not base64: {error}") from None


def _integration_response(payload: bytes) -> HttpResponse:
    parser = PreludeParser()
    try:
        prelude, body = parser.feed(payload)
        parser.eof()
    except PreludeError:
        return BAD_GATEWAY
    assert prelude is not None  # eof() raised otherwise
    return HttpResponse(prelude.status_code, prelude_headers(prelude), body)


# --- streamed responses -----------------------------------------------------------------------


class PreludeError(ValueError):
    """The streamed response does not start with a valid prelude."""


@dataclass(frozen=True)
class Prelude:
    """The JSON that starts an ``http-integration-response`` stream."""

    status_code: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    """Lower-cased names, in the function's order."""
    cookies: tuple[str, ...] = ()


def parse_prelude(data: bytes) -> Prelude:
    """``{"statusCode": 201, "headers": {...}, "cookies": [...]}`` -> ``Prelude``; all three
    keys are optional (the status defaults to 200), other keys are ignored."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise PreludeError(f"the prelude is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise PreludeError("the prelude is not a JSON object")
    try:
        status = _status(document.get("statusCode", 200))
        headers = _response_headers(document.get("headers"))
        cookies = _cookies(document.get("cookies"))
    except _Malformed as error:
        raise PreludeError(f"invalid prelude: {error}") from None
    return Prelude(status, tuple(headers), tuple(cookies))


class PreludeParser:
    """Feed the streamed body of an ``http-integration-response``: the prelude comes out once,
    when its delimiter (eight NUL bytes) has arrived, then every byte after it is body.

    >>> parser = PreludeParser()
    >>> parser.feed(b'{"statusCode":201}\\0\\0\\0')
    (None, b'')
    >>> parser.feed(b"\\0\\0\\0\\0\\0hello")
    (Prelude(status_code=201, headers=(), cookies=()), b'hello')
    >>> parser.feed(b"\\0 more")
    (None, b'\\x00 more')
    """

    __slots__ = ("_buffer", "_done")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._done = False

    @property
    def done(self) -> bool:
        """Whether the prelude has been read (everything fed since is body)."""
        return self._done

    def feed(self, data: bytes) -> tuple[Prelude | None, bytes]:
        """Returns (the prelude if this data completed it, the body bytes in this data).

        Raises ``PreludeError`` when the delimiter has not come within the first 16 KiB or the
        JSON before it is not a valid prelude. JSON cannot hold a raw NUL byte, so the first
        eight NULs are the delimiter; NULs after it belong to the body.
        """
        if self._done:
            return None, bytes(data)
        start = max(0, len(self._buffer) - len(DELIMITER) + 1)
        self._buffer += data
        end = self._buffer.find(DELIMITER, start)
        if end < 0:
            if len(self._buffer) >= MAX_PRELUDE + len(DELIMITER):
                raise PreludeError(f"no prelude delimiter within {MAX_PRELUDE + 8} bytes")
            return None, b""
        if end > MAX_PRELUDE:
            raise PreludeError(f"the prelude is {end} bytes; the limit is {MAX_PRELUDE}")
        prelude = parse_prelude(bytes(self._buffer[:end]))
        body = bytes(self._buffer[end + len(DELIMITER) :])
        self._buffer = bytearray()
        self._done = True
        return prelude, body

    def eof(self) -> None:
        """Call when the stream ended: raises ``PreludeError`` if the prelude never finished."""
        if not self._done:
            raise PreludeError(f"the stream ended inside the prelude ({len(self._buffer)} bytes)")


def prelude_headers(prelude: Prelude) -> list[tuple[str, str]]:
    """The response headers for a prelude: its headers, ``application/octet-stream`` if it
    names no content type (the Rust runtime's default prelude; UNVERIFIED for Lambda), and a
    ``set-cookie`` header per cookie."""
    headers = list(prelude.headers)
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/octet-stream"))
    return headers + [("set-cookie", cookie) for cookie in prelude.cookies]
