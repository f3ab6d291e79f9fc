"""The Lambda Runtime API (2018-06-01) as pure functions of bytes: no sockets, no clocks.

Both sides of the protocol use this module: the runtime client builds its requests and parses
the answers here, and the emulator parses the runtime's requests and renders its answers with
the same names, so a path or a header can never be spelled two ways.

Sources: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html (endpoints, headers),
runtimes-custom.html#runtimes-custom-response-streaming (chunked bodies and trailers), and
RFC 9112 for the HTTP/1.1 framing.

Cold start is a feature of the runtime, and this module is on its import path: it imports
nothing, and its values are plain ``__slots__`` classes because ``dataclasses`` and ``typing``
cost more to import than the whole runtime.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

API_VERSION = "2018-06-01"
_BASE = "/" + API_VERSION + "/runtime"

NEXT_PATH = _BASE + "/invocation/next"
INIT_ERROR_PATH = _BASE + "/init/error"
RESTORE_NEXT_PATH = _BASE + "/restore/next"
RESTORE_ERROR_PATH = _BASE + "/restore/error"

# Headers of a GET /next answer (runtimes-api.html "Next invocation").
REQUEST_ID = "Lambda-Runtime-Aws-Request-Id"
DEADLINE_MS = "Lambda-Runtime-Deadline-Ms"
FUNCTION_ARN = "Lambda-Runtime-Invoked-Function-Arn"
TRACE_ID = "Lambda-Runtime-Trace-Id"
CLIENT_CONTEXT = "Lambda-Runtime-Client-Context"
COGNITO_IDENTITY = "Lambda-Runtime-Cognito-Identity"
TENANT_ID = "Lambda-Runtime-Aws-Tenant-Id"
# A per-invoke nonce (2026): echoed on /response and /error so that a late answer to a timed-out
# invocation is refused with 410 instead of being taken for the current one.
INVOCATION_ID = "Lambda-Runtime-Invocation-Id"

# Headers the runtime sends.
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
XRAY_ERROR_CAUSE = "Lambda-Runtime-Function-XRay-Error-Cause"
RESPONSE_MODE = "Lambda-Runtime-Function-Response-Mode"
STREAMING = "streaming"

# RIE keeps an X-Ray cause only when it is at most 64 KiB (rapi/model/error_cause.go).
XRAY_CAUSE_LIMIT = 64 * 1024


def response_path(request_id: str) -> str:
    """POST here with the function's result: ``/runtime/invocation/{id}/response``."""
    return _BASE + "/invocation/" + request_id + "/response"


def error_path(request_id: str) -> str:
    """POST here when the invocation failed: ``/runtime/invocation/{id}/error``."""
    return _BASE + "/invocation/" + request_id + "/error"


