"""What the API readers share: the template's resources and functions, the warnings, and an
``ApiBuilder`` per API that collects routes and authorizers until the API is complete.

References between API resources (``RestApiId``, ``ParentId``, an ``AWS::ApiGatewayV2::Route``'s
``Target: integrations/${Integration}``) are read from the template as written, not resolved:
resolving ``!Ref`` of a resource lambdakit does not run would only give a warning and its
logical id. Integration URIs are resolved (``${Fn.Arn}`` becomes the function's ARN), and the
function is found by the name in that ARN, as SAM CLI's ``LambdaUri`` finds it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdakit.template.apis import (
    DEFAULT_TIMEOUT_MS,
    ApiKind,
    ApiSpec,
    AuthorizerSpec,
    CorsSpec,
    RouteSpec,
)
from lambdakit.template.errors import TemplateError
from lambdakit.template.intrinsics import Resolver
from lambdakit.template.properties import Properties
from lambdakit.template.specs import FunctionSpec
from lambdakit.template.values import to_string

__all__ = ["DEFAULT", "ApiBuilder", "ApiReader", "PendingRoute", "referenced_id", "root_of"]

DEFAULT = "<default>"
"""A route's authorizer when it names none: the API's DefaultAuthorizer, if any."""

# arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER], inside an API Gateway
# "arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/<that>/invocations" or alone.
_FUNCTION_ARN = re.compile(r"arn:[\w-]+:lambda:[^:]*:[^:]*:function:([^:/]+)")
_SUB_REFERENCE = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z]+)?\}")


class ApiReader:
    """One template's resources as the API readers see them."""

    def __init__(self, path: Path, resolver: Resolver, functions: Sequence[FunctionSpec]) -> None:
        self.path = path
        self.base = path.absolute().parent
        self.resolver = resolver
        self.names = {spec.name for spec in functions}
        self.by_logical_id = {s.logical_id: s.name for s in functions if s.logical_id}

    def warn(self, where: str, message: str) -> None:
        self.resolver.warn(where, message)

    def resources_of(self, *types: str) -> list[tuple[str, Mapping[str, Any]]]:
        """(logical id, resource) of each resource of TYPES whose Condition holds."""
        found: list[tuple[str, Mapping[str, Any]]] = []
        for logical_id, resource in self.resolver.resources.items():
            if isinstance(resource, dict) and resource.get("Type") in types:
                condition = resource.get("Condition")
                if isinstance(condition, str) and not self.resolver.condition(
                    condition, logical_id
                ):
                    continue
                found.append((logical_id, resource))
        return found

    def properties(self, logical_id: str, raw: Any = None) -> Properties:
        if raw is None:
            raw = self.resolver.resources[logical_id].get("Properties") or {}
        if not isinstance(raw, dict):
            raise TemplateError(f"{self.path}: {logical_id}.Properties must be a mapping")
        return Properties(logical_id, raw, self.resolver, self.path)

    def type_of(self, logical_id: str | None) -> str | None:
        resource = self.resolver.resources.get(logical_id) if logical_id else None
        return str(resource.get("Type")) if isinstance(resource, dict) else None

    def function_of(self, uri: Any, where: str) -> str | None:
        """The function an integration URI or function ARN names (its FunctionSpec name), or
        None with a warning saying why the route is left out."""
        text = to_string(self.resolver.resolve(uri, where))
        found = _FUNCTION_ARN.search(text or "")
        name = found[1] if found else None
        if name is None:
            self.warn(where, f"{text or uri!r} is not a Lambda function's ARN; left out")
        elif name.startswith("${"):
            self.warn(where, f"function {name} cannot be known locally; left out")
        elif name not in self.names:
            self.warn(where, f"function {name} is not among the functions run here; left out")
        else:
            return name
        return None

    def function_named(self, logical_id: str) -> str | None:
        return self.by_logical_id.get(logical_id)


