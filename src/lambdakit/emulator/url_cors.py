"""CORS for Function URLs, as pure functions: the URL's ``Cors`` and a request's headers in,
the preflight answer or the headers to add out.

What Lambda does, and how we know:

- [doc] https://docs.aws.amazon.com/lambda/latest/dg/urls-configuration.html#urls-cors: with
  ``Cors`` configured, Lambda adds the CORS headers to all responses through the URL
  (``Access-Control-Allow-Origin``, ``-Allow-Methods``, ``-Allow-Headers``, ``-Expose-Headers``,
  ``-Allow-Credentials``, ``-Max-Age``). For a preflight only the URL's headers are sent; for
  other requests Lambda sends its own *and* the function's, which can duplicate them (the docs
  warn of "The 'Access-Control-Allow-Origin' header contains multiple values").
- [aws] A preflight answered by a real URL (dev.to/rimutaka, "AWS Lambda Function URL with
  CORS explained by example", 2024): the function is not invoked; ``200``, ``Content-Type:
  application/json``, an empty body, ``Vary: Origin``, the request's origin echoed,
  ``Access-Control-Allow-Headers`` lower-cased and comma-joined without spaces (the configured
  list, not the requested one), ``Access-Control-Allow-Methods`` likewise, and
  ``Access-Control-Allow-Credentials: true``. The same post shows the function's and the URL's
  ``access-control-allow-origin`` both present on an ordinary response.
- [aws] ``AllowOrigins: ["*"]`` with ``AllowCredentials: true`` is accepted by Lambda, which then
  echoes any request's origin with ``Access-Control-Allow-Credentials: true`` (LeanerCloud/CUDly
  issue #390, probing a live URL).
- UNVERIFIED: ``*`` without credentials answers ``Access-Control-Allow-Origin: *``; an origin
  that is not allowed gets no CORS headers at all (so the browser blocks the response), also on
  a preflight, which is still answered by the URL with 200; ``https://*.example.com`` is not a
  pattern (the docs name ``*`` alone as the wildcard), so it matches only itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lambdakit.emulator.url_events import JSON
from lambdakit.emulator.url_responses import HttpResponse

__all__ = ["CorsPolicy", "cors_headers", "is_preflight", "preflight"]


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """A URL's ``Cors`` (https://docs.aws.amazon.com/lambda/latest/api/API_Cors.html)."""

    allow_origins: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    allow_credentials: bool = False
    max_age: int | None = None

    @classmethod
    def from_template(cls, cors: Mapping[str, object]) -> CorsPolicy:
        """From the template's mapping (checked and typed by ``lambdakit.template.urls``)."""
        max_age = cors.get("MaxAge")
        return cls(
            allow_origins=_strings(cors.get("AllowOrigins")),
            allow_methods=tuple(m.upper() for m in _strings(cors.get("AllowMethods"))),
            allow_headers=tuple(h.lower() for h in _strings(cors.get("AllowHeaders"))),
            expose_headers=tuple(h.lower() for h in _strings(cors.get("ExposeHeaders"))),
            allow_credentials=cors.get("AllowCredentials") is True,
            max_age=int(str(max_age)) if max_age is not None else None,
        )

    def allowed_origin(self, origin: str) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``, or None if not allowed."""
        if "*" in self.allow_origins:
            return origin if self.allow_credentials else "*"
        wanted = origin.lower()
        return origin if any(o.lower() == wanted for o in self.allow_origins) else None


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, (list, tuple)) else [value]
    return tuple(str(item) for item in items)


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def is_preflight(method: str, headers: Sequence[tuple[str, str]]) -> bool:
    """An ``OPTIONS`` request with ``Origin`` and ``Access-Control-Request-Method``: the CORS
    preflight (https://fetch.spec.whatwg.org/#cors-preflight-request). Any other ``OPTIONS``
    goes to the function."""
    return (
        method == "OPTIONS"
        and _header(headers, "origin") is not None
        and _header(headers, "access-control-request-method") is not None
    )


def preflight(policy: CorsPolicy, headers: Sequence[tuple[str, str]]) -> HttpResponse:
    """The URL's own answer to a preflight: the configured lists, not filtered by what was
    requested (the browser compares them)."""
    answer = [("Content-Type", JSON)]
    allowed = policy.allowed_origin(_header(headers, "origin") or "")
    if allowed is None:
        return HttpResponse(200, answer, b"")
    answer += [("Vary", "Origin"), ("Access-Control-Allow-Origin", allowed)]
    if policy.allow_headers:
        answer.append(("Access-Control-Allow-Headers", ",".join(policy.allow_headers)))
    if policy.allow_methods:
        answer.append(("Access-Control-Allow-Methods", ",".join(policy.allow_methods)))
    if policy.allow_credentials:
        answer.append(("Access-Control-Allow-Credentials", "true"))
    if policy.max_age is not None:
        answer.append(("Access-Control-Max-Age", str(policy.max_age)))
    return HttpResponse(200, answer, b"")


def cors_headers(policy: CorsPolicy, headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The headers Lambda adds to an ordinary response (after the function's own, which are
    kept: both are sent, as on Lambda) for a request from an allowed origin; none otherwise."""
    origin = _header(headers, "origin")
    allowed = policy.allowed_origin(origin) if origin is not None else None
    if allowed is None:
        return []
    added = [("Vary", "Origin"), ("Access-Control-Allow-Origin", allowed)]
    if policy.allow_credentials:
        added.append(("Access-Control-Allow-Credentials", "true"))
    if policy.expose_headers:
        added.append(("Access-Control-Expose-Headers", ",".join(policy.expose_headers)))
    return added
