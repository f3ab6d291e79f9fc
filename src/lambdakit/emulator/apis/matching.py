"""Which route of which API answers a request, as API Gateway chooses it. Pure functions.

REST APIs resolve the *resource* first, then the method on it. Of the resources whose path
matches, the most specific wins, segment by segment from the left: a literal segment over a
``{param}``, a ``{param}`` over a greedy ``{proxy+}`` (API Gateway walks its resource tree that
way). On that resource the method itself wins over ``ANY``; a resource without either answers
as an unknown path does: 403 ``{"message":"Missing Authentication Token"}`` (REST APIs have no
404 or 405 for these). A single trailing slash is ignored (``/users/`` is ``/users``).
Path parameters are passed as the client sent them, percent-encoding included.

HTTP APIs match the route as a whole, method and path together, in the order
http-api-develop-routes.html gives: a full match for route and method (literal segments over
``{param}``, the method over ``ANY``), then a match with a greedy path variable, then the
``$default`` route; else 404 ``{"message":"Not Found"}``. HTTP APIs decode the path before
routing ("API Gateway decodes URL-encoded request parameters before passing them to your
backend integration"), so ``%2F`` separates segments and parameters arrive decoded. A trailing
slash is part of the path: ``/pets/`` is not ``/pets``.

A greedy ``{proxy+}`` takes one or more whole segments (never none: ``/{proxy+}`` does not
match ``/``). The stage is optional in the path, as with SAM CLI (which serves every route at
the root): ``/Prod/users`` and ``/users`` both reach the route ``/users`` of a REST API staged
``Prod``; the stage-prefixed reading is tried first.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lambdakit.template.apis import ApiKind, ApiSpec, RouteSpec

__all__ = ["Match", "NoMatch", "Router", "match", "match_api"]

_LITERAL, _PARAMETER, _GREEDY = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Match:
    """The route chosen, with what the event needs of the match."""

    route: RouteSpec
    path_parameters: Mapping[str, str] = field(hash=False)
    resource_path: str
    """The route's path template (``/users/{id}``; ``$default`` for the default route)."""
    api: ApiSpec = field(hash=False)
    path: str = ""
    """The request path without the stage: as sent for REST APIs, decoded for HTTP APIs."""


@dataclass(frozen=True, slots=True)
class NoMatch:
    """No route answers: API Gateway's answer, for the API the request was taken to be for."""

    status: int
    message: str
    kind: ApiKind
    api: ApiSpec | None = None

    @property
    def body(self) -> bytes:
        return b'{"message":"' + self.message.encode() + b'"}'


_NO_RESOURCE: Mapping[ApiKind, tuple[int, str]] = {
    "REST": (403, "Missing Authentication Token"),
    "HTTP": (404, "Not Found"),
}


def match(apis: Sequence[ApiSpec], method: str, path: str) -> Match | NoMatch:
    """The route of APIS (served together, on one port) for METHOD and PATH (the request
    target; a query string is ignored). An API whose stage begins PATH is tried first, with
    the stage removed; then every API with the whole path, a route before a ``$default``
    route, the APIs in their order. (A server builds a ``Router`` once instead.)"""
    return Router(apis).match(method, path)


def match_api(api: ApiSpec, method: str, path: str) -> Match | NoMatch:
    """The route of one API for METHOD and PATH (the path after the stage)."""
    return _Table(api).match(method.upper(), path)


class Router:
    """The routes of APIS compiled once (each path template parsed, the literal ones in a
    dict), so that a request costs a dict lookup or one pass over pre-parsed templates."""

    def __init__(self, apis: Sequence[ApiSpec]) -> None:
        self.tables = tuple(_Table(api) for api in apis)

    def match(self, method: str, path: str) -> Match | NoMatch:
        """As ``match``: the staged reading first, then the whole path, non-default first."""
        path = path.partition("?")[0] or "/"
        method = method.upper()
        staged = [(table, rest) for table in self.tables if (rest := table.strip(path)) is not None]
        for table, rest in staged:
            found = table.match(method, rest or "/")
            if isinstance(found, Match):
                return found
        default: Match | None = None
        for table in self.tables:
            found = table.match(method, path)
            if isinstance(found, Match):
                if not found.route.is_default:
                    return found
                default = default or found
        if default is not None:
            return default
        addressed = staged[0][0].api if staged else (self.tables[0].api if self.tables else None)
        return _no_match(addressed.kind if addressed else "HTTP", addressed)


@dataclass(frozen=True, slots=True)
class _Template:
    """One route's path template, parsed: (kind, literal or parameter name) per segment."""

    route: RouteSpec
    parts: tuple[tuple[int, str], ...]
    rank: tuple[int, ...]
    """Lower is more specific, compared from the left."""

    @classmethod
    def of(cls, route: RouteSpec) -> _Template:
        segments = _template(route.path)
        kinds = tuple(_kind(segment) for segment in segments)
        names = (_name(segment, kind) for segment, kind in zip(segments, kinds, strict=True))
        return cls(route, tuple(zip(kinds, names, strict=True)), kinds)

    @property
    def literal(self) -> bool:
        return not any(self.rank)


