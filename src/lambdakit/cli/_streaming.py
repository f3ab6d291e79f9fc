"""The terminal side of ``lambdakit invoke``: a response's body on stdout as it is produced.

A function that streams its response (https://docs.aws.amazon.com/lambda/latest/dg/
configuration-response-streaming.html) is printed chunk by chunk, each one flushed, whether it
runs here (``invoke_once``) or in a running server (``InvokeWithResponseStream``: an AWS event
stream of ``PayloadChunk`` events, then ``InvokeComplete``; ``read_event_stream``).

A stream of content type ``application/vnd.awslambda.http-integration-response`` (what a
Function URL in ``RESPONSE_STREAM`` mode reads: lambdakit's ``StreamingResponse``, Node's
``awslambda.HttpResponseStream.from``) starts with a JSON prelude, its status code, headers
and cookies, and eight NUL bytes (https://docs.aws.amazon.com/lambda/latest/dg/
response-streaming-tutorial.html). The prelude is read as the Function URL reads it
(``url_responses.PreludeParser``) and written to stderr, a line each, as HTTP writes them;
stdout gets the body alone, so that ``> page.html`` or ``| jq`` see what a browser would.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import BinaryIO, TextIO

from lambdakit._eventstream import EventStreamDecoder, Message
from lambdakit.emulator.url_responses import HTTP_INTEGRATION, Prelude, PreludeError, PreludeParser


class BodyWriter:
    """Writes one response: the body to OUT as it comes (each chunk flushed), an HTTP
    prelude to ERR. Like a buffered answer, the output ends with a newline; a function's error
    goes to OUT when no body came before it (as a buffered error does), to ERR otherwise."""

    def __init__(self, out: BinaryIO, err: TextIO) -> None:
        self.out = out
        self.err = err
        self._parser: PreludeParser | None = None
        self._held = bytearray()  # the prelude's bytes so far, printed raw if it is not one
        self._started = False
        self._last = b""  # the last byte written to OUT

    def chunk(self, content_type: str, data: bytes) -> None:
        """A piece of the response; CONTENT_TYPE is the stream's (the same on every call).
        An empty DATA ends the body (``ChunkSink``)."""
        if not data:
            self._end_body()
            return
        if not self._started:
            self._started = True
            if content_type.split(";")[0].strip().lower() == HTTP_INTEGRATION:
                self._parser = PreludeParser()
        if self._parser is not None and not self._parser.done:
            data = self._through_prelude(data)
        self._write(data)

    def _through_prelude(self, data: bytes) -> bytes:
        assert self._parser is not None
        self._held += data
        try:
            prelude, body = self._parser.feed(data)
        except PreludeError as error:
            return self._not_a_prelude(str(error))
        if prelude is not None:
            self._held.clear()
            self._show(prelude)
        return body

    def _not_a_prelude(self, reason: str) -> bytes:
        """The stream says it is an HTTP response but does not start like one: it is printed
        as it came, with the reason on stderr."""
        self._parser = None
        self.err.write(f"lambdakit: the stream's HTTP prelude is not valid ({reason}); ")
        self.err.write("its bytes are printed as they came\n")
        self.err.flush()
        held, self._held = bytes(self._held), bytearray()
        return held

    def _show(self, prelude: Prelude) -> None:
        try:
            phrase = f" {HTTPStatus(prelude.status_code).phrase}"
        except ValueError:
            phrase = ""
        lines = [f"HTTP {prelude.status_code}{phrase}"]
        lines += [f"{name}: {value}" for name, value in prelude.headers]
        lines += [f"set-cookie: {cookie}" for cookie in prelude.cookies]
        self.err.write("".join(f"{line}\n" for line in lines))
        self.err.flush()

    def _write(self, data: bytes) -> None:
        if data:
            self.out.write(data)
            self.out.flush()
            self._last = data[-1:]

    def _end_body(self) -> None:
        """The body is complete: a prelude still waiting for its end is printed as it came,
        and a body that was printed gets its last newline now, before the END line."""
        if self._parser is not None and not self._parser.done and self._held:
            self._write(self._not_a_prelude("the stream ended inside it"))
        if self._last not in (b"", b"\n"):
            self._write(b"\n")

    def finish(self, error: bytes | None = None) -> None:
        """The response has ended (with the function's ERROR document if it failed)."""
        self._end_body()
        if error is not None and not self._last:
            self._write(error)  # nothing else on stdout: the error is the answer
        elif error is not None:  # stdout has part of the body: the error must not join it
            self.err.write(error.decode("utf-8", "replace").rstrip("\n") + "\n")
            self.err.flush()
        if self._last != b"\n":
            self.out.write(b"\n")
            self.out.flush()


@dataclass(frozen=True)
class Completion:
    """What ``InvokeComplete`` said (botocore ``InvokeWithResponseStreamCompleteEvent``)."""

    error_code: str | None = None
    error_details: str | None = None
    log: str = ""
    """The log tail (``LogResult``), decoded."""


class StreamBroken(Exception):
    """The event stream was malformed, carried an exception, or ended before InvokeComplete."""


def read_event_stream(
    read: Callable[[], bytes], content_type: str, writer: BodyWriter
) -> Completion:
    """Read an ``InvokeWithResponseStream`` answer through READ (a call returns the bytes
    that have arrived; ``b""`` at the end), handing each ``PayloadChunk`` to WRITER; returns
    the ``InvokeComplete`` event. CONTENT_TYPE is the response's (the function's stream's)."""
    decoder = EventStreamDecoder()
    while data := read():
        try:
            messages = decoder.feed(data)
        except ValueError as error:
            raise StreamBroken(f"the event stream is malformed: {error}") from None
        for message in messages:
            done = _message(message, content_type, writer)
            if done is not None:
                return done
    raise StreamBroken("the event stream ended before its InvokeComplete event")


def _message(message: Message, content_type: str, writer: BodyWriter) -> Completion | None:
    kind = message.headers.get(":message-type")
    if kind != "event":  # an exception (or error) event ends the stream
        name = message.headers.get(":exception-type") or message.headers.get(":error-code")
        detail = message.payload.decode("utf-8", "replace")
        raise StreamBroken(f"the stream ended with {kind} {name}: {detail}")
    event = message.headers.get(":event-type")
    if event == "PayloadChunk":
        writer.chunk(content_type, message.payload)
    elif event == "InvokeComplete":
        document = json.loads(message.payload or b"{}")
        log = base64.b64decode(document.get("LogResult") or "").decode("utf-8", "replace")
        return Completion(document.get("ErrorCode"), document.get("ErrorDetails"), log)
    return None
