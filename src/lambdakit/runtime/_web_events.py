"""HTTP events in: API Gateway, Function URL and ALB events as one ``Request`` value.

Sans-IO: ``parse_event`` is a pure function of the event dict. ``lambdakit.runtime.web`` turns
the result into an ASGI scope or a WSGI environ.

Which source sent an event (``detect``), by the shape AWS documents for each:

- API Gateway REST API, and HTTP API with payload format 1.0 (apigateway
  set-up-lambda-proxy-integrations.html, "Input format"): ``httpMethod`` at the top, and a
  ``requestContext`` without ``http`` or ``elb``.
- HTTP API with payload format 2.0 (http-api-develop-integrations-lambda.html):
  ``version: "2.0"``, ``rawPath``, ``rawQueryString``, ``cookies``, ``requestContext.http``.
- Function URL (urls-invocation.html): the same 2.0 shape, but ``requestContext.domainName``
  is ``<url-id>.lambda-url.<region>.on.aws``.
- Application Load Balancer (elasticloadbalancing lambda-functions.html):
  ``requestContext.elb``; ``multiValueHeaders`` instead of ``headers`` when the target group
  has multi-value headers turned on, and the answer must use the same form.

Paths. ASGI's ``path`` is the whole path the client asked for, ``root_path`` included
(starlette, uvicorn and Django strip ``root_path`` before routing); ``root_path`` is the part
of the URL in front of the app's own routes. It is made of two parts:

- The stage. A REST API reached on its ``execute-api`` domain leaves the stage out of
  ``path`` but keeps it in ``requestContext.path`` (``/prod/items`` against ``/items``): when
  they differ by exactly ``/{stage}`` it is put back. An HTTP API keeps a named stage in
  ``rawPath``, and so does a REST API behind a custom domain mapped without a stage. Either
  way, a first path segment equal to a stage other than ``$default`` becomes ``root_path``,
  so that ``url_for`` builds URLs that work (Mangum #318). Custom domains mapped to a stage
  leave the stage out of the URL, and nothing is stripped; the one case this misreads is a
  route whose first segment is the stage's name, on such a domain.
- ``base_path``, given by the user: the base path of a custom domain mapping, which REST APIs
  leave in ``path`` (serverless-wsgi's ``API_GATEWAY_BASE_PATH``, Mangum's
  ``api_gateway_base_path``). It is part of ``root_path`` when the path starts with it.

Encoding. REST APIs, Function URLs and ALBs pass the path percent-encoded, as received; HTTP
APIs (payload 1.0 and 2.0 alike) pass it already decoded (honojs/hono#2156: a request for
``/a%2Fb%23c`` arrives as ``rawPath`` ``/a/b#c``), so it is not decoded a second time (a
literal ``%`` stays one) and ``raw_path`` is rebuilt by encoding it. Query strings: 2.0
events carry the raw one; REST APIs pass decoded parameters, which are encoded again; ALBs pass
parameters as received (not decoded), which are joined as they are.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from enum import Enum
from urllib.parse import quote, unquote, urlencode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Event = Mapping[str, Any]
    Headers = tuple[tuple[str, str], ...]

# What may appear unencoded in a path (RFC 3986 pchar and "/"); "%" too for encoded input.
_PATH_SAFE = "/:@!$&'()*+,;="
# What may appear unencoded in a query (RFC 3986 query), "%" included: input is encoded.
_QUERY_SAFE = "/?:@!$&'()*+,;=%"


class Source(Enum):
    """The service that sent an HTTP event; it decides the shape of the answer."""

    API_GATEWAY_V1 = "api-gateway-v1"
    """A REST API, or an HTTP API with payload format 1.0."""
    API_GATEWAY_V2 = "api-gateway-v2"
    """An HTTP API with payload format 2.0."""
    FUNCTION_URL = "function-url"
    """A Lambda Function URL (payload format 2.0); the only one that can stream an answer."""
    ALB = "alb"
    """An Application Load Balancer target group."""


class Request:
    """One HTTP request, whatever the event it came in.

    ``path`` is percent-decoded and includes ``root_path``; ``raw_path`` is the same path
    percent-encoded; header names are lower case, in the order the event lists them.
    """

    __slots__ = (
        "body",
        "client",
        "headers",
        "method",
        "multi_value_headers",
        "path",
        "query_string",
        "raw_path",
        "root_path",
        "scheme",
        "server",
        "source",
    )

    def __init__(
        self,
        *,
        source: Source,
        method: str,
        path: str,
        raw_path: bytes,
        root_path: str,
        query_string: bytes,
        headers: Headers,
        body: bytes,
        client: tuple[str, int] | None,
        server: tuple[str, int],
        scheme: str,
        multi_value_headers: bool = False,
    ) -> None:
        self.source = source
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.root_path = root_path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.client = client
        self.server = server
        self.scheme = scheme
        self.multi_value_headers = multi_value_headers
        """Answer with ``multiValueHeaders`` (an ALB target group in multi-value mode)."""

    def header(self, name: str) -> str | None:
        """The first value of a header (``name`` in lower case), or None."""
        for key, value in self.headers:
            if key == name:
                return value
        return None


def detect(event: object) -> Source:
    """The source of an HTTP event, or ``ValueError`` naming the keys of what it got instead."""
    if not isinstance(event, Mapping):
        raise ValueError(
            "lambdakit.runtime.web: expected an HTTP event (a JSON object from API Gateway, a "
            f"Function URL or an ALB), got {type(event).__name__}"
        )
    context = event.get("requestContext")
    if isinstance(context, Mapping):
        if "elb" in context:
            return Source.ALB
        if event.get("version") == "2.0" and isinstance(context.get("http"), Mapping):
            if _is_function_url(str(context.get("domainName") or "")):
                return Source.FUNCTION_URL
            return Source.API_GATEWAY_V2
        if "httpMethod" in event and "http" not in context:
            return Source.API_GATEWAY_V1
    raise ValueError(
        "lambdakit.runtime.web: not an HTTP event from API Gateway, a Function URL or an ALB; "
        f"the event has the keys {_keys(event)}"
        + (f" and requestContext has {_keys(context)}" if isinstance(context, Mapping) else "")
    )


def _keys(mapping: Mapping[object, object]) -> str:
    names = sorted(str(key) for key in mapping)
    shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
    return f"[{shown}]"


def _is_function_url(domain: str) -> bool:
    """``<url-id>.lambda-url.<region>.on.aws`` (a Function URL has no custom domains)."""
    labels = domain.lower().split(".")
    return len(labels) == 5 and labels[1] == "lambda-url" and labels[3:] == ["on", "aws"]


def parse_event(event: object, base_path: str | None = None) -> Request:
    """The request an HTTP event describes. Raises ``ValueError`` for any other event."""
    source = detect(event)
    assert isinstance(event, Mapping)
    if source is Source.API_GATEWAY_V1:
        return _api_gateway_v1(event, base_path)
    if source is Source.ALB:
        return _alb(event, base_path)
    return _payload_v2(event, source, base_path)


def _api_gateway_v1(event: Event, base_path: str | None) -> Request:
    context = event["requestContext"]
    stage = context.get("stage")
    path = event.get("path") or "/"
    if stage and unquote(context.get("path") or "") == f"/{stage}{unquote(path)}":
        path = f"/{stage}{path}"  # a REST API on its execute-api domain: the URL has the stage
    headers = _multi(event.get("multiValueHeaders")) or _single(event.get("headers"))
    params = event.get("multiValueQueryStringParameters") or event.get("queryStringParameters")
    query = urlencode(params or {}, doseq=True, quote_via=quote).encode("ascii")
    identity = context.get("identity") or {}
    return _request(
        Source.API_GATEWAY_V1,
        method=event["httpMethod"],
        path=path,
        decoded=event.get("version") == "1.0",  # an HTTP API, which decodes paths
        stage=stage,
        base_path=base_path,
        query=query,
        headers=headers,
        body=_body(event),
        client_ip=identity.get("sourceIp"),
        domain=context.get("domainName"),
    )


def _payload_v2(event: Event, source: Source, base_path: str | None) -> Request:
    context = event["requestContext"]
    http = context["http"]
    headers = _single(event.get("headers"))
    cookies = event.get("cookies")
    if cookies:  # 2.0 events move Cookie headers into a list; ASGI wants them back as one
        headers = [(name, value) for name, value in headers if name != "cookie"]
        headers.append(("cookie", "; ".join(cookies)))
    return _request(
        source,
        method=http["method"],
        path=event.get("rawPath") or http.get("path") or "/",
        decoded=source is Source.API_GATEWAY_V2,
        stage=context.get("stage"),
        base_path=base_path,
        query=_requote(event.get("rawQueryString") or ""),
        headers=headers,
        body=_body(event),
        client_ip=http.get("sourceIp"),
        domain=context.get("domainName"),
    )


def _alb(event: Event, base_path: str | None) -> Request:
    multi = "multiValueHeaders" in event
    if multi:
        headers = _multi(event.get("multiValueHeaders"))
        params = event.get("multiValueQueryStringParameters") or {}
    else:
        headers = _single(event.get("headers"))
        params = {key: [value] for key, value in (event.get("queryStringParameters") or {}).items()}
    # "If the query parameters are URL-encoded, the load balancer does not decode them."
    pairs = [f"{key}={value}" for key, values in params.items() for value in values or ()]
    forwarded = _first(headers, "x-forwarded-for") or ""
    return _request(
        Source.ALB,
        method=event["httpMethod"],
        path=event.get("path") or "/",
        decoded=False,
        stage=None,
        base_path=base_path,
        query=_requote("&".join(pairs)),
        headers=headers,
        body=_body(event),
        # The load balancer appends the address it saw to X-Forwarded-For; earlier entries
        # come from the client and prove nothing.
        client_ip=forwarded.rsplit(",", 1)[-1].strip() or None,
        domain=None,
        multi_value_headers=multi,
    )


def _request(
    source: Source,
    *,
    method: str,
    path: str,
    decoded: bool,
    stage: str | None,
    base_path: str | None,
    query: bytes,
    headers: list[tuple[str, str]],
    body: bytes,
    client_ip: str | None,
    domain: str | None,
    multi_value_headers: bool = False,
) -> Request:
    if decoded:
        raw_path = quote(path, safe=_PATH_SAFE)
    else:
        raw_path = quote(path, safe=_PATH_SAFE + "%")
        path = unquote(raw_path)
    scheme = _first(headers, "x-forwarded-proto") or "https"
    return Request(
        source=source,
        method=method.upper(),
        path=path,
        raw_path=raw_path.encode("ascii"),
        root_path=root_path(path, stage, base_path),
        query_string=query,
        headers=tuple(headers),
        body=body,
        client=(client_ip, 0) if client_ip else None,
        server=_server(headers, scheme, domain),
        scheme=scheme,
        multi_value_headers=multi_value_headers,
    )


def root_path(path: str, stage: str | None, base_path: str | None) -> str:
    """The prefix of ``path`` in front of the app's routes: the stage, then the base path."""
    root = ""
    if stage and stage != "$default" and _starts_with(path, f"/{stage}"):
        root = f"/{stage}"
    base = normalize_base_path(base_path)
    if base and _starts_with(path[len(root) :], base):
        root += base
    return root


