"""A recording stub of the Lambda Runtime API, on a real socket, for testing runtimes.

It parses with h11 (not with lambdakit's own framing code), serves queued events to
``GET /next`` (a long poll), answers everything else with 202 unless told otherwise, and
records every request with its headers (original case), body, chunks and trailers. Any runtime
can run against it: ours, awslambdaric, a shell script.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import h11

NEXT = "/2018-06-01/runtime/invocation/next"
# The Extensions API: register answers 200 with an identifier, event/next blocks until close
# (what Lambda does for an extension that subscribed to no events). Not counted as answers.
EXTENSIONS = "/2020-01-01/extension/"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunks: list[bytes] = field(default_factory=list)
    trailers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    received_at: float = 0.0

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class Event:
    body: bytes
    headers: list[tuple[str, str]]
    request_id: str


class StubRuntimeAPI:
    """``with StubRuntimeAPI() as api: api.push(b'{}'); ...; api.wait_for_answers(1)``."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._events: queue.Queue[Event] = queue.Queue()
        self._lock = threading.Condition()
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self._closing = threading.Event()
        self._sockets: list[socket.socket] = []
        # path suffix ("/response", "/error", "/init/error") -> (status, JSON body)
        self.answers: dict[str, tuple[int, dict[str, str]]] = {}
        self.on_request: Callable[[RecordedRequest], None] | None = None
        # Close each connection right after answering a /response or /error (as a proxy or a
        # restarted Runtime API would), to exercise the runtime's reconnect.
        self.drop_after_answer = False
        self.extension_identifier = str(uuid.uuid4())  # what register answers
        threading.Thread(target=self._accept, daemon=True).start()

    # --- test API -------------------------------------------------------------------------

    def push(
        self,
        body: bytes | str | object = b"{}",
        *,
        request_id: str | None = None,
        content_type: str | None = "application/json",
        deadline_ms: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> str:
        """Queue one event; returns its request id."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        request_id = request_id or str(uuid.uuid4())
        deadline = deadline_ms if deadline_ms is not None else int(time.time() * 1000) + 30_000
        pairs = [
            ("Lambda-Runtime-Aws-Request-Id", request_id),
            ("Lambda-Runtime-Deadline-Ms", str(deadline)),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:123456789012:function:stub",
            ),
        ]
        if content_type is not None:
            pairs.append(("Content-Type", content_type))
        pairs += list((headers or {}).items())
        self._events.put(Event(body, pairs, request_id))
        return request_id

    def answered(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if _is_answer(r)]

    def wait_for_answers(self, count: int, timeout: float = 15.0) -> list[RecordedRequest]:
        """Wait until ``count`` non-/next requests were recorded; return them."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                answers = [r for r in self.requests if _is_answer(r)]
                if len(answers) >= count:
                    return answers
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} answers, got {answers!r}")
                self._lock.wait(left)

    def wait_for_next(self, count: int = 1, timeout: float = 15.0) -> None:
        """Wait until the runtime has called GET /next ``count`` times."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while sum(r.path == NEXT for r in self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"the runtime did not call /next {count} times")
                self._lock.wait(left)

    def close(self) -> None:
        """Stop serving: the listener and every connection close, as when Lambda goes away."""
        self._closing.set()
        self._listener.close()
        for sock in list(self._sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def __enter__(self) -> StubRuntimeAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- server -----------------------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets.append(sock)
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while not self._closing.is_set():
                request = self._read_request(conn, sock)
                if request is None:
                    return
                self._record(request)
                status, body, headers = self._answer(request)
                if status == 0:
                    return
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                headers = [*headers, ("Content-Length", str(len(payload)))]
                sock.sendall(conn.send(h11.Response(status_code=status, headers=headers)))
                sock.sendall(conn.send(h11.Data(data=payload)) + conn.send(h11.EndOfMessage()))
                if conn.our_state is h11.MUST_CLOSE:
                    return
                if self.drop_after_answer and request.path != NEXT:
                    return
                conn.start_next_cycle()
        except (OSError, h11.ProtocolError):
            return
        finally:
            sock.close()

    def _read_request(self, conn: h11.Connection, sock: socket.socket) -> RecordedRequest | None:
        request: RecordedRequest | None = None
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Request):
                headers = [(k.decode(), v.decode()) for k, v in event.headers.raw_items()]
                request = RecordedRequest(event.method.decode(), event.target.decode(), headers)
                request.chunked = "chunked" in (request.header("transfer-encoding") or "")
            elif isinstance(event, h11.Data) and request is not None:
                request.chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                request.body = b"".join(request.chunks)
                request.trailers = {k.decode().lower(): v.decode() for k, v in event.headers}
                request.received_at = time.monotonic()
                return request
            else:  # ConnectionClosed or PAUSED
                return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()
        if self.on_request is not None:
            self.on_request(request)

    def _answer(self, request: RecordedRequest) -> tuple[int, object, list[tuple[str, str]]]:
        if request.path == NEXT and request.method == "GET":
            while not self._closing.is_set():
                try:
                    event = self._events.get(timeout=0.05)
                except queue.Empty:
                    continue
                return 200, event.body, event.headers
            return 0, b"", []
        for suffix, (status, body) in self.answers.items():
            if request.path.endswith(suffix):
                return status, body, [("Content-Type", "application/json")]
        if request.path == EXTENSIONS + "register":
            identifier = [("Lambda-Extension-Identifier", self.extension_identifier)]
            body = {"functionName": "stub", "functionVersion": "$LATEST", "handler": "stub"}
            return 200, body, [("Content-Type", "application/json"), *identifier]
        if request.path == EXTENSIONS + "event/next":
            self._closing.wait()
            return 0, b"", []
        return 202, {"status": "OK"}, [("Content-Type", "application/json")]


def _is_answer(request: RecordedRequest) -> bool:
    return request.path != NEXT and not request.path.startswith(EXTENSIONS)
