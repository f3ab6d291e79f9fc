"""API Gateway's authorization step: run a route's Lambda authorizer, cache its answer, and say
whether the integration runs and with which ``requestContext.authorizer``.

The steps, as API Gateway takes them (sources in ``authorizer_events`` and ``policies``):

1. No authorizer, or one that cannot run here (Cognito, IAM, JWT, unknown, or a function not
   in the template): allowed. An unknown one or a missing function gets one warning here;
   Cognito, IAM and JWT authorizers are named once, at start-up (``ApiServer.unenforced``).
2. Identity sources: one missing or empty -> 401 without invoking. A REST ``TOKEN`` whose
   token does not match ``ValidationExpression`` (the whole token, as Java's ``matches``)
   -> 401 without invoking.
3. The cache, keyed by the identity values (the token for ``TOKEN``), for the authorizer's TTL
   (``ReauthorizeEvery``; 0 disables it; no identity sources, no cache). A cached policy is
   judged again against the new method ARN, as AWS does: it covers other methods and paths
   only if its resources match them.
4. Invoke. REST: a failure whose message is ``Unauthorized`` -> 401; any other failure or an
   output that is not an authorizer response -> 500 (``AUTHORIZER_FAILURE``).
5. Judge: Deny -> 403 explicit deny (HTTP APIs: 403 Forbidden), no Allow -> 403, else the
   context block: REST ``principalId`` + context (values stringified, as API Gateway passes
   them to proxy integrations) + ``integrationLatency``; HTTP APIs ``{"lambda": context}``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from lambdakit.emulator.apis import authorizer_events as events_in
from lambdakit.emulator.apis.events import http_lambda_authorizer, lambda_event, rest_authorizer
from lambdakit.emulator.apis.matching import Match
from lambdakit.emulator.apis.policies import (
    Malformed,
    Output,
    Verdict,
    parse_output,
    unauthorized_error,
)
from lambdakit.emulator.apis.requests import (
    ApiKind,
    ApiRequest,
    PayloadFormat,
    RequestIds,
    RouteContext,
)
from lambdakit.emulator.apis.responses import GatewayError
from lambdakit.template.apis import ApiSpec, AuthorizerSpec

__all__ = ["Authorizers", "Decision", "Invoke"]

_log = logging.getLogger("lambdakit.apis")

Invoke = Callable[[str, bytes], Awaitable[tuple[bool, bytes]]]
"""``invoke(function_name, event_json) -> (succeeded, payload)``: the function's result, or
its error document when it failed."""


@dataclass(frozen=True)
class Decision:
    """Whether the integration runs; if not, API Gateway's answer."""

    allowed: bool
    error: GatewayError | None
    context: dict[str, object] | None
    """The finished ``requestContext.authorizer`` block for the integration's event; None when
    no authorizer ran."""


ALLOWED = Decision(True, None, None)
_REFUSALS = {
    Verdict.DENY: GatewayError.EXPLICIT_DENY,
    Verdict.NOT_ALLOWED: GatewayError.ACCESS_DENIED,
}


def _refused(error: GatewayError) -> Decision:
    return Decision(False, error, None)


@dataclass(frozen=True)
class _Call:
    """One request's authorization: what every step needs."""

    api: ApiSpec
    spec: AuthorizerSpec
    request: ApiRequest
    route: RouteContext
    path: str
    ids: RequestIds

    @property
    def rest(self) -> bool:
        return self.api.kind == "REST"


