"""APIs from CloudFormation's own resources (AWS::ApiGateway::*, AWS::ApiGatewayV2::*)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdakit.template import (
    ApiSpec,
    ApisResult,
    AuthorizerSpec,
    RouteSpec,
    apis_of,
    load_template,
)

FUNCTIONS = """\
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: fn
      Code: code
      Handler: app.handler
      Runtime: python3.12
  AuthFn:
    Type: AWS::Lambda::Function
    Properties:
      Code: code
      Handler: app.handler
      Runtime: python3.12
"""
URI = (
    "!Sub arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    "${Fn.Arn}/invocations"
)
AUTH_URI = (
    "!Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
    "${AuthFn.Arn}/invocations"
)

REST = f"""\
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Name: api
      BinaryMediaTypes: [image~1png]
  Users:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Api
      ParentId: !GetAtt Api.RootResourceId
      PathPart: users
  User:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Api
      ParentId: !Ref Users
      PathPart: '{{id}}'
  Proxy:
    Type: AWS::ApiGateway::Resource
    Properties:
      RestApiId: !Ref Api
      ParentId: !GetAtt Api.RootResourceId
      PathPart: '{{proxy+}}'
  GetUser:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref User
      HttpMethod: GET
      AuthorizationType: CUSTOM
      AuthorizerId: !Ref TokenAuth
      Integration:
        Type: AWS_PROXY
        IntegrationHttpMethod: POST
        Uri: {URI}
        TimeoutInMillis: 2000
        ResponseTransferMode: STREAM
  Root:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !GetAtt Api.RootResourceId
      HttpMethod: ANY
      AuthorizationType: AWS_IAM
      Integration:
        Type: AWS_PROXY
        IntegrationHttpMethod: POST
        Uri: !Join ['', ['arn:aws:apigateway:', !Ref AWS::Region,
                         ':lambda:path/2015-03-31/functions/', !GetAtt Fn.Arn, '/invocations']]
  Mock:
    Type: AWS::ApiGateway::Method
    Properties:
      RestApiId: !Ref Api
      ResourceId: !Ref Proxy
      HttpMethod: OPTIONS
      AuthorizationType: NONE
      Integration: {{Type: MOCK}}
  TokenAuth:
    Type: AWS::ApiGateway::Authorizer
    Properties:
      RestApiId: !Ref Api
      Name: token
      Type: TOKEN
      AuthorizerUri: {AUTH_URI}
      IdentitySource: method.request.header.X-Token
      AuthorizerResultTtlInSeconds: 30
  Stage:
    Type: AWS::ApiGateway::Stage
    Properties:
      RestApiId: !Ref Api
      StageName: live
      DeploymentId: !Ref Deployment
      Variables: {{K: v}}
  Deployment:
    Type: AWS::ApiGateway::Deployment
    Properties:
      RestApiId: !Ref Api
"""

HTTP = """\
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: http
      ProtocolType: HTTP
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: AWS_PROXY
      IntegrationUri: !GetAtt Fn.Arn
      PayloadFormatVersion: '1.0'
      TimeoutInMillis: 9000
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: GET /items/{id}
      Target: !Sub integrations/${Integration}
      AuthorizationType: CUSTOM
      AuthorizerId: !Ref Lam
  Default:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: $default
      Target: !Join [/, [integrations, !Ref Integration]]
  Site:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: GET /site
      Target: !Sub integrations/${SiteIntegration}
  SiteIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: HTTP_PROXY
      IntegrationUri: https://example.com
  Lam:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Http
      Name: lam
      AuthorizerType: REQUEST
      AuthorizerUri: !GetAtt AuthFn.Arn
      AuthorizerPayloadFormatVersion: '2.0'
      EnableSimpleResponses: true
      IdentitySource: [$request.header.Authorization]
  HttpStage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Http
      StageName: $default
      StageVariables: {A: b}
  Quick:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: quick
      ProtocolType: HTTP
      Target: !GetAtt Fn.Arn
  Sockets:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      Name: ws
      ProtocolType: WEBSOCKET
"""


@pytest.fixture(autouse=True)
def _default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def load(tmp_path: Path, resources: str) -> ApisResult:
    (tmp_path / "code").mkdir(exist_ok=True)
    (tmp_path / "code" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    path = tmp_path / "template.yaml"
    path.write_text(FUNCTIONS + resources)
    return apis_of(path, load_template(path).functions)


def api(result: ApisResult, logical_id: str) -> ApiSpec:
    return next(a for a in result.apis if a.logical_id == logical_id)


def test_a_rest_api_from_resources_methods_authorizers_and_a_stage(tmp_path: Path) -> None:
    result = load(tmp_path, REST)
    rest = api(result, "Api")
    assert (rest.kind, rest.stage_name, rest.stage_variables) == ("REST", "live", {"K": "v"})
    assert rest.binary_media_types == ("image/png",)
    assert rest.routes == (
        RouteSpec(method="GET", path="/users/{id}", function="fn", payload_format_version="1.0",
                  timeout_ms=2000, authorizer="TokenAuth", transfer_mode="STREAM",
                  source="GetUser"),
        RouteSpec(method="ANY", path="/", function="fn", payload_format_version="1.0",
                  timeout_ms=29000, authorizer="AWS_IAM", source="Root"),
    )  # fmt: skip
    assert rest.authorizers["TokenAuth"] == AuthorizerSpec(
        name="TokenAuth", kind="TOKEN", function="AuthFn", ttl=30,
        identity_sources=("method.request.header.X-Token",),
    )  # fmt: skip
    assert rest.authorizers["AWS_IAM"].kind == "IAM"
    (warning,) = result.warnings
    assert "Mock.Integration: a MOCK integration; only Lambda proxy" in warning


def test_an_http_api_from_routes_integrations_and_quick_create(tmp_path: Path) -> None:
    result = load(tmp_path, HTTP)
    http = api(result, "Http")
    assert (http.kind, http.stage_name, http.stage_variables) == ("HTTP", "$default", {"A": "b"})
    assert [(r.method, r.path, r.payload_format_version, r.timeout_ms, r.authorizer)
            for r in http.routes] == [
        ("GET", "/items/{id}", "1.0", 9000, "Lam"),
        ("ANY", "$default", "1.0", 9000, None),
    ]  # fmt: skip
    assert http.authorizers["Lam"] == AuthorizerSpec(
        name="Lam", kind="REQUEST", function="AuthFn", payload_format_version="2.0",
        simple_responses=True, identity_sources=("$request.header.Authorization",),
    )  # fmt: skip
    quick = api(result, "Quick")
    assert [(r.method, r.path, r.function, r.payload_format_version) for r in quick.routes] == [
        ("ANY", "$default", "fn", "2.0")
    ]
    assert "Sockets" not in [a.logical_id for a in result.apis]
    assert any("SiteIntegration.IntegrationType: HTTP_PROXY" in w for w in result.warnings)
    assert any("Sockets: a WEBSOCKET API" in w for w in result.warnings)


def test_a_rest_api_body_is_read_as_openapi(tmp_path: Path) -> None:
    result = load(
        tmp_path,
        f"""\
  Api:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Body:
        swagger: '2.0'
        paths:
          /ping:
            get:
              x-amazon-apigateway-integration:
                type: aws_proxy
                httpMethod: POST
                uri: {URI}
""",
    )
    (route,) = api(result, "Api").routes
    assert (route.method, route.path, route.function) == ("GET", "/ping", "fn")
    assert result.warnings == []
