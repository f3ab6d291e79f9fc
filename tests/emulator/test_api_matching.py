"""Route selection as API Gateway does it (lambdakit.emulator.apis.matching), table-driven."""

from __future__ import annotations

import dataclasses

import pytest

from lambdakit.emulator.apis.matching import Match, NoMatch, match, match_api
from lambdakit.template import ApiSpec, RouteSpec


def route(key: str, function: str = "") -> RouteSpec:
    method, _, path = key.partition(" ")
    return RouteSpec(
        method=method, path=path or "$default", function=function or key,
        payload_format_version="1.0", timeout_ms=29000,
    )  # fmt: skip


def rest(*keys: str, stage: str = "Prod", logical_id: str = "Rest") -> ApiSpec:
    return ApiSpec(logical_id=logical_id, kind="REST", stage_name=stage,
                   routes=tuple(route(k) for k in keys))  # fmt: skip


def http(*keys: str, stage: str = "$default", logical_id: str = "Http") -> ApiSpec:
    return ApiSpec(logical_id=logical_id, kind="HTTP", stage_name=stage,
                   routes=tuple(route(k) for k in keys))  # fmt: skip


REST_API = rest(
    "GET /", "GET /users", "GET /users/me", "GET /users/{id}", "ANY /users/{id}/{proxy+}",
    "POST /users/{id}", "ANY /files/{proxy+}", "GET /files/{proxy+}", "ANY /{proxy+}",
)  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        ("GET", "/", "GET /", {}),
        ("GET", "/users", "GET /users", {}),
        ("GET", "/users/", "GET /users", {}),  # one trailing slash is ignored
        ("get", "/users/me", "GET /users/me", {}),  # a literal over {id}
        ("GET", "/users/42", "GET /users/{id}", {"id": "42"}),
        ("POST", "/users/42", "POST /users/{id}", {"id": "42"}),
        ("GET", "/users/a%20b", "GET /users/{id}", {"id": "a%20b"}),  # as sent
        ("GET", "/users/42/x/y", "ANY /users/{id}/{proxy+}", {"id": "42", "proxy": "x/y"}),
        ("GET", "/files/a/b.txt", "GET /files/{proxy+}", {"proxy": "a/b.txt"}),  # GET over ANY
        ("PUT", "/files/a", "ANY /files/{proxy+}", {"proxy": "a"}),
        ("GET", "/other/thing", "ANY /{proxy+}", {"proxy": "other/thing"}),
        ("GET", "/Prod/users/7", "GET /users/{id}", {"id": "7"}),  # the stage is optional
        ("GET", "/users/7?x=1", "GET /users/{id}", {"id": "7"}),
    ],
)
def test_rest_apis_take_the_most_specific_resource_then_its_method(
    method: str, path: str, route_key: str, parameters: dict[str, str]
) -> None:
    found = match([REST_API], method, path)
    assert isinstance(found, Match)
    assert f"{found.route.method} {found.route.path}" == route_key
    assert found.path_parameters == parameters
    assert found.resource_path == found.route.path
    assert found.path == path.removeprefix("/Prod").partition("?")[0]


@pytest.mark.parametrize(
    ("api", "method", "path"),
    [
        (REST_API, "DELETE", "/users"),  # the resource has no DELETE and no ANY
        (REST_API, "PUT", "/users/me"),  # no fallback to a less specific resource
        (rest("GET /users"), "GET", "/nothing"),
        (rest("ANY /{proxy+}"), "GET", "/"),  # a greedy variable never matches nothing
        (rest("GET /users/{id}"), "GET", "/users//"),
    ],
)
def test_rest_apis_answer_403_missing_authentication_token(
    api: ApiSpec, method: str, path: str
) -> None:
    found = match([api], method, path)
    assert isinstance(found, NoMatch)
    assert (found.status, found.body) == (403, b'{"message":"Missing Authentication Token"}')
    assert found.api is api


HTTP_API = http(
    "GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}",
    "POST /a/{b}/{c}", "ANY /a/{proxy+}", "GET /items", "ANY /items",
)  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "route_key", "parameters"),
    [
        # The example of http-api-develop-routes.html, "Routing API requests".
        ("GET", "/pets/dog/1", "GET /pets/dog/1", {}),
        ("GET", "/pets/dog/2", "GET /pets/dog/{id}", {"id": "2"}),
        ("GET", "/pets/cat/1", "GET /pets/{proxy+}", {"proxy": "cat/1"}),
        ("POST", "/pets/cat/1", "ANY /{proxy+}", {"proxy": "pets/cat/1"}),  # method and path
        ("POST", "/a/1/2", "POST /a/{b}/{c}", {"b": "1", "c": "2"}),  # full match over greedy
        ("GET", "/a/1/2", "ANY /a/{proxy+}", {"proxy": "1/2"}),
        ("GET", "/items", "GET /items", {}),  # the method over ANY
        ("DELETE", "/items", "ANY /items", {}),
        ("GET", "/pets/dog/a%20b", "GET /pets/dog/{id}", {"id": "a b"}),  # decoded
        ("GET", "/pets/dog%2F3", "GET /pets/dog/{id}", {"id": "3"}),  # decoded, then routed
        ("GET", "/items/", "ANY /{proxy+}", {"proxy": "items/"}),  # a trailing slash counts
    ],
)
def test_http_apis_take_the_most_specific_route(
    method: str, path: str, route_key: str, parameters: dict[str, str]
) -> None:
    found = match([HTTP_API], method, path)
    assert isinstance(found, Match)
    assert f"{found.route.method} {found.route.path}" == route_key
    assert found.path_parameters == parameters


def test_the_default_route_catches_the_rest_and_without_it_http_apis_answer_404() -> None:
    with_default = http("GET /items", "$default")
    found = match([with_default], "PATCH", "/anything/at/all")
    assert isinstance(found, Match) and found.route.is_default
    assert (found.path_parameters, found.resource_path) == ({}, "$default")
    missing = match([http("GET /items")], "POST", "/items")
    assert isinstance(missing, NoMatch)
    assert (missing.status, missing.body) == (404, b'{"message":"Not Found"}')


def test_several_apis_on_one_port() -> None:
    staged = rest("GET /users", stage="v1", logical_id="V1")
    other = rest("GET /users", stage="v2", logical_id="V2")
    catch_all = http("$default", logical_id="Catch")
    apis = [catch_all, staged, other]
    chosen = {p: match(apis, "GET", p) for p in ("/v2/users", "/v1/users", "/users", "/x")}
    assert {p: m.api.logical_id for p, m in chosen.items() if isinstance(m, Match)} == {
        "/v2/users": "V2",  # the stage names the API
        "/v1/users": "V1",
        "/users": "V1",  # a route of any API before a $default route
        "/x": "Catch",
    }
    no_default = dataclasses.replace(catch_all, routes=())
    unknown = match([no_default, staged], "GET", "/v1/nothing")
    assert isinstance(unknown, NoMatch) and (unknown.status, unknown.api) == (403, staged)
    assert isinstance(match([], "GET", "/"), NoMatch)


def test_a_named_http_stage_is_optional_in_the_path_too() -> None:
    api = http("GET /pets/{id}", stage="dev")
    for path in ("/dev/pets/1", "/pets/1"):
        found = match([api], "GET", path)
        assert isinstance(found, Match) and found.path_parameters == {"id": "1"}
        assert found.path == "/pets/1"
    assert isinstance(match_api(api, "GET", "/dev/pets/1"), NoMatch)  # match_api takes no stage
