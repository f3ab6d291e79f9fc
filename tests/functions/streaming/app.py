"""Streaming handlers for the runtime's and the emulator's streaming tests."""

import asyncio
import time

from lambdakit.runtime.streaming import Stream, StreamingResponse


def gen(event, context):
    yield b"alpha "
    yield "beta "
    yield b"gamma"


def generator_handler(event, context):
    yield from (b"one", b"two")


async def agen(event, context):
    for word in ("async ", "chunks"):
        await asyncio.sleep(0.01)
        yield word


def typed(event, context):
    return Stream(iter([b"plain ", b"text"]), "text/plain; charset=utf-8")


def http(event, context):
    def body():
        yield b"<p>first</p>"
        yield b"<p>second</p>"

    return StreamingResponse(
        body(),
        status_code=201,
        headers={"content-type": "text/html", "x-custom": "yes"},
        cookies=["session=abc; Path=/", "theme=dark"],
    )


def fails_mid(event, context):
    yield b"partial "
    raise RuntimeError("broke in the middle")


def fails_first(event, context):
    raise ValueError("broke before the first byte")
    yield b"never"  # makes this a generator function


def empty(event, context):
    return iter(())


def bad_chunk(event, context):
    yield b"ok "
    yield 42


def slow(event, context):
    pause = event.get("pause", 1.0) if isinstance(event, dict) else 1.0
    for index in range(event.get("chunks", 3) if isinstance(event, dict) else 3):
        yield f"chunk {index} at {time.time():.3f}\n"
        time.sleep(pause)


def sized(event, context):
    size = event["size"]
    piece = b"x" * 65536
    sent = 0
    while sent < size:
        yield piece[: min(len(piece), size - sent)]
        sent += len(piece)


def http_slow(event, context):
    def body():
        for index in range(3):
            yield f"data: {index}\n\n"
            time.sleep(event.get("pause", 1.0))

    return StreamingResponse(body(), headers={"content-type": "text/event-stream"}, cookies=["a=1"])


def url_echo(event, context):
    """Answers a Function URL request with what the function saw."""
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-seen-path": event["rawPath"]},
        "cookies": ["seen=1; Path=/"],
        "body": __import__("json").dumps(
            {
                "method": event["requestContext"]["http"]["method"],
                "rawPath": event["rawPath"],
                "rawQueryString": event["rawQueryString"],
                "query": event.get("queryStringParameters"),
                "cookies": event.get("cookies"),
                "body": event.get("body"),
                "isBase64Encoded": event["isBase64Encoded"],
                "userAgent": event["requestContext"]["http"]["userAgent"],
            }
        ),
    }


def http_fails(event, context):
    def body():
        yield "hello"
        raise OSError("disk gone")

    return StreamingResponse(body(), headers={"content-type": "text/plain"})