def referenced_id(raw: Any) -> str | None:
    """The logical id a reference names, as written: ``!Ref X``, ``!GetAtt X.Attr``,
    ``!Sub integrations/${X}``, ``!Join ["/", [integrations, !Ref X]]``, or a plain string."""
    if isinstance(raw, str):
        found = _SUB_REFERENCE.search(raw)
        return found[1] if found else raw.rsplit("/", 1)[-1] or None
    if not isinstance(raw, dict) or len(raw) != 1:
        return None
    ((key, argument),) = raw.items()
    if key == "Ref":
        return str(argument)
    if key == "Fn::GetAtt":
        parts = argument.split(".", 1) if isinstance(argument, str) else argument
        return str(parts[0]) if isinstance(parts, list) and parts else None
    if key == "Fn::Sub":
        text = argument[0] if isinstance(argument, list) and argument else argument
        return referenced_id(text) if isinstance(text, str) else None
    if key == "Fn::Join" and isinstance(argument, list) and len(argument) == 2:
        items = argument[1] if isinstance(argument[1], list) else []
        ids = [referenced_id(item) for item in items if isinstance(item, dict)]
        return next((i for i in reversed(ids) if i), None)
    return None


def root_of(raw: Any) -> str | None:
    """The API whose root resource RAW is (``!GetAtt Api.RootResourceId``), else None."""
    if isinstance(raw, dict) and set(raw) == {"Fn::GetAtt"}:
        argument = raw["Fn::GetAtt"]
        parts = argument.split(".", 1) if isinstance(argument, str) else argument
        if isinstance(parts, list) and len(parts) == 2 and parts[1] == "RootResourceId":
            return str(parts[0])
    return None


@dataclass(slots=True)
class PendingRoute:
    """A route before its API is complete: its authorizer may still be the default."""

    route: RouteSpec
    authorizer: str | None = DEFAULT
    explicit: bool = True
    """False for routes of an OpenAPI body; a function's event overrides them (SAM)."""


@dataclass(slots=True)
class ApiBuilder:
    """What is known of one API so far; ``build`` checks the authorizers routes name."""

    logical_id: str
    kind: ApiKind
    stage_name: str
    source: Path
    stage_variables: dict[str, str] = field(default_factory=dict)
    binary_media_types: list[str] = field(default_factory=list)
    cors: CorsSpec | None = None
    authorizers: dict[str, AuthorizerSpec] = field(default_factory=dict)
    default_authorizer: str | None = None
    routes: dict[tuple[str, str], PendingRoute] = field(default_factory=dict)

    @property
    def default_timeout(self) -> int:
        return DEFAULT_TIMEOUT_MS[self.kind]

    def add(
        self, route: RouteSpec, authorizer: str | None = DEFAULT, *, body: bool = False
    ) -> None:
        """Add ROUTE; a route of a function's events replaces one of an OpenAPI body with the
        same method and path, as SAM merges them (the event states the intent)."""
        key = (route.method, route.path)
        if body and key in self.routes and self.routes[key].explicit:
            return
        self.routes[key] = PendingRoute(route, authorizer, explicit=not body)

    def build(self) -> ApiSpec:
        routes = tuple(self._with_authorizer(p) for p in self.routes.values())
        return ApiSpec(
            logical_id=self.logical_id,
            kind=self.kind,
            stage_name=self.stage_name,
            stage_variables=dict(self.stage_variables),
            binary_media_types=tuple(dict.fromkeys(self.binary_media_types)),
            cors=self.cors,
            authorizers=dict(self.authorizers),
            default_authorizer=self.default_authorizer,
            routes=routes,
        )

    def _with_authorizer(self, pending: PendingRoute) -> RouteSpec:
        name = self.default_authorizer if pending.authorizer == DEFAULT else pending.authorizer
        if name in (None, "NONE"):
            name = None
        elif name == "AWS_IAM":
            self.authorizers.setdefault(name, AuthorizerSpec(name=name, kind="IAM"))
        elif name not in self.authorizers:
            known = ", ".join(self.authorizers) or "none"
            raise TemplateError(
                f"{self.source}: {pending.route.source}: authorizer {name!r} is not one of "
                f"{self.logical_id}'s authorizers ({known}); define it under Auth.Authorizers "
                "or use NONE"
            )
        return dataclasses.replace(pending.route, authorizer=name)
