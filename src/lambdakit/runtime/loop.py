"""The invoke loop: start up, then ``for invocation in invocations: answer(invocation)``.

Start-up does all init work before the first ``GET /next`` (imports, handler load, ``on_init``
hooks), so that Lambda bills and times it as init. A failure there is reported once to
``/runtime/init/error`` and the process exits 1, as awslambdaric does.

The source of invocations is injectable: production passes ``client.invocations()``, tests
may pass a list.
"""

from __future__ import annotations

import os
import sys

from lambdakit import _hooks, _wire
from lambdakit.runtime import logs as logs_module
from lambdakit.runtime.context import REQUEST_ID, TENANT_ID, TRACE_ID, FunctionConfig, LambdaContext
from lambdakit.runtime.errors import RuntimeAPIError
from lambdakit.runtime.handler import is_coroutine_function, load_handler
from lambdakit.runtime.marshal import marshal_result, unmarshal_event
from lambdakit.runtime.report import ErrorReport
from lambdakit.runtime.streaming import is_stream, open_stream

TYPE_CHECKING = False
if TYPE_CHECKING:
    from asyncio import AbstractEventLoop
    from collections.abc import Callable, Iterable, Iterator
    from contextvars import Token

    from lambdakit._wire import Invocation
    from lambdakit.runtime.client import Response, RuntimeClient
    from lambdakit.runtime.handler import Handler
    from lambdakit.runtime.logs import Logs

_TRACE_ENV = "_X_AMZN_TRACE_ID"


class AsyncRunner:
    """Runs awaitables on one event loop, created on first use and kept for the process's life,
    so that clients and connection pools created by one invocation serve the next."""

    def __init__(self) -> None:
        self._loop: AbstractEventLoop | None = None

    def run(self, awaitable: object) -> object:
        loop = self.loop()
        if loop.is_running():  # a hook called from inside the loop (SIGTERM mid-invocation)
            import asyncio

            return asyncio.new_event_loop().run_until_complete(awaitable)  # type: ignore[arg-type]
        return loop.run_until_complete(awaitable)  # type: ignore[arg-type]

    def loop(self) -> AbstractEventLoop:
        if self._loop is None:
            import asyncio

            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
        return self._loop


def is_awaitable(value: object) -> bool:
    return getattr(type(value), "__await__", None) is not None


class Runtime:
    """A loaded handler and everything needed to answer invocations with it."""

    def __init__(
        self,
        handler: Handler,
        client: RuntimeClient,
        *,
        logs: Logs,
        config: FunctionConfig | None = None,
        runner: AsyncRunner | None = None,
        export_trace_id: bool = True,
    ) -> None:
        self.handler = handler
        self.client = client
        self.logs = logs
        self.config = config or FunctionConfig.from_env()
        self.runner = runner or AsyncRunner()
        # With several workers in one environment a process-wide variable would be wrong for
        # all but one of them; the context variable is right everywhere.
        self.export_trace_id = export_trace_id

    def run(self, invocations: Iterable[Invocation]) -> None:
        for invocation in invocations:
            self.answer(invocation)

    def answer(self, invocation: Invocation) -> None:
        """Call the handler with one event and post its result or its error."""
        tokens = self._enter(invocation)
        try:
            try:
                result = self._call(invocation)
                streamed = is_stream(result)
                if streamed:
                    # The first chunk is produced before anything is sent: a failure up to
                    # there is an ordinary error, reported to /error.
                    content_type, chunks = open_stream(result, self.runner)
                else:
                    body, content_type = marshal_result(result)
            except Exception as exc:
                self._fail(invocation, exc)
                return
            if streamed:
                response = self.client.post_stream(
                    invocation,
                    content_type,
                    _flushed_after(chunks),
                    lambda exc: self._trailers(invocation, exc),
                )
            else:
                logs_module.flush_stdio()
                response = self.client.post_response(invocation, body, content_type)
            self._check(invocation, response)
        finally:
            self._leave(tokens)

    def _call(self, invocation: Invocation) -> object:
        context = LambdaContext(invocation, self.config, log=self.logs.context_log)
        event = unmarshal_event(invocation.body, invocation.content_type)
        result = self.handler(event, context)
        if is_awaitable(result):
            result = self.runner.run(result)
        return result

    def _fail(self, invocation: Invocation, exc: Exception) -> None:
        report = ErrorReport.from_exception(exc, invocation.request_id)
        self.logs.error(report.document)
        logs_module.flush_stdio()
        self._check(invocation, self._post_error(invocation, report))

    def _trailers(self, invocation: Invocation, exc: Exception) -> list[tuple[str, str]]:
        """The error trailers that end a stream that failed after its first byte."""
        import binascii

        report = ErrorReport.from_exception(exc, invocation.request_id)
        self.logs.error(report.document)
        logs_module.flush_stdio()
        body = binascii.b2a_base64(report.body(), newline=False).decode("ascii")
        return [(_wire.ERROR_TYPE, report.error_type), (_wire.ERROR_BODY, body)]

    def _post_error(self, invocation: Invocation, report: ErrorReport) -> Response:
        return self.client.post_error(
            invocation, report.body(), report.error_type, report.xray_cause()
        )

    def _check(self, invocation: Invocation, response: Response) -> None:
        """Act on the Runtime API's answer to a result: 2xx is done; 500 means the environment
        is broken ("Runtime should exit promptly"); anything else concerns this invocation only
        (too large, already answered, timed out) and is logged before going on."""
        if response.ok:
            return
        detail = response.body[:1000].decode("utf-8", "replace")
        if response.status >= 500:
            raise RuntimeAPIError(f"the Runtime API failed ({response.status}): {detail}")
        sys.stderr.write(
            f"lambdakit: Lambda refused the answer to request {invocation.request_id}: "
            f"{response.status} {detail}\n"
        )
        sys.stderr.flush()

    def _enter(
        self, invocation: Invocation
    ) -> tuple[Token[str], Token[str | None], Token[str | None]]:
        trace_id = invocation.trace_id
        if self.export_trace_id:
            # Set, or removed when absent, so that a trace id never outlives its invocation.
            if trace_id is None:
                if _TRACE_ENV in os.environ:  # (pop() would raise and catch a KeyError each time)
                    del os.environ[_TRACE_ENV]
            else:
                os.environ[_TRACE_ENV] = trace_id
        return (
            REQUEST_ID.set(invocation.request_id),
            TENANT_ID.set(invocation.tenant_id),
            TRACE_ID.set(trace_id),
        )

    def _leave(self, tokens: tuple[Token[str], Token[str | None], Token[str | None]]) -> None:
        request_id, tenant_id, trace_id = tokens
        REQUEST_ID.reset(request_id)
        TENANT_ID.reset(tenant_id)
        TRACE_ID.reset(trace_id)


