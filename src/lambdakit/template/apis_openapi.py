"""Routes and authorizers of an OpenAPI (or Swagger 2.0) definition with API Gateway's
extensions: ``DefinitionBody``/``DefinitionUri`` of SAM APIs, ``Body`` of
``AWS::ApiGateway::RestApi``/``AWS::ApiGatewayV2::Api``.

Each operation's ``x-amazon-apigateway-integration`` of ``type: aws_proxy`` targets the
function its ``uri`` names; ``x-amazon-apigateway-any-method`` is ``ANY``; ``$default`` is an
HTTP API's default route; ``security`` names the authorizer (``[]``: none), the document's own
``security`` the default (OpenAPI 3). Authorizers are the security schemes with
``x-amazon-apigateway-authorizer``
(https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-swagger-extensions.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdakit.template.apis import AuthorizerSpec, RouteSpec
from lambdakit.template.apis_reading import DEFAULT, ApiBuilder, ApiReader
from lambdakit.template.intrinsics import is_intrinsic
from lambdakit.template.properties import Properties
from lambdakit.template.reading import read_template
from lambdakit.template.values import to_string

__all__ = ["add_openapi", "read_definition"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch")
_ANY = "x-amazon-apigateway-any-method"
_INTEGRATION = "x-amazon-apigateway-integration"


def read_definition(
    properties: Properties, reader: ApiReader, body_key: str, uri_key: str
) -> Mapping[str, Any] | None:
    """The OpenAPI document of an API: inline (BODY_KEY, or an ``AWS::Include`` of a local
    file), or a local file (URI_KEY, YAML or JSON); None, with a warning, for one in S3."""
    body = properties.raw.get(body_key)
    if body is not None:
        include = _included(body)
        if include is not None:
            return _read_file(include, properties, reader, body_key)
        if is_intrinsic(body):
            body = properties.get(body_key)
        if isinstance(body, dict):
            return body
        reader.warn(f"{properties.logical_id}.{body_key}", "is not an OpenAPI document; ignored")
        return None
    uri = properties.get(uri_key)
    if uri is None:
        return None
    if isinstance(uri, str) and not uri.startswith("s3://"):
        return _read_file(uri, properties, reader, uri_key)
    reader.warn(f"{properties.logical_id}.{uri_key}", f"{uri!r} is in S3, not on this "
                "machine; its routes are not served (give a local file)")  # fmt: skip
    return None


def _included(body: Any) -> str | None:
    """The Location of ``Fn::Transform: {Name: AWS::Include, Parameters: {Location: ...}}``."""
    if not (isinstance(body, dict) and set(body) == {"Fn::Transform"}):
        return None
    transform = body["Fn::Transform"]
    if not isinstance(transform, dict) or transform.get("Name") != "AWS::Include":
        return None
    location = (transform.get("Parameters") or {}).get("Location")
    return location if isinstance(location, str) and not location.startswith("s3://") else None


def _read_file(
    name: str, properties: Properties, reader: ApiReader, key: str
) -> Mapping[str, Any] | None:
    path = (reader.base / name).resolve()
    if not path.is_file():
        raise properties.error(key, f"{name} does not exist (looked for {path})")
    document = read_template(path)  # YAML or JSON, with CloudFormation's tags
    for warning in document.warnings:
        reader.resolver.warnings.append(warning)
    return document


def add_openapi(
    document: Mapping[str, Any], builder: ApiBuilder, reader: ApiReader, where: str
) -> None:
    """Add DOCUMENT's authorizers, binary media types and Lambda proxy routes to BUILDER."""
    types = reader.resolver.resolve(document.get("x-amazon-apigateway-binary-media-types"), where)
    if isinstance(types, list):
        builder.binary_media_types += [to_string(t) or "" for t in types]
    builder.authorizers.update(_authorizers(document, builder, reader, where))
    default = _security(document.get("security"), f"{where}.security", reader)
    if default not in (DEFAULT, None):
        builder.default_authorizer = builder.default_authorizer or default
    paths = document.get("paths") or {}
    if not isinstance(paths, dict):
        reader.warn(f"{where}.paths", "must be a mapping of paths; no routes read")
        return
    for path, item in paths.items():
        if isinstance(item, dict):
            for method, operation in item.items():
                if str(method).lower() in (*_METHODS, _ANY):
                    _operation(str(path), str(method).lower(), operation, builder, reader, where)


