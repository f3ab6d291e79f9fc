"""CORS for the local APIs, as pure functions: an API's ``CorsSpec`` and a request's headers in,
API Gateway's own answer or the headers to add out.

The two kinds of API do it differently, and each is kept:

- **HTTP APIs** (``CorsConfiguration``): API Gateway answers a preflight itself, "even if there
  isn't an OPTIONS route configured", adds the CORS headers to every response from an allowed
  origin and *ignores the CORS headers the integration returns* [doc]
  https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html. The rules for
  origins, credentials and the header lists are those of Function URLs, so ``url_cors`` decides
  them; the preflight answer is ``204`` [3rd: floci-io/floci PR #1955].
- **REST APIs** (SAM ``Cors``): SAM adds an ``OPTIONS`` method with a *mock* integration to every
  path of the API (unless the path has its own ``OPTIONS``), whose integration response carries
  the configured ``Access-Control-Allow-*`` values and the body ``{}`` (aws/serverless-
  application-model, ``swagger.py``, ``add_cors``); ``AllowMethods`` defaults to the path's own
  methods plus ``OPTIONS``, ``ANY`` standing for all of them. Every other response is the
  function's own: "For a Lambda proxy integration ..., your backend is responsible for returning
  the Access-Control-Allow-Origin ... headers" [doc] .../developerguide/how-to-cors.html.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from lambdakit.emulator.url_cors import CorsPolicy, cors_headers, preflight
from lambdakit.emulator.url_responses import HttpResponse
from lambdakit.template.apis import CorsSpec

__all__ = ["ALL_METHODS", "http_cors_headers", "http_preflight", "policy_of", "rest_options"]

ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
"""What ``ANY`` stands for in a REST preflight's ``Access-Control-Allow-Methods`` (SAM)."""


def policy_of(spec: CorsSpec) -> CorsPolicy:
    """An HTTP API's ``CorsConfiguration`` in the shape the Function URL rules take."""
    return CorsPolicy(
        allow_origins=spec.allow_origins,
        allow_methods=tuple(m.upper() for m in spec.allow_methods),
        allow_headers=tuple(h.lower() for h in spec.allow_headers),
        expose_headers=tuple(h.lower() for h in spec.expose_headers),
        allow_credentials=spec.allow_credentials,
        max_age=spec.max_age,
    )


def http_preflight(spec: CorsSpec, headers: Sequence[tuple[str, str]]) -> HttpResponse:
    """An HTTP API's answer to a preflight: 204, the configured lists (for an allowed origin)."""
    answer = preflight(policy_of(spec), headers)
    kept = [(name, value) for name, value in answer.headers if name.lower() != "content-type"]
    return HttpResponse(204, kept, b"")


def http_cors_headers(
    spec: CorsSpec, request_headers: Sequence[tuple[str, str]], response: HttpResponse
) -> HttpResponse:
    """RESPONSE with the integration's ``Access-Control-*`` headers replaced by the API's."""
    kept = [(n, v) for n, v in response.headers if not n.lower().startswith("access-control-")]
    added = cors_headers(policy_of(spec), request_headers)
    return HttpResponse(response.status, kept + added, response.body)


def rest_options(spec: CorsSpec, methods: Iterable[str]) -> HttpResponse:
    """The mock ``OPTIONS`` method SAM adds to a path of a REST API with ``Cors``: static
    headers, whatever the request's origin (SAM's values are fixed strings)."""
    headers = [("Content-Type", "application/json")]
    if spec.allow_origins:
        headers.append(("Access-Control-Allow-Origin", ",".join(spec.allow_origins)))
    headers.append(("Access-Control-Allow-Methods", ",".join(_methods(spec, methods))))
    if spec.allow_headers:
        headers.append(("Access-Control-Allow-Headers", ",".join(spec.allow_headers)))
    if spec.max_age is not None:
        headers.append(("Access-Control-Max-Age", str(spec.max_age)))
    if spec.allow_credentials:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    return HttpResponse(200, headers, b"{}")


def _methods(spec: CorsSpec, methods: Iterable[str]) -> list[str]:
    if spec.allow_methods:
        return [m.upper() for m in spec.allow_methods]
    found = {m.upper() for m in methods} | {"OPTIONS"}
    if "ANY" in found:
        return list(ALL_METHODS)
    return sorted(found)
