"""API Gateway's Lambda authorizers (``emulator.apis.authorizers``): the events an authorizer
receives, checked against the AWS docs' examples, the answers its outputs get (real policy
documents, simple responses, bad JSON, function errors) and the result cache, with a recording
fake ``invoke`` and a fake clock."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from lambdakit.emulator.apis.authorizers import Authorizers, Decision
from lambdakit.emulator.apis.events import lambda_event
from lambdakit.emulator.apis.matching import Match, match
from lambdakit.emulator.apis.requests import (
    ApiKind,
    ApiRequest,
    PayloadFormat,
    RequestIds,
    RouteContext,
)
from lambdakit.emulator.apis.responses import GatewayError
from lambdakit.template.apis import ApiSpec, AuthorizerSpec, RouteSpec
from tests.emulator.conftest import Server
from tests.helpers import FUNCTIONS

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123"
OTHER_API = "arn:aws:execute-api:us-east-1:123456789012:other"
IDS = RequestIds("c6af9ac6-7b61-11e6-9a41-93e8deadbeef", "EXAMPLEeIAMEaXQ=", "Root=1-5e6722a7-0")
TOKEN = AuthorizerSpec(
    name="Tok", kind="TOKEN", function="AuthFn",
    identity_sources=("method.request.header.Authorization",), ttl=300,
)  # fmt: skip


def policy(*statements: tuple[str, Any], principal: Any = "user-1", **extra: Any) -> bytes:
    document = {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}
                for effect, resource in statements
            ],
        },
        **extra,
    }
    return json.dumps(document).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeFunction:
    """Records each event; answers ANSWER (succeeded, payload); the call takes TOOK seconds."""

    def __init__(self, answer: tuple[bool, bytes], clock: Clock, took: float = 0.0) -> None:
        self.answer, self.clock, self.took = answer, clock, took
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def __call__(self, name: str, event: bytes) -> tuple[bool, bytes]:
        self.calls.append((name, json.loads(event)))
        self.clock.now += self.took
        return self.answer


class Setup:
    def __init__(
        self,
        spec: AuthorizerSpec | None,
        answer: bytes | tuple[bool, bytes] = b"",
        *,
        kind: str = "REST",
        routes: tuple[tuple[str, str], ...] = (("GET", "/users/{id}"), ("POST", "/users/{id}")),
        payload: str = "1.0",
        took: float = 0.0,
    ) -> None:
        self.clock = Clock()
        self.function = FakeFunction(
            answer if isinstance(answer, tuple) else (True, answer), self.clock, took
        )
        self.warnings: list[str] = []
        authorizers = {spec.name: spec} if spec else {}
        self.api = ApiSpec(
            logical_id="MyApi", kind=kind,  # type: ignore[arg-type]
            stage_name="Prod" if kind == "REST" else "$default",
            stage_variables={"env": "dev"}, authorizers=authorizers,
            routes=tuple(
                RouteSpec(method=m, path=p, function="Fn", payload_format_version=payload,  # type: ignore[arg-type]
                          timeout_ms=29000, authorizer=spec.name if spec else None)
                for m, p in routes
            ),
        )  # fmt: skip
        self.authorizers = Authorizers(
            [self.api], self.function, clock=self.clock, warn=self.warnings.append
        )

    def run(
        self, method: str, path: str, headers: tuple[tuple[str, str], ...] = (), query: str = ""
    ) -> Decision:
        found = match([self.api], method, path)
        assert isinstance(found, Match)
        request, route = self.request(found, method, path, headers, query)
        return asyncio.run(self.authorizers.authorize(found, request, route, ids=IDS))

    def request(
        self, found: Match, method: str, path: str, headers: Any, query: str
    ) -> tuple[ApiRequest, RouteContext]:
        request = ApiRequest(
            method=method, path=path, query=query, headers=(("Host", "localhost:3000"), *headers),
            body=b'{"a": 1}', source_ip="127.0.0.1", time=1700000000.0,
        )  # fmt: skip
        kind = ApiKind(self.api.kind)
        route = RouteContext(
            api_id="abc123", kind=kind, stage=self.api.stage_name,
            resource_path=found.resource_path,
            route_key=f"{found.route.method} {found.route.path}",
            path_parameters=found.path_parameters, stage_variables=self.api.stage_variables,
            payload_format=PayloadFormat(found.route.payload_format_version),
        )  # fmt: skip
        return request, route

    @property
    def events(self) -> list[dict[str, Any]]:
        return [event for _, event in self.function.calls]


BEARER = (("Authorization", "Bearer abc"),)


# --- REST TOKEN authorizers ---------------------------------------------------------------------


def test_a_token_authorizer_gets_the_documented_event_and_passes_its_context_on() -> None:
    answer = policy(
        ("Allow", f"{ARN}/Prod/GET/users/42"),
        context={"str": "v", "num": 1, "bool": True, "none": None},
    )
    setup = Setup(TOKEN, answer, took=0.25)
    decision = setup.run("GET", "/users/42", BEARER)

    # apigateway-lambda-authorizer-input.html: type, authorizationToken, methodArn; nothing else.
    assert setup.function.calls == [
        (
            "AuthFn",
            {
                "type": "TOKEN",
                "authorizationToken": "Bearer abc",
                "methodArn": f"{ARN}/Prod/GET/users/42",
            },
        )
    ]
    # Context values reach proxy integrations stringified; null stays null.
    block: dict[str, object] = {
        "principalId": "user-1", "str": "v", "num": "1", "bool": "true", "none": None,
        "integrationLatency": 250,
    }  # fmt: skip
    assert decision == Decision(True, None, block)
    found = match([setup.api], "GET", "/users/42")
    assert isinstance(found, Match)
    request, route = setup.request(found, "GET", "/users/42", BEARER, "")
    event = lambda_event(request, route.__class__(**{**route.__dict__, "authorizer": block}), IDS)
    assert event["requestContext"]["authorizer"] == block  # type: ignore[index]


@pytest.mark.parametrize(
    ("headers", "expression", "invoked", "error"),
    [
        ((), None, False, GatewayError.UNAUTHORIZED),
        ((("Authorization", ""),), None, False, GatewayError.UNAUTHORIZED),
        ((("authorization", "Bearer abc"),), None, True, None),  # header names without case
        (BEARER, r"Bearer [a-z]+", True, None),
        (BEARER, r"Bearer", False, GatewayError.UNAUTHORIZED),  # the whole token must match
        (BEARER, r"Basic .*", False, GatewayError.UNAUTHORIZED),
    ],
)
def test_a_missing_or_invalid_token_is_401_without_invoking(
    headers: tuple[tuple[str, str], ...],
    expression: str | None,
    invoked: bool,
    error: GatewayError | None,
) -> None:
    spec = AuthorizerSpec(**{**_fields(TOKEN), "validation_expression": expression})
    setup = Setup(spec, policy(("Allow", f"{ARN}/*")))
    decision = setup.run("GET", "/users/42", headers)
    assert decision.error is error
    assert decision.allowed is (error is None)
    assert len(setup.function.calls) == int(invoked)


def _fields(spec: AuthorizerSpec) -> dict[str, Any]:
    return {name: getattr(spec, name) for name in spec.__dataclass_fields__}


@pytest.mark.parametrize(
    ("statements", "error"),
    [
        ([("Allow", f"{ARN}/Prod/GET/users/42")], None),
        ([("Allow", f"{ARN}/*/GET/*")], None),
        ([("Allow", "*")], None),
        ([("Allow", [f"{ARN}/Prod/POST/*", f"{ARN}/Prod/GET/users/*"])], None),
        ([("Allow", f"{ARN}/Prod/GET/users/4?")], None),  # ? is one character
        ([("Allow", f"{ARN}/Prod/GET/users/?")], GatewayError.ACCESS_DENIED),
        ([("Allow", f"{ARN}/Prod/POST/*")], GatewayError.ACCESS_DENIED),
        ([("Allow", f"{ARN}/Test/GET/*")], GatewayError.ACCESS_DENIED),
        ([("Allow", f"{OTHER_API}/*")], GatewayError.ACCESS_DENIED),
        ([("Deny", f"{ARN}/Prod/GET/users/42")], GatewayError.EXPLICIT_DENY),
        ([("Allow", "*"), ("Deny", f"{ARN}/*/GET/users/*")], GatewayError.EXPLICIT_DENY),
        ([("Deny", f"{ARN}/*/POST/*"), ("Allow", "*")], None),
    ],
)  # fmt: skip
def test_the_policy_is_judged_against_the_method_arn(statements: Any, error: Any) -> None:
    setup = Setup(TOKEN, policy(*statements))
    decision = setup.run("GET", "/users/42", BEARER)
    assert (decision.allowed, decision.error) == (error is None, error)
    assert (decision.context is None) is (error is not None)


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("execute-api:Invoke", True),
        (["s3:GetObject", "execute-api:Invoke"], True),
        ("execute-api:*", True),
        ("*", True),
        ("execute-api:ManageConnections", False),
        ("s3:GetObject", False),
    ],
)
def test_only_statements_about_execute_api_invoke_count(action: Any, allowed: bool) -> None:
    document = json.loads(policy(("Allow", "*")))
    document["policyDocument"]["Statement"][0]["Action"] = action
    setup = Setup(TOKEN, json.dumps(document).encode())
    assert setup.run("GET", "/users/42", BEARER).allowed is allowed


MALFORMED = {
    "not JSON": b"<html>",
    "a list": b"[]",
    "null": b"null",
    "no policyDocument": b'{"principalId": "u"}',
    "no principalId": policy(("Allow", "*"), principal=None),
    "principalId a number": policy(("Allow", "*"), principal=7),
    "empty Statement": b'{"principalId": "u", "policyDocument": {"Statement": []}}',
    "Effect in lower case": policy(("allow", "*")),
    "Resource missing": b'{"principalId": "u", "policyDocument": {"Statement": '
    b'[{"Effect": "Allow", "Action": "execute-api:Invoke"}]}}',
    "context not an object": policy(("Allow", "*"), context="x"),
    "context with an object": policy(("Allow", "*"), context={"user": {"id": 1}}),
    "context with an array": policy(("Allow", "*"), context={"roles": ["a"]}),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_an_output_api_gateway_does_not_accept_is_a_500(case: str) -> None:
    setup = Setup(TOKEN, MALFORMED[case])
    decision = setup.run("GET", "/users/42", BEARER)
    assert decision == Decision(False, GatewayError.AUTHORIZER_FAILURE, None)
    assert len(setup.warnings) == 1 and "authorizer Tok (AuthFn)" in setup.warnings[0]


@pytest.mark.parametrize(
    ("kind", "message", "error"),
    [
        ("REST", "Unauthorized", GatewayError.UNAUTHORIZED),
        ("REST", "Unauthorized: expired", GatewayError.AUTHORIZER_FAILURE),
        ("REST", "boom", GatewayError.AUTHORIZER_FAILURE),
        ("HTTP", "Unauthorized", GatewayError.AUTHORIZER_FAILURE),
        ("HTTP", "boom", GatewayError.AUTHORIZER_FAILURE),
    ],
)
def test_a_failing_authorizer(kind: str, message: str, error: GatewayError) -> None:
    failure = json.dumps({"errorMessage": message, "errorType": "Exception"}).encode()
    spec = TOKEN if kind == "REST" else HTTP_SIMPLE
    setup = Setup(spec, (False, failure), kind=kind, payload="2.0")
    assert setup.run("GET", "/users/42", BEARER, "q=1") == Decision(False, error, None)
    assert len(setup.events) == 1


# --- REST REQUEST authorizers -------------------------------------------------------------------

REQUEST = AuthorizerSpec(
    name="Req", kind="REQUEST", function="AuthFn", ttl=0,
    identity_sources=("method.request.header.HeaderAuth1", "method.request.querystring.q",
                      "stageVariables.env", "context.identity.sourceIp"),
)  # fmt: skip
# apigateway-lambda-authorizer-input.html, the REQUEST example's keys, in its order.
REST_REQUEST_KEYS = [
    "type", "methodArn", "resource", "path", "httpMethod", "headers", "multiValueHeaders",
    "queryStringParameters", "multiValueQueryStringParameters", "pathParameters",
    "stageVariables", "requestContext",
]  # fmt: skip


def test_a_request_authorizer_gets_the_request_without_its_body() -> None:
    setup = Setup(REQUEST, policy(("Allow", f"{ARN}/Prod/GET/users/*")))
    headers = (("HeaderAuth1", "headerValue1"), ("X-Multi", "a"), ("X-Multi", "b"))
    decision = setup.run("GET", "/users/42", headers, "q=1&q=2")
    assert decision.allowed and decision.context is not None
    assert decision.context["principalId"] == "user-1"

    [event] = setup.events
    assert list(event) == REST_REQUEST_KEYS
    assert event["type"] == "REQUEST"
    assert event["methodArn"] == f"{ARN}/Prod/GET/users/42"
    assert (event["resource"], event["path"], event["httpMethod"]) == (
        "/users/{id}", "/users/42", "GET",
    )  # fmt: skip
    assert event["headers"]["HeaderAuth1"] == "headerValue1"
    assert event["multiValueHeaders"]["X-Multi"] == ["a", "b"]
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"]}
    assert event["pathParameters"] == {"id": "42"}
    assert event["stageVariables"] == {"env": "dev"}
    context = event["requestContext"]
    assert context["requestId"] == IDS.request_id and context["stage"] == "Prod"
    assert context["resourcePath"] == "/users/{id}" and "authorizer" not in context


@pytest.mark.parametrize(
    ("headers", "query"),
    [((), "q=1"), ((("HeaderAuth1", "x"),), ""), ((("HeaderAuth1", "x"),), "q=")],
)
def test_a_request_without_an_identity_source_is_401_without_invoking(
    headers: tuple[tuple[str, str], ...], query: str
) -> None:
    setup = Setup(REQUEST, policy(("Allow", "*")))
    assert setup.run("GET", "/users/42", headers, query).error is GatewayError.UNAUTHORIZED
    assert setup.events == []


# --- HTTP API authorizers -----------------------------------------------------------------------

HTTP_SIMPLE = AuthorizerSpec(
    name="Http", kind="REQUEST", function="AuthFn", ttl=0,
    identity_sources=("$request.header.Authorization", "$request.querystring.q"),
    payload_format_version="2.0", simple_responses=True,
)  # fmt: skip
# http-api-lambda-authorizer.html, the 2.0 example's keys in its order (no cookies sent here).
HTTP_V2_KEYS = [
    "version", "type", "routeArn", "identitySource", "routeKey", "rawPath", "rawQueryString",
    "headers", "queryStringParameters", "requestContext", "pathParameters", "stageVariables",
]  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "decision"),
    [
        (b'{"isAuthorized": true, "context": {"user": {"id": 1}}}',
         Decision(True, None, {"lambda": {"user": {"id": 1}}})),
        (b'{"isAuthorized": true}', Decision(True, None, {"lambda": {}})),
        (b'{"isAuthorized": false}', Decision(False, GatewayError.ACCESS_DENIED, None)),
        (b'{"isAuthorized": "true"}', Decision(False, GatewayError.AUTHORIZER_FAILURE, None)),
        (b'{"context": {}}', Decision(False, GatewayError.AUTHORIZER_FAILURE, None)),
        (b"not json", Decision(False, GatewayError.AUTHORIZER_FAILURE, None)),
    ],
)  # fmt: skip
def test_http_api_simple_responses(answer: bytes, decision: Decision) -> None:
    setup = Setup(HTTP_SIMPLE, answer, kind="HTTP", payload="2.0")
    assert setup.run("GET", "/users/42", BEARER, "q=1&q=2") == decision

    [event] = setup.events
    assert list(event) == HTTP_V2_KEYS
    assert event["version"] == "2.0" and event["type"] == "REQUEST"
    assert event["routeArn"] == f"{ARN}/$default/GET/users/42"
    assert event["identitySource"] == ["Bearer abc", "1,2"]
    assert event["routeKey"] == "GET /users/{id}"
    assert (event["rawPath"], event["rawQueryString"]) == ("/users/42", "q=1&q=2")
    assert event["headers"]["authorization"] == "Bearer abc"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert "authorizer" not in event["requestContext"] and "body" not in event


def test_http_api_policy_responses_are_judged_against_the_route_arn() -> None:
    spec = AuthorizerSpec(**{**_fields(HTTP_SIMPLE), "simple_responses": False})
    answer = policy(("Allow", f"{ARN}/$default/GET/*"), context={"role": "admin"})
    setup = Setup(spec, answer, kind="HTTP", payload="2.0")
    assert setup.run("GET", "/users/42", BEARER, "q=1").context == {"lambda": {"role": "admin"}}
    denied = setup.run("POST", "/users/42", BEARER, "q=1")
    assert denied == Decision(False, GatewayError.ACCESS_DENIED, None)


def test_http_api_payload_1_0_authorizer_event() -> None:
    spec = AuthorizerSpec(**{**_fields(HTTP_SIMPLE), "simple_responses": False,
                             "payload_format_version": "1.0"})  # fmt: skip
    setup = Setup(spec, policy(("Allow", "*")), kind="HTTP", payload="2.0")
    assert setup.run("GET", "/users/42", BEARER, "q=1").allowed

    [event] = setup.events
    assert list(event)[:5] == [
        "version", "type", "methodArn", "identitySource", "authorizationToken",
    ]  # fmt: skip
    assert (event["version"], event["type"]) == ("1.0", "REQUEST")
    assert event["methodArn"] == f"{ARN}/$default/GET/users/42"
    assert event["identitySource"] == event["authorizationToken"] == "Bearer abc,1"
    assert event["resource"] == "/users/{id}" and event["httpMethod"] == "GET"
    assert event["headers"]["authorization"] == "Bearer abc"
    assert "authorizer" not in event["requestContext"] and "body" not in event


def test_http_api_missing_identity_source_is_401_without_invoking() -> None:
    setup = Setup(HTTP_SIMPLE, b'{"isAuthorized": true}', kind="HTTP", payload="2.0")
    assert setup.run("GET", "/users/42", BEARER).error is GatewayError.UNAUTHORIZED
    assert setup.events == []


# --- caching ------------------------------------------------------------------------------------


def test_a_cached_policy_is_judged_again_for_each_method_until_the_ttl_ends() -> None:
    setup = Setup(TOKEN, policy(("Allow", f"{ARN}/Prod/GET/users/*")), took=0.1)
    first = setup.run("GET", "/users/1", BEARER)
    assert first.context and first.context["integrationLatency"] == 100
    second = setup.run("GET", "/users/2", BEARER)  # another path the cached policy covers
    assert second.context and second.context["integrationLatency"] == 0
    assert setup.run("POST", "/users/1", BEARER).error is GatewayError.ACCESS_DENIED
    assert len(setup.events) == 1

    setup.run("GET", "/users/1", (("Authorization", "Bearer other"),))  # another token
    assert len(setup.events) == 2
    setup.clock.now += 299
    setup.run("GET", "/users/1", BEARER)
    assert len(setup.events) == 2
    setup.clock.now += 1  # 300 s after the first answer: expired
    setup.run("GET", "/users/1", BEARER)
    assert len(setup.events) == 3


@pytest.mark.parametrize("ttl", [0, 60])
def test_ttl_zero_disables_the_cache(ttl: int) -> None:
    spec = AuthorizerSpec(**{**_fields(HTTP_SIMPLE), "ttl": ttl})
    setup = Setup(spec, b'{"isAuthorized": true}', kind="HTTP", payload="2.0")
    for _ in range(3):
        assert setup.run("GET", "/users/42", BEARER, "q=1").allowed
    assert len(setup.events) == (3 if ttl == 0 else 1)


def test_failures_are_not_cached() -> None:
    setup = Setup(TOKEN, (False, b'{"errorMessage": "boom"}'))
    setup.run("GET", "/users/1", BEARER)
    setup.run("GET", "/users/1", BEARER)
    assert len(setup.events) == 2


# --- authorizers that do not run ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "warned"),
    [
        # Named once by the server at start-up (ApiServer.unenforced), not again here.
        (AuthorizerSpec(name="Pool", kind="COGNITO"), False),
        (AuthorizerSpec(name="AWS_IAM", kind="IAM"), False),
        (
            AuthorizerSpec(name="Jwt", kind="JWT", identity_sources=("$request.header.X",)),
            False,
        ),
        # A Lambda authorizer without its function: only this step can tell.
        (AuthorizerSpec(name="External", kind="TOKEN", function=None), True),
    ],
)
def test_authorizers_that_do_not_run_locally_let_requests_pass(
    spec: AuthorizerSpec, warned: bool
) -> None:
    setup = Setup(spec, b"")
    assert setup.run("GET", "/users/1") == Decision(True, None, None)
    assert setup.run("POST", "/users/2") == Decision(True, None, None)
    assert setup.events == []
    assert len(setup.warnings) == (1 if warned else 0)
    assert all(spec.name in warning for warning in setup.warnings)


def test_a_route_without_an_authorizer_is_allowed_without_a_context() -> None:
    setup = Setup(None)
    assert setup.run("GET", "/users/1") == Decision(True, None, None)
    assert setup.warnings == [] and setup.events == []


def test_a_validation_expression_that_is_not_a_regular_expression_is_named() -> None:
    spec = AuthorizerSpec(**{**_fields(TOKEN), "validation_expression": "Bearer ("})
    setup = Setup(spec, policy(("Allow", "*")))
    assert "ValidationExpression" in setup.warnings[0]
    assert setup.run("GET", "/users/1", BEARER).allowed


# --- end to end: lambdakit serve with a real authorizer function --------------------------------


def test_a_real_token_authorizer_in_front_of_a_rest_api() -> None:
    """tests/functions/authorizers: a blueprint-style TOKEN authorizer (python3.12) guarding
    ``GET /hello``, whose function echoes ``requestContext.authorizer``."""
    server = Server(FUNCTIONS / "authorizers")
    try:
        output = server.wait_for_output("(REST API, stage Prod): ")
        found = re.search(r"\(REST API, stage Prod\): (http://\S+)/Prod", output)
        assert found is not None
        address = urlsplit(found.group(1))

        def get(token: str | None) -> tuple[int, bytes, str | None]:
            connection = http.client.HTTPConnection(
                address.hostname or "", address.port, timeout=30
            )
            headers = {"Authorization": token} if token is not None else {}
            connection.request("GET", "/Prod/hello", headers=headers)
            response = connection.getresponse()
            answer = (response.status, response.read(), response.getheader("x-amzn-ErrorType"))
            connection.close()
            return answer

        status, body, _ = get("allow")
        assert status == 200
        context = json.loads(body)
        assert {k: v for k, v in context.items() if k != "integrationLatency"} == {
            "principalId": "alice", "role": "admin", "level": "3",
        }  # fmt: skip
        assert isinstance(context["integrationLatency"], int)
        assert get("deny") == (
            403,
            b'{"Message":"User is not authorized to access this resource with an explicit deny"}',
            "AccessDeniedException",
        )
        assert get("unauthorized") == (401, b'{"message":"Unauthorized"}', "UnauthorizedException")
        assert get(None) == (401, b'{"message":"Unauthorized"}', "UnauthorizedException")
    finally:
        server.stop()


REQUEST_TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {CodeUri: ., Runtime: python3.12, Timeout: 10}
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      Auth:
        DefaultAuthorizer: Ids
        Authorizers:
          Ids:
            FunctionArn: !GetAtt AuthFn.Arn
            FunctionPayloadType: REQUEST
            Identity: {Headers: [Authorization], ReauthorizeEvery: 0}
          Pool:
            UserPoolArn: arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_x
  AuthFn:
    Type: AWS::Serverless::Function
    Properties: {Handler: app.authorize}
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.hello
      Events:
        Get: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /hello, Method: get}}
        Cognito:
          Type: Api
          Properties:
            RestApiId: !Ref Api
            Path: /cognito
            Method: get
            Auth: {Authorizer: Pool}
"""
REQUEST_APP = """
import json


def authorize(event, context):
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": event["methodArn"]}
    return {"principalId": "alice",
            "policyDocument": {"Version": "2012-10-17", "Statement": [statement]},
            "context": {"seenRequestId": event["requestContext"]["requestId"]}}


def hello(event, context):
    seen = {"requestId": event["requestContext"]["requestId"],
            "authorizer": event["requestContext"].get("authorizer"),
            "headers": sorted(event["headers"])}
    return {"statusCode": 200, "body": json.dumps(seen)}
"""


