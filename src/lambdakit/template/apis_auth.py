"""SAM's ``Auth`` and ``Cors`` of ``AWS::Serverless::Api`` / ``HttpApi`` as AuthorizerSpec and
CorsSpec values.

REST (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/
sam-property-api-lambdatokenauthorizer.html, ...lambdarequestauthorizer.html): a Lambda
authorizer has ``FunctionArn`` and ``FunctionPayloadType`` (``TOKEN``, the default, or
``REQUEST``); ``Identity`` names the token's ``Header`` (``Authorization``) and its
``ValidationExpression``, or the request's ``Headers``/``QueryStrings``/``StageVariables``/
``Context``; ``ReauthorizeEvery`` is the cache TTL (300 s by default, 0 disables). An authorizer
with ``UserPoolArn`` is Cognito's.

HTTP (sam-property-httpapi-lambdaauthorizer.html): ``FunctionArn``,
``AuthorizerPayloadFormatVersion`` (required: 1.0 or 2.0), ``EnableSimpleResponses`` (2.0
only), ``Identity`` with ``Headers``/``QueryStrings``/``StageVariables``/``Context`` and
``ReauthorizeEvery``. An authorizer with ``JwtConfiguration`` is a JWT authorizer;
``EnableIamAuthorizer: true`` makes ``AWS_IAM`` usable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdakit.template.apis import ApiKind, AuthorizerSpec, CorsSpec
from lambdakit.template.apis_reading import ApiReader
from lambdakit.template.properties import Properties
from lambdakit.template.values import to_string

__all__ = ["http_cors", "rest_cors", "sam_authorizers"]

_DEFAULT_TTL = 300
_REST_SOURCES = {  # Identity key -> REST identity source prefix
    "Headers": "method.request.header.",
    "QueryStrings": "method.request.querystring.",
    "StageVariables": "stageVariables.",
    "Context": "context.",
}
_HTTP_SOURCES = {key: "$" + prefix.removeprefix("method.") for key, prefix in _REST_SOURCES.items()}


def sam_authorizers(
    auth: Mapping[str, Any], properties: Properties, kind: ApiKind, reader: ApiReader
) -> dict[str, AuthorizerSpec]:
    """The ``Auth.Authorizers`` of one SAM API (resolved values)."""
    found: dict[str, AuthorizerSpec] = {}
    authorizers = auth.get("Authorizers") or {}
    if not isinstance(authorizers, dict):
        raise properties.error("Auth.Authorizers", "must be a mapping of names to authorizers")
    for name, values in authorizers.items():
        where = f"Auth.Authorizers.{name}"
        if not isinstance(values, dict):
            raise properties.error(where, "must be a mapping (FunctionArn, Identity...)")
        spec = _authorizer(str(name), values, properties, kind, reader, where)
        if spec is not None:
            found[str(name)] = spec
    if kind == "HTTP" and auth.get("EnableIamAuthorizer") in (True, "true"):
        found["AWS_IAM"] = AuthorizerSpec(name="AWS_IAM", kind="IAM")
    return found


def _authorizer(
    name: str,
    values: Mapping[str, Any],
    properties: Properties,
    kind: ApiKind,
    reader: ApiReader,
    where: str,
) -> AuthorizerSpec | None:
    if "UserPoolArn" in values:
        return AuthorizerSpec(name=name, kind="COGNITO")
    if "JwtConfiguration" in values:
        source = to_string(values.get("IdentitySource")) or "$request.header.Authorization"
        return AuthorizerSpec(name=name, kind="JWT", identity_sources=(source,))
    if "FunctionArn" not in values:
        message = "not a Lambda, Cognito or JWT authorizer; routes using it are not run"
        reader.warn(f"{properties.logical_id}.{where}", message)
        return AuthorizerSpec(name=name, kind="OTHER")
    function = reader.function_of(values["FunctionArn"], f"{properties.logical_id}.{where}")
    identity = values.get("Identity") or {}
    if not isinstance(identity, dict):
        raise properties.error(f"{where}.Identity", "must be a mapping (Header, Headers...)")
    if kind == "REST":
        return _rest_lambda(name, function, values, identity, properties, where)
    return _http_lambda(name, function, values, identity, properties, where)


def _rest_lambda(
    name: str,
    function: str | None,
    values: Mapping[str, Any],
    identity: Mapping[str, Any],
    properties: Properties,
    where: str,
) -> AuthorizerSpec:
    payload = to_string(values.get("FunctionPayloadType")) or "TOKEN"
    if payload not in ("TOKEN", "REQUEST"):
        raise properties.error(f"{where}.FunctionPayloadType", f"{payload!r}: use TOKEN or REQUEST")
    ttl = _ttl(identity, properties, where)
    if payload == "TOKEN":
        header = to_string(identity.get("Header")) or "Authorization"
        return AuthorizerSpec(
            name=name, kind="TOKEN", function=function,
            identity_sources=(f"method.request.header.{header}",),
            validation_expression=to_string(identity.get("ValidationExpression")) or None,
            ttl=_DEFAULT_TTL if ttl is None else ttl,
        )  # fmt: skip
    sources = _sources(identity, _REST_SOURCES, properties, where)
    # Without identity sources API Gateway cannot key a cache: caching is off.
    default_ttl = _DEFAULT_TTL if sources else 0
    return AuthorizerSpec(
        name=name, kind="REQUEST", function=function, identity_sources=sources,
        ttl=default_ttl if ttl is None else ttl,
    )  # fmt: skip


def _http_lambda(
    name: str,
    function: str | None,
    values: Mapping[str, Any],
    identity: Mapping[str, Any],
    properties: Properties,
    where: str,
) -> AuthorizerSpec:
    version = to_string(values.get("AuthorizerPayloadFormatVersion"))
    if version not in ("1.0", "2.0"):
        raise properties.error(
            f"{where}.AuthorizerPayloadFormatVersion",
            f"{version or 'missing'}: an HTTP API's Lambda authorizer needs 1.0 or 2.0",
        )
    simple = values.get("EnableSimpleResponses") in (True, "true")
    if simple and version == "1.0":
        raise properties.error(
            f"{where}.EnableSimpleResponses", "goes with AuthorizerPayloadFormatVersion 2.0"
        )
    sources = _sources(identity, _HTTP_SOURCES, properties, where)
    ttl = _ttl(identity, properties, where)
    return AuthorizerSpec(
        name=name, kind="REQUEST", function=function, identity_sources=sources,
        ttl=(_DEFAULT_TTL if sources else 0) if ttl is None else ttl,
        payload_format_version="2.0" if version == "2.0" else "1.0",
        simple_responses=simple,
    )  # fmt: skip


def _sources(
    identity: Mapping[str, Any], prefixes: Mapping[str, str], properties: Properties, where: str
) -> tuple[str, ...]:
    sources = []
    for key, prefix in prefixes.items():
        names = identity.get(key) or []
        if not isinstance(names, list):
            raise properties.error(f"{where}.Identity.{key}", "must be a list of names")
        sources += [f"{prefix}{to_string(item)}" for item in names]
    return tuple(sources)


def _ttl(identity: Mapping[str, Any], properties: Properties, where: str) -> int | None:
    value = identity.get("ReauthorizeEvery")
    if value is None:
        return None
    text = to_string(value) or ""
    # API Gateway caches authorizer results for 0 to 3600 seconds.
    if not text.isdigit() or int(text) > 3600:
        raise properties.error(
            f"{where}.Identity.ReauthorizeEvery", f"{value!r}: give 0 to 3600 seconds"
        )
    return int(text)


def rest_cors(value: Any, properties: Properties, reader: ApiReader) -> CorsSpec | None:
    """REST ``Cors``: a quoted origin (``"'*'"``), or AllowOrigin/AllowMethods/AllowHeaders/
    MaxAge/AllowCredentials, each a quoted string as in an integration response mapping
    (sam-property-api-corsconfiguration.html)."""
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        value = {"AllowOrigin": value}
    where = f"{properties.logical_id}.Cors"

    def text(key: str) -> str | None:
        item = value.get(key)
        if item is None or isinstance(item, bool):
            return None
        raw = to_string(item) or ""
        if not (len(raw) >= 2 and raw[0] == raw[-1] == "'"):
            reader.warn(f"{where}.{key}", f"{raw!r} should be quoted (\"'{raw}'\"), as API "
                        "Gateway reads it as a literal; taken as written")  # fmt: skip
            return raw
        return raw[1:-1]

    origin, methods, headers, max_age = (
        text(k) for k in ("AllowOrigin", "AllowMethods", "AllowHeaders", "MaxAge")
    )
    return CorsSpec(
        allow_origins=(origin,) if origin else (),
        allow_methods=_split(methods, upper=True),
        allow_headers=_split(headers),
        max_age=int(max_age) if max_age and max_age.isdigit() else None,
        allow_credentials=value.get("AllowCredentials") in (True, "true", "'true'"),
    )


def http_cors(value: Any, properties: Properties) -> CorsSpec | None:
    """HTTP ``CorsConfiguration``: ``true`` (every origin and method, as SAM CLI reads it), or
    AllowOrigins/AllowMethods/AllowHeaders/ExposeHeaders lists, MaxAge, AllowCredentials."""
    if value in (None, False, "false"):
        return None
    if value in (True, "true"):
        return CorsSpec(allow_origins=("*",), allow_methods=("*",))
    if not isinstance(value, dict):
        raise properties.error("CorsConfiguration", "must be true or a mapping (AllowOrigins...)")

    def strings(key: str) -> tuple[str, ...]:
        items = value.get(key) or []
        if not isinstance(items, list):
            raise properties.error(f"CorsConfiguration.{key}", "must be a list of strings")
        return tuple(to_string(item) or "" for item in items)

    max_age = to_string(value.get("MaxAge"))
    return CorsSpec(
        allow_origins=strings("AllowOrigins"),
        allow_methods=tuple(m.upper() for m in strings("AllowMethods")),
        allow_headers=strings("AllowHeaders"),
        expose_headers=strings("ExposeHeaders"),
        max_age=int(max_age) if max_age and max_age.isdigit() else None,
        allow_credentials=value.get("AllowCredentials") in (True, "true"),
    )


def _split(text: str | None, *, upper: bool = False) -> tuple[str, ...]:
    items = [item.strip() for item in (text or "").split(",") if item.strip()]
    return tuple(item.upper() if upper else item for item in items)
