"""The rendezvous values: streamed responses and their flow control."""

from __future__ import annotations

import asyncio

from lambdakit.emulator.invocations import ResponseStream


def test_a_slow_reader_holds_the_writer_back() -> None:
    async def scenario() -> list[bytes]:
        stream = ResponseStream("application/octet-stream")
        stream.BUFFER_LIMIT = 10  # type: ignore[misc]
        await stream.put(b"a" * 10)
        blocked = asyncio.create_task(stream.put(b"b"))
        await asyncio.sleep(0.01)
        assert not blocked.done()  # the reader is 10 bytes behind: the writer waits
        reader = stream.chunks()
        assert await reader.__anext__() == b"a" * 10
        await asyncio.wait_for(blocked, 1)
        stream.end()
        return [chunk async for chunk in reader]

    assert asyncio.run(scenario()) == [b"b"]


def test_ending_a_stream_releases_a_waiting_writer() -> None:
    async def scenario() -> tuple[str | None, int]:
        stream = ResponseStream("application/octet-stream")
        stream.BUFFER_LIMIT = 1  # type: ignore[misc]
        await stream.put(b"x")
        blocked = asyncio.create_task(stream.put(b"y"))
        await asyncio.sleep(0.01)
        stream.end("Sandbox.Timedout", b"{}")
        await asyncio.wait_for(blocked, 1)
        return stream.error_type, stream.size

    assert asyncio.run(scenario()) == ("Sandbox.Timedout", 1)
