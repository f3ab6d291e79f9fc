"""The AWS event-stream framing (``application/vnd.amazon.eventstream``) as pure functions of bytes.

``InvokeWithResponseStream`` answers with a sequence of these messages: ``PayloadChunk`` events
carrying the function's bytes as it produces them, then one ``InvokeComplete`` event. The
emulator encodes them here; tests (and anyone reading a stream) decode them with the
incremental ``EventStreamDecoder``.

A message (botocore ``eventstream.py``; AWS "Event stream encoding" in the Transcribe and S3
Select guides)::

    prelude  total_length:u32 | headers_length:u32 | prelude_crc:u32 = CRC32(first 8 bytes)
    headers  name_len:u8 | name:utf8 | type:u8 | value       (repeated, headers_length bytes)
    payload  total_length - headers_length - 16 bytes
    trailer  message_crc:u32 = CRC32(everything before it)

All integers are big-endian; CRC32 is zlib's. Header value types: 0 true, 1 false, 2 int8,
3 int16, 4 int32, 5 int64, 6 bytes (u16 length), 7 string (u16 length, UTF-8), 8 timestamp
(int64 milliseconds), 9 UUID (16 bytes). We decode every type; we encode ``str`` (7), ``bytes``
(6), ``bool`` (0/1) and ``int`` (4, or 5 when it does not fit in 32 bits). Decoded timestamps
are ``int`` milliseconds and UUIDs their 16 ``bytes``, as botocore returns them.

Exceptions::

    ValueError
    └── EventStreamError   a malformed message: bad CRC, bad lengths, over a limit, bad header

Cold start is a feature and the runtime may import this module: it imports only ``binascii``
(``json`` only inside ``invoke_complete``), and ``Message`` is a ``__slots__`` class.
"""

from __future__ import annotations

from binascii import crc32

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    HeaderValue = str | bytes | bool | int

__all__ = [
    "MAX_HEADERS_LENGTH",
    "MAX_PAYLOAD_LENGTH",
    "EventStreamDecoder",
    "EventStreamError",
    "Message",
    "decode_headers",
    "encode_message",
    "invoke_complete",
    "payload_chunk",
]

CONTENT_TYPE = "application/vnd.amazon.eventstream"

# botocore refuses anything larger (eventstream.py _MAX_HEADERS_LENGTH, _MAX_PAYLOAD_LENGTH), so
# the encoder refuses it too: a message boto3 cannot read is a bug on our side.
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024

_PRELUDE = 12  # total_length, headers_length, prelude_crc
_OVERHEAD = _PRELUDE + 4  # and the message CRC after the payload

_TRUE, _FALSE, _INT8, _INT16, _INT32, _INT64, _BYTES, _STRING, _TIMESTAMP, _UUID = range(10)
_INT_SIZES = {_INT8: 1, _INT16: 2, _INT32: 4, _INT64: 8, _TIMESTAMP: 8}


class EventStreamError(ValueError):
    """A message that does not follow the framing: after one, the stream is unusable."""


class Message:
    """One decoded event-stream message."""

    __slots__ = ("headers", "payload")

    def __init__(self, headers: dict[str, object], payload: bytes) -> None:
        self.headers = headers
        self.payload = payload

    def __repr__(self) -> str:
        return f"Message(headers={self.headers!r}, payload={self.payload!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.headers == other.headers and self.payload == other.payload

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dict it holds


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _crc(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    return crc32(data, value) & 0xFFFFFFFF


def _header_value(value: HeaderValue) -> bytes:
    # bool before int: True is an int too.
    if isinstance(value, bool):
        return bytes((_TRUE if value else _FALSE,))
    if isinstance(value, int):
        if -(2**31) <= value < 2**31:
            return bytes((_INT32,)) + value.to_bytes(4, "big", signed=True)
        if -(2**63) <= value < 2**63:
            return bytes((_INT64,)) + value.to_bytes(8, "big", signed=True)
        raise EventStreamError(f"header integer {value} does not fit in 64 bits")
    if isinstance(value, str):
        kind, data = _STRING, value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        kind, data = _BYTES, bytes(value)
    else:
        raise TypeError(f"unsupported header value type {type(value).__name__}")
    if len(data) > 0xFFFF:
        raise EventStreamError(f"header value of {len(data)} bytes; the limit is 65535")
    return bytes((kind,)) + len(data).to_bytes(2, "big") + data


def _encode_headers(headers: Sequence[tuple[str, HeaderValue]]) -> bytes:
    parts = []
    for name, value in headers:
        raw = name.encode("utf-8")
        if not 0 < len(raw) <= 0xFF:
            raise EventStreamError(f"header name {name!r} must be 1 to 255 bytes")
        parts.append(bytes((len(raw),)) + raw + _header_value(value))
    return b"".join(parts)


def encode_message(headers: Sequence[tuple[str, HeaderValue]], payload: bytes) -> bytes:
    """One complete message: prelude, headers, payload and CRCs."""
    encoded = _encode_headers(headers)
    if len(encoded) > MAX_HEADERS_LENGTH:
        raise EventStreamError(f"headers of {len(encoded)} bytes exceed {MAX_HEADERS_LENGTH}")
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise EventStreamError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD_LENGTH}")
    lengths = _u32(_OVERHEAD + len(encoded) + len(payload)) + _u32(len(encoded))
    prelude_crc = _crc(lengths)
    message = lengths + _u32(prelude_crc) + encoded + payload
    return message + _u32(_crc(message[8:], prelude_crc))