class Authorizers:
    """The Lambda authorizers of APIS, with their result caches. INVOKE runs a function (the
    server's invoke path); CLOCK measures TTLs and latency; WARN reports what is not run."""

    def __init__(
        self,
        apis: Sequence[ApiSpec],
        invoke: Invoke,
        *,
        clock: Callable[[], float] = time.monotonic,
        warn: Callable[[str], None] = _log.warning,
    ) -> None:
        self._invoke = invoke
        self._clock = clock
        self._warn = warn
        self._cache: dict[tuple[str, str, tuple[str, ...]], tuple[float, Output]] = {}
        self._warned: set[tuple[str, str]] = set()
        self._expressions: dict[tuple[str, str], re.Pattern[str] | None] = {}
        for api in apis:
            for spec in api.authorizers.values():
                self._expressions[api.logical_id, spec.name] = self._compile(api, spec)

    def _compile(self, api: ApiSpec, spec: AuthorizerSpec) -> re.Pattern[str] | None:
        if spec.validation_expression is None:
            return None
        try:
            return re.compile(spec.validation_expression)
        except re.error as error:
            self._warn(
                f"{api.logical_id}: authorizer {spec.name}'s ValidationExpression "
                f"{spec.validation_expression!r} is not a regular expression ({error}); tokens "
                "are not checked against it. Fix the expression."
            )
            return None

    async def authorize(
        self,
        match: Match,
        request: ApiRequest,
        route: RouteContext,
        *,
        ids: RequestIds | None = None,
    ) -> Decision:
        """Whether MATCH's route may run for REQUEST (ROUTE: its context, without an authorizer
        block). IDS: the request's ids, so that the authorizer sees the integration's
        ``requestId``; new ones when not given."""
        name = match.route.authorizer
        if name is None:
            return ALLOWED
        spec = match.api.authorizers.get(name)
        if spec is None or not spec.runnable or spec.function is None:
            self._not_run(match.api, name, spec)
            return ALLOWED
        call = _Call(match.api, spec, request, route, match.path or request.path,
                     ids or RequestIds.new(route.kind))  # fmt: skip
        return await self._authorize(call)

    def _not_run(self, api: ApiSpec, name: str, spec: AuthorizerSpec | None) -> None:
        if (api.logical_id, name) in self._warned or (spec is not None and not spec.runnable):
            return  # a Cognito/IAM/JWT authorizer: the server named it at start-up
        self._warned.add((api.logical_id, name))
        if spec is None:
            why = "is not among the API's authorizers"
        else:
            why = "names a function that is not in the template"
        self._warn(f"{api.logical_id}: authorizer {name} {why}; its routes are served "
                   "without authorization.")  # fmt: skip

    async def _authorize(self, call: _Call) -> Decision:
        proxy = _proxy_event(call)
        values = events_in.identity_values(
            call.spec.identity_sources, proxy, call.route, rest=call.rest
        )
        if values is None or not self._valid_token(call, values):
            return _refused(GatewayError.UNAUTHORIZED)
        arn = events_in.method_arn(call.request, call.route, call.path)
        key = (call.api.logical_id, call.spec.name, values)
        cached = self._cached(key) if values and call.spec.ttl > 0 else None
        latency = 0
        if cached is None:
            started = self._clock()
            outcome = await self._run(call, _authorizer_event(call, proxy, arn, values))
            if isinstance(outcome, Decision):
                return outcome
            latency = round((self._clock() - started) * 1000)
            if values and call.spec.ttl > 0:
                self._cache[key] = (self._clock() + call.spec.ttl, outcome)
            cached = outcome
        return _decision(call, cached, arn, latency)

    def _valid_token(self, call: _Call, values: tuple[str, ...]) -> bool:
        pattern = self._expressions.get((call.api.logical_id, call.spec.name))
        if call.spec.kind != "TOKEN" or pattern is None:
            return True
        return pattern.fullmatch(values[0]) is not None

    def _cached(self, key: tuple[str, str, tuple[str, ...]]) -> Output | None:
        entry = self._cache.get(key)
        if entry is None:
            return None
        expires, output = entry
        if self._clock() >= expires:
            del self._cache[key]
            return None
        return output

    async def _run(self, call: _Call, event: Mapping[str, object]) -> Output | Decision:
        """The authorizer's parsed output, or the answer its failure gets."""
        function = call.spec.function or ""
        succeeded, payload = await self._invoke(function, json.dumps(event).encode())
        where = f"{call.api.logical_id}: authorizer {call.spec.name} ({call.spec.function})"
        if not succeeded:
            if call.rest and unauthorized_error(payload):
                return _refused(GatewayError.UNAUTHORIZED)
            self._warn(f"{where} failed: {_error_message(payload)}; answering 500.")
            return _refused(GatewayError.AUTHORIZER_FAILURE)
        try:
            return parse_output(
                payload,
                simple=call.spec.simple_responses,
                strict_context=call.rest,
                need_principal=call.rest,
            )
        except Malformed as error:
            self._warn(f"{where} answered what API Gateway does not accept: {error}; "
                       "answering 500. See api-gateway-lambda-authorizer-output.html.")  # fmt: skip
            return _refused(GatewayError.AUTHORIZER_FAILURE)


def _proxy_event(call: _Call) -> dict[str, object]:
    """The proxy event of the request in the authorizer's payload format: what the REQUEST
    events are cut from and the identity sources are read from."""
    v2 = not call.rest and call.spec.payload_format_version == "2.0"
    route = replace(
        call.route,
        authorizer=None,
        payload_format=PayloadFormat.V2 if v2 else PayloadFormat.V1,
        kind=ApiKind.REST if call.rest else ApiKind.HTTP,
    )
    return lambda_event(call.request, route, call.ids)


def _authorizer_event(
    call: _Call, proxy: Mapping[str, object], arn: str, values: Sequence[str]
) -> dict[str, object]:
    if call.spec.kind == "TOKEN":
        return events_in.token_event(values[0], arn)
    if call.rest:
        return events_in.rest_event(proxy, arn)
    if call.spec.payload_format_version == "2.0":
        return events_in.http_v2_event(proxy, arn, values)
    return events_in.http_v1_event(proxy, arn, values)


def _decision(call: _Call, output: Output, arn: str, latency: int) -> Decision:
    verdict = output.judge(arn)
    if verdict is not Verdict.ALLOW:
        return _refused(_REFUSALS[verdict])
    if call.rest:
        context = {key: _stringified(value) for key, value in output.context.items()}
        block = rest_authorizer(output.principal_id or "", context, latency_ms=latency)
    else:
        block = http_lambda_authorizer(output.context)
    return Decision(True, None, block)


def _stringified(value: object) -> object:
    """REST APIs pass context values to proxy integrations as strings ("1", "true");
    null stays null (output.html: "The returned values are all stringified")."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _error_message(payload: bytes) -> str:
    try:
        error = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return payload[:200].decode("utf-8", "replace")
    if isinstance(error, dict):
        return f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
    return str(error)[:200]
