"""CloudFormation's own API resources, where they describe Lambda proxy routes.

REST (``AWS::ApiGateway::*``): a ``RestApi`` (its ``Body``, if any, read as OpenAPI), its
``Resource`` tree (``ParentId`` chains up to ``!GetAtt Api.RootResourceId``, each adding its
``PathPart``), a ``Method`` per method and resource with an ``Integration`` of ``Type:
AWS_PROXY``, ``Authorizer``s, and the ``Stage`` (or a ``Deployment``'s ``StageName``).

HTTP (``AWS::ApiGatewayV2::*``): an ``Api`` of ``ProtocolType: HTTP`` (quick create with
``Target``, or a ``Body``), ``Route``s whose ``Target`` is ``integrations/<Integration>``, each
``Integration`` of ``IntegrationType: AWS_PROXY``, ``Authorizer``s and a ``Stage``.
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/AWS_ApiGateway.html,
AWS_ApiGatewayV2.html)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdakit.template.apis import AuthorizerSpec, RouteSpec
from lambdakit.template.apis_openapi import add_openapi, read_definition
from lambdakit.template.apis_reading import ApiBuilder, ApiReader, referenced_id, root_of
from lambdakit.template.properties import Properties
from lambdakit.template.values import to_string

__all__ = ["read_cfn_apis"]

_V1, _V2 = "AWS::ApiGateway::", "AWS::ApiGatewayV2::"


def read_cfn_apis(reader: ApiReader) -> dict[str, ApiBuilder]:
    """The ``AWS::ApiGateway::RestApi`` and ``AWS::ApiGatewayV2::Api`` APIs, with routes."""
    builders = _rest_apis(reader) | _http_apis(reader)
    for logical_id, _ in reader.resources_of(f"{_V1}Authorizer", f"{_V2}Authorizer"):
        _authorizer(logical_id, reader, builders)
    _stages(reader, builders)
    for logical_id, _ in reader.resources_of(f"{_V1}Method"):
        _method(logical_id, reader, builders)
    for logical_id, _ in reader.resources_of(f"{_V2}Route"):
        _route(logical_id, reader, builders)
    return builders


def _rest_apis(reader: ApiReader) -> dict[str, ApiBuilder]:
    builders = {}
    for logical_id, _ in reader.resources_of(f"{_V1}RestApi"):
        properties = reader.properties(logical_id)
        builder = ApiBuilder(logical_id, "REST", "Prod", reader.path)
        types = properties.get("BinaryMediaTypes") or []
        builder.binary_media_types = [(to_string(t) or "").replace("~1", "/") for t in types]
        document = read_definition(properties, reader, "Body", "BodyS3Location")
        if document is not None:
            add_openapi(document, builder, reader, f"{logical_id}.Body")
        builders[logical_id] = builder
    return builders


def _http_apis(reader: ApiReader) -> dict[str, ApiBuilder]:
    from lambdakit.template.apis_auth import http_cors

    builders = {}
    for logical_id, _ in reader.resources_of(f"{_V2}Api"):
        properties = reader.properties(logical_id)
        protocol = to_string(properties.get("ProtocolType")) or "HTTP"
        if protocol != "HTTP" and "Body" not in properties.raw:
            reader.warn(logical_id, f"a {protocol} API; lambdakit serves REST and HTTP APIs")
            continue
        builder = ApiBuilder(logical_id, "HTTP", "$default", reader.path)
        builder.cors = http_cors(properties.get("CorsConfiguration"), properties)
        document = read_definition(properties, reader, "Body", "BodyS3Location")
        if document is not None:
            add_openapi(document, builder, reader, f"{logical_id}.Body")
        if "Target" in properties.raw:  # quick create: one route, to a function
            _quick_route(properties, builder, reader)
        builders[logical_id] = builder
    return builders


def _quick_route(properties: Properties, builder: ApiBuilder, reader: ApiReader) -> None:
    function = reader.function_of(properties.raw["Target"], f"{properties.logical_id}.Target")
    if function is None:
        return
    method, path = _route_key(to_string(properties.get("RouteKey")) or "$default")
    route = RouteSpec(
        method=method, path=path, function=function, payload_format_version="2.0",
        timeout_ms=builder.default_timeout, source=f"{properties.logical_id}.Target",
    )  # fmt: skip
    builder.add(route, None)


def _api_of(
    properties: Properties, key: str, builders: Mapping[str, ApiBuilder], reader: ApiReader
) -> ApiBuilder | None:
    api_id = referenced_id(properties.raw.get(key))
    builder = builders.get(api_id or "")
    if builder is None:
        reader.warn(f"{properties.logical_id}.{key}", f"{api_id or 'missing'}: not an API of "
                    "this template that lambdakit serves; ignored")  # fmt: skip
    return builder


def _stages(reader: ApiReader, builders: Mapping[str, ApiBuilder]) -> None:
    staged: set[str] = set()
    for kind, key in ((f"{_V1}Stage", "RestApiId"), (f"{_V2}Stage", "ApiId")):
        for logical_id, _ in reader.resources_of(kind):
            properties = reader.properties(logical_id)
            builder = _api_of(properties, key, builders, reader)
            if builder is None or builder.logical_id in staged:
                continue  # the first stage of an API is the one served
            staged.add(builder.logical_id)
            builder.stage_name = to_string(properties.get("StageName")) or builder.stage_name
            variables = properties.get("Variables" if key == "RestApiId" else "StageVariables")
            if isinstance(variables, dict):
                builder.stage_variables = {str(k): to_string(v) or "" for k, v in variables.items()}
    for logical_id, _ in reader.resources_of(f"{_V1}Deployment"):
        properties = reader.properties(logical_id)
        builder = builders.get(referenced_id(properties.raw.get("RestApiId")) or "")
        stage = to_string(properties.get("StageName"))
        if builder is not None and stage and builder.logical_id not in staged:
            builder.stage_name = stage


def _authorizer(logical_id: str, reader: ApiReader, builders: Mapping[str, ApiBuilder]) -> None:
    properties = reader.properties(logical_id)
    v1 = reader.type_of(logical_id) == f"{_V1}Authorizer"
    builder = _api_of(properties, "RestApiId" if v1 else "ApiId", builders, reader)
    if builder is None:
        return
    kind = (to_string(properties.get("Type" if v1 else "AuthorizerType")) or "").upper()
    if kind in ("COGNITO_USER_POOLS", "JWT"):
        spec = AuthorizerSpec(name=logical_id, kind="COGNITO" if v1 else "JWT")
    else:
        spec = _lambda_authorizer(logical_id, kind, properties, reader, v1)
    builder.authorizers[logical_id] = spec


def _lambda_authorizer(
    logical_id: str, kind: str, properties: Properties, reader: ApiReader, v1: bool
) -> AuthorizerSpec:
    function = reader.function_of(
        properties.raw.get("AuthorizerUri"), f"{logical_id}.AuthorizerUri"
    )
    sources = properties.get("IdentitySource")
    if isinstance(sources, str):  # REST: comma-separated; HTTP: a list
        sources = [s.strip() for s in sources.split(",") if s.strip()]
    sources = tuple(to_string(s) or "" for s in sources or ())
    if v1 and kind == "TOKEN" and not sources:
        sources = ("method.request.header.Authorization",)
    ttl = properties.integer("AuthorizerResultTtlInSeconds", 0, 3600, "seconds")
    version = to_string(properties.get("AuthorizerPayloadFormatVersion")) if not v1 else None
    return AuthorizerSpec(
        name=logical_id,
        kind="TOKEN" if kind == "TOKEN" else "REQUEST",
        function=function,
        identity_sources=sources,
        validation_expression=to_string(properties.get("IdentityValidationExpression")) or None,
        ttl=(300 if v1 and sources else 0) if ttl is None else ttl,
        payload_format_version="2.0" if version == "2.0" else "1.0",
        simple_responses=properties.get("EnableSimpleResponses") in (True, "true"),
    )


def _method(logical_id: str, reader: ApiReader, builders: Mapping[str, ApiBuilder]) -> None:
    properties = reader.properties(logical_id)
    builder = _api_of(properties, "RestApiId", builders, reader)
    integration = properties.raw.get("Integration")
    if builder is None:
        return
    kind = to_string(reader.resolver.resolve((integration or {}).get("Type"), logical_id))
    if not isinstance(integration, dict) or kind != "AWS_PROXY":
        reader.warn(f"{logical_id}.Integration", f"a {kind or 'missing'} integration; only "
                    "Lambda proxy integrations (AWS_PROXY) are served locally")  # fmt: skip
        return
    function = reader.function_of(integration.get("Uri"), f"{logical_id}.Integration.Uri")
    path = _resource_path(properties.raw.get("ResourceId"), reader, builder.logical_id)
    if function is None or path is None:
        return
    integration_properties = reader.properties(f"{logical_id}.Integration", integration)
    timeout = integration_properties.integer("TimeoutInMillis", 50, 2**31, "milliseconds")
    mode = to_string(integration_properties.get("ResponseTransferMode"))
    route = RouteSpec(
        method=(to_string(properties.get("HttpMethod")) or "ANY").upper(),
        path=path, function=function, payload_format_version="1.0",
        timeout_ms=timeout or builder.default_timeout,
        transfer_mode="STREAM" if mode == "STREAM" else "BUFFERED", source=logical_id,
    )  # fmt: skip
    builder.add(route, _method_authorizer(properties))


def _method_authorizer(properties: Properties) -> str | None:
    kind = (to_string(properties.get("AuthorizationType")) or "NONE").upper()
    if kind == "AWS_IAM":
        return "AWS_IAM"
    if kind in ("CUSTOM", "COGNITO_USER_POOLS"):
        return referenced_id(properties.raw.get("AuthorizerId"))
    return None


def _resource_path(raw: Any, reader: ApiReader, api_id: str) -> str | None:
    """The path of the REST resource RAW refers to, following ParentId to the root."""
    parts: list[str] = []
    seen: set[str] = set()
    while root_of(raw) is None:
        resource_id = referenced_id(raw)
        if resource_id in seen or reader.type_of(resource_id) != f"{_V1}Resource":
            reader.warn(f"{api_id}", f"resource {resource_id or raw!r} is not an "
                        f"{_V1}Resource of this template; its methods are not served")  # fmt: skip
            return None
        assert resource_id is not None
        seen.add(resource_id)
        properties = reader.properties(resource_id)
        parts.append(to_string(properties.get("PathPart")) or "")
        raw = properties.raw.get("ParentId")
    return "/" + "/".join(reversed(parts))


def _route(logical_id: str, reader: ApiReader, builders: Mapping[str, ApiBuilder]) -> None:
    properties = reader.properties(logical_id)
    builder = _api_of(properties, "ApiId", builders, reader)
    if builder is None:
        return
    integration_id = referenced_id(properties.raw.get("Target"))
    if reader.type_of(integration_id) != f"{_V2}Integration":
        reader.warn(f"{logical_id}.Target", "names no AWS::ApiGatewayV2::Integration of this "
                    "template; the route is not served")  # fmt: skip
        return
    assert integration_id is not None
    integration = reader.properties(integration_id)
    kind = to_string(integration.get("IntegrationType"))
    if kind != "AWS_PROXY":
        reader.warn(f"{integration_id}.IntegrationType", f"{kind}: only Lambda proxy "
                    "integrations (AWS_PROXY) are served locally")  # fmt: skip
        return
    where = f"{integration_id}.IntegrationUri"
    function = reader.function_of(integration.raw.get("IntegrationUri"), where)
    if function is None:
        return
    method, path = _route_key(to_string(properties.get("RouteKey")) or "")
    version = to_string(integration.get("PayloadFormatVersion")) or "2.0"
    route = RouteSpec(
        method=method, path=path, function=function,
        payload_format_version="1.0" if version == "1.0" else "2.0",
        timeout_ms=integration.integer("TimeoutInMillis", 50, 30000, "milliseconds")
        or builder.default_timeout,
        source=logical_id,
    )  # fmt: skip
    builder.add(route, _method_authorizer(properties))


def _route_key(key: str) -> tuple[str, str]:
    """``GET /pets/{id}`` -> (GET, /pets/{id}); ``$default`` -> (ANY, $default)."""
    method, _, path = key.strip().partition(" ")
    if not path:
        return "ANY", "$default"
    return method.upper(), path.strip()
