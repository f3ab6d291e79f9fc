"""The HTTP server's immediate handler (``start_server(immediate=...)``), over real sockets.

The Runtime API and the Invoke API answer their hot requests from the parser's callback, without
a task: at once, ``LATER`` with ``request.reply``, or not (the usual handler). What must hold:
the usual way still serves everything the immediate handler declines, a body that did not
arrive in one read, ``Expect: 100-continue``, and whatever comes while a request is under way
(so the usual handler must serve every request); requests that follow one answered ``LATER``
wait their turn, in order; a reply to a client that left tells ``on_finish``; ``reply(None)``
closes; a failing immediate handler gives the same 500 as a failing handler; ``Connection:
close`` and a client that half-closes are honoured. Both event loops, as in test_http.py.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from lambdakit.emulator._http import LATER, Request, Response
from tests.emulator.test_http import (
    EXPECTING,
    Harness,
    connect,
    get,
    harness,
    post,
    text,
    text_bytes,
)

__all__ = ["harness"]  # the fixture, shared with test_http.py


async def declined(request: Request) -> Response:
    body = await request.body()
    return text(b"usual " + request.target.encode() + b" " + body)


def test_an_immediate_answer_needs_no_handler(harness: Harness) -> None:
    async def handler(request: Request) -> Response:
        raise AssertionError("the handler was called")

    def immediate(request: Request) -> Response:
        return text(b"now " + request.target.encode() + b" " + request.arrived_body())

    async def main() -> None:
        async with harness.serve(handler, immediate=immediate) as port, connect(port) as client:
            await client.send(get("/a") + post("/b", b"xyz"))  # pipelined, one read
            expected = text_bytes(b"now /a ") + text_bytes(b"now /b xyz")
            assert await client.read_exactly(len(expected)) == expected
            await client.send(post("/c", b""))
            assert await client.read_exactly(len(text_bytes(b"now /c "))) == text_bytes(b"now /c ")
            assert client.arrived() == b""

    harness.run(main)


def test_what_it_declines_and_what_follows_go_to_the_handler(harness: Harness) -> None:
    def immediate(request: Request) -> Response | None:
        return None if request.target == "/usual" else text(b"now")

    async def main() -> None:
        async with harness.serve(declined, immediate=immediate) as port, connect(port) as client:
            # Pipelined behind one the handler serves, /now is the handler's too.
            await client.send(post("/usual", b"1") + get("/now") + post("/usual", b"2"))
            expected = text_bytes(b"usual /usual 1") + text_bytes(b"usual /now ")
            expected += text_bytes(b"usual /usual 2")
            assert await client.read_exactly(len(expected)) == expected
            await client.send(get("/now"))  # the connection is idle again
            assert await client.read_exactly(len(text_bytes(b"now"))) == text_bytes(b"now")

    harness.run(main)


def test_a_body_that_comes_in_two_reads_and_an_expect_go_the_usual_way(harness: Harness) -> None:
    asked: list[str] = []

    def immediate(request: Request) -> Response:
        asked.append(request.target)
        return text(b"now")

    async def main() -> None:
        async with harness.serve(declined, immediate=immediate) as port, connect(port) as client:
            request = post("/split", b"abcdef")
            await client.send(request[:-3])
            await asyncio.sleep(0.05)
            await client.send(request[-3:])
            reply = text_bytes(b"usual /split abcdef")
            assert await client.read_exactly(len(reply)) == reply
            await client.send(EXPECTING)
            assert await client.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            await client.send(b"body")
            reply = text_bytes(b"usual /x body")
            assert await client.read_exactly(len(reply)) == reply
        assert asked == []

    harness.run(main)


def test_requests_behind_a_later_answer_wait_their_turn(harness: Harness) -> None:
    waiting: list[Request] = []
    served: list[str] = []

    async def handler(request: Request) -> Response:
        served.append(request.target)
        return text(b"usual " + request.target.encode())

    def immediate(request: Request) -> object:
        if request.target == "/poll":
            waiting.append(request)
            return LATER
        return None

    async def main() -> None:
        async with harness.serve(handler, immediate=immediate) as port, connect(port) as client:
            await client.send(get("/poll") + get("/after") + get("/again"))
            await asyncio.sleep(0.05)
            assert served == [] and client.arrived() == b""  # nothing overtakes the poll
            assert len(waiting) == 1
            waiting[0].reply(text(b"event 1"))
            expected = text_bytes(b"event 1") + text_bytes(b"usual /after")
            expected += text_bytes(b"usual /again")
            assert await client.read_exactly(len(expected)) == expected
            await client.send(get("/poll"))  # idle again: the immediate handler's
            while len(waiting) < 2:
                await asyncio.sleep(0.01)
            asyncio.get_running_loop().call_later(0.02, waiting[1].reply, text(b"event 2"))
            assert (await client.read_response()).raw == text_bytes(b"event 2")
            assert served == ["/after", "/again"]

    harness.run(main)


def test_a_reply_to_a_client_that_left_tells_on_finish(harness: Harness) -> None:
    waiting: list[Request] = []
    finished: list[bool] = []

    def immediate(request: Request) -> object:
        waiting.append(request)
        return LATER

    async def main() -> None:
        async with harness.serve(declined, immediate=immediate) as port:
            async with connect(port) as client:
                await client.send(get("/poll"))
                while not waiting:
                    await asyncio.sleep(0.01)
                # A reset, not a FIN: the server knows at once that the client is gone.
                client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            while not waiting[0].disconnected:
                await asyncio.sleep(0.01)
            waiting[0].reply(Response(200, [], b"lost", on_finish=finished.append))
            assert finished == [False]

    harness.run(main)


def test_reply_none_closes_the_connection(harness: Harness) -> None:
    waiting: list[Request] = []

    def immediate(request: Request) -> object:
        waiting.append(request)
        return LATER

    async def main() -> None:
        async with harness.serve(declined, immediate=immediate) as port, connect(port) as client:
            await client.send(get("/poll"))
            while not waiting:
                await asyncio.sleep(0.01)
            waiting[0].reply(None)
            assert await client.read_to_eof() == b""

    harness.run(main)


def test_a_failing_immediate_handler_answers_500_and_closes(harness: Harness) -> None:
    def immediate(request: Request) -> Response:
        raise ValueError("broken")

    async def main() -> None:
        async with harness.serve(declined, immediate=immediate) as port, connect(port) as client:
            await client.send(get("/x"))
            reply = await client.read_response()
            assert reply.status == 500
            assert reply.header("connection") == "close"
            assert "ValueError: broken" in reply.json()["errorMessage"]
            assert await client.read_to_eof() == b""

    harness.run(main)


def test_connection_close_and_a_half_close_are_honoured(harness: Harness) -> None:
    waiting: list[Request] = []

    def immediate(request: Request) -> object:
        if request.target == "/poll":
            waiting.append(request)
            return LATER
        return text(b"now")

    async def main() -> None:
        async with harness.serve(declined, immediate=immediate) as port:
            async with connect(port) as client:
                await client.send(get("/x", "Connection: close\r\n") + get("/ignored"))
                assert await client.read_to_eof() == text_bytes(b"now", close=True)
            async with connect(port) as client:
                await client.send(get("/poll"))
                client.sock.shutdown(socket.SHUT_WR)
                while not waiting:
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)
                waiting[0].reply(text(b"still answered"))
                assert await client.read_to_eof() == text_bytes(b"still answered")

    harness.run(main)


def test_garbage_behind_a_later_answer_gets_its_400_after_it(harness: Harness) -> None:
    waiting: list[Request] = []

    def immediate(request: Request) -> object:
        if request.target == "/first":
            return None  # the usual way: the connection has a serving task, idle after it
        waiting.append(request)
        return LATER

    async def main() -> None:
        async with harness.serve(declined, immediate=immediate) as port, connect(port) as client:
            await client.send(get("/first"))
            assert (await client.read_response()).raw == text_bytes(b"usual /first ")
            await client.send(get("/poll"))
            while not waiting:
                await asyncio.sleep(0.01)
            await client.send(b"NOT HTTP AT ALL\r\n\r\n")
            client.sock.shutdown(socket.SHUT_WR)  # and the client's end: still answered first
            await asyncio.sleep(0.05)
            assert client.arrived() == b""
            waiting[0].reply(text(b"event"))
            assert (await client.read_response()).raw == text_bytes(b"event")
            refusal = await client.read_response()
            assert refusal.status == 400 and refusal.header("connection") == "close"
            assert await client.read_to_eof() == b""

    harness.run(main)


def test_a_shared_response_is_the_same_bytes_each_time_and_closes_when_asked(
    harness: Harness,
) -> None:
    accepted = Response(202, [("Content-Type", "text/plain")], b"ok").shared()

    def immediate(request: Request) -> Response:
        return accepted

    async def main() -> None:
        async with harness.serve(declined, immediate=immediate) as port, connect(port) as client:
            once = text_bytes(b"ok", 202)
            await client.send(get("/a") + get("/b"))
            assert await client.read_exactly(2 * len(once)) == once + once
            await client.send(b"HEAD /c HTTP/1.1\r\nHost: test\r\n\r\n")
            head = once[: -len(b"ok")]
            assert await client.read_exactly(len(head)) == head  # no body for HEAD
            await client.send(get("/d", "Connection: close\r\n"))
            assert await client.read_to_eof() == text_bytes(b"ok", 202, close=True)

    harness.run(main)


def test_header_gives_the_first_of_a_repeated_name_in_any_case(harness: Harness) -> None:
    seen: list[tuple[str | None, ...]] = []

    def look(request: Request) -> None:
        seen.append((request.header("X-Twice"), request.header("x-once"), request.header("no")))

    async def handler(request: Request) -> Response:
        look(request)
        return text(b"usual")

    def immediate(request: Request) -> Response | None:
        look(request)
        return None if request.target == "/usual" else text(b"now")

    async def main() -> None:
        async with harness.serve(handler, immediate=immediate) as port, connect(port) as client:
            headers = ("X-Twice: first\r\n", "x-twice: second\r\n", "X-ONCE: one\r\n")
            await client.send(get("/now", *headers))
            assert (await client.read_response()).body == b"now"
            await client.send(get("/usual", *headers))
            assert (await client.read_response()).body == b"usual"
        assert seen == [("first", "one", None)] * 3  # /usual: immediate, then the handler

    harness.run(main)
