"""A blocking Runtime API client over one keep-alive TCP connection.

Hand-written HTTP/1.1 (the framing lives in ``lambdakit._wire``) on ``_socket`` directly:
``http.client`` costs 15-30 ms of imports (it pulls in ``ssl`` and ``email``) and cannot send
trailers, and ``socket.py`` imports ``enum`` and ``selectors`` for nothing the runtime needs.

No timeout is set on the socket: ``GET /next`` blocks until an event arrives, and Lambda may
freeze the environment meanwhile ("Do not set a timeout on the GET request", runtimes-api.html).
"""

from __future__ import annotations

import _socket

from lambdakit import _wire
from lambdakit.runtime.errors import RuntimeAPIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# 64 KiB: CPython allocates the whole size for every recv(), and above glibc's mmap threshold
# (128 KiB) each read would map and unmap fresh pages (half the per-invocation CPU time).
_RECV_SIZE = 64 * 1024
_SMALL_BODY = 64 * 1024  # bodies up to this size go out in the same write as the head


class Response:
    """The Runtime API's answer to one request."""

    __slots__ = ("body", "head")

    def __init__(self, head: _wire.ResponseHead, body: bytes) -> None:
        self.head = head
        self.body = body

    @property
    def status(self) -> int:
        return self.head.status

    @property
    def ok(self) -> bool:
        return 200 <= self.head.status < 300


def split_address(address: str) -> tuple[str, int]:
    """``"127.0.0.1:9001"``, ``"localhost:9001"`` or ``"[::1]:9001"`` -> (host, port)."""
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or not host:
        raise RuntimeAPIError(f"AWS_LAMBDA_RUNTIME_API={address!r} is not a host:port address")
    return host.strip("[]"), int(port)


