"""Streamed responses: what a handler returns to send its answer as it is produced.

A handler streams by returning (or being) a generator, an async generator or any iterator of
``bytes``/``str`` (sent as ``application/octet-stream``), a ``Stream`` (the same with a content
type of your choice), or a ``StreamingResponse`` (an HTTP response for a Function URL or API
Gateway: status, headers and cookies first, then the body). Lists, dicts and other values are
not streams: they are answered as JSON, as before.

On the wire (runtimes-custom.html, response streaming) the runtime posts the body chunked with
``Lambda-Runtime-Function-Response-Mode: streaming``; an HTTP-shaped stream starts with a JSON
prelude and eight NUL bytes, under the content type
``application/vnd.awslambda.http-integration-response``. A failure before the first byte is
reported like any other error; after it, in the ``Lambda-Runtime-Function-Error-Type`` and
``Lambda-Runtime-Function-Error-Body`` trailers.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import AsyncIterable, Iterable, Iterator, Mapping, Sequence

    from lambdakit.runtime.loop import AsyncRunner

    Chunks = Iterable[bytes | str] | AsyncIterable[bytes | str]

HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
OCTET_STREAM = "application/octet-stream"
PRELUDE_END = b"\x00" * 8


class Stream:
    """A streamed body with its content type: ``return Stream(tokens(), "text/plain")``."""

    __slots__ = ("body", "content_type")

    def __init__(self, body: Chunks, content_type: str = OCTET_STREAM) -> None:
        self.body = body
        self.content_type = content_type


class StreamingResponse:
    """An HTTP response whose body is streamed (Function URLs with ``InvokeMode:
    RESPONSE_STREAM``, API Gateway response streaming).

    >>> def handler(event, context):
    ...     return StreamingResponse(events(), headers={"content-type": "text/event-stream"})
    """

    __slots__ = ("body", "cookies", "headers", "status_code")

    def __init__(
        self,
        body: Chunks = (),
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        cookies: Sequence[str] = (),
    ) -> None:
        self.body = body
        self.status_code = status_code
        self.headers = dict(headers or {})
        self.cookies = list(cookies)

    def prelude(self) -> bytes:
        """The JSON prelude and its delimiter (a NUL byte may not occur in the JSON)."""
        from lambdakit.runtime.marshal import dumps

        document: dict[str, object] = {"statusCode": self.status_code, "headers": self.headers}
        if self.cookies:
            document["cookies"] = self.cookies
        return dumps(document).encode("utf-8") + PRELUDE_END


def is_stream(value: object) -> bool:
    """True for what the runtime streams rather than answering as JSON."""
    if isinstance(value, (Stream, StreamingResponse)):
        return True
    kind = type(value)
    if kind in (str, bytes, bytearray, dict, list, tuple) or value is None:
        return False
    return hasattr(kind, "__next__") or hasattr(kind, "__anext__")


def open_stream(value: object, runner: AsyncRunner) -> tuple[str, Iterator[bytes]]:
    """The content type and the chunks to send for a streamed result.

    The first body chunk is produced here, so that a handler failing before its first byte
    raises now (an ordinary error) rather than in the middle of the request.
    """
    if isinstance(value, StreamingResponse):
        content_type, body, prelude = HTTP_INTEGRATION, value.body, value.prelude()
    elif isinstance(value, Stream):
        content_type, body, prelude = value.content_type, value.body, b""
    else:
        content_type, body, prelude = OCTET_STREAM, value, b""  # type: ignore[assignment]
    chunks = _chunks(body, runner)
    first = next(chunks, b"")
    return content_type, _chain(prelude + first, chunks)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _chunks(body: Chunks, runner: AsyncRunner) -> Iterator[bytes]:
    """Bytes from a sync or async iterable; async ones run on the runtime's event loop."""
    if hasattr(body, "__aiter__"):
        iterator = body.__aiter__()
        while True:
            try:
                item = runner.run(iterator.__anext__())
            except StopAsyncIteration:
                return
            yield _as_bytes(item)
    else:
        for item in body:
            yield _as_bytes(item)


def _as_bytes(item: object) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, (str, bytearray, memoryview)):
        return item.encode("utf-8") if isinstance(item, str) else bytes(item)
    raise TypeError(f"a streamed chunk must be bytes or str, not {type(item).__name__}")