def normalize_base_path(base_path: str | None) -> str:
    """``"v1"``, ``"/v1"`` and ``"/v1/"`` are all ``"/v1"``; ``None``, ``""`` and ``"/"`` are
    ``""``."""
    stripped = (base_path or "").strip("/")
    return f"/{stripped}" if stripped else ""


def _starts_with(path: str, prefix: str) -> bool:
    """True when ``prefix`` is a whole number of leading segments of ``path``."""
    return path == prefix or path.startswith(prefix + "/")


def _single(headers: Mapping[str, object] | None) -> list[tuple[str, str]]:
    return [(name.lower(), str(value)) for name, value in (headers or {}).items()]


def _multi(headers: Mapping[str, list[object]] | None) -> list[tuple[str, str]]:
    return [
        (name.lower(), str(value)) for name, values in (headers or {}).items() for value in values
    ]


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key == name), None)


def _requote(text: str) -> bytes:
    """A query string as bytes: encoded input stays as it is; stray characters get encoded."""
    return quote(text, safe=_QUERY_SAFE).encode("ascii")


def _body(event: Event) -> bytes:
    body = event.get("body")
    if not body:
        return b""
    if event.get("isBase64Encoded"):
        return binascii.a2b_base64(body)
    return str(body).encode("utf-8")


def _server(headers: list[tuple[str, str]], scheme: str, domain: str | None) -> tuple[str, int]:
    """Host and port from the Host header (the domain name when there is none, as in ALB
    health checks); the port from ``X-Forwarded-Port``, which the host never carries here."""
    host = _first(headers, "host") or domain or "localhost"
    name, colon, port = host.rpartition(":")
    if not colon or not port.isdigit() or name.endswith(":"):  # no port, or an IPv6 address
        name, port = host, ""
    forwarded = _first(headers, "x-forwarded-port") or port
    if forwarded.isdigit():
        return name, int(forwarded)
    return name, 443 if scheme == "https" else 80