def _event(event_type: str, content_type: str, payload: bytes) -> bytes:
    # The order real AWS services use (S3 Select, Transcribe); botocore does not care.
    headers = ((":event-type", event_type), (":content-type", content_type))
    return encode_message((*headers, (":message-type", "event")), payload)


def payload_chunk(data: bytes) -> bytes:
    """A ``PayloadChunk`` event: some of the function's response bytes (at most 24 MiB)."""
    return _event("PayloadChunk", "application/octet-stream", data)


def invoke_complete(
    error_code: str | None = None,
    error_details: str | None = None,
    log_result: str | None = None,
) -> bytes:
    """The ``InvokeComplete`` event that ends the stream; ``{}`` when all went well.

    Fields (botocore ``InvokeWithResponseStreamCompleteEvent``): ``ErrorCode`` (the error type),
    ``ErrorDetails``, ``LogResult`` (base64 of the last 4 KB of the log, when asked for).
    """
    import json

    fields = (("ErrorCode", error_code), ("ErrorDetails", error_details))
    document = {k: v for k, v in (*fields, ("LogResult", log_result)) if v is not None}
    payload = json.dumps(document, separators=(",", ":")).encode("utf-8")
    return _event("InvokeComplete", "application/json", payload)


class _Reader:
    """Reads header fields from one message's header block, checking every length."""

    __slots__ = ("data", "offset")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise EventStreamError("a header runs past the end of the header block")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def uint(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def text(self, size: int) -> str:
        try:
            return self.take(size).decode("utf-8")
        except UnicodeDecodeError as error:
            raise EventStreamError(f"a header is not valid UTF-8: {error}") from None


def _read_value(reader: _Reader) -> object:
    kind = reader.uint(1)
    if kind in (_TRUE, _FALSE):
        return kind == _TRUE
    size = _INT_SIZES.get(kind)
    if size is not None:
        return int.from_bytes(reader.take(size), "big", signed=True)
    if kind == _BYTES:
        return reader.take(reader.uint(2))
    if kind == _STRING:
        return reader.text(reader.uint(2))
    if kind == _UUID:
        return reader.take(16)
    raise EventStreamError(f"unknown header value type {kind}")


def decode_headers(data: bytes) -> dict[str, object]:
    """A message's header block -> ``{name: value}``; a repeated name is an error (as botocore)."""
    reader = _Reader(data)
    headers: dict[str, object] = {}
    while reader.offset < len(data):
        name = reader.text(reader.uint(1))
        if name in headers:
            raise EventStreamError(f"duplicate header {name!r}")
        headers[name] = _read_value(reader)
    return headers


class EventStreamDecoder:
    """Incremental decoder: ``feed`` it bytes as they arrive, get the messages completed so far.

    >>> decoder = EventStreamDecoder()
    >>> [m.payload for m in decoder.feed(payload_chunk(b"hi"))]
    [b'hi']
    """

    __slots__ = ("_buffer", "_failure", "_total")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._total = 0  # the current message's total length, once its prelude is checked
        self._failure: EventStreamError | None = None

    @property
    def pending(self) -> int:
        """Bytes received that do not yet form a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Message]:
        """Add ``data``; return the messages it completed.

        Raises ``EventStreamError`` on a malformed message, and again on every later call: the
        framing has no resynchronisation point, so nothing after a bad message can be trusted.
        """
        if self._failure is not None:
            raise self._failure
        self._buffer += data
        try:
            return self._messages()
        except EventStreamError as error:
            self._failure = error
            raise

    def _messages(self) -> list[Message]:
        messages: list[Message] = []
        while True:
            if not self._total:
                if len(self._buffer) < _PRELUDE:
                    return messages
                self._total = self._check_prelude()
            if len(self._buffer) < self._total:
                return messages
            messages.append(self._message())

    def eof(self) -> None:
        """Call when the stream has ended: raises if it stopped in the middle of a message."""
        if self._buffer:
            raise EventStreamError(f"the stream ended inside a message ({self.pending} bytes)")

    def _check_prelude(self) -> int:
        prelude = bytes(self._buffer[:_PRELUDE])
        total = int.from_bytes(prelude[0:4], "big")
        headers_length = int.from_bytes(prelude[4:8], "big")
        expected, actual = int.from_bytes(prelude[8:12], "big"), _crc(prelude[:8])
        if expected != actual:
            raise EventStreamError(f"prelude CRC mismatch: 0x{expected:08x} != 0x{actual:08x}")
        if headers_length > MAX_HEADERS_LENGTH:
            raise EventStreamError(f"headers length {headers_length} > {MAX_HEADERS_LENGTH}")
        payload_length = total - headers_length - _OVERHEAD
        if payload_length < 0:
            raise EventStreamError(f"total length {total} < headers length {headers_length} + 16")
        if payload_length > MAX_PAYLOAD_LENGTH:
            raise EventStreamError(f"payload length {payload_length} > {MAX_PAYLOAD_LENGTH}")
        return total

    def _message(self) -> Message:
        total, self._total = self._total, 0
        raw = bytes(self._buffer[:total])
        del self._buffer[:total]
        expected, actual = int.from_bytes(raw[-4:], "big"), _crc(raw[:-4])
        if expected != actual:
            raise EventStreamError(f"message CRC mismatch: 0x{expected:08x} != 0x{actual:08x}")
        headers_end = _PRELUDE + int.from_bytes(raw[4:8], "big")
        return Message(decode_headers(raw[_PRELUDE:headers_end]), raw[headers_end:-4])
