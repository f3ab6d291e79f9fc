"""Request bodies as API Gateway passes them to Lambda: text or base64, and which media types
count as binary. Sources: see ``apis.events`` (REST: ``binaryMediaTypes`` [doc]; HTTP APIs: the
text types ministack PR #766 checked against AWS [3rd])."""

from __future__ import annotations

import base64
from collections.abc import Iterable

from lambdakit.emulator.url_events import is_text

__all__ = ["http_api_body", "matches_media_type", "rest_body"]

_HTTP_API_TEXT = frozenset({"application/xml", "application/javascript"})


def matches_media_type(media_type: str | None, binary_media_types: Iterable[str]) -> bool:
    """Whether a ``Content-Type`` (or an ``Accept`` media type) is one of ``binaryMediaTypes``:
    exact, ``type/*`` or ``*/*``. Parameters (``; charset=...``) and case are ignored; ``~1``
    (the template's escape for ``/``) is read as ``/``."""
    if not media_type:
        return False
    wanted = media_type.split(";", 1)[0].strip().lower()
    for entry in binary_media_types:
        pattern = entry.replace("~1", "/").split(";", 1)[0].strip().lower()
        major, _, minor = pattern.partition("/")
        if pattern == "*/*" or pattern == wanted:
            return True
        if minor == "*" and wanted.partition("/")[0] == major:
            return True
    return False


def rest_body(
    body: bytes, content_type: str | None, binary_media_types: Iterable[str]
) -> tuple[str | None, bool]:
    """(``body``, ``isBase64Encoded``) for a REST API: base64 when the request's content type
    is one of the API's binary media types, text otherwise; ``None`` when there is no body."""
    if not body:
        return None, False
    if not matches_media_type(content_type, binary_media_types):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass  # not representable as a JSON string (UNVERIFIED, see the module docstring)
    return base64.b64encode(body).decode("ascii"), True


def http_api_body(body: bytes, content_type: str | None) -> tuple[str | None, bool]:
    """(``body``, ``isBase64Encoded``) for an HTTP API: text for text types (the Function URL
    rule plus ``application/xml`` and ``application/javascript`` [3rd]), base64 otherwise."""
    if not body:
        return None, False
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if is_text(content_type) or media in _HTTP_API_TEXT:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True
