"""Handlers that write the pieces of text their event names, each to stdout ("out") or stderr
("err"), flushed one by one with a pause between them: what the emulator reads then comes
in the order it was written, partial lines included."""

import sys
import time

PAUSE = 0.03  # seconds between pieces: each is read before the next is written


def write(pieces):
    for stream, text in pieces:
        target = sys.stdout if stream == "out" else sys.stderr
        target.write(text)
        target.flush()
        time.sleep(PAUSE)


def handler(event, context):
    write(event["pieces"])
    return {"written": len(event["pieces"])}


def streamed(event, context):
    """The last piece is written after the last chunk, while the stream ends."""
    write(event["pieces"][:-1])
    yield b"streamed"
    write(event["pieces"][-1:])


def streamed_unflushed(event, context):
    """Writes after its last chunk without flushing: the runtime flushes before the end."""
    yield b"streamed"
    sys.stdout.write("out after the last chunk\n")
    sys.stderr.write("err after the last chunk")


def times_out(event, context):
    write(event["pieces"])
    time.sleep(5)
