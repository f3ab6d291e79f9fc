"""Function URL requests as pure functions: an HTTP request -> the payload format 2.0 event.

Sources, and how strong they are:

- [doc] https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html (awsdocs
  ``doc_source/urls-invocation.md``): the event shape.
- [aws] LocalStack's ``TestLambdaURL`` snapshots, recorded against real AWS on 2025-11-24
  (localstack ``tests/aws/services/lambda_/test_lambda.snapshot.json``):
  ``requestContext.http.path`` is the *raw* path (``/pa2%Fth/1`` stays as sent);
  ``queryStringParameters`` are decoded and repeats joined with a comma (``multiQuery=foo&
  multiQuery=%2Fbar`` -> ``"foo,/bar"``); ``multipart/form-data`` bodies arrive base64-encoded
  and text ones do not.
- [aws] An AWS presentation on Function URLs (2022): "unless the request's Content-Type is
  ``application/json`` or ``text/*``, the body is base64-encoded by default", and an event from
  a ``NONE`` URL with ``requestContext.accountId: "anonymous"``. A third-party report (CUDly
  PR #1483) confirms ``application/x-www-form-urlencoded`` bodies arrive base64-encoded.
- [3rd] API Gateway decodes ``+`` in query values as a space (aws-cdk#19827).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from typing import TypedDict, cast
from urllib.parse import quote, unquote_plus

__all__ = [
    "JSON",
    "IamAuthorizer",
    "RequestEvent",
    "domain_name",
    "iam_authorizer",
    "is_text",
    "request_event",
    "request_time",
]

JSON = "application/json"
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
    stamp, epoch = request_time(time.time() if now is None else now)
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


def request_time(now: float) -> tuple[str, int]:
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

# Placeholders from the docs' example event: we do not look the caller up.
_CALLER_ID = "AIDACKCEVSQ6C2EXAMPLE"


def iam_authorizer(access_key: str, *, account_id: str = "123456789012") -> IamAuthorizer:
    """The ``requestContext.authorizer`` block for a request whose signature was verified
    (``url_auth``) with ``access_key``. The identity is made up from the key and
    ``account_id``: the emulator knows no IAM users."""
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