class Invocation:
    """One event handed to the runtime by ``GET /next``: its body and the headers that came with it.

    Header values are kept as the platform sent them (the JSON headers are parsed later, by the
    runtime, because a parse failure there is a per-invocation error, not a protocol error).
    """

    __slots__ = (
        "body",
        "client_context",
        "cognito_identity",
        "content_type",
        "deadline_ms",
        "function_arn",
        "invocation_id",
        "request_id",
        "tenant_id",
        "trace_id",
    )

    def __init__(
        self,
        *,
        request_id: str,
        body: bytes = b"",
        deadline_ms: int = 0,
        function_arn: str = "",
        trace_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
        tenant_id: str | None = None,
        invocation_id: str | None = None,
        content_type: str | None = "application/json",
    ) -> None:
        self.request_id = request_id
        self.body = body
        self.deadline_ms = deadline_ms
        self.function_arn = function_arn
        self.trace_id = trace_id
        self.client_context = client_context
        self.cognito_identity = cognito_identity
        self.tenant_id = tenant_id
        self.invocation_id = invocation_id
        self.content_type = content_type

    @classmethod
    def from_response(cls, headers: Mapping[str, str], body: bytes) -> Invocation:
        """Build the invocation from a /next answer; ``headers`` are keyed in lower case.

        Raises ``ProtocolError`` when the request id is missing: without it no answer can be
        addressed, so the runtime cannot go on.
        """
        request_id = headers.get("lambda-runtime-aws-request-id")
        if not request_id:
            raise ProtocolError("the /next answer has no Lambda-Runtime-Aws-Request-Id header")
        return cls(
            request_id=request_id,
            body=body,
            deadline_ms=_parse_deadline(headers.get("lambda-runtime-deadline-ms")),
            function_arn=headers.get("lambda-runtime-invoked-function-arn", ""),
            trace_id=headers.get("lambda-runtime-trace-id"),
            client_context=headers.get("lambda-runtime-client-context"),
            cognito_identity=headers.get("lambda-runtime-cognito-identity"),
            tenant_id=headers.get("lambda-runtime-aws-tenant-id"),
            invocation_id=headers.get("lambda-runtime-invocation-id"),
            content_type=headers.get("content-type"),
        )

    def headers(self) -> list[tuple[str, str]]:
        """The /next answer headers that carry this invocation (the emulator's side)."""
        return next_headers(
            self.request_id, self.deadline_ms, self.function_arn, self.trace_id,
            self.client_context, self.cognito_identity, self.tenant_id, self.invocation_id,
            self.content_type,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Invocation(request_id={self.request_id!r}, body={len(self.body)} bytes)"


def next_headers(
    request_id: str,
    deadline_ms: int,
    function_arn: str,
    trace_id: str | None,
    client_context: str | None,
    cognito_identity: str | None,
    tenant_id: str | None,
    invocation_id: str | None,
    content_type: str | None,
) -> list[tuple[str, str]]:
    """The headers of a /next answer (``Invocation.headers``, without making an
    ``Invocation``: the emulator makes them for every invocation)."""
    pairs = [
        (REQUEST_ID, request_id),
        (DEADLINE_MS, str(deadline_ms)),
        (FUNCTION_ARN, function_arn),
    ]
    if trace_id is not None:
        pairs.append((TRACE_ID, trace_id))
    if client_context is not None:
        pairs.append((CLIENT_CONTEXT, client_context))
    if cognito_identity is not None:
        pairs.append((COGNITO_IDENTITY, cognito_identity))
    if tenant_id is not None:
        pairs.append((TENANT_ID, tenant_id))
    if invocation_id is not None:
        pairs.append((INVOCATION_ID, invocation_id))
    if content_type is not None:
        pairs.append(("Content-Type", content_type))
    return pairs


def _parse_deadline(value: str | None) -> int:
    # A missing or garbled deadline means "no time left" rather than a crash, as awslambdaric.
    try:
        return int(value) if value else 0
    except ValueError:
        return 0


class ProtocolError(Exception):
    """The other side broke the HTTP or Runtime API framing."""


# --- requests -------------------------------------------------------------------------------


def request_head(
    method: str, path: str, host: str, headers: Iterable[tuple[str, str]] = ()
) -> bytes:
    """The request line and header block, ending with the blank line (RFC 9112 §3).

    Header values are sent as ASCII; anything else is escaped (``\\xe9``) rather than
    allowed to break the request.
    """
    lines = [method + " " + path + " HTTP/1.1", "Host: " + host]
    lines.extend(name + ": " + value for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii", "backslashreplace")


def post_head(path: str, host: str, headers: list[tuple[str, str]], length: int) -> bytes:
    """The head of a POST whose body is sent whole, framed by Content-Length."""
    headers.append(("Content-Length", str(length)))
    return request_head("POST", path, host, headers)


def invocation_headers(invocation: Invocation) -> list[tuple[str, str]]:
    """Headers every answer about ``invocation`` must carry (the invocation-id echo)."""
    if invocation.invocation_id is None:
        return []
    return [(INVOCATION_ID, invocation.invocation_id)]


def streaming_headers(content_type: str) -> list[tuple[str, str]]:
    """Headers that open a streamed /response (runtimes-custom.html, response streaming)."""
    return [
        (RESPONSE_MODE, STREAMING),
        ("Content-Type", content_type),
        ("Transfer-Encoding", "chunked"),
        ("Trailer", ERROR_TYPE + ", " + ERROR_BODY),
    ]


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (RFC 9112 §7.1); empty data encodes to nothing."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode_last_chunk(trailers: Iterable[tuple[str, str]] = ()) -> bytes:
    """The zero-size chunk, the trailer section and the final blank line."""
    lines = "".join(name + ": " + value + "\r\n" for name, value in trailers)
    return b"0\r\n" + lines.encode("latin-1") + b"\r\n"


# --- responses ------------------------------------------------------------------------------


class ResponseHead:
    """Status line and headers of an HTTP/1.1 response; header names in lower case."""

    __slots__ = ("headers", "reason", "status")

    def __init__(self, status: int, reason: str, headers: dict[str, str]) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def content_length(self) -> int:
        """The declared body length; 0 when absent (our peers always declare one)."""
        value = self.headers.get("content-length", "0")
        if not value.isdigit():
            raise ProtocolError(f"invalid Content-Length {value!r}")
        return int(value)

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


def find_head_end(buffer: bytes | bytearray) -> int:
    """Index just past the blank line that ends a header block, or -1 if it has not arrived."""
    end = buffer.find(b"\r\n\r\n")
    return -1 if end < 0 else end + 4


def parse_response_head(data: bytes | bytearray) -> ResponseHead:
    """Parse ``HTTP/1.1 200 OK\\r\\nName: value\\r\\n...`` up to (not including) the blank line."""
    text = bytes(data).decode("latin-1")
    status_line, _, rest = text.partition("\r\n")
    version, _, status_rest = status_line.partition(" ")
    code, _, reason = status_rest.partition(" ")
    if not version.startswith("HTTP/1.") or not code.isdigit() or len(code) != 3:
        raise ProtocolError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
    return ResponseHead(int(code), reason, parse_header_lines(rest))


def parse_header_lines(text: str) -> dict[str, str]:
    """``Name: value`` lines to a dict keyed in lower case; repeated names are comma-joined."""
    headers: dict[str, str] = {}
    for line in text.split("\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise ProtocolError(f"malformed header line {line[:80]!r}")
        key = name.lower()
        value = value.strip(" \t")
        headers[key] = headers[key] + ", " + value if key in headers else value
    return headers


class ChunkedDecoder:
    """Incremental decoder of a chunked body: feed bytes, collect data and trailers.

    >>> d = ChunkedDecoder(); d.feed(b"3\\r\\nabc\\r\\n0\\r\\nX-A: 1\\r\\n\\r\\n")
    [b'abc']
    >>> d.done, d.trailers
    (True, {'x-a': '1'})
    """

    __slots__ = ("_buffer", "_remaining", "_state", "done", "trailers")

    # The decoder's states: a size line is due, chunk data is due, the CRLF after chunk data is
    # due, the trailer section is due. ``done`` is set after the trailer section.
    _SIZE, _DATA, _DATA_END, _TRAILERS = range(4)

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._remaining = 0
        self._state = self._SIZE
        self.done = False
        self.trailers: dict[str, str] = {}

    def feed(self, data: bytes) -> list[bytes]:
        """Consume ``data`` and return the body pieces it completed.

        Bytes after the end of the body are kept in ``unused``; a framing error raises
        ``ProtocolError``.
        """
        self._buffer += data
        pieces: list[bytes] = []
        steps = (self._read_size, self._read_data, self._read_data_end, self._read_trailers)
        while not self.done and steps[self._state](pieces):
            pass
        return pieces

    @property
    def unused(self) -> bytes:
        return bytes(self._buffer) if self.done else b""

    def _read_size(self, pieces: list[bytes]) -> bool:
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > 1024:
                raise ProtocolError("chunk size line too long")
            return False
        size_text = bytes(self._buffer[:end]).split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"invalid chunk size {size_text[:20]!r}") from None
        del self._buffer[: end + 2]
        self._remaining = size
        self._state = self._DATA if size else self._TRAILERS
        return True

    def _read_data(self, pieces: list[bytes]) -> bool:
        take = min(self._remaining, len(self._buffer))
        if not take:
            return False
        pieces.append(bytes(self._buffer[:take]))
        del self._buffer[:take]
        self._remaining -= take
        if self._remaining == 0:
            self._state = self._DATA_END
        return True

    def _read_data_end(self, pieces: list[bytes]) -> bool:
        if len(self._buffer) < 2:
            return False
        if self._buffer[:2] != b"\r\n":
            raise ProtocolError("chunk data not followed by CRLF")
        del self._buffer[:2]
        self._state = self._SIZE
        return True

    def _read_trailers(self, pieces: list[bytes]) -> bool:
        if self._buffer[:2] == b"\r\n":
            del self._buffer[:2]
            self.done = True
            return False
        end = find_head_end(self._buffer)
        if end < 0:
            return False
        self.trailers = parse_header_lines(bytes(self._buffer[: end - 4]).decode("latin-1"))
        del self._buffer[:end]
        self.done = True
        return False


# --- error bodies ---------------------------------------------------------------------------


def error_document(
    message: str, error_type: str, stack_trace: list[str], request_id: str = ""
) -> dict[str, object]:
    """The error JSON posted to /error and /init/error, keys in awslambdaric's order.

    ``{"errorMessage", "errorType", "requestId", "stackTrace"}``: ``requestId`` is empty for
    init errors (awslambdaric ``make_error``).
    """
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id,
        "stackTrace": stack_trace,
    }
