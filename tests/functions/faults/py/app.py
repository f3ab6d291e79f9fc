"""Handlers for the emulator's fault tests (run by the lambdakit runtime)."""

import time


def streams(event, context):
    """Streams ``mb`` MiB in 64 KiB pieces, then logs how long that took."""
    started = time.monotonic()
    piece = b"s" * 65536
    for _ in range(event.get("mb", 1) * 16):
        yield piece
    print(f"streamed {event.get('mb', 1)} MiB in {time.monotonic() - started:.2f} s", flush=True)
