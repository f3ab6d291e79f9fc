"""What the API server hands to the sans-IO core: the request as received, the route it matched,
and the ids API Gateway gives every request.

The server (an I/O adapter) parses HTTP and matches routes (``apis.matching``); everything in
``apis.events`` and ``apis.responses`` is a pure function of these three values, so the events
and answers are tested with tables and fixtures, without sockets.
"""

from __future__ import annotations

import base64
import enum
import functools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from lambdakit.emulator.invocations import new_uuid, random_bytes, trace_root

__all__ = [
    "ApiKind",
    "ApiRequest",
    "PayloadFormat",
    "RequestIds",
    "RouteContext",
    "execute_api_domain",
]


class ApiKind(enum.Enum):
    """The two kinds of API Gateway API that front Lambda proxy integrations."""

    REST = "REST"
    """``AWS::Serverless::Api`` / ``AWS::ApiGateway::RestApi`` (API Gateway v1)."""
    HTTP = "HTTP"
    """``AWS::Serverless::HttpApi`` / ``AWS::ApiGatewayV2::Api`` (API Gateway v2)."""


class PayloadFormat(enum.Enum):
    """The event format of a Lambda proxy integration (``PayloadFormatVersion``)."""

    V1 = "1.0"
    """REST APIs always; HTTP APIs when the integration says ``1.0``."""
    V2 = "2.0"
    """HTTP APIs only (the default SAM gives them)."""


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request as the API server received it.

    ``path`` is the raw path (percent-escapes kept, ASCII) *without* the stage prefix: locally the
    stage is not required in the URL (as in SAM CLI), so the server strips ``/<stage>`` when the
    client sent it and the events put it back where API Gateway shows it.
    """

    method: str
    path: str
    query: str
    """The raw query string, without the ``?``; ``""`` when there is none."""
    headers: tuple[tuple[str, str], ...]
    """As received: names in the client's case, repeats kept, in order."""
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"
    time: float = field(default_factory=time.time)
    """When the request arrived, in seconds since the epoch (``requestTime``)."""

    def header(self, name: str) -> str | None:
        """The first value of a header, whatever the case of its name; ``None`` if absent."""
        return self._first_values.get(name.lower())

    @functools.cached_property
    def _first_values(self) -> dict[str, str]:
        """Lower-case name -> first value, made once: an event looks up half a dozen headers."""
        values: dict[str, str] = {}
        for key, value in self.headers:
            values.setdefault(key.lower(), value)
        return values


@dataclass(frozen=True)
class RouteContext:
    """The API and route a request matched: what API Gateway knows before it invokes."""

    api_id: str
    kind: ApiKind
    stage: str
    """The stage name; ``$default`` for an HTTP API's default stage."""
    resource_path: str
    """The route's path template: ``/users/{id}``, ``/{proxy+}``; ``$default`` for an HTTP API's
    ``$default`` route. Becomes ``resource`` and ``requestContext.resourcePath``."""
    route_key: str = "$default"
    """HTTP APIs: ``GET /users/{id}``, ``ANY /{proxy+}`` or ``$default``."""
    path_parameters: Mapping[str, str] = field(default_factory=dict)
    """Decoded values, ``{proxy+}`` as ``proxy``."""
    stage_variables: Mapping[str, str] = field(default_factory=dict)
    payload_format: PayloadFormat = PayloadFormat.V1
    binary_media_types: tuple[str, ...] = ()
    """REST APIs' ``BinaryMediaTypes`` (``image/png``, ``image/*``, ``*/*``)."""
    account_id: str = "123456789012"
    region: str = "us-east-1"
    authorizer: Mapping[str, object] | None = None
    """The ``requestContext.authorizer`` block exactly as the authorizer step built it (see
    ``events.rest_authorizer`` / ``events.http_lambda_authorizer``); ``None`` when the route
    has no authorizer."""


def execute_api_domain(api_id: str, region: str) -> str:
    """The host an API answers on in AWS: ``<api-id>.execute-api.<region>.amazonaws.com``."""
    return f"{api_id}.execute-api.{region}.amazonaws.com"


@dataclass(frozen=True)
class RequestIds:
    """The ids API Gateway gives one request, in the shapes it uses.

    REST APIs: ``request_id`` is a UUID (``requestContext.requestId``, response header
    ``x-amzn-RequestId``) and ``extended_id`` a 16-character id (``extendedRequestId``, header
    ``x-amz-apigw-id``). HTTP APIs use one short id for both (``requestId``, header
    ``apigw-requestid``), e.g. ``JKJaXmPLvHcESHA=`` in the AWS docs' example event.
    """

    request_id: str
    extended_id: str
    trace_id: str
    """``Root=1-<8 hex: epoch seconds>-<24 hex>``: the X-Ray trace header API Gateway adds."""

    @classmethod
    def new(cls, kind: ApiKind, *, now: float | None = None) -> RequestIds:
        short = _short_id()
        moment = int(time.time() if now is None else now)
        trace_id = trace_root(moment)
        return cls(new_uuid() if kind is ApiKind.REST else short, short, trace_id)


def _short_id() -> str:
    """16 characters ending in ``=``: the base64 of 11 random bytes, as AWS's ids look."""
    return base64.b64encode(random_bytes(11)).decode("ascii").replace("+", "A").replace("/", "B")
