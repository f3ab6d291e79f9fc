"""Events in, results out: JSON through CPython's C accelerator, without importing ``json``.

``import json`` pulls in ``re`` and ``enum`` (several milliseconds of every cold start); the
C functions behind it live in ``_json`` and need neither. The pure-Python ``json`` module is
imported only on the error path, to produce its exact error messages.

Rules (awslambdaric ``lambda_runtime_marshaller.py``, with the differences in docs/runtime.md):

- an event whose content type is not JSON is passed to the handler as raw ``bytes``;
- a ``bytes`` result is sent as is, as ``application/unknown``;
- anything else is sent as compact JSON with non-ASCII characters kept, ``Decimal`` values
  written exactly as ``str(d)`` would write them, and ``NaN``/``Infinity`` allowed.
"""

from __future__ import annotations

import _json
import sys

from lambdakit.runtime.errors import MARSHAL_ERROR, UNMARSHAL_ERROR, FaultError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

JSON = "application/json"
BINARY = "application/unknown"
_WHITESPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


class _ScanContext:
    # The attributes _json.make_scanner reads from a json.JSONDecoder.
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}  # noqa: RUF012 - read by the scanner, never mutated here


_scan_once = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]


def loads(data: bytes | str) -> object:
    """Parse a JSON document (UTF-8 when given bytes).

    Errors are those of ``json.loads``: same types, same messages.
    """
    if len(data) >= 4096 and isinstance(data, (bytes, bytearray)):
        plain = _plain_string_document(data)
        if plain is not None:
            return plain
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        start = _skip_whitespace(text, 0)
        value, end = _scan_once(text, start)
        if _skip_whitespace(text, end) == len(text):
            return value
    except Exception:
        pass
    import json  # the slow path: only json.loads words its errors the way users expect

    # Events are UTF-8 (json.loads would guess UTF-16 for some invalid bytes and say so).
    return json.loads(data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data)


def _plain_string_document(data: bytes | bytearray) -> str | None:
    """The value of a document that is one JSON string without escapes (a large base64 blob,
    a text): the bytes between the quotes, decoded, without the scanner's character loop."""
    end = len(data) - 1
    if data[0] != 0x22 or data[end] != 0x22:  # '"'
        return None
    if data.find(b'"', 1, end) >= 0 or data.find(b"\\", 1, end) >= 0:
        return None
    if len(data.translate(None, _CONTROL[:32])) != len(data):  # raw control bytes are invalid
        return None
    try:
        return str(memoryview(data)[1:end], "utf-8")
    except UnicodeDecodeError:
        return None  # the slow path reports it


def _skip_whitespace(text: str, index: int) -> int:
    length = len(text)
    while index < length and text[index] in _WHITESPACE:
        index += 1
    return index


def dumps(
    value: object,
    *,
    compact: bool = True,
    ascii: bool = False,
    default: Callable[[object], object] | None = None,
) -> str:
    """Encode ``value`` as JSON, writing ``Decimal`` exactly and ``bytes`` as UTF-8 text.

    ``compact`` uses ``,``/``:`` separators (responses); otherwise ``", "``/``": "`` (error
    bodies and JSON log records, as awslambdaric writes them). Non-ASCII text is kept unless
    ``ascii`` (for HTTP header values). ``default`` converts what JSON cannot represent;
    without it such values raise ``TypeError``.
    """
    decimals = _Decimals(default)
    item_separator, key_separator = (",", ":") if compact else (", ", ": ")
    strings = _json.encode_basestring_ascii if ascii else _json.encode_basestring
    encode = _json.make_encoder(
        {}, decimals.default, strings, None,
        key_separator, item_separator, False, False, True,
    )  # fmt: skip
    text = "".join(encode(value, 0))
    return decimals.restore(text)


class _Decimals:
    """Writes ``Decimal`` values exactly: the C encoder cannot emit raw text, so each Decimal is
    encoded as a unique placeholder string that is replaced by its digits afterwards."""

    __slots__ = ("_fallback", "_values")
    _TAG = "\x00lambdakit-decimal-%d-%d\x00"

    def __init__(self, fallback: Callable[[object], object] | None) -> None:
        self._fallback = fallback
        self._values: list[str] = []

    def default(self, value: object) -> object:
        decimal = sys.modules.get("decimal")  # a Decimal can only exist if decimal is loaded
        if decimal is not None and isinstance(value, decimal.Decimal):
            # NaN Decimals (including -NaN and sNaN) become NaN, as in awslambdaric.
            self._values.append("NaN" if value.is_nan() else str(value))
            return self._TAG % (id(self), len(self._values) - 1)
        if isinstance(value, bytes):
            # simplejson (awslambdaric's encoder) writes bytes as their UTF-8 text.
            return value.decode("utf-8")
        if self._fallback is not None:
            return self._fallback(value)
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    def restore(self, text: str) -> str:
        for index, digits in enumerate(self._values):
            placeholder = _json.encode_basestring(self._TAG % (id(self), index))
            text = text.replace(placeholder, digits)
        return text


# What encode_basestring_ascii escapes in ASCII text besides the quote and the backslash.
_CONTROL = bytes(range(32)) + b"\x7f"


def _plain_json_string(text: str) -> bytes | None:
    """``"text"`` as JSON when the ASCII ``text`` needs no escape, else None."""
    if '"' in text or "\\" in text:
        return None
    data = text.encode("ascii")
    if len(data.translate(None, _CONTROL)) != len(data):
        return None
    return b'"' + data + b'"'


def is_json(content_type: str | None) -> bool:
    """True for ``application/json``, with or without parameters such as ``charset``."""
    if content_type is None:
        return False
    return content_type.split(";", 1)[0].strip().lower() == JSON


def unmarshal_event(body: bytes, content_type: str | None) -> object:
    """The handler's ``event``: parsed JSON, or the raw bytes for any other content type."""
    if not is_json(content_type):
        return bytes(body)
    try:
        return loads(body)
    except Exception as exc:
        raise FaultError(UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from exc


def marshal_result(result: object) -> tuple[bytes, str]:
    """The response body and its content type for a handler's return value."""
    if isinstance(result, (bytes, bytearray)):
        return bytes(result), BINARY
    if type(result) is str and result.isascii():
        # A large text answer (a document, a base64 blob): text that needs no escaping is
        # copied as it is, faster than the encoder's character loop.
        plain = _plain_json_string(result) if len(result) >= 4096 else None
        return plain or _json.encode_basestring_ascii(result).encode("ascii"), JSON
    try:
        text = dumps(result)
        try:
            return text.encode("utf-8"), JSON
        except UnicodeEncodeError:  # a lone surrogate: only the escaped form is valid JSON
            return dumps(result, ascii=True).encode("ascii"), JSON
    except Exception as exc:
        raise FaultError(MARSHAL_ERROR, f"Unable to marshal response: {exc}") from exc
