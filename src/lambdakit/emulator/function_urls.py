"""Function URLs as pure functions: HTTP request -> payload format 2.0 event -> HTTP response.

The emulator's URL server (``url_server``) calls these pieces; nothing here does I/O. They live
in one module per concern, and this module names them all, for callers that want the whole set:

- ``url_events``: ``request_event`` turns an HTTP request into the event the function receives.
- ``url_responses``: ``buffered_response`` turns the function's result into the HTTP response
  (``InvokeMode: BUFFERED``); ``PreludeParser`` splits a streamed ``http-integration-response``
  into its prelude and body (``InvokeMode: RESPONSE_STREAM``).
- ``url_cors``: the URL's ``Cors``: preflights and the headers added to responses.
- ``url_auth`` (with ``sigv4``): ``AuthType: AWS_IAM``, signatures checked.
"""

from __future__ import annotations

from lambdakit.emulator.url_auth import LocalCredentials, authorize, local_credentials
from lambdakit.emulator.url_cors import CorsPolicy, cors_headers, is_preflight, preflight
from lambdakit.emulator.url_events import (
    IamAuthorizer,
    RequestEvent,
    domain_name,
    iam_authorizer,
    is_text,
    request_event,
)
from lambdakit.emulator.url_responses import (
    BAD_GATEWAY,
    DELIMITER,
    HTTP_INTEGRATION,
    MAX_PRELUDE,
    HttpResponse,
    Prelude,
    PreludeError,
    PreludeParser,
    buffered_response,
    forbidden,
    parse_prelude,
    prelude_headers,
)

__all__ = [
    "BAD_GATEWAY",
    "DELIMITER",
    "HTTP_INTEGRATION",
    "MAX_PRELUDE",
    "CorsPolicy",
    "HttpResponse",
    "IamAuthorizer",
    "LocalCredentials",
    "Prelude",
    "PreludeError",
    "PreludeParser",
    "RequestEvent",
    "authorize",
    "buffered_response",
    "cors_headers",
    "domain_name",
    "forbidden",
    "iam_authorizer",
    "is_preflight",
    "is_text",
    "local_credentials",
    "parse_prelude",
    "preflight",
    "prelude_headers",
    "request_event",
]