def _operation(
    path: str, method: str, operation: Any, builder: ApiBuilder, reader: ApiReader, where: str
) -> None:
    where = f"{where}.paths.{path}.{method}"
    integration = operation.get(_INTEGRATION) if isinstance(operation, dict) else None
    if not isinstance(integration, dict):
        reader.warn(where, f"has no {_INTEGRATION}; not served")
        return
    kind = (to_string(reader.resolver.resolve(integration.get("type"), where)) or "").lower()
    if kind != "aws_proxy":
        reader.warn(where, f"a {kind or 'typeless'} integration; only Lambda proxy "
                    "integrations (aws_proxy) are served locally")  # fmt: skip
        return
    function = reader.function_of(integration.get("uri"), f"{where}.{_INTEGRATION}.uri")
    if function is None:
        return
    setting = _settings(integration, reader, where)
    version = "1.0" if builder.kind == "REST" else setting("payloadFormatVersion") or "2.0"
    timeout = setting("timeoutInMillis")
    mode = setting("responseTransferMode") if builder.kind == "REST" else None
    route = RouteSpec(
        method="ANY" if method == _ANY else method.upper(),
        path=path,
        function=function,
        payload_format_version="1.0" if version == "1.0" else "2.0",
        timeout_ms=int(timeout) if timeout and timeout.isdigit() else builder.default_timeout,
        transfer_mode="STREAM" if (mode or "").upper() == "STREAM" else "BUFFERED",
        source=where,
    )
    authorizer = _security(operation.get("security"), f"{where}.security", reader)
    builder.add(route, authorizer, body=True)


def _settings(integration: Mapping[str, Any], reader: ApiReader, where: str) -> Any:
    def setting(key: str) -> str | None:
        value = integration.get(key)
        return None if value is None else to_string(reader.resolver.resolve(value, where))

    return setting


def _security(value: Any, where: str, reader: ApiReader) -> str | None:
    """The authorizer a ``security`` list names: DEFAULT when absent, None for ``[]``."""
    if value is None:
        return DEFAULT
    if not isinstance(value, list) or len(value) > 1:
        reader.warn(where, "API Gateway takes one authorizer per operation; none is applied")
        return None
    if not value or not isinstance(value[0], dict) or len(value[0]) != 1:
        return None
    return str(next(iter(value[0])))


def _authorizers(
    document: Mapping[str, Any], builder: ApiBuilder, reader: ApiReader, where: str
) -> dict[str, AuthorizerSpec]:
    components = document.get("components")
    schemes = document.get("securityDefinitions") or (
        components.get("securitySchemes") if isinstance(components, dict) else None
    )
    found = {}
    for name, scheme in (schemes or {}).items() if isinstance(schemes, dict) else ():
        extension = (
            scheme.get("x-amazon-apigateway-authorizer") if isinstance(scheme, dict) else None
        )
        if not isinstance(extension, dict):
            reader.warn(f"{where}.securitySchemes.{name}", "not a Lambda, Cognito or JWT "
                        "authorizer; not enforced locally")  # fmt: skip
            continue
        values = reader.resolver.resolve(extension, f"{where}.securitySchemes.{name}")
        found[str(name)] = _authorizer(str(name), values, scheme, builder, reader, where)
    return found


def _authorizer(
    name: str,
    values: Mapping[str, Any],
    scheme: Mapping[str, Any],
    builder: ApiBuilder,
    reader: ApiReader,
    where: str,
) -> AuthorizerSpec:
    kind = (to_string(values.get("type")) or "").lower()
    if kind == "cognito_user_pools":
        return AuthorizerSpec(name=name, kind="COGNITO")
    if kind == "jwt":
        source = to_string(values.get("identitySource")) or "$request.header.Authorization"
        return AuthorizerSpec(name=name, kind="JWT", identity_sources=(source,))
    function = reader.function_of(values.get("authorizerUri"), f"{where}.{name}.authorizerUri")
    if kind == "token":
        header = to_string(scheme.get("name")) or "Authorization"
        sources: tuple[str, ...] = (f"method.request.header.{header}",)
    else:
        text = to_string(values.get("identitySource")) or ""
        sources = tuple(s.strip() for s in text.split(",") if s.strip())
    ttl = to_string(values.get("authorizerResultTtlInSeconds"))
    version = to_string(values.get("authorizerPayloadFormatVersion"))
    rest = builder.kind == "REST"
    return AuthorizerSpec(
        name=name,
        kind="TOKEN" if kind == "token" else "REQUEST",
        function=function,
        identity_sources=sources,
        validation_expression=to_string(values.get("identityValidationExpression")) or None,
        ttl=int(ttl) if ttl and ttl.isdigit() else (300 if rest and sources else 0),
        payload_format_version="2.0" if not rest and version == "2.0" else "1.0",
        simple_responses=not rest and values.get("enableSimpleResponses") in (True, "true"),
    )
