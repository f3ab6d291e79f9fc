"""The Telemetry API (2022-07-01) and the Logs API (2020-08-15) of one execution environment.

An extension registered with the Extensions API (extensions.py) subscribes, during the Init
phase only, with ``PUT /2022-07-01/telemetry`` or ``PUT /2020-08-15/logs`` on the Runtime API
listener, naming itself by ``Lambda-Extension-Identifier``
(https://docs.aws.amazon.com/lambda/latest/dg/telemetry-api-reference.html,
runtimes-logs-api.html; reference §2.2, §2.3)::

    {"schemaVersion": "2022-12-13", "types": ["platform", "function"],
     "buffering": {"maxItems": 1000, "maxBytes": 262144, "timeoutMs": 100},
     "destination": {"protocol": "HTTP", "URI": "http://sandbox.localdomain:8080/path"}}

and is answered ``200 "OK"``; a request Lambda would refuse gets 400 and
``{"errorType": "ValidationError", "errorMessage": "..."}`` (``Logs.ValidationError`` for the
Logs API) naming every problem, joined by "; " as in AWS's example. The records themselves are
made and delivered by ``telemetry_hub``. This module is the request side: parsing (pure, so it
is tested with tables of cases) and the routes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from lambdakit.emulator._http import BodyTooLarge, Request, Response, json_response
from lambdakit.emulator.extensions import Extensions, identify

__all__ = [
    "LOGS_PATH",
    "TELEMETRY_PATH",
    "Api",
    "Buffering",
    "Destination",
    "InvalidSubscription",
    "Subscription",
    "TelemetryAPI",
    "parse_subscription",
]

TELEMETRY_PATH = "/2022-07-01/telemetry"
LOGS_PATH = "/2020-08-15/logs"
TYPES = ("platform", "function", "extension")
# Where Lambda delivers: inside the environment only (telemetry-api.html, "Specifying a
# destination protocol"); RIE also takes the short name. Port 9001 is Lambda's own.
HOSTS = ("sandbox.localdomain", "sandbox")
RESERVED_PORT = 9001


class Api(Enum):
    """Which of the two subscription APIs a subscription came through."""

    TELEMETRY = "telemetry"
    """``/2022-07-01/telemetry``: schema versions 2022-07-01, 2022-12-13, 2025-01-29."""
    LOGS = "logs"
    """``/2020-08-15/logs`` (superseded, still used by agents): 2020-08-15, 2021-03-18."""


SCHEMAS = {
    Api.TELEMETRY: ("2022-07-01", "2022-12-13", "2025-01-29"),
    Api.LOGS: ("2020-08-15", "2021-03-18"),
}
ERROR_TYPES = {Api.TELEMETRY: "ValidationError", Api.LOGS: "Logs.ValidationError"}
CLOSED = {
    Api.TELEMETRY: ("Telemetry.SubscriptionClosed", "Telemetry API subscription is closed"),
    Api.LOGS: ("Logs.SubscriptionClosed", "Logs API subscription is closed"),
}
# (default, minimum, maximum), the same for both APIs (telemetry-api.html, "Configuring memory
# usage and buffering"; runtimes-logs-api.html, "Buffering configuration").
LIMITS = {
    "maxItems": (10_000, 1_000, 10_000),
    "maxBytes": (262_144, 262_144, 1_048_576),
    "timeoutMs": (1_000, 25, 30_000),
}


@dataclass(frozen=True, slots=True)
class Buffering:
    """When a subscriber's buffer is delivered: at MAX_ITEMS records, MAX_BYTES bytes, or
    TIMEOUT_MS after its first record, whichever comes first."""

    max_items: int = LIMITS["maxItems"][0]
    max_bytes: int = LIMITS["maxBytes"][0]
    timeout_ms: int = LIMITS["timeoutMs"][0]


@dataclass(frozen=True, slots=True)
class Destination:
    """The subscriber's listener, inside the environment: HTTP (a POST of a JSON array to
    PATH) or TCP (newline-delimited JSON), on PORT of this machine (the network is shared)."""

    protocol: str
    port: int
    path: str = "/"


@dataclass(frozen=True, slots=True)
class Subscription:
    """One extension's subscription."""

    api: Api
    schema_version: str
    types: frozenset[str]
    buffering: Buffering
    destination: Destination


class InvalidSubscription(ValueError):
    """A subscription Lambda would refuse; the message names every problem."""


