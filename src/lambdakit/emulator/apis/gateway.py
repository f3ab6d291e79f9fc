"""One request through the local API Gateway: route, authorizer, event, invocation, answer.

``Gateway.handle`` is the HTTP handler of the API listener (``apis.server``). What it does is
API Gateway's order of work for a Lambda proxy integration:

1. CORS that API Gateway answers itself (``apis.cors``): an HTTP API's preflight, a REST API's
   mock ``OPTIONS`` method that SAM's ``Cors`` adds;
2. the route (``apis.matching``): none is 403 (REST) / 404 (HTTP API);
3. the body: over 10 MB is 413 (API Gateway's payload quota);
4. the route's Lambda authorizer, if it has one (``apis.authorizers``): 401 / 403;
5. the event (``apis.events``), and the function invoked through the emulator as the Function
   URL server invokes it, buffered; or, for a REST route with ``ResponseTransferMode: STREAM``,
   streamed as InvokeWithResponseStream would give it (``apis.streaming``);
6. no result within the integration timeout (``TimeoutInMillis``, else 29 s / 30 s) is 504
   (REST) / 503 (HTTP API); the function runs on to its own end, as on AWS;
7. the result mapped as API Gateway maps it (``apis.responses.proxy_response``), with API
   Gateway's headers, and an HTTP API's CORS headers.

Each request is logged with its method, path, status and duration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from lambdakit.emulator._http import BodyTooLarge, Request, Response
from lambdakit.emulator.apis import cors
from lambdakit.emulator.apis.events import lambda_event
from lambdakit.emulator.apis.invoking import invoke_within
from lambdakit.emulator.apis.matching import Match, NoMatch, Router
from lambdakit.emulator.apis.requests import (
    ApiKind,
    ApiRequest,
    PayloadFormat,
    RequestIds,
    RouteContext,
)
from lambdakit.emulator.apis.responses import (
    MAX_REQUEST_BODY,
    GatewayError,
    HttpResponse,
    gateway_response,
    proxy_response,
    with_gateway_headers,
)
from lambdakit.emulator.apis.streaming import streamed_response
from lambdakit.emulator.concurrency import Throttled
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.invocations import InvocationResult, StreamTooLarge
from lambdakit.template.apis import ApiSpec

if TYPE_CHECKING:
    from lambdakit.emulator.apis.authorizers import Authorizers
    from lambdakit.emulator.scheduler import FunctionPool

__all__ = ["Gateway", "api_id", "kind_of"]

_PROBED = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")


_KINDS = {kind.value: kind for kind in ApiKind}
# json.dumps's own settings, without the check for circular references an event cannot have.
_ENCODER = json.JSONEncoder(check_circular=False)


def kind_of(api: ApiSpec) -> ApiKind:
    """The template's ``"REST"``/``"HTTP"`` as the core's ``ApiKind``: the one conversion."""
    return _KINDS[api.kind]


def api_id(api: ApiSpec) -> str:
    """A stable stand-in for the id AWS would give the API: 10 lower-case characters."""
    digest = hashlib.sha256(api.logical_id.encode()).digest()
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:10])


class Gateway:
    """The HTTP handler for every API of the template, served together on one port."""

    def __init__(
        self,
        apis: Sequence[ApiSpec],
        pools: Mapping[str, FunctionPool],
        *,
        region: str,
        account_id: str,
        authorizers: Authorizers | None = None,
        log: Callable[[str], None] = print,
        warn: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.apis = list(apis)
        self.pools = pools
        self.region, self.account_id = region, account_id
        self.authorizers = authorizers
        self.log, self.warn, self.clock = log, warn, clock
        self._ids = {api.logical_id: api_id(api) for api in self.apis}
        self._router = Router(self.apis)  # the routes compiled once, not per request
        # A route without path parameters has the same context for every request.
        self._contexts: dict[tuple[int, str], RouteContext] = {}

    async def handle(self, request: Request) -> Response:
        started = self.clock()
        response = await self._answer(request)
        elapsed = (self.clock() - started) * 1000
        self.log(f"{request.method} {request.path} {response.status} {elapsed:.1f} ms")
        return response

    async def _answer(self, request: Request) -> Response:
        own = self._cors_answer(request)
        if own is not None:
            return own
        found = self._router.match(request.method, request.target)
        if isinstance(found, NoMatch):
            kind = _KINDS[found.kind]
            return _response(gateway_response(kind, GatewayError.NO_ROUTE, RequestIds.new(kind)))
        kind = kind_of(found.api)
        ids = RequestIds.new(kind)
        try:
            body = await request.body(limit=MAX_REQUEST_BODY)
        except BodyTooLarge:
            return _response(gateway_response(kind, GatewayError.REQUEST_TOO_LARGE, ids))
        api_request = self._api_request(request, found, body)
        route = self._route_context(found)
        if self.authorizers is not None and found.route.authorizer is not None:
            decision = await self.authorizers.authorize(found, api_request, route, ids=ids)
            if not decision.allowed:
                error = decision.error or GatewayError.ACCESS_DENIED
                return _response(gateway_response(kind, error, ids))
            route = dataclasses.replace(route, authorizer=decision.context)
        event = _ENCODER.encode(lambda_event(api_request, route, ids)).encode()
        response = await self._integrate(found, event, api_request, ids)
        if isinstance(response, Response):  # streamed (REST APIs only)
            return response
        if kind is ApiKind.HTTP and found.api.cors is not None:
            response = cors.http_cors_headers(found.api.cors, request.headers, response)
        return _response(response)

    # --- CORS API Gateway answers itself -----------------------------------------------------

    def _cors_answer(self, request: Request) -> Response | None:
        """An HTTP API's preflight, or the mock OPTIONS method of a REST API with ``Cors``."""
        if request.method != "OPTIONS":
            return None
        wanted = request.header("access-control-request-method")
        if wanted and request.header("origin"):  # a preflight: the API the real request is for
            probe = self._router.match(wanted, request.target)
            if isinstance(probe, Match) and probe.api.kind == "HTTP" and probe.api.cors:
                answer = cors.http_preflight(probe.api.cors, request.headers)
                return _response(with_gateway_headers(answer, ApiKind.HTTP, _ids(ApiKind.HTTP)))
        own = self._router.match("OPTIONS", request.target)
        if isinstance(own, Match) and own.route.method == "OPTIONS":
            return None  # the path's own OPTIONS method: SAM adds no mock there
        resource = self._rest_resource(request.target)
        if resource is None or resource.api.cors is None:
            return None
        methods = [r.method for r in resource.api.routes if r.path == resource.resource_path]
        answer = cors.rest_options(resource.api.cors, methods)
        kind = ApiKind.REST
        return _response(with_gateway_headers(answer, kind, _ids(kind), integration=False))

    def _rest_resource(self, target: str) -> Match | None:
        """The REST resource TARGET names, whichever of its methods exist."""
        for method in _PROBED:
            found = self._router.match(method, target)
            if isinstance(found, Match) and found.api.kind == "REST":
                return found
        return None

    # --- the event ---------------------------------------------------------------------------

    def _api_request(self, request: Request, found: Match, body: bytes) -> ApiRequest:
        path, _, query = request.target.partition("?")
        return ApiRequest(
            method=request.method,
            path=_raw_path(path, found),
            query=query,
            headers=tuple(request.raw_headers or request.headers),  # the client's case
            body=body,
            source_ip=(request.peer or ("127.0.0.1", 0))[0],
            protocol="HTTP/1.0" if request.http_10 else "HTTP/1.1",
        )

    def _route_context(self, found: Match) -> RouteContext:
        if found.path_parameters:
            return self._new_route_context(found)
        key = (id(found.route), found.resource_path)  # the routes live as long as self
        context = self._contexts.get(key)
        if context is None:
            context = self._contexts[key] = self._new_route_context(found)
        return context

    def _new_route_context(self, found: Match) -> RouteContext:
        route, api = found.route, found.api
        key = "$default" if route.is_default else f"{route.method} {route.path}"
        return RouteContext(
            api_id=self._ids[api.logical_id],
            kind=kind_of(api),
            stage=api.stage_name,
            resource_path=found.resource_path,
            route_key=key,
            path_parameters=dict(found.path_parameters),
            stage_variables=dict(api.stage_variables),
            payload_format=PayloadFormat(route.payload_format_version),
            binary_media_types=api.binary_media_types,
            account_id=self.account_id,
            region=self.region,
        )

    # --- the integration ---------------------------------------------------------------------

    async def _integrate(
        self, found: Match, event: bytes, request: ApiRequest, ids: RequestIds
    ) -> HttpResponse | Response:
        route, kind = found.route, kind_of(found.api)
        pool = self.pools.get(route.function)
        if pool is None:
            return gateway_response(kind, GatewayError.INTEGRATION_FAILURE, ids)
        try:
            result = await invoke_within(pool, event, route.timeout_ms / 1000)
        except Throttled:
            return gateway_response(kind, GatewayError.INTEGRATION_FAILURE, ids)
        except EmulatorError as error:
            self.warn(f"{route.function}: {error}")
            return gateway_response(kind, GatewayError.INTEGRATION_FAILURE, ids)
        if result is None:  # API Gateway gives up; the function runs on to its own end
            return gateway_response(kind, GatewayError.INTEGRATION_TIMEOUT, ids)
        if route.transfer_mode == "STREAM" and kind is ApiKind.REST:
            return await streamed_response(result, ids)
        payload = await _payload(result)
        if payload is None:
            return gateway_response(kind, GatewayError.INTEGRATION_FAILURE, ids)
        answer = proxy_response(
            payload[0], kind=kind, payload_format=PayloadFormat(route.payload_format_version),
            function_error=payload[1], accept=request.header("accept"),
            binary_media_types=found.api.binary_media_types,
        )  # fmt: skip
        return with_gateway_headers(answer, kind, ids)


async def _payload(result: InvocationResult) -> tuple[bytes, bool] | None:
    """The result's payload and whether it failed; a streamed result read whole (None: more
    than a buffered response may hold, a failure)."""
    if result.stream is None:
        return result.body, result.function_error
    try:
        body = await result.stream.read_all()
    except StreamTooLarge:
        return None
    if result.stream.error_type is not None:
        return result.stream.error_body or b"", True
    return body, False


def _raw_path(path: str, found: Match) -> str:
    """The path as sent, without the stage when the client gave it (REST APIs' ``Match.path``
    is that already; an HTTP API's is decoded)."""
    if found.api.kind == "REST":
        return found.path or "/"
    prefix = f"/{found.api.stage_name}"
    if found.api.stage_name != "$default" and (path == prefix or path.startswith(prefix + "/")):
        stripped = path[len(prefix) :] or "/"
        from urllib.parse import unquote

        if unquote(stripped) == found.path:
            return stripped
    return path or "/"


def _ids(kind: ApiKind) -> RequestIds:
    return RequestIds.new(kind)


def _response(answer: HttpResponse) -> Response:
    return Response(answer.status, list(answer.headers), answer.body)
