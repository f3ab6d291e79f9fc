"""HTTP responses out: an app's answer in the shape the event's source expects.

Sans-IO: ``render`` is a pure function of the request's source and the response.

- API Gateway payload 1.0 (REST, HTTP API 1.0): ``statusCode``, ``headers`` (the headers that
  occur once), ``multiValueHeaders`` (all of them: API Gateway merges the two and keeps the
  multi-value one where both name a header), ``body``, ``isBase64Encoded``.
- Payload 2.0 (HTTP API 2.0, Function URLs): ``headers`` with repeated headers comma-joined,
  except Set-Cookie, which goes to ``cookies`` ("Do not set set-cookie yourself",
  urls-invocation.html).
- ALB: ``statusDescription`` (``"200 OK"``) too, and ``multiValueHeaders`` if the request came
  with them, ``headers`` otherwise. In single-value mode a repeated Set-Cookie is sent under
  differently cased names (``set-cookie``, ``Set-cookie``...), as Mangum does, since joining
  cookies with commas breaks them; turn multi-value headers on for the target group to avoid
  relying on this.

Bodies are base64-encoded (``isBase64Encoded: true``) when the content type is one of
``binary_types`` (``image/*`` matches any image type but a text one such as ``image/svg+xml``),
when there is a Content-Encoding (gzip, br...), or when the body is not UTF-8. Everything else
goes as text: a REST API passes base64 to clients undecoded unless its ``binaryMediaTypes``
list the type, so base64 is used only when it has to be.
"""

from __future__ import annotations

import binascii

from lambdakit.runtime._web_events import Source

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from lambdakit.runtime._web_events import Request

    HeaderList = Sequence[tuple[str, str]]

DEFAULT_BINARY_TYPES: tuple[str, ...] = (
    "application/octet-stream",
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/x-tar",
    "application/wasm",
    "application/x-protobuf",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.*",
    "image/*",
    "audio/*",
    "video/*",
    "font/*",
)
_TEXT_SUFFIXES = ("+xml", "+json")  # structured-syntax suffixes of text types (RFC 6839)


class Response:
    """What an app answered: status, headers as sent (name, value), and the whole body."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: HeaderList, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def render(
    request: Request, response: Response, binary_types: Sequence[str] = DEFAULT_BINARY_TYPES
) -> dict[str, object]:
    """The handler's return value for ``response`` to ``request``."""
    body, encoded = encode_body(response.body, response.headers, binary_types)
    answer: dict[str, object] = {"statusCode": response.status}
    grouped = group_headers(response.headers)
    if request.source is Source.API_GATEWAY_V1:
        answer["headers"] = {name: values[0] for name, values in grouped.items() if len(values) < 2}
        answer["multiValueHeaders"] = grouped
    elif request.source is Source.ALB:
        answer["statusDescription"] = status_line(response.status)
        if request.multi_value_headers:
            answer["multiValueHeaders"] = grouped
        else:
            answer["headers"] = _single_value(grouped)
    else:
        headers, cookies = split_cookies(response.headers)
        answer["headers"] = headers
        if cookies:
            answer["cookies"] = cookies
    answer["body"] = body
    answer["isBase64Encoded"] = encoded
    return answer


def group_headers(headers: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Values by lower-case header name, in the order they were sent."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.lower(), []).append(value)
    return grouped


def split_cookies(headers: Iterable[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    """Payload-2.0 headers and cookies: repeated headers comma-joined (RFC 9110 §5.3), each
    Set-Cookie value a cookie (they may not be joined, RFC 6265 §3)."""
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, values in group_headers(headers).items():
        if name == "set-cookie":
            cookies.extend(values)
        else:
            joined[name] = ",".join(values)
    return joined, cookies


def _single_value(grouped: dict[str, list[str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, values in grouped.items():
        if name == "set-cookie" and len(values) > 1:
            headers.update(zip(_casings(name, len(values)), values, strict=False))
        else:
            headers[name] = ",".join(values)
    return headers


def _casings(name: str, count: int) -> list[str]:
    """``count`` spellings of ``name`` that differ only in case (at most 2**letters)."""
    letters = [index for index, char in enumerate(name) if char.isalpha()]
    spellings = []
    for number in range(min(count, 2 ** len(letters))):
        chars = list(name)
        for bit, index in enumerate(letters):
            if number >> bit & 1:
                chars[index] = chars[index].upper()
        spellings.append("".join(chars))
    return spellings


def status_line(status: int) -> str:
    """``"200 OK"``: the status code and its reason phrase (RFC 9110 §15)."""
    from http import HTTPStatus  # only ALB answers need it

    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def encode_body(body: bytes, headers: HeaderList, binary_types: Sequence[str]) -> tuple[str, bool]:
    """The ``body`` text and ``isBase64Encoded`` flag for a response body."""
    if not body:
        return "", False
    if not is_binary(headers, binary_types):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return binascii.b2a_base64(body, newline=False).decode("ascii"), True


def is_binary(headers: HeaderList, binary_types: Sequence[str]) -> bool:
    """True when the headers say the body is binary: compressed, or of a binary type."""
    content_type = ""
    for name, value in headers:
        lowered = name.lower()
        if lowered == "content-encoding" and value.strip().lower() not in ("", "identity"):
            return True
        if lowered == "content-type":
            content_type = value
    media_type = content_type.split(";", 1)[0].strip().lower()
    return bool(media_type) and any(_matches(media_type, kind) for kind in binary_types)


def _matches(media_type: str, pattern: str) -> bool:
    pattern = pattern.strip().lower()
    if not pattern.endswith("*"):
        return media_type == pattern
    return media_type.startswith(pattern[:-1]) and not media_type.endswith(_TEXT_SUFFIXES)
