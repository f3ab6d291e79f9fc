"""The events API Gateway sends a Lambda authorizer, and the identity values it checks first.
Pure functions of the request, its route and the integration event built for it.

Sources:

- [doc] https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-lambda-
  authorizer-input.html: a REST ``TOKEN`` authorizer gets ``type``, ``authorizationToken`` and
  ``methodArn`` (``arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{httpVerb}/{path}``);
  a ``REQUEST`` authorizer gets ``type``, ``methodArn`` and the proxy event's ``resource``,
  ``path``, ``httpMethod``, headers, query strings (single and multi-value), path parameters,
  stage variables and ``requestContext`` -- no body.
- [doc] .../http-api-lambda-authorizer.html: payload 2.0 is the 2.0 proxy event without a body,
  with ``type: REQUEST``, ``routeArn`` and ``identitySource`` (the values, a list); payload 1.0
  is the 1.0 event with ``methodArn``, and ``identitySource`` and ``authorizationToken`` (the
  values joined by commas). "If any identity source is missing, null or empty, API Gateway
  returns 401 without calling the authorizer."
- [doc] apigateway-lambda-authorizer-input / CreateAuthorizer: identity sources are
  ``method.request.header.X``, ``method.request.querystring.X``, ``stageVariables.X`` and
  ``context.X`` (REST); ``$request.header.X``, ``$request.querystring.X``,
  ``$stageVariables.X``, ``$context.X`` (HTTP APIs).
- UNVERIFIED: the ARN for an HTTP API's ``$default`` route (the docs' two examples disagree);
  it is written as for any route, ``/{stage}/{method}{path}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lambdakit.emulator.apis.requests import ApiRequest, RouteContext

__all__ = [
    "http_v1_event",
    "http_v2_event",
    "identity_values",
    "method_arn",
    "rest_event",
    "token_event",
]

_REST_PREFIXES = {
    "method.request.header.": "header",
    "method.request.querystring.": "query",
    "stageVariables.": "stage",
    "context.": "context",
}
_HTTP_PREFIXES = {
    "$request.header.": "header",
    "$request.querystring.": "query",
    "$stageVariables.": "stage",
    "$context.": "context",
}
# 2.0 events keep the caller under ``http``; the $context variables name it as 1.0 does.
_V2_CONTEXT_ALIASES = {
    "identity.sourceIp": "http.sourceIp",
    "identity.userAgent": "http.userAgent",
    "httpMethod": "http.method",
    "path": "http.path",
}
_REST_REQUEST_KEYS = (
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
)
_HTTP_V1_KEYS = (
    "resource",
    "path",
    "httpMethod",
    "headers",
    "queryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
)
_HTTP_V2_KEYS = (
    "routeKey",
    "rawPath",
    "rawQueryString",
    "cookies",
    "headers",
    "queryStringParameters",
    "requestContext",
    "pathParameters",
    "stageVariables",
)


def method_arn(request: ApiRequest, route: RouteContext, path: str) -> str:
    """The ARN of the method called: the request's verb and PATH (without the stage; REST
    APIs: as sent; HTTP APIs: decoded), never the route's template."""
    prefix = f"arn:aws:execute-api:{route.region}:{route.account_id}:{route.api_id}"
    return f"{prefix}/{route.stage}/{request.method.upper()}{path}"


def identity_values(
    sources: Sequence[str], event: Mapping[str, object], route: RouteContext, *, rest: bool
) -> tuple[str, ...] | None:
    """The value of each identity source in EVENT (the proxy event built for the request), or
    None if one is missing or empty: API Gateway's 401 without invoking."""
    values = []
    for source in sources:
        value = _value(source, event, route, rest=rest)
        if not value:
            return None
        values.append(value)
    return tuple(values)


def _value(source: str, event: Mapping[str, object], route: RouteContext, *, rest: bool) -> str:
    prefixes = _REST_PREFIXES if rest else _HTTP_PREFIXES
    for prefix, where in prefixes.items():
        if source.startswith(prefix):
            name = source[len(prefix) :]
            if where == "header":
                return _lookup(event.get("headers"), name, fold=True)
            if where == "query":
                return _lookup(event.get("queryStringParameters"), name, fold=False)
            if where == "stage":
                return route.stage_variables.get(name, "")
            return _context_value(event.get("requestContext"), name)
    return ""


def _lookup(values: object, name: str, *, fold: bool) -> str:
    """A header (names without case) or query parameter of the event's single-value map."""
    if not isinstance(values, Mapping):
        return ""
    if fold:
        wanted = name.lower()
        return next((str(v) for k, v in values.items() if str(k).lower() == wanted), "")
    return str(values.get(name) or "")


def _context_value(context: object, name: str) -> str:
    for path in (name, _V2_CONTEXT_ALIASES.get(name)):
        if path is None:
            continue
        value = context
        for part in path.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is not None and not isinstance(value, (Mapping, list)):
            return str(value)
    return ""


def token_event(token: str, arn: str) -> dict[str, object]:
    """A REST ``TOKEN`` authorizer's event."""
    return {"type": "TOKEN", "authorizationToken": token, "methodArn": arn}


def rest_event(proxy: Mapping[str, object], arn: str) -> dict[str, object]:
    """A REST ``REQUEST`` authorizer's event, from the REST proxy event of the request."""
    return {"type": "REQUEST", "methodArn": arn, **{k: proxy[k] for k in _REST_REQUEST_KEYS}}


def http_v1_event(
    proxy: Mapping[str, object], arn: str, values: Sequence[str]
) -> dict[str, object]:
    """An HTTP API authorizer's payload 1.0 event, from the HTTP API 1.0 proxy event."""
    joined = ",".join(values)
    event: dict[str, object] = {
        "version": "1.0",
        "type": "REQUEST",
        "methodArn": arn,
        "identitySource": joined,
        "authorizationToken": joined,
    }
    event.update({k: proxy[k] for k in _HTTP_V1_KEYS})
    event["requestContext"] = _without_authorizer(proxy["requestContext"])
    return event


def http_v2_event(
    proxy: Mapping[str, object], arn: str, values: Sequence[str]
) -> dict[str, object]:
    """An HTTP API authorizer's payload 2.0 event, from the 2.0 proxy event."""
    event: dict[str, object] = {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": arn,
        "identitySource": list(values),
    }
    event.update({k: proxy[k] for k in _HTTP_V2_KEYS if k in proxy})
    event["requestContext"] = _without_authorizer(proxy["requestContext"])
    return event


def _without_authorizer(context: object) -> dict[str, object]:
    """The request context before any authorizer ran (1.0 events carry a placeholder)."""
    if not isinstance(context, Mapping):
        return {}
    return {key: value for key, value in context.items() if key != "authorizer"}
