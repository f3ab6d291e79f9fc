"""The rendezvous values: streamed responses and their flow control; request and trace ids."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import pytest

from lambdakit.emulator.invocations import (
    InvocationResult,
    Outcome,
    PendingInvocation,
    ResponseStream,
    StreamTooLarge,
    new_trace_id,
    new_uuid,
    new_uuid_hex,
)


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


def test_request_ids_are_random_version_4_uuids() -> None:
    ids = [new_uuid() for _ in range(2000)]  # past one 4 KiB pool of random bytes
    assert len(set(ids)) == len(ids)
    for text in ids:
        value = uuid.UUID(text)
        assert str(value) == text
        assert (value.version, value.variant) == (4, uuid.RFC_4122)


def test_invocation_ids_are_random_version_4_uuids_without_dashes() -> None:
    ids = [new_uuid_hex() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        value = uuid.UUID(hex=text)
        assert value.hex == text
        assert (value.version, value.variant) == (4, uuid.RFC_4122)


def test_trace_ids_have_lambdas_shape() -> None:
    trace = new_trace_id()
    assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", trace)
    assert int(trace[7:15], 16) == pytest.approx(time.time(), abs=5)
    assert new_trace_id() != trace


def test_an_abandoned_stream_lets_its_writer_run_on() -> None:
    async def scenario() -> tuple[int, bool, list[bytes]]:
        stream = ResponseStream("application/octet-stream")
        stream.BUFFER_LIMIT = 10  # type: ignore[misc]
        await stream.put(b"a" * 10)
        blocked = asyncio.create_task(stream.put(b"b"))
        await asyncio.sleep(0.01)
        assert not blocked.done()
        stream.reader_finished(False)  # the client hung up
        await asyncio.wait_for(blocked, 1)
        for _ in range(100):  # the rest is counted and dropped, never waited for
            await asyncio.wait_for(stream.put(b"c" * 10), 1)
        stream.end()
        return stream.size, stream.abandoned, [chunk async for chunk in stream.chunks()]

    assert asyncio.run(scenario()) == (1011, True, [])


def test_a_stream_that_ended_is_not_abandoned_by_its_reader_finishing() -> None:
    async def scenario() -> tuple[bool, bytes]:
        stream = ResponseStream("text/plain")
        await stream.put(b"whole")
        stream.end()
        body = await stream.read_all()
        stream.reader_finished(True)
        return stream.abandoned, body

    assert asyncio.run(scenario()) == (False, b"whole")


def test_reading_a_stream_whole_stops_at_the_buffered_limit() -> None:
    async def scenario() -> tuple[int, bool]:
        stream = ResponseStream("application/octet-stream")
        writer = asyncio.create_task(_write(stream, pieces=40, size=1000))
        with pytest.raises(StreamTooLarge) as too_large:
            await stream.read_all(limit=5000)
        await asyncio.wait_for(writer, 1)  # the writer is not held back once it is abandoned
        return too_large.value.size, stream.abandoned

    assert asyncio.run(scenario()) == (6000, True)


async def _write(stream: ResponseStream, *, pieces: int, size: int) -> None:
    for _ in range(pieces):
        await stream.put(b"x" * size)
        await asyncio.sleep(0)
    stream.end()


def test_resolve_calls_on_result_at_once_and_reports_its_fault_to_the_loop() -> None:
    async def scenario() -> tuple[list[str], list[dict[str, object]], bool, bool]:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, object]] = []
        loop.set_exception_handler(lambda _, context: reported.append(context))
        seen: list[str] = []

        def hook(future: asyncio.Future[InvocationResult]) -> None:
            seen.append(future.result().body.decode())
            raise RuntimeError("a fault of the hook's")

        invocation = PendingInvocation(payload=b"{}", on_result=hook)
        result = InvocationResult(outcome=Outcome.SUCCESS, body=b"answer")
        first = invocation.resolve(result)  # the hook runs inside, its fault does not escape
        again = invocation.resolve(result)
        return seen, reported, first, again

    seen, reported, first, again = asyncio.run(scenario())
    assert seen == ["answer"]  # called once, before resolve() returned
    assert (first, again) == (True, False)
    assert len(reported) == 1 and isinstance(reported[0]["exception"], RuntimeError)