def start(
    spec: str,
    client: RuntimeClient,
    *,
    environ: dict[str, str] | os._Environ[str] | None = None,
    claim_init_error: Callable[[], bool] = lambda: True,
    claim_shutdown_phase: Callable[[], bool] = lambda: True,
    export_trace_id: bool = True,
) -> Runtime | None:
    """Set up logging and signals, load the handler and run ``on_init`` hooks.

    On failure the error is logged and posted to /init/error (unless ``claim_init_error``
    says another worker already did) and None is returned: the caller exits 1. If there are
    ``on_shutdown`` hooks, an internal extension is registered (unless
    ``claim_shutdown_phase`` says another worker does it) so that Lambda gives them a
    shutdown phase: see ``shutdown_phase``.
    """
    environ = os.environ if environ is None else environ
    logs = logs_module.Logs(logs_module.open_sink(environ), logs_module.LogSettings(environ))
    logs_module.configure_stdio()
    logs_module.install_logging(logs)
    runner = AsyncRunner()
    install_sigterm_handler(runner)
    try:
        handler = load_handler(spec)
        if is_coroutine_function(handler):
            runner.loop()  # created now, during init, rather than in the first invocation
        run_hooks(_hooks._init_hooks, runner, stop_on_error=True)
    except Exception as exc:
        if claim_init_error():
            report_init_error(client, logs, ErrorReport.from_exception(exc))
        return None
    if _hooks._shutdown_hooks and claim_shutdown_phase():
        from lambdakit.runtime import shutdown_phase

        shutdown_phase.register(client.address, client.user_agent)
    return Runtime(handler, client, logs=logs, runner=runner, export_trace_id=export_trace_id)


def report_init_error(client: RuntimeClient, logs: Logs, report: ErrorReport) -> None:
    logs.warning(logs_module.UNHANDLED_WARNING)
    logs.error(report.document)
    logs_module.flush_stdio()
    try:
        response = client.post_init_error(report.body(), report.error_type)
    except RuntimeAPIError as exc:
        sys.stderr.write(f"lambdakit: could not report the init error: {exc}\n")
        return
    # 403: in a multi-worker environment another worker reported first.
    if not response.ok and response.status != 403:
        sys.stderr.write(f"lambdakit: the init error report was refused ({response.status})\n")


def run_hooks(
    hooks: list[Callable[[], object]], runner: AsyncRunner, *, stop_on_error: bool
) -> None:
    """Call each hook; awaitables they return run on the runtime's event loop."""
    for hook in hooks:
        try:
            result = hook()
            if is_awaitable(result):
                runner.run(result)
        except Exception:
            if stop_on_error:
                raise
            import traceback

            sys.stderr.write(f"lambdakit: shutdown hook {hook!r} failed:\n{traceback.format_exc()}")


def install_sigterm_handler(runner: AsyncRunner) -> None:
    """On SIGTERM run the ``on_shutdown`` hooks and exit 0, even while blocked in /next.

    The socket wait is interruptible (a pure-Python recv, unlike awslambdaric's blocking C
    call, issue #105), so the handler runs as soon as the signal arrives. SystemExit unwinds
    normally: atexit handlers and ``finally`` blocks run too.
    """
    if TYPE_CHECKING:
        import signal as _signal
    else:
        import _signal  # signal.py imports enum: several ms of cold start for nothing

    def on_sigterm(signum: int, frame: object) -> None:
        _signal.signal(_signal.SIGTERM, _signal.SIG_DFL)  # a second SIGTERM kills at once
        run_hooks(_hooks._shutdown_hooks, runner, stop_on_error=False)
        logs_module.flush_stdio()
        raise SystemExit(0)

    _signal.signal(_signal.SIGTERM, on_sigterm)


def _flushed_after(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """The stream's chunks, then the handler's buffered stdout and stderr written out before
    the stream's end is sent: what it wrote belongs to this invocation's log, as it does
    when its answer is buffered."""
    yield from chunks
    logs_module.flush_stdio()
