"""Handlers for the browser console's tests: log lines at several levels, and a response
streamed in chunks with pauses between them."""

import logging
import time

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def hello(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    time.sleep(event.get("sleep", 0) if isinstance(event, dict) else 0)
    logger.info("greeting %s", name)
    logger.warning("%s is being greeted", name)
    print(f"plain line for {name}")
    for index in range(event.get("lines", 0) if isinstance(event, dict) else 0):
        print(f"flood {index}")
    return {"message": f"Hello, {name}!"}


def stream(event, context):
    chunks = event.get("chunks", 3) if isinstance(event, dict) else 3
    pause = event.get("pause", 1.0) if isinstance(event, dict) else 1.0
    for index in range(chunks):
        if index:
            time.sleep(pause)
        # The time it was sent: the test proves the page showed chunk 0 before the last one left.
        yield f"chunk {index} sent at {time.time():.3f}\n"


def fails(event, context):
    raise RuntimeError(f"failed on purpose: {event!r}")
