"""Busy polling after reads (``_http/spinning.py``): the loop polls without sleeping for a window
after each read, counts whether polls end with a read, stops polling where that does not pay
(but probes), and takes its window from ``LAMBDAKIT_BUSY_POLL_US``."""

from __future__ import annotations

import asyncio
import json
import selectors
import socket
from collections.abc import Iterator

import pytest

from lambdakit.emulator._http import Request, Response, spinning, start_server
from lambdakit.emulator._http.server import bound_port


@pytest.fixture(autouse=True)
def default_window() -> Iterator[None]:
    spinning.configure(None)
    yield
    spinning.configure(None)


class RecordingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Records the timeout of every select(): 0 means the loop polled instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.timeouts: list[float | None] = []

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        self.timeouts.append(timeout)
        return super().select(timeout)


def run_with(selector: RecordingSelector, main: asyncio.Future[None] | object) -> None:
    loop = asyncio.SelectorEventLoop(selector)
    try:
        loop.run_until_complete(main)  # type: ignore[arg-type]
    finally:
        loop.close()


async def echo(request: Request) -> Response:
    return Response(200, [("Content-Type", "text/plain")], await request.body())


def request_bytes(body: bytes) -> bytes:
    return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


async def one_request(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes(b"ping"))
    await writer.drain()
    answer = await reader.readuntil(b"ping")
    writer.close()
    return answer


def test_after_a_read_the_loop_polls_for_the_window_then_sleeps() -> None:
    selector = RecordingSelector()
    spinning.configure("5000")  # 5 ms: many polls, easy to tell apart from a sleep

    async def main() -> None:
        server = await start_server(echo, "127.0.0.1", 0)
        answer = await one_request(bound_port(server))
        assert answer.startswith(b"HTTP/1.1 200 ")
        spinner = spinning.spinner_for(asyncio.get_running_loop())
        assert spinner is not None and spinner.window == 0.005
        selector.timeouts.clear()
        await asyncio.sleep(0.05)  # the server's loop is idle from here on
        polled = [t for t in selector.timeouts if t == 0]
        assert len(polled) > 50, f"the loop slept at once after the read: {len(polled)} polls"
        assert spinner.misses >= 1  # the poll ended without a read
        # Then it slept: the sleep's own select() waited, with a timeout over zero.
        assert any(t is not None and t > 0 for t in selector.timeouts)
        server.close()
        await server.wait_closed()

    run_with(selector, main())


def test_with_busy_polling_off_the_loop_sleeps_at_once() -> None:
    selector = RecordingSelector()
    assert spinning.configure("0") is None

    async def main() -> None:
        server = await start_server(echo, "127.0.0.1", 0)
        await one_request(bound_port(server))
        assert spinning.spinner_for(asyncio.get_running_loop()) is None
        selector.timeouts.clear()
        await asyncio.sleep(0.02)
        # One select() that sleeps until the timer: no run of zero-timeout polls.
        assert len([t for t in selector.timeouts if t == 0]) < 10
        server.close()
        await server.wait_closed()

    run_with(selector, main())


def test_a_read_while_polling_is_a_hit_and_polling_goes_on() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        spinner = spinning.Spinner(loop, 0.01)
        spinner.read()
        await asyncio.sleep(0)  # a turn: polling
        spinner.read()  # a read came while polling
        assert (spinner.hits, spinner.misses) == (1, 0)
        assert spinner.rate == 1.0
        await asyncio.sleep(0.05)
        assert (spinner.hits, spinner.misses) == (1, 1)
        assert spinner.rate == pytest.approx(7 / 8)

    asyncio.run(main())


def test_where_polling_does_not_pay_it_stops_but_probes() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        spinner = spinning.Spinner(loop, 0.0005)
        for _ in range(6):  # six polls that end without a read: the rate falls under 1/2
            spinner.read()
            await asyncio.sleep(0.005)
        assert spinner.misses == 6 and spinner.rate < 0.5
        for _ in range(spinning.PROBE - 1):
            spinner.read()  # no poll for these
            await asyncio.sleep(0.002)
        assert spinner.misses == 6
        spinner.read()  # the PROBE-th read polls again
        await asyncio.sleep(0.005)
        assert spinner.misses == 7

    asyncio.run(main())


def test_a_loop_with_a_spinner_can_be_freed() -> None:
    import gc
    import weakref

    loop = asyncio.new_event_loop()
    spinner = spinning.spinner_for(loop)
    assert spinner is not None and spinning.spinner_for(loop) is spinner  # one per loop
    freed = weakref.ref(loop)
    loop.close()
    del loop
    gc.collect()
    assert freed() is None  # the registry's spinner did not keep its loop
    spinner.read()  # a spinner that outlived its loop does nothing


@pytest.mark.parametrize(
    ("value", "window", "problem"),
    [
        (None, 200e-6, None),
        ("", 200e-6, None),
        (" 150 ", 150e-6, None),
        ("0", 0.0, None),
        ("abc", 200e-6, "'abc' is not a whole number of microseconds from 0 to 10000"),
        ("-5", 200e-6, "'-5' is not a whole number"),
        ("²", 200e-6, "'²' is not a whole number"),  # a digit to str.isdigit, not to int()
        ("20000", 200e-6, "'20000' is not a whole number"),
    ],
)
def test_the_window_comes_from_the_variable(
    value: str | None, window: float, problem: str | None
) -> None:
    said = spinning.configure(value)
    if problem is None:
        assert said is None
    else:
        assert said is not None and problem in said and "stays at 200 µs" in said
        assert said.startswith("LAMBDAKIT_BUSY_POLL_US=")

    async def main() -> None:
        spinner = spinning.spinner_for(asyncio.get_running_loop())
        assert (spinner.window if spinner is not None else 0.0) == pytest.approx(window)

    asyncio.run(main())


def test_serve_names_a_window_it_cannot_use(tmp_path: object) -> None:
    """End to end: ``lambdakit serve`` says what was wrong with the variable, and serves."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    project = Path(str(tmp_path))
    (project / "app.py").write_text("def handler(event, context):\n    return event\n")
    (project / "template.yaml").write_text(
        "Resources:\n  Echo:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      FunctionName: echo\n      CodeUri: .\n      Handler: app.handler\n"
        "      Runtime: python3.12\n"
    )
    env = {**os.environ, "LAMBDAKIT_BUSY_POLL_US": "fast", "LAMBDAKIT_SANDBOX": "0"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "lambdakit", "serve", str(project), "--port", str(port),
         "--no-console"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = []
        for raw in process.stdout:  # until it listens (or ends)
            lines.append(raw.decode())
            if "Invoke API at" in lines[-1]:
                break
    finally:
        process.terminate()
        rest, _ = process.communicate(timeout=30)  # stdout and stderr have separate writers
    text = "".join(lines) + rest.decode()
    assert "Invoke API at" in text, text
    assert "lambdakit: LAMBDAKIT_BUSY_POLL_US='fast' is not a whole number" in text, text


def test_invoke_names_a_window_it_cannot_use_and_runs(tmp_path: object) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    project = Path(str(tmp_path))
    (project / "main.py").write_text("def go(event, context):\n    return {'went': event}\n")
    env = {**os.environ, "LAMBDAKIT_BUSY_POLL_US": "-1", "LAMBDAKIT_SANDBOX": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "invoke", str(project), "--handler", "main.go",
         "--event", "[1]"],
        capture_output=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout) == {"went": [1]}
    assert b"lambdakit: LAMBDAKIT_BUSY_POLL_US='-1' is not a whole number" in done.stderr
