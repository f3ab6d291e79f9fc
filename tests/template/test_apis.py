"""A template's APIs (lambdakit.template.apis): SAM's implicit and explicit APIs, their events,
OpenAPI bodies and files, authorizers, CORS. Each case writes its whole template to tmp_path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdakit.template import (
    ApiSpec,
    ApisResult,
    AuthorizerSpec,
    CorsSpec,
    RouteSpec,
    TemplateError,
    apis_of,
    load_template,
)

HEAD = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    CodeUri: code
    Handler: app.handler
    Runtime: python3.12
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello-fn
"""
AUTH_FUNCTION = """\
  AuthFn:
    Type: AWS::Serverless::Function
"""
INTEGRATION = (
    "!Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    "${Hello.Arn}/invocations"
)


@pytest.fixture(autouse=True)
def _default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def load(tmp_path: Path, resources: str, files: dict[str, str] | None = None) -> ApisResult:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    path = tmp_path / "template.yaml"
    path.write_text(HEAD + resources)
    functions = load_template(path).functions
    return apis_of(path, functions)


def api(result: ApisResult, logical_id: str) -> ApiSpec:
    return next(a for a in result.apis if a.logical_id == logical_id)


def events(*lines: str) -> str:
    """The Hello function's Events, one event per line (flow mappings)."""
    return "      Events:\n" + "".join(f"        {line}\n" for line in lines)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            "Get: {Type: Api, Properties: {Path: '/users/{id}', Method: get}}",
            RouteSpec(method="GET", path="/users/{id}", function="hello-fn",
                      payload_format_version="1.0", timeout_ms=29000,
                      source="Hello.Events.Get"),
        ),
        (
            "Any: {Type: Api, Properties: {Path: '/{proxy+}', Method: ANY, "
            "TimeoutInMillis: 5000, ResponseTransferMode: STREAM}}",
            RouteSpec(method="ANY", path="/{proxy+}", function="hello-fn",
                      payload_format_version="1.0", timeout_ms=5000, transfer_mode="STREAM",
                      source="Hello.Events.Any"),
        ),
    ],
)  # fmt: skip
def test_an_api_event_routes_the_implicit_rest_api(
    tmp_path: Path, event: str, expected: RouteSpec
) -> None:
    result = load(tmp_path, events(event))
    (rest,) = result.apis
    assert (rest.logical_id, rest.kind, rest.stage_name) == ("ServerlessRestApi", "REST", "Prod")
    assert rest.routes == (expected,)
    assert result.warnings == []


@pytest.mark.parametrize(
    ("event", "method", "path", "version"),
    [
        ("Default: {Type: HttpApi}", "ANY", "$default", "2.0"),
        ("Get: {Type: HttpApi, Properties: {Path: /items, Method: get}}", "GET", "/items", "2.0"),
        (
            "V1: {Type: HttpApi, Properties: {Path: /old, Method: post, "
            "PayloadFormatVersion: '1.0'}}",
            "POST", "/old", "1.0",
        ),
    ],
)  # fmt: skip
def test_an_http_api_event_routes_the_implicit_http_api(
    tmp_path: Path, event: str, method: str, path: str, version: str
) -> None:
    (http,) = load(tmp_path, events(event)).apis
    assert (http.logical_id, http.kind, http.stage_name) == (
        "ServerlessHttpApi",
        "HTTP",
        "$default",
    )
    (route,) = http.routes
    assert (route.method, route.path, route.payload_format_version) == (method, path, version)
    assert route.timeout_ms == 30000