def test_the_authorizer_and_the_integration_see_the_same_request_id(tmp_path: Any) -> None:
    """A REQUEST authorizer reports the ``requestId`` of its event through its context; the
    integration's event carries the same one (API Gateway: one id per request), and so does
    the ``x-amzn-RequestId`` header. The Cognito authorizer is named once, at start-up. Header
    names reach the REST event in the client's case."""
    (tmp_path / "template.yaml").write_text(REQUEST_TEMPLATE)
    (tmp_path / "app.py").write_text(REQUEST_APP)
    server = Server(tmp_path)
    try:
        output = server.wait_for_output("(REST API, stage Prod): ")
        found = re.search(r"\(REST API, stage Prod\): (http://\S+)/Prod", output)
        assert found is not None
        address = urlsplit(found.group(1))
        answers = []
        for path in ("/Prod/hello", "/Prod/hello", "/Prod/cognito"):
            connection = http.client.HTTPConnection(address.hostname or "", address.port)
            headers = {"Authorization": "token", "X-Client-Case": "kept"}
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            answers.append((response.status, json.loads(response.read()),
                            response.getheader("x-amzn-RequestId")))  # fmt: skip
            connection.close()
        for status, seen, header in answers[:2]:
            assert status == 200
            assert seen["requestId"] == seen["authorizer"]["seenRequestId"] == header
        assert answers[0][1]["requestId"] != answers[1][1]["requestId"]
        assert "X-Client-Case" in answers[0][1]["headers"]  # REST keeps the client's case
        assert answers[2][0] == 200 and answers[2][1]["authorizer"] is None
    finally:
        server.stop()
    warnings = [line for line in server.errors if "Pool" in line]
    assert len(warnings) == 1, warnings
