"""Function URLs as pure functions: HTTP request -> payload format 2.0 event -> HTTP response.

The emulator's server calls these three pieces; nothing here does I/O or keeps a clock unless
asked to (``now`` defaults to the current time).

- ``request_event`` turns an HTTP request into the event the function receives.
- ``buffered_response`` turns the function's result into the HTTP response (``InvokeMode:
  BUFFERED``, the default).
- ``PreludeParser`` splits a streamed ``http-integration-response`` body into its JSON prelude
  (status, headers, cookies) and the body that follows (``InvokeMode: RESPONSE_STREAM``).

Sources, and how strong they are:

- [doc] https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html (awsdocs
  ``doc_source/urls-invocation.md``): the event and response shapes, cookies as ``set-cookie``.
- [aws] LocalStack's ``TestLambdaURL`` snapshots, recorded against real AWS on 2025-11-24
  (localstack ``tests/aws/services/lambda_/test_lambda.snapshot.json``):
  ``requestContext.http.path`` is the *raw* path (``/pa2%Fth/1`` stays as sent);
  ``queryStringParameters`` are decoded and repeats joined with a comma (``multiQuery=foo&
  multiQuery=%2Fbar`` -> ``"foo,/bar"``); a function error is ``502`` with the body ``Internal
  Server Error``; a result without ``statusCode`` is ``200`` ``application/json`` with the
  result as the body, *except* a JSON string, whose value is the body (``"hello"`` -> ``hello``,
  Content-Length 5: the docs' table, which shows the quotes, is wrong); a ``statusCode`` response
  without a content type gets ``application/json``; a string ``statusCode`` (``"418"``) works; a
  non-string ``body`` (a JSON object) is sent as JSON; ``multipart/form-data`` bodies arrive
  base64-encoded and text ones do not.
- [aws] An AWS presentation on Function URLs (2022): "unless the request's Content-Type is
  ``application/json`` or ``text/*``, the body is base64-encoded by default", and an event from
  a ``NONE`` URL with ``requestContext.accountId: "anonymous"``. A third-party report (CUDly
  PR #1483) confirms ``application/x-www-form-urlencoded`` bodies arrive base64-encoded.
- [3rd] API Gateway decodes ``+`` in query values as a space (aws-cdk#19827).

Exceptions::

    ValueError
    └── PreludeError   a streamed prelude that is too long, not JSON, or not the right shape
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict, cast
from urllib.parse import quote, unquote_plus

__all__ = [
    "BAD_GATEWAY",
    "DELIMITER",
    "HTTP_INTEGRATION",
    "MAX_PRELUDE",
    "HttpResponse",
    "IamAuthorizer",
    "Prelude",
    "PreludeError",
    "PreludeParser",
    "RequestEvent",
    "buffered_response",
    "domain_name",
    "forbidden",
    "iam_authorizer",
    "is_text",
    "parse_prelude",
    "prelude_headers",
    "request_event",
]

HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
DELIMITER = b"\x00" * 8
# The prelude and its delimiter must fit in 16 KiB. A port of Lambda's behaviour observed a
# 16,376-byte maximum for the JSON (lambda-wire-protocol.md §1.6, UNVERIFIED): 16 KiB - 8.
MAX_PRELUDE = 16 * 1024 - len(DELIMITER)

JSON = "application/json"
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Printable ASCII stays as sent (so do percent-escapes); anything else is percent-encoded.
_URL_SAFE = "".join(map(chr, range(0x21, 0x7F)))


# --- the event --------------------------------------------------------------------------------


class HttpContext(TypedDict):
    method: str
    path: str
    protocol: str
    sourceIp: str
    userAgent: str


class IamIdentity(TypedDict):
    accessKey: str
    accountId: str
    callerId: str
    cognitoIdentity: None
    principalOrgId: None
    userArn: str
    userId: str


class IamAuthorizer(TypedDict):
    iam: IamIdentity


class _RequestContext(TypedDict):
    accountId: str
    apiId: str
    domainName: str
    domainPrefix: str
    http: HttpContext
    requestId: str
    routeKey: str
    stage: str
    time: str
    timeEpoch: int


class RequestContext(_RequestContext, total=False):
    authorizer: IamAuthorizer
    """Only for ``AWS_IAM`` URLs."""


class _RequestEvent(TypedDict):
    version: str
    routeKey: str
    rawPath: str
    rawQueryString: str
    headers: dict[str, str]
    requestContext: RequestContext
    isBase64Encoded: bool


class RequestEvent(_RequestEvent, total=False):
    cookies: list[str]
    """Omitted when the request has no Cookie header."""
    queryStringParameters: dict[str, str]
    """Omitted when the request has no query string."""
    body: str
    """Omitted when the request has no body."""


def domain_name(url_id: str, region: str) -> str:
    """The host a Function URL answers on: ``<url-id>.lambda-url.<region>.on.aws``."""
    return f"{url_id}.lambda-url.{region}.on.aws"


def request_event(
    *,
    method: str,
    target: str | bytes,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str,
    request_id: str,
    url_id: str,
    region: str = "us-east-1",
    account_id: str = "123456789012",
    authorizer: IamAuthorizer | None = None,
    now: float | None = None,
    host: str | None = None,
) -> RequestEvent:
    """The payload format 2.0 event for one request to a Function URL.

    ``target`` is the request-target as received (raw path, ``?``, raw query); ``headers`` are
    as received, in any case, repeats allowed. ``authorizer`` comes from ``iam_authorizer`` for
    an ``AWS_IAM`` URL; then ``requestContext.accountId`` is ``account_id`` (the function
    owner's), otherwise it is ``"anonymous"``, as Lambda sends for ``NONE`` URLs.
    ``requestContext.domainName`` is ``host`` if given, else the URL's AWS domain name.

    Deliberate choices: the path stays percent-encoded in both ``rawPath`` and
    ``requestContext.http.path`` (as Lambda does); characters outside printable ASCII in the
    target are percent-encoded as UTF-8; ``x-forwarded-for``/``-proto``/``-port`` are added as
    Lambda's front end adds them (``http``, since the emulator serves plain HTTP).
    """
    path, _, query = _target(target).partition("?")
    joined, cookies = _headers(headers)
    _add_forwarded(joined, source_ip)
    stamp, epoch = _times(time.time() if now is None else now)
    context: RequestContext = {
        "accountId": account_id if authorizer else "anonymous",
        "apiId": url_id,
        "domainName": host or domain_name(url_id, region),
        "domainPrefix": url_id,
        "http": {
            "method": method,
            "path": path or "/",
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": stamp,
        "timeEpoch": epoch,
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    # Built in the order of the documented example, which is what people read in their logs.
    event: dict[str, object] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path or "/",
        "rawQueryString": query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = joined
    parameters = _query_parameters(query)
    if parameters:
        event["queryStringParameters"] = parameters
    event["requestContext"] = context
    if body:
        event["body"], event["isBase64Encoded"] = _body_text(body, joined.get("content-type"))
    else:
        event["isBase64Encoded"] = False
    return cast("RequestEvent", event)


def _target(target: str | bytes) -> str:
    if isinstance(target, bytes):
        target = target.decode("utf-8", "surrogateescape")
    return quote(target, safe=_URL_SAFE, errors="surrogateescape")


def _headers(headers: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Lower-cased names, repeated values joined with ``,``; the Cookie header becomes a list."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        elif key in joined:
            joined[key] += "," + value
        else:
            joined[key] = value
    return joined, cookies


def _add_forwarded(headers: dict[str, str], source_ip: str) -> None:
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    headers.setdefault("x-forwarded-proto", "http")
    _, colon, port = headers.get("host", "").rpartition(":")
    headers.setdefault("x-forwarded-port", port if colon and port.isdigit() else "80")


def _query_parameters(query: str) -> dict[str, str]:
    """Decoded (``+`` is a space), repeats joined with ``,``; ``?flag`` gives ``flag: ""``."""
    parameters: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name, value = unquote_plus(name), unquote_plus(value)
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def _times(now: float) -> tuple[str, int]:
    """``time`` in the CLF-like form Lambda uses (English month names, whatever the locale),
    and ``timeEpoch`` in milliseconds."""
    moment = time.gmtime(now)
    text = "%02d/%s/%04d:%02d:%02d:%02d +0000" % (
        moment.tm_mday,
        _MONTHS[moment.tm_mon - 1],
        moment.tm_year,
        moment.tm_hour,
        moment.tm_min,
        moment.tm_sec,
    )
    return text, int(now * 1000)


def is_text(content_type: str | None) -> bool:
    """Whether Lambda passes a body with this content type as text rather than base64.

    The rule AWS states for Function URLs: ``text/*`` and ``application/json`` are text;
    everything else (also no content type at all, ``application/x-www-form-urlencoded``,
    ``multipart/form-data``, ``application/xml``, ``application/*+json``) is base64-encoded.
    We keep to that strict reading: a function that decodes base64 when told to works
    whichever way Lambda leans, while one that expects text would break only in production.
    """
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media == JSON


def _body_text(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """(body, isBase64Encoded): text if the content type is text and the bytes are UTF-8."""
    if is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # not representable as a JSON string: send it as binary
    return base64.b64encode(body).decode("ascii"), True


# --- AWS_IAM ------------------------------------------------------------------------------------

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_QUERY_CREDENTIAL = re.compile(r"(?:^|&)X-Amz-Credential=([^&%]+)(?:%2F|/)", re.IGNORECASE)
# Placeholders from the docs' example event: we do not look the caller up.
_CALLER_ID = "AIDACKCEVSQ6C2EXAMPLE"


def iam_authorizer(
    headers: Sequence[tuple[str, str]], target: str, *, account_id: str = "123456789012"
) -> IamAuthorizer | None:
    """The ``requestContext.authorizer`` block for a SigV4-signed request, or ``None`` when the
    request is not signed (an ``AWS_IAM`` URL then answers ``forbidden()``).

    The emulator does not verify signatures: any ``Authorization: AWS4-HMAC-SHA256
    Credential=<key>/...`` header (or presigned ``X-Amz-Credential`` query parameter) is
    accepted, and the identity is made up from the access key and ``account_id``.
    """
    access_key = _access_key(headers, target)
    if access_key is None:
        return None
    identity: IamIdentity = {
        "accessKey": access_key,
        "accountId": account_id,
        "callerId": _CALLER_ID,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:iam::{account_id}:user/lambdakit-local",
        "userId": _CALLER_ID,
    }
    return {"iam": identity}


def _access_key(headers: Sequence[tuple[str, str]], target: str) -> str | None:
    for name, value in headers:
        if name.lower() == "authorization" and value.startswith("AWS4-HMAC-SHA256 "):
            match = _CREDENTIAL.search(value)
            if match:
                return match.group(1)
    match = _QUERY_CREDENTIAL.search(target.partition("?")[2])
    return match.group(1) if match else None


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
