"""The lambdakit emulator: a local Lambda that runs real ``bootstrap`` processes.

``serve()`` runs the Invoke API until interrupted; ``invoke_once()`` runs one invocation
without a listener (what ``lambdakit invoke`` does). ``Emulator`` is the object behind both.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.emulator import debugging
from lambdakit.emulator.concurrency import ACCOUNT_LIMIT
from lambdakit.emulator.debugging import DebugRequest
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.invocations import InvocationResult, Outcome, PendingInvocation
from lambdakit.emulator.server import Emulator, EmulatorConfig
from lambdakit.emulator.settings import Settings
from lambdakit.template import FunctionSpec
from lambdakit.template.apis import ApiSpec

if TYPE_CHECKING:
    from lambdakit.emulator.webconsole import EventSources

__all__ = ["ChunkSink", "Emulator", "EmulatorConfig", "invoke_once", "serve"]


async def serve(
    functions: Sequence[FunctionSpec],
    *,
    host: str = "127.0.0.1",
    port: int = 9000,
    concurrency: int = ACCOUNT_LIMIT,
    watch: bool = False,
    state_dir: Path = Path(".lambdakit"),
    retry_delays: tuple[float, ...] = (1.0, 2.0),
    account_id: str | None = None,
    region: str | None = None,
    apis: Sequence[ApiSpec] = (),
    api_port: int | None = None,
    url_port: int | None = None,
    debug: DebugRequest | None = None,
    console_sources: EventSources | None = None,
) -> None:
    """Serve ``functions`` until SIGINT or SIGTERM. Everything printed while serving goes
    through ``console``: a stdout or stderr that nobody reads must not stop the serving.
    ACCOUNT_ID and REGION are the account and region the emulator models (``Settings``);
    APIS, the template's APIs, are served on API_PORT (``EmulatorConfig.api_port``);
    Function URLs from URL_PORT on (``EmulatorConfig.url_port``); the browser console, with
    the test events CONSOLE_SOURCES names, unless it is None (``EmulatorConfig.console``)."""
    from lambdakit.emulator import reports

    _busy_polling()
    settings = Settings.from_env(region=region, account_id=account_id)
    functions, settings = debugging.apply(debug, functions, settings)  # --debug-port
    config = EmulatorConfig(
        host=host, port=port, concurrency=concurrency, state_dir=state_dir,
        retry_delays=retry_delays,
        settings=settings,
        max_starting=_max_starting(), api_port=api_port, url_port=url_port,
        console=console_sources,
    )  # fmt: skip
    printer = reports.LogPrinter(stream=sys.stdout)
    emulator = Emulator(functions, config, printer=printer, apis=apis)
    try:
        await emulator.start()
    except BaseException:  # a port in use: what started (provisioned environments) ends
        await emulator.close()
        raise
    _tune_gc()
    _say_started(emulator, functions, console=console_sources is not None)
    if watch:
        from lambdakit.emulator.watch import watch_functions

        await watch_functions(emulator)
    await emulator.serve_forever()
    if emulator.stopped_by == signal.SIGINT:  # Ctrl-C: the caller ends as SIGINT ends a program
        # Everything has ended: another Ctrl-C now would only interrupt the interpreter's own
        # exit (atexit handlers) with a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise KeyboardInterrupt


def _say_started(emulator: Emulator, functions: Sequence[FunctionSpec], *, console: bool) -> None:
    """The start-up lines: where everything listens, and the mechanisms in force. CONSOLE:
    the browser console was asked for."""
    from lambdakit.emulator import console as out
    from lambdakit.emulator import freezing, sandbox
    from lambdakit.emulator.limits import describe

    names = ", ".join(spec.name for spec in functions)
    out.echo(f"lambdakit: Invoke API at {emulator.url} - functions: {names}")
    if emulator.console_url is not None:
        out.echo(f"lambdakit: Console: {emulator.console_url}")
    elif console and not emulator.console_reachable:
        out.warn(
            f"the browser console is off: it answers on 127.0.0.1 only, and --host "
            f"{emulator.config.host} does not listen there (use --host 127.0.0.1 or 0.0.0.0)"
        )
    for name, url in emulator.function_urls().items():
        mode = emulator.functions[name].url.invoke_mode  # type: ignore[union-attr]
        out.echo(f"lambdakit: {name} Function URL ({mode}): {url}")
    if emulator.api_server is not None:  # each API, its base URL and its routes
        for line in emulator.api_server.describe():
            out.echo(f"lambdakit: {line}")
        for text in emulator.api_server.unenforced():
            out.warn(text)
    for line in emulator.events.destinations.describe(functions):  # where async records go
        out.echo(f"lambdakit: {line}")
    out.warn(describe(emulator.limiter))
    images = any(spec.image is not None for spec in functions)
    out.warn(freezing.describe(freezing.choose(emulator.limiter), images=images))
    out.warn(sandbox.describe(sandbox.choose(), images=images))


def _max_starting() -> int | None:
    """LAMBDAKIT_MAX_STARTING: how many environments may run their init at once."""
    text = os.environ.get("LAMBDAKIT_MAX_STARTING", "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise EmulatorError(
            f"LAMBDAKIT_MAX_STARTING={text!r}: give a whole number of environments, 1 or more"
        )
    return int(text)


def _busy_polling() -> None:
    """Busy polling's window from LAMBDAKIT_BUSY_POLL_US (_http/spinning.py); a value it cannot
    use is named on stderr, and the default stays."""
    from lambdakit.emulator import console as out
    from lambdakit.emulator._http import spinning

    problem = spinning.configure(os.environ.get(spinning.VARIABLE))
    if problem is not None:
        out.warn(problem)


def _tune_gc() -> None:
    """Collect garbage at a pace that suits a server. Every invocation makes a few hundred
    short-lived objects, so CPython's default (a young collection per 700 allocations) ran one
    every invocation or two, and the older generations' collections walked the whole start-up
    heap (click, PyYAML, ...) for milliseconds. That heap is frozen out of collection; young
    objects are collected every 20,000 allocations (cycles are still found, only later)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