def test_an_explicit_serverless_api_with_its_settings_and_authorizers(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        events(
            "Open: {Type: Api, Properties: {Path: /open, Method: get, RestApiId: !Ref Api, "
            "Auth: {Authorizer: NONE}}}",
            "Closed: {Type: Api, Properties: {Path: /closed, Method: get, RestApiId: !Ref Api}}",
            "Req: {Type: Api, Properties: {Path: /req, Method: get, RestApiId: !Ref Api, "
            "Auth: {Authorizer: Req}}}",
        )
        + AUTH_FUNCTION
        + """\
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      Variables: {TABLE: users}
      BinaryMediaTypes: [image~1png, '*~1*']
      Cors: {AllowOrigin: "'https://a.example'", AllowMethods: "'GET,post'", MaxAge: "'600'"}
      Auth:
        DefaultAuthorizer: Token
        Authorizers:
          Token:
            FunctionArn: !GetAtt AuthFn.Arn
            Identity: {Header: X-Token, ValidationExpression: '^Bearer .+$', ReauthorizeEvery: 60}
          Req:
            FunctionPayloadType: REQUEST
            FunctionArn: !GetAtt AuthFn.Arn
            Identity: {Headers: [X-A], QueryStrings: [q]}
          Pool:
            UserPoolArn: arn:aws:cognito-idp:us-east-1:123456789012:userpool/x
Parameters:
  Stage: {Type: String, Default: dev}
""",
    )
    rest = api(result, "Api")
    assert (rest.stage_name, rest.stage_variables) == ("dev", {"TABLE": "users"})
    assert rest.binary_media_types == ("image/png", "*/*")
    assert rest.cors == CorsSpec(
        allow_origins=("https://a.example",), allow_methods=("GET", "POST"), max_age=600
    )
    assert rest.authorizers == {
        "Token": AuthorizerSpec(
            name="Token", kind="TOKEN", function="AuthFn", ttl=60,
            identity_sources=("method.request.header.X-Token",),
            validation_expression="^Bearer .+$",
        ),
        "Req": AuthorizerSpec(
            name="Req", kind="REQUEST", function="AuthFn", ttl=300,
            identity_sources=("method.request.header.X-A", "method.request.querystring.q"),
        ),
        "Pool": AuthorizerSpec(name="Pool", kind="COGNITO"),
    }  # fmt: skip
    assert not rest.authorizers["Pool"].runnable and rest.authorizers["Req"].runnable
    assert {r.path: r.authorizer for r in rest.routes} == {
        "/open": None, "/closed": "Token", "/req": "Req",
    }  # fmt: skip
    assert result.warnings == []


def test_an_http_api_with_lambda_jwt_and_iam_authorizers_and_cors(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        events(
            "A: {Type: HttpApi, Properties: {ApiId: !Ref Http, Path: /a, Method: get}}",
            "B: {Type: HttpApi, Properties: {ApiId: !Ref Http, Path: /b, Method: get, "
            "Auth: {Authorizer: AWS_IAM}}}",
        )
        + AUTH_FUNCTION
        + """\
  Http:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: v1
      StageVariables: {K: v}
      CorsConfiguration: {AllowOrigins: [https://a.example], AllowMethods: [get], MaxAge: 60,
                          AllowCredentials: true, ExposeHeaders: [X-Id]}
      Auth:
        EnableIamAuthorizer: true
        DefaultAuthorizer: Lam
        Authorizers:
          Lam:
            FunctionArn: !GetAtt AuthFn.Arn
            AuthorizerPayloadFormatVersion: 2.0
            EnableSimpleResponses: true
            Identity: {Headers: [Authorization], ReauthorizeEvery: 0}
          Jwt:
            JwtConfiguration: {issuer: https://issuer.example, audience: [x]}
            IdentitySource: $request.header.Authorization
""",
    )
    http = api(result, "Http")
    assert (http.kind, http.stage_name, http.stage_variables) == ("HTTP", "v1", {"K": "v"})
    assert http.cors == CorsSpec(
        allow_origins=("https://a.example",), allow_methods=("GET",), max_age=60,
        allow_credentials=True, expose_headers=("X-Id",),
    )  # fmt: skip
    assert http.authorizers["Lam"] == AuthorizerSpec(
        name="Lam", kind="REQUEST", function="AuthFn", ttl=0, payload_format_version="2.0",
        simple_responses=True, identity_sources=("$request.header.Authorization",),
    )  # fmt: skip
    assert http.authorizers["Jwt"].kind == "JWT" and http.authorizers["AWS_IAM"].kind == "IAM"
    assert {r.path: r.authorizer for r in http.routes} == {"/a": "Lam", "/b": "AWS_IAM"}


OPENAPI = f"""\
openapi: "3.0.1"
x-amazon-apigateway-binary-media-types: [application/octet-stream]
paths:
  /items/{{id}}:
    get:
      x-amazon-apigateway-integration:
        type: aws_proxy
        httpMethod: POST
        uri: {INTEGRATION}
        timeoutInMillis: 1000
    x-amazon-apigateway-any-method:
      security: []
      x-amazon-apigateway-integration:
        type: AWS_PROXY
        httpMethod: POST
        uri: {INTEGRATION}
  /site:
    get:
      x-amazon-apigateway-integration: {{type: http_proxy, uri: https://example.com}}
"""