class RuntimeClient:
    """Talks to the Runtime API at ``address`` (the value of ``AWS_LAMBDA_RUNTIME_API``).

    Every method sends one request and reads the whole answer. If the connection turns out to
    be closed, the request is sent once more on a new connection; a second failure raises
    ``RuntimeAPIError``.
    """

    def __init__(self, address: str, *, user_agent: str) -> None:
        self.address = address
        self.user_agent = user_agent
        self.host, self.port = split_address(address)
        self._headers = [("User-Agent", user_agent)]
        self._sock: _socket.socket | None = None
        self._buffer = bytearray()

    # --- endpoints --------------------------------------------------------------------------

    def next_invocation(self) -> _wire.Invocation:
        """``GET /runtime/invocation/next``: wait for the next event."""
        response = self._exchange(
            _wire.request_head("GET", _wire.NEXT_PATH, self.address, self._headers)
        )
        if not response.ok:
            raise RuntimeAPIError(_describe("GET /next", response))
        try:
            return _wire.Invocation.from_response(response.head.headers, response.body)
        except _wire.ProtocolError as exc:
            raise RuntimeAPIError(str(exc)) from exc

    def invocations(self) -> Iterator[_wire.Invocation]:
        """Invocations, forever: the production source of the runtime loop."""
        while True:
            yield self.next_invocation()

    def post_response(
        self, invocation: _wire.Invocation, body: bytes, content_type: str
    ) -> Response:
        """``POST /runtime/invocation/{id}/response`` with a buffered body."""
        headers = [*self._headers, ("Content-Type", content_type)]
        headers += _wire.invocation_headers(invocation)
        path = _wire.response_path(invocation.request_id)
        return self._exchange(_wire.post_head(path, self.address, headers, len(body)), body)

    def post_stream(
        self,
        invocation: _wire.Invocation,
        content_type: str,
        chunks: Iterator[bytes],
        on_error: Callable[[Exception], list[tuple[str, str]]],
    ) -> Response:
        """``POST .../response`` streamed: chunked, each chunk sent as soon as it is produced.

        If ``chunks`` raises, the body ends with the trailers ``on_error`` returns (the error
        type and body): real HTTP trailers, declared up front as Lambda requires. The
        connection is closed afterwards, as the streaming protocol asks.
        """
        headers = [*self._headers, *_wire.streaming_headers(content_type)]
        headers += _wire.invocation_headers(invocation)
        head = _wire.request_head(
            "POST", _wire.response_path(invocation.request_id), self.address, headers
        )
        sock = self._sock or self._connect()
        try:
            sock.sendall(head)
            trailers: list[tuple[str, str]] = []
            try:
                for chunk in chunks:
                    if chunk:
                        sock.sendall(_wire.encode_chunk(chunk))
            except Exception as exc:
                trailers = on_error(exc)
            sock.sendall(_wire.encode_last_chunk(trailers))
            return self._read_response(sock)
        except (OSError, _wire.ProtocolError) as exc:
            raise self._gone(exc) from exc
        finally:
            self.close()

    def post_error(
        self, invocation: _wire.Invocation, body: bytes, error_type: str, xray_cause: str | None
    ) -> Response:
        """``POST /runtime/invocation/{id}/error``."""
        headers = [*self._headers, ("Content-Type", "application/json")]
        headers.append((_wire.ERROR_TYPE, error_type))
        if xray_cause is not None:
            headers.append((_wire.XRAY_ERROR_CAUSE, xray_cause))
        headers += _wire.invocation_headers(invocation)
        path = _wire.error_path(invocation.request_id)
        return self._exchange(_wire.post_head(path, self.address, headers, len(body)), body)

    def post_init_error(self, body: bytes, error_type: str) -> Response:
        """``POST /runtime/init/error``: the function could not start."""
        headers = [
            *self._headers,
            ("Content-Type", "application/json"),
            (_wire.ERROR_TYPE, error_type),
        ]
        head = _wire.post_head(_wire.INIT_ERROR_PATH, self.address, headers, len(body))
        return self._exchange(head, body)

    def call(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""
    ) -> Response:
        """Any other request on this connection (the Extensions API shares the address)."""
        headers = [*self._headers, *headers]
        if method == "POST":
            return self._exchange(_wire.post_head(path, self.address, headers, len(body)), body)
        return self._exchange(_wire.request_head(method, path, self.address, headers))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer.clear()

    # --- transport --------------------------------------------------------------------------

    def _exchange(self, head: bytes, body: bytes = b"") -> Response:
        fresh = self._sock is None
        try:
            return self._round_trip(head, body)
        except (OSError, _wire.ProtocolError) as first:
            self.close()
            if fresh:
                raise self._gone(first) from first
        # A kept-alive connection may have been closed by the server since the last request.
        try:
            return self._round_trip(head, body)
        except (OSError, _wire.ProtocolError) as second:
            self.close()
            raise self._gone(second) from second

    def _gone(self, cause: Exception) -> RuntimeAPIError:
        return RuntimeAPIError(f"the Runtime API at {self.address} is unreachable: {cause}")

    def _round_trip(self, head: bytes, body: bytes) -> Response:
        sock = self._sock or self._connect()
        if len(body) <= _SMALL_BODY:
            sock.sendall(head + body)
        else:
            sock.sendall(head)
            sock.sendall(body)
        response = self._read_response(sock)
        if not response.head.keep_alive:
            self.close()
        return response

    def _connect(self) -> _socket.socket:
        last_error: OSError = OSError("no address")
        # A str host goes through the "idna" codec, which imports re, unicodedata and
        # stringprep (1.5 MB and milliseconds); an ASCII host name needs none of it.
        host = self.host.encode("ascii") if self.host.isascii() else self.host
        for family, kind, proto, _, sockaddr in _socket.getaddrinfo(
            host, self.port, 0, _socket.SOCK_STREAM
        ):
            sock = _socket.socket(family, kind, proto)
            try:
                sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                last_error = exc
                continue
            self._sock = sock
            return sock
        raise last_error

    def _read_response(self, sock: _socket.socket) -> Response:
        buffer = self._buffer
        end = _wire.find_head_end(buffer)
        while end < 0:
            self._fill(sock)
            end = _wire.find_head_end(buffer)
        head = _wire.parse_response_head(buffer[: end - 4])
        del buffer[:end]
        if head.chunked:
            return Response(head, self._read_chunked(sock))
        return Response(head, self._read_exactly(sock, head.content_length))

    def _read_exactly(self, sock: _socket.socket, length: int) -> bytes:
        buffer = self._buffer
        if len(buffer) >= length:
            body = bytes(buffer[:length])
            del buffer[:length]
            return body
        body_array = bytearray(length)
        view = memoryview(body_array)
        have = len(buffer)
        view[:have] = buffer
        buffer.clear()
        while have < length:
            received = sock.recv_into(view[have:])
            if not received:
                raise _wire.ProtocolError("connection closed in the middle of a body")
            have += received
        view.release()
        return body_array  # type: ignore[return-value] # bytes-like; no copy of a large body

    def _read_chunked(self, sock: _socket.socket) -> bytes:
        decoder = _wire.ChunkedDecoder()
        pieces = decoder.feed(bytes(self._buffer))
        self._buffer.clear()
        while not decoder.done:
            data = sock.recv(_RECV_SIZE)
            if not data:
                raise _wire.ProtocolError("connection closed in the middle of a chunked body")
            pieces += decoder.feed(data)
        self._buffer += decoder.unused
        return b"".join(pieces)

    def _fill(self, sock: _socket.socket) -> None:
        data = sock.recv(_RECV_SIZE)
        if not data:
            raise _wire.ProtocolError("connection closed by the Runtime API")
        self._buffer += data
        if len(self._buffer) > 1024 * 1024 and _wire.find_head_end(self._buffer) < 0:
            raise _wire.ProtocolError("response header block larger than 1 MiB")


def _describe(what: str, response: Response) -> str:
    body = response.body[:500].decode("utf-8", "replace")
    return f"{what} answered {response.status} {response.head.reason}: {body}"
