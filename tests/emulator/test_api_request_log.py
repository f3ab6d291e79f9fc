"""The API server's request lines (``apis.server.RequestLog``): batched, whole, in order."""

from __future__ import annotations

import asyncio

from lambdakit.emulator.apis.server import RequestLog


def test_lines_inside_the_loop_are_written_together_in_order() -> None:
    written: list[str] = []
    log = RequestLog(written.append)

    async def serve() -> list[str]:
        log("GET /a 200 0.9 ms")
        log("GET /b 404 0.4 ms")
        held = list(written)  # nothing yet: the batch waits for its timer
        await asyncio.sleep(0.1)
        return held

    assert asyncio.run(serve()) == []
    assert written == ["GET /a 200 0.9 ms", "GET /b 404 0.4 ms"]


def test_close_writes_what_is_held_and_later_lines_at_once() -> None:
    written: list[str] = []
    log = RequestLog(written.append)

    async def serve() -> None:
        log("GET /a 200 0.9 ms")
        log.close()
        assert written == ["GET /a 200 0.9 ms"]
        log("GET /b 200 0.9 ms")
        assert written == ["GET /a 200 0.9 ms", "GET /b 200 0.9 ms"]

    asyncio.run(serve())


def test_outside_a_loop_lines_are_written_at_once() -> None:
    written: list[str] = []
    RequestLog(written.append)("GET /a 200 0.9 ms")
    assert written == ["GET /a 200 0.9 ms"]
