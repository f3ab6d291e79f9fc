"""SAM's APIs: ``AWS::Serverless::Api`` / ``HttpApi`` resources, and the routes of function
``Events`` of Type ``Api`` / ``HttpApi``.

An event without ``RestApiId`` (``ApiId``) belongs to the API SAM creates for it,
``ServerlessRestApi`` (stage ``Prod``) or ``ServerlessHttpApi`` (stage ``$default``);
``Globals.Api`` / ``Globals.HttpApi`` apply to those and to the explicit ones
(sam-property-function-api.html, sam-property-function-httpapi.html,
sam-resource-api.html, sam-resource-httpapi.html).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from lambdakit.template.apis import (
    IMPLICIT_HTTP_API,
    IMPLICIT_REST_API,
    ApiKind,
    RouteSpec,
)
from lambdakit.template.apis_auth import http_cors, rest_cors, sam_authorizers
from lambdakit.template.apis_openapi import add_openapi, read_definition
from lambdakit.template.apis_reading import DEFAULT, ApiBuilder, ApiReader, referenced_id
from lambdakit.template.errors import TemplateError
from lambdakit.template.intrinsics import is_intrinsic
from lambdakit.template.properties import Properties
from lambdakit.template.resources import merge_globals
from lambdakit.template.values import to_string

__all__ = ["read_sam_apis"]

_TYPES: Mapping[ApiKind, str] = {
    "REST": "AWS::Serverless::Api",
    "HTTP": "AWS::Serverless::HttpApi",
}
_GLOBALS: Mapping[ApiKind, str] = {"REST": "Api", "HTTP": "HttpApi"}
_EVENTS: Mapping[str, ApiKind] = {"Api": "REST", "HttpApi": "HTTP"}


def read_sam_apis(reader: ApiReader, template: Mapping[str, Any]) -> dict[str, ApiBuilder]:
    """The SAM APIs of the template, implicit ones first, each with its routes."""
    sam = _SamApis(reader, template)
    for kind, kind_type in _TYPES.items():
        for logical_id, resource in reader.resources_of(kind_type):
            sam.explicit(logical_id, resource, kind)
    for logical_id, resource in reader.resources_of("AWS::Serverless::Function"):
        sam.events(logical_id, resource)
    implicit = [k for k in (IMPLICIT_REST_API, IMPLICIT_HTTP_API) if k in sam.builders]
    return {k: sam.builders[k] for k in [*implicit, *sam.builders]}


class _SamApis:
    def __init__(self, reader: ApiReader, template: Mapping[str, Any]) -> None:
        self.reader = reader
        globals_ = template.get("Globals")
        self.globals = globals_ if isinstance(globals_, dict) else {}
        self.builders: dict[str, ApiBuilder] = {}

    def explicit(
        self, logical_id: str, resource: Mapping[str, Any], kind: ApiKind, raw: Any = None
    ) -> ApiBuilder:
        raw = (resource.get("Properties") or {}) if raw is None else raw
        if not isinstance(raw, dict):
            raise TemplateError(f"{self.reader.path}: {logical_id}.Properties must be a mapping")
        merged = merge_globals(self.globals.get(_GLOBALS[kind]) or {}, raw)
        properties = self.reader.properties(logical_id, merged)
        builder = ApiBuilder(logical_id, kind, self._stage(properties, kind), self.reader.path)
        self.builders[logical_id] = builder
        variables = "Variables" if kind == "REST" else "StageVariables"
        builder.stage_variables = _strings(properties, variables)
        if kind == "REST":
            types = properties.get("BinaryMediaTypes") or []
            # ~1 stands for / in binary media types, as in JSON Pointer (sam-resource-api.html).
            builder.binary_media_types = [(to_string(t) or "").replace("~1", "/") for t in types]
            builder.cors = rest_cors(properties.get("Cors"), properties, self.reader)
        else:
            builder.cors = http_cors(properties.get("CorsConfiguration"), properties)
        self._auth(properties, builder)
        document = read_definition(properties, self.reader, "DefinitionBody", "DefinitionUri")
        if document is not None:
            where = (
                f"{logical_id}.{'DefinitionBody' if 'DefinitionBody' in raw else 'DefinitionUri'}"
            )
            add_openapi(document, builder, self.reader, where)
        return builder

    def _stage(self, properties: Properties, kind: ApiKind) -> str:
        stage = to_string(properties.get("StageName"))
        if stage:
            return stage
        if kind == "REST" and properties.logical_id != IMPLICIT_REST_API:
            raise properties.error("StageName", "missing; an AWS::Serverless::Api needs one")
        return "Prod" if kind == "REST" else "$default"

    def _auth(self, properties: Properties, builder: ApiBuilder) -> None:
        auth = properties.get("Auth") or {}
        if not isinstance(auth, dict):
            raise properties.error("Auth", "must be a mapping (Authorizers, DefaultAuthorizer)")
        builder.authorizers.update(sam_authorizers(auth, properties, builder.kind, self.reader))
        default = to_string(auth.get("DefaultAuthorizer"))
        builder.default_authorizer = default or None

    def events(self, function_id: str, resource: Mapping[str, Any]) -> None:
        raw = resource.get("Properties") or {}
        events = raw.get("Events") if isinstance(raw, dict) else None
        for name, event in (events or {}).items() if isinstance(events, dict) else ():
            kind = _EVENTS.get(str(event.get("Type"))) if isinstance(event, dict) else None
            if kind is not None:
                self._event(function_id, str(name), event.get("Properties") or {}, kind)

    def _event(self, function_id: str, name: str, raw: Any, kind: ApiKind) -> None:
        source = f"{function_id}.Events.{name}"
        properties = self.reader.properties(source, raw)
        function = self.reader.function_named(function_id)
        if function is None:
            self.reader.warn(source, f"{function_id} is not among the functions run here; "
                             "its route is not served")  # fmt: skip
            return
        builder = self._builder_for(properties, kind)
        method, path = self._method_and_path(properties, kind)
        auth = properties.get("Auth") or {}
        authorizer = to_string(auth.get("Authorizer")) if isinstance(auth, dict) else None
        version = _optional(properties, "PayloadFormatVersion") if kind == "HTTP" else None
        if version not in (None, "1.0", "2.0"):
            raise properties.error("PayloadFormatVersion", f"{version!r}: use 1.0 or 2.0")
        high = 30000 if kind == "HTTP" else sys.maxsize  # REST: raisable past 29 s by quota
        timeout = properties.integer("TimeoutInMillis", 50, high, "milliseconds")
        mode = _optional(properties, "ResponseTransferMode") if kind == "REST" else None
        if mode not in (None, "BUFFERED", "STREAM"):
            raise properties.error("ResponseTransferMode", f"{mode!r}: use BUFFERED or STREAM")
        route = RouteSpec(
            method=method, path=path, function=function,
            payload_format_version="1.0" if kind == "REST" else version or "2.0",  # type: ignore[arg-type]
            timeout_ms=timeout or builder.default_timeout,
            transfer_mode="STREAM" if mode == "STREAM" else "BUFFERED",
            source=source,
        )  # fmt: skip
        builder.add(route, authorizer or DEFAULT)

    def _builder_for(self, properties: Properties, kind: ApiKind) -> ApiBuilder:
        key = "RestApiId" if kind == "REST" else "ApiId"
        raw = properties.raw.get(key)
        if raw is None:
            implicit = IMPLICIT_REST_API if kind == "REST" else IMPLICIT_HTTP_API
            if implicit not in self.builders:
                self.explicit(implicit, {}, kind, raw={})
            return self.builders[implicit]
        api_id = referenced_id(raw) if is_intrinsic(raw) or isinstance(raw, str) else None
        if api_id in self.builders and self.builders[api_id].kind == kind:
            return self.builders[api_id]
        raise properties.error(
            key, f"{raw!r} is not an {_TYPES[kind]} of this template; give !Ref of one"
        )

    def _method_and_path(self, properties: Properties, kind: ApiKind) -> tuple[str, str]:
        path = to_string(properties.get("Path"))
        method = (to_string(properties.get("Method")) or "").upper()
        if kind == "HTTP" and not path:
            return "ANY", "$default"  # an HttpApi event without a Path is the $default route
        if kind == "REST" and not (path and method):
            missing = "Path" if not path else "Method"
            raise properties.error(missing, "missing; an Api event needs a Path and a Method")
        method = "ANY" if method in ("", "X-AMAZON-APIGATEWAY-ANY-METHOD") else method
        return method, str(path)


def _optional(properties: Properties, key: str) -> str | None:
    return to_string(properties.get(key)) or None


def _strings(properties: Properties, key: str) -> dict[str, str]:
    values = properties.get(key) or {}
    if not isinstance(values, dict):
        raise properties.error(key, "must be a mapping of names to strings")
    return {str(k): to_string(v) or "" for k, v in values.items()}