class _Table:
    """One API's routes, compiled: what ``match_api`` does, without re-parsing templates."""

    def __init__(self, api: ApiSpec) -> None:
        self.api = api
        self.rest = api.kind == "REST"
        self.prefix = (
            None
            if api.stage_name in ("", "$default")
            else "/" + urllib.parse.quote(api.stage_name, safe="$-_.~")
        )
        routes = [route for route in api.routes if not (not self.rest and route.is_default)]
        self.templates = tuple(_Template.of(route) for route in routes)
        self.default = None if self.rest else next((r for r in api.routes if r.is_default), None)
        # The all-literal templates: such a match is always the most specific one.
        self.literal: dict[tuple[str, ...], list[RouteSpec]] = {}
        for template in self.templates:
            if template.literal:
                key = tuple(name for _, name in template.parts)
                self.literal.setdefault(key, []).append(template.route)

    def strip(self, path: str) -> str | None:
        """PATH without the API's stage, if it begins with it (``/Prod/users`` -> ``/users``)."""
        prefix = self.prefix
        if prefix is not None and (path == prefix or path.startswith(prefix + "/")):
            return path[len(prefix) :]
        return None

    def match(self, method: str, path: str) -> Match | NoMatch:
        """METHOD upper-cased; PATH after the stage."""
        if self.rest:
            return self._match_rest(method, path)
        return self._match_http(method, urllib.parse.unquote(path))

    def _match_rest(self, method: str, path: str) -> Match | NoMatch:
        segments = _segments(path)
        if len(segments) > 1 and segments[-1] == "":
            segments = segments[:-1]  # REST APIs ignore one trailing slash
        literal = self.literal.get(tuple(segments))
        if literal is not None:
            resource: tuple[str, dict[str, str]] | None = (literal[0].path, {})
        else:
            resource = self._resource(segments)
        if resource is not None:
            on_resource = [r for r in self.api.routes if r.path == resource[0]]
            chosen = _by_method(on_resource, method)
            if chosen is not None:
                return Match(chosen, resource[1], chosen.path, self.api, path)
        return _no_match("REST", self.api)

    def _resource(self, segments: Sequence[str]) -> tuple[str, dict[str, str]] | None:
        """The most specific resource path SEGMENTS fit, with its path parameters."""
        best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
        for template in self.templates:
            bound = _bind(template.parts, segments)
            if bound is not None and (best is None or template.rank < best[0]):
                best = (template.rank, template.route.path, bound)
        return None if best is None else (best[1], best[2])

    def _match_http(self, method: str, path: str) -> Match | NoMatch:
        segments = _segments(path)
        literal = self.literal.get(tuple(segments))
        if literal is not None:  # the method over ANY; a literal path over any template
            chosen = _by_method(literal, method)
            if chosen is not None:
                return Match(chosen, {}, chosen.path, self.api, path)
        candidates = []
        for template in self.templates:
            if template.route.method not in (method, "ANY"):
                continue
            bound = _bind(template.parts, segments)
            if bound is not None:
                key = (_GREEDY in template.rank, template.rank, template.route.method == "ANY")
                candidates.append((key, template.route, bound))
        if candidates:
            _, best, bound = min(candidates, key=lambda c: c[0])
            return Match(best, bound, best.path, self.api, path)
        if self.default is not None:
            return Match(self.default, {}, self.default.path, self.api, path)
        return _no_match("HTTP", self.api)


def _by_method(routes: Sequence[RouteSpec], method: str) -> RouteSpec | None:
    exact = next((r for r in routes if r.method == method), None)
    return exact or next((r for r in routes if r.method == "ANY"), None)


def _segments(path: str) -> list[str]:
    """``/a/b`` -> [a, b]; ``/`` -> []; ``/a/`` -> [a, ""]."""
    return path.split("/")[1:] if path not in ("", "/") else []


def _template(path: str) -> list[str]:
    return _segments(path.rstrip("/") or "/")


def _kind(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return _GREEDY
    return _PARAMETER if segment.startswith("{") and segment.endswith("}") else _LITERAL


def _name(segment: str, kind: int) -> str:
    """A literal segment as it is; a parameter's name (``{id}`` -> ``id``, ``{proxy+}`` ->
    ``proxy``)."""
    if kind == _GREEDY:
        return segment[1:-2]
    return segment[1:-1] if kind == _PARAMETER else segment


def _bind(parts: Sequence[tuple[int, str]], segments: Sequence[str]) -> dict[str, str] | None:
    """The path parameters if the parsed template PARTS matches SEGMENTS, else None."""
    parameters: dict[str, str] = {}
    for index, (kind, name) in enumerate(parts):
        if kind == _GREEDY:
            rest = "/".join(segments[index:])
            if index != len(parts) - 1 or not rest:
                return None
            parameters[name] = rest
            return parameters
        if index >= len(segments):
            return None
        if kind == _PARAMETER:
            if not segments[index]:
                return None
            parameters[name] = segments[index]
        elif name != segments[index]:
            return None
    return parameters if len(segments) == len(parts) else None


def _no_match(kind: ApiKind, api: ApiSpec | None) -> NoMatch:
    status, message = _NO_RESOURCE[kind]
    return NoMatch(status, message, kind, api)