@pytest.mark.parametrize("form", ["body", "uri-yaml", "uri-json", "include"])
def test_openapi_inline_in_a_file_or_included(tmp_path: Path, form: str) -> None:
    import json

    import yaml

    definition = {
        "body": "      DefinitionBody:\n" + textwrap.indent(OPENAPI, " " * 8),
        "uri-yaml": "      DefinitionUri: api.yaml\n",
        "uri-json": "      DefinitionUri: api.json\n",
        "include": "      DefinitionBody:\n        Fn::Transform:\n          Name: AWS::Include\n"
        "          Parameters: {Location: api.yaml}\n",
    }[form]
    arn = "arn:aws:lambda:us-east-1:1:function:hello-fn"
    uri = f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"
    plain = OPENAPI.replace(INTEGRATION, uri)
    files = {"api.yaml": OPENAPI, "api.json": json.dumps(yaml.safe_load(plain))}
    result = load(
        tmp_path,
        "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: Prod\n"
        + definition,
        files,
    )
    rest = api(result, "Api")
    assert rest.binary_media_types == ("application/octet-stream",)
    assert [(r.method, r.path, r.function, r.timeout_ms) for r in rest.routes] == [
        ("GET", "/items/{id}", "hello-fn", 1000),
        ("ANY", "/items/{id}", "hello-fn", 29000),
    ]
    (warning,) = result.warnings
    assert "paths./site.get: a http_proxy integration; only Lambda proxy" in warning


def test_an_event_on_an_api_with_a_body_replaces_the_bodys_route(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        events(
            "Get: {Type: Api, Properties: {Path: '/items/{id}', Method: GET, "
            "RestApiId: !Ref Api, TimeoutInMillis: 7000}}"
        )
        + "  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n      StageName: Prod\n"
        "      DefinitionUri: api.yaml\n",
        {"api.yaml": OPENAPI},
    )
    routes = {(r.method, r.path): r for r in api(result, "Api").routes}
    assert routes["GET", "/items/{id}"].timeout_ms == 7000
    assert routes["GET", "/items/{id}"].source == "Hello.Events.Get"


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        (events("A: {Type: Api, Properties: {Path: /a, Method: get, RestApiId: !Ref Nope}}"),
         r"Hello\.Events\.A\.RestApiId: .*is not an AWS::Serverless::Api of this template"),
        (events("A: {Type: Api, Properties: {Path: /a}}"),
         r"Hello\.Events\.A\.Method: missing"),
        (events("A: {Type: Api, Properties: {Path: /a, Method: get, Auth: {Authorizer: Who}}}"),
         r"Hello\.Events\.A: authorizer 'Who' is not one of ServerlessRestApi's authorizers"),
        (events("A: {Type: HttpApi, Properties: {PayloadFormatVersion: '3.0'}}"),
         r"PayloadFormatVersion: '3\.0': use 1\.0 or 2\.0"),
        (AUTH_FUNCTION + "  H:\n    Type: AWS::Serverless::HttpApi\n    Properties:\n"
         "      Auth: {Authorizers: {L: {FunctionArn: !GetAtt AuthFn.Arn}}}\n",
         r"H\.Auth\.Authorizers\.L\.AuthorizerPayloadFormatVersion: missing"),
        ("  Api:\n    Type: AWS::Serverless::Api\n    Properties:\n"
         "      DefinitionUri: missing.yaml\n      StageName: x\n",
         r"Api\.DefinitionUri: missing\.yaml does not exist"),
    ],
)  # fmt: skip
def test_what_would_not_deploy_is_an_error_naming_the_property(
    tmp_path: Path, resources: str, message: str
) -> None:
    with pytest.raises(TemplateError, match=message):
        load(tmp_path, resources)


def test_routes_to_functions_not_run_here_and_s3_definitions_are_warnings(
    tmp_path: Path,
) -> None:
    result = load(
        tmp_path,
        """\
  Node:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: index.handler
      Events:
        Get: {Type: Api, Properties: {Path: /node, Method: get}}
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      DefinitionUri: {Bucket: b, Key: api.yaml}
""",
    )
    assert [a.routes for a in result.apis] == [()]
    assert any("Node.Events.Get: Node is not among the functions run here" in w
               for w in result.warnings)  # fmt: skip
    assert any("Api.DefinitionUri" in w and "is in S3" in w for w in result.warnings)