async def invoke_once(
    spec: FunctionSpec,
    payload: bytes,
    *,
    on_chunk: ChunkSink | None = None,
    debug: DebugRequest | None = None,
) -> InvocationResult:
    """Start ``spec``'s environment, invoke it once with ``payload``, shut it down.

    A streaming function's body is read whole, as a buffered Invoke gets it; or, with
    ON_CHUNK, handed to it chunk by chunk as the runtime sends it (``_relay``). Ctrl-C ends it
    as ``asyncio.run`` ends its task (``_ctrl_c_cancels``)."""
    from lambdakit.emulator import reports

    _busy_polling()
    [spec], settings = debugging.apply(debug, [spec], Settings.from_env())  # debugging.py
    config = EmulatorConfig(port=0, state_dir=Path(spec.code_dir) / ".lambdakit", settings=settings)
    emulator = Emulator([spec], config, printer=reports.LogPrinter(stream=sys.stderr))
    async with _ctrl_c_cancels():
        try:
            await emulator.prepare(err=True)  # progress to stderr: stdout is the response's
            result, invocation = await emulator.invoke(spec.name, payload)
            if result.stream is not None and on_chunk is not None:
                result = await _relay(result, invocation, on_chunk)
            elif result.stream is not None:  # a streaming function: its whole body
                from lambdakit.emulator.invoke_api import buffer_result

                result = await buffer_result(result, invocation)
        finally:
            await emulator.close()
    return result


@contextlib.asynccontextmanager
async def _ctrl_c_cancels() -> AsyncIterator[None]:
    """SIGINT cancels the task that runs the block, which then raises KeyboardInterrupt (a
    second SIGINT raises it at once): what ``asyncio.run`` does, but with the signal taken by
    the event loop (``add_signal_handler``), whose wake-up descriptor wakes it whichever
    thread of the process the kernel delivers the signal to. ``asyncio.run``'s own handler runs
    only once the main thread wakes: when the child watcher's or a worker's thread took the
    signal, a loop waiting in ``select`` with no timer due slept on (seen under load: Ctrl-C
    answered 10 s late, or not within a minute). Outside the main thread: nothing changes."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupted = False

    def interrupt() -> None:
        nonlocal interrupted
        if interrupted or task is None:
            raise KeyboardInterrupt
        interrupted = True
        task.cancel()

    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread; Windows
        yield
        return
    try:
        yield
    except asyncio.CancelledError:
        if interrupted:
            raise KeyboardInterrupt from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)


ChunkSink = Callable[[str, bytes], None]
"""Called with a streamed response's content type and each chunk of it, then once with
``b""`` when the stream has ended (before the END and REPORT lines), in a worker thread: a
sink that blocks (a terminal that scrolls slowly) holds the runtime back through the stream's
flow control, as a slow reader does on Lambda, without stopping the event loop (timeouts and
logs go on)."""


async def _relay(
    result: InvocationResult, invocation: PendingInvocation, sink: ChunkSink
) -> InvocationResult:
    """Hand a streamed result to SINK as it arrives; the result keeps its ``stream`` (so the
    caller knows the body went to SINK) and carries the stream's error, if any, once the
    REPORT line is out. If SINK fails (a closed pipe), the rest of the stream is dropped."""
    stream = result.stream
    assert stream is not None
    try:
        async for chunk in stream.chunks():
            await asyncio.to_thread(sink, stream.content_type, chunk)
        await asyncio.to_thread(sink, stream.content_type, b"")
    except BaseException:
        stream.abandon()
        raise
    await invocation.reported.wait()
    if stream.error_type is not None:
        return InvocationResult(
            outcome=Outcome.ERROR, body=stream.error_body or b"",
            error_type=stream.error_type, stream=stream,
        )  # fmt: skip
    return InvocationResult(outcome=Outcome.SUCCESS, body=b"", stream=stream)
