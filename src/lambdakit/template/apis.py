"""A template's API Gateway APIs as values: ``ApiSpec``, its ``RouteSpec`` routes, its
``AuthorizerSpec`` authorizers and ``CorsSpec``; ``apis_of`` reads them.

Where the routes come from, as SAM CLI's ``sam local start-api`` finds them
(``samcli/lib/providers/sam_api_provider.py``, ``cfn_api_provider.py``):

    apis_sam.py      function ``Events`` of Type ``Api`` / ``HttpApi`` (the implicit
                     ``ServerlessRestApi`` / ``ServerlessHttpApi``, or the API their
                     ``RestApiId`` / ``ApiId`` names), ``AWS::Serverless::Api`` / ``HttpApi``
    apis_openapi.py  OpenAPI in ``DefinitionBody`` / ``DefinitionUri`` / ``Body`` with
                     ``x-amazon-apigateway-integration``
    apis_cfn.py      ``AWS::ApiGateway::*`` (RestApi, Resource, Method, Authorizer, Stage) and
                     ``AWS::ApiGatewayV2::*`` (Api, Route, Integration, Authorizer, Stage)
    apis_reading.py  what they share: the functions a route may target, resource references

Only Lambda proxy integrations run locally; any other integration (HTTP, AWS service, mock)
is a warning naming the resource, and the route is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lambdakit.template.specs import FunctionSpec

__all__ = [
    "ApiKind",
    "ApiSpec",
    "ApisResult",
    "AuthorizerSpec",
    "CorsSpec",
    "RouteSpec",
    "apis_of",
]

ApiKind = Literal["REST", "HTTP"]
AuthorizerKind = Literal["TOKEN", "REQUEST", "COGNITO", "IAM", "JWT", "OTHER"]
PayloadVersion = Literal["1.0", "2.0"]

# API Gateway's integration timeouts when none is given: 29 s for REST APIs, 30 s for HTTP APIs
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html,
# http-api-quotas.html).
DEFAULT_TIMEOUT_MS: Mapping[ApiKind, int] = {"REST": 29000, "HTTP": 30000}
IMPLICIT_REST_API = "ServerlessRestApi"
IMPLICIT_HTTP_API = "ServerlessHttpApi"


@dataclass(frozen=True, slots=True, kw_only=True)
class CorsSpec:
    """An API's CORS settings, in one shape for both kinds: REST ``Cors`` (SAM writes its
    values as quoted strings, ``"'*'"``; unquoted here) and HTTP ``CorsConfiguration``."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    """Empty: the methods of the requested path (SAM's default for REST ``Cors``)."""
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizerSpec:
    """One authorizer of an API. Lambda authorizers (TOKEN, REQUEST) run locally; Cognito,
    IAM and JWT authorizers are kept with their kind so that the server can name them (OTHER:
    one lambdakit does not know)."""

    name: str
    kind: AuthorizerKind
    function: str | None = None
    """The Lambda authorizer's function, as its FunctionSpec names it."""
    identity_sources: tuple[str, ...] = ()
    """API Gateway's forms: ``method.request.header.Authorization`` (REST),
    ``$request.header.Authorization`` (HTTP)."""
    validation_expression: str | None = None
    """REST TOKEN authorizers: a regular expression the token must match."""
    ttl: int = 0
    """Seconds a result is cached (``ReauthorizeEvery``); 0 disables caching."""
    payload_format_version: PayloadVersion = "1.0"
    simple_responses: bool = False
    """HTTP APIs, payload 2.0: the function answers ``{"isAuthorized": bool}``."""

    @property
    def runnable(self) -> bool:
        """Whether it can run locally (a Lambda authorizer)."""
        return self.kind in ("TOKEN", "REQUEST")


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteSpec:
    """One route: a method and a path template, served by a function."""

    method: str
    """Upper case; ``ANY`` matches every method not routed otherwise."""
    path: str
    """``/users/{id}``, ``/{proxy+}``; ``$default`` for an HTTP API's default route."""
    function: str
    """The target function, as its FunctionSpec names it (``FunctionSpec.name``)."""
    payload_format_version: PayloadVersion
    timeout_ms: int
    authorizer: str | None = None
    """The name of one of the API's authorizers (its default applied), None for none."""
    transfer_mode: Literal["BUFFERED", "STREAM"] = "BUFFERED"
    """REST APIs: ``STREAM`` invokes the function with response streaming."""
    source: str = ""
    """Where the route was declared, for messages (``HelloFunction.Events.Hello``)."""

    @property
    def is_default(self) -> bool:
        return self.path == "$default"


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiSpec:
    """One REST or HTTP API of a template, with the routes that run locally."""

    logical_id: str
    kind: ApiKind
    stage_name: str
    """REST: ``StageName`` (``Prod`` for the implicit API); HTTP: ``$default`` unless named."""
    stage_variables: Mapping[str, str] = field(default_factory=dict, hash=False)
    binary_media_types: tuple[str, ...] = ()
    cors: CorsSpec | None = None
    authorizers: Mapping[str, AuthorizerSpec] = field(default_factory=dict, hash=False)
    default_authorizer: str | None = None
    routes: tuple[RouteSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class ApisResult:
    """The APIs of a template, in template order (implicit APIs first), and the warnings
    about what of them is not served locally."""

    apis: list[ApiSpec]
    warnings: list[str] = field(default_factory=list)


def apis_of(
    path: Path,
    functions: Sequence[FunctionSpec],
    *,
    parameters: Mapping[str, str] | None = None,
) -> ApisResult:
    """The APIs of the template at PATH whose routes target FUNCTIONS (the functions the
    template loaded with the same PARAMETERS; a route to any other function is left out,
    with a warning). Raises TemplateError for what would not deploy either."""
    from lambdakit.template.apis_build import read_apis  # the readers import this module

    return read_apis(path, functions, parameters or {})