def parse_subscription(body: bytes, api: Api) -> Subscription:
    """The subscription BODY asks for, or InvalidSubscription saying what is wrong."""
    try:
        document = json.loads(body or b"null")
    except ValueError as error:
        raise InvalidSubscription(f"the body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise InvalidSubscription("the body must be a JSON object")
    problems: list[str] = []
    version = _schema_version(document, api, problems)
    types = _types(document.get("types"), problems)
    buffering = _buffering(document.get("buffering"), problems)
    destination = _destination(document.get("destination"), problems)
    if problems or destination is None:
        raise InvalidSubscription("; ".join(problems))
    return Subscription(api, version, types, buffering, destination)


def _schema_version(document: dict[str, Any], api: Api, problems: list[str]) -> str:
    # The Logs API defaults to 2020-08-15; the Telemetry API requires it.
    version = document.get("schemaVersion", "2020-08-15" if api is Api.LOGS else None)
    if version not in SCHEMAS[api]:
        allowed = ", ".join(SCHEMAS[api])
        problems.append(f"schemaVersion {version!r} is not supported (use one of {allowed})")
        return SCHEMAS[api][-1]
    return str(version)


def _types(value: object, problems: list[str]) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        problems.append("types should not be empty")
        return frozenset()
    unknown = [item for item in value if item not in TYPES]
    if unknown:
        problems.append(f"types {unknown} are not valid (use platform, function, extension)")
    return frozenset(item for item in value if item in TYPES)


def _buffering(value: object, problems: list[str]) -> Buffering:
    if value is None:
        return Buffering()
    if not isinstance(value, dict):
        problems.append("buffering must be an object")
        return Buffering()
    chosen: dict[str, int] = {}
    for name, (default, low, high) in LIMITS.items():
        number = value.get(name, default)
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            problems.append(f"buffering.{name} must be an integer from {low} to {high}")
            number = default
        chosen[name] = number
    return Buffering(chosen["maxItems"], chosen["maxBytes"], chosen["timeoutMs"])


def _destination(value: object, problems: list[str]) -> Destination | None:
    if not isinstance(value, dict):
        problems.append("destination is required")
        return None
    protocol = value.get("protocol")
    if protocol == "TCP":
        port = value.get("port")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            problems.append("destination.port must be a port number for protocol TCP")
            return None
        return _not_reserved(Destination("TCP", port), problems)
    if protocol != "HTTP":
        problems.append(f"destination.protocol {protocol!r} is not valid (use HTTP or TCP)")
        return None
    uri = value.get("URI")
    if not isinstance(uri, str) or not uri:
        problems.append("destination.URI is required for protocol HTTP")
        return None
    return _http_destination(uri, problems)


def _http_destination(uri: str, problems: list[str]) -> Destination | None:
    parts = urlsplit(uri)
    if parts.scheme != "http":
        problems.append(f"destination.URI {uri!r} must be http:// (Lambda does not use HTTPS)")
        return None
    if parts.hostname not in HOSTS:
        problems.append(f"destination.URI host must be sandbox.localdomain, not {parts.hostname!r}")
        return None
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        problems.append("URI port is not provided")
        return None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _not_reserved(Destination("HTTP", port, path), problems)


def _not_reserved(destination: Destination, problems: list[str]) -> Destination | None:
    if destination.port == RESERVED_PORT:
        problems.append("port 9001 is reserved by Lambda")
        return None
    return destination


def _error(status: int, error_type: str, message: str) -> Response:
    return json_response(status, {"errorMessage": message, "errorType": error_type})


class TelemetryAPI:
    """The ``PUT /2022-07-01/telemetry`` and ``PUT /2020-08-15/logs`` routes of one
    environment's Runtime API listener; HUB (telemetry_hub.Telemetry) delivers."""

    def __init__(self, hub: Any, extensions: Extensions) -> None:
        self.hub = hub
        self.extensions = extensions

    @staticmethod
    def routes(path: str) -> bool:
        return path.rstrip("/") in (TELEMETRY_PATH, LOGS_PATH)

    async def handle(self, request: Request) -> Response:
        api = Api.TELEMETRY if request.path.rstrip("/") == TELEMETRY_PATH else Api.LOGS
        if request.method != "PUT":
            return _error(405, "MethodNotAllowed", f"{request.method} not allowed")
        agent, refusal = self._agent(request)
        if agent is None:
            return refusal
        try:
            body = await request.body(limit=64 * 1024)
        except BodyTooLarge:
            return _error(400, ERROR_TYPES[api], "the subscription is larger than 64 KiB")
        if not self.hub.open:  # "Subscribe during init only" (telemetry-api.html)
            return _error(403, *CLOSED[api])
        try:
            subscription = parse_subscription(body, api)
        except InvalidSubscription as error:
            return _error(400, ERROR_TYPES[api], str(error))
        other = self.hub.api_of(agent.id)
        if other is not None and other is not api:
            # "After subscribing using one of these APIs, any attempt to subscribe using the
            # other API returns an error" (telemetry-api.html).
            message = f"extension {agent.name} already subscribed with the {other.value} API"
            return _error(400, ERROR_TYPES[api], message)
        self.hub.subscribe(agent.id, agent.name, subscription)
        return json_response(200, "OK")

    def _agent(self, request: Request) -> tuple[Any, Response]:
        """The registered extension the request names, or the refusal (as the Extensions
        API's own, extensions.py)."""
        return identify(self.extensions, request)
