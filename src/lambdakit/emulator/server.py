"""The emulator: its functions, its Invoke API listener, and its lifecycle.

``Emulator(functions, config)`` owns one ``FunctionPool`` per function and the Invoke API
server; ``start()``, ``serve_forever()`` and ``close()`` are its whole lifecycle, and
``invoke()`` runs one invocation in-process (what ``lambdakit invoke`` does without a server).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdakit.emulator import console, reports
from lambdakit.emulator._http import Handler, bound_port, start_server
from lambdakit.emulator.concurrency import ACCOUNT_LIMIT, Account
from lambdakit.emulator.errors import EmulatorError, cannot_listen
from lambdakit.emulator.event_queue import EventQueue
from lambdakit.emulator.invocations import InvocationResult, PendingInvocation
from lambdakit.emulator.invoke_api import InvokeAPI
from lambdakit.emulator.limits import MemoryLimiter, choose_limiter
from lambdakit.emulator.scheduler import FunctionPool
from lambdakit.emulator.settings import Settings
from lambdakit.template import FunctionSpec

if TYPE_CHECKING:
    from lambdakit.emulator.apis.server import ApiServer
    from lambdakit.emulator.webconsole import Console, EventSources, Hub
    from lambdakit.template.apis import ApiSpec

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
CLOSE_MARGIN = 0.5  # seconds close() waits past the grace period, for the killed to end
HURRY_WAIT = 0.25  # seconds close() waits after hurry(), for the endings of the killed


@dataclass(frozen=True, kw_only=True)
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 9000
    concurrency: int = ACCOUNT_LIMIT  # the account's concurrency limit (Lambda's default)
    max_starting: int | None = None  # environments starting at once; None: by the CPU count
    idle_timeout: float = 300.0
    settings: Settings = field(default_factory=Settings)
    state_dir: Path = Path(".lambdakit")
    retry_delays: tuple[float, ...] = (1.0, 2.0)
    memory_limits: str | None = None  # force a limiter ("cgroup", "rlimit", "none")
    api_port: int | None = None  # the APIs' listener; None: 3000 (SAM CLI's), 0 if port is 0
    url_port: int | None = None  # the first Function URL's; None: port + 1 (0 if port is 0)
    # The browser console (webconsole/) on the Invoke API's port, with where its test events
    # come from; None: no console (its path answers 404, and nothing records for it).
    console: EventSources | None = None


class Emulator:
    """A local Lambda serving ``functions``.

    Its memory limiter is ``limiter`` if given; else the one ``config.memory_limits`` names;
    else the one the environment variable LAMBDAKIT_MEMORY_LIMITS names (``cgroup``,
    ``rlimit`` or ``none``: how tests and benchmarks choose the mode of ``lambdakit serve``);
    else the strongest that works here. A named one that cannot work here falls back to the
    next weaker one (``limits.choose_limiter``); ``limits.describe`` says which is in force.
    """

    def __init__(
        self,
        functions: Sequence[FunctionSpec],
        config: EmulatorConfig | None = None,
        *,
        printer: reports.LogPrinter | None = None,
        limiter: MemoryLimiter | None = None,
        apis: Sequence[ApiSpec] = (),
    ) -> None:
        self.config = config or EmulatorConfig()
        self.apis = list(apis)  # the template's APIs, served by start() when they have routes
        self.api_server: ApiServer | None = None
        self.printer = printer or reports.LogPrinter()
        self.limiter = limiter or _choose_limiter(self.config.memory_limits)
        self.hub: Hub | None = None  # what the browser console shows, recorded as it happens
        self.console: Console | None = None
        if self.config.console is not None:
            from lambdakit.emulator.webconsole import Hub

            self.hub = Hub()
            self.printer.tap = self.hub.log
        names = [spec.name for spec in functions]
        if len(set(names)) != len(names):
            raise EmulatorError(f"function names must be unique: {names}")
        self.functions = {spec.name: spec for spec in functions}
        # As SAM CLI does, a function may also be invoked by its logical id; a name that is
        # another function's FunctionName stays that function's.
        self._logical_ids = {
            spec.logical_id: spec.name
            for spec in functions
            if spec.logical_id and spec.logical_id not in self.functions
        }
        reserved = sum(spec.reserved_concurrency or 0 for spec in functions)
        self.account = Account(
            self.config.concurrency, reserved=reserved,
            max_starting=self.config.max_starting, say=self._warn,
        )  # fmt: skip
        self.pools = {spec.name: self._make_pool(spec) for spec in functions}
        self.events = EventQueue(
            self.config.state_dir, self.pool,
            retry_delays=self.config.retry_delays, warn=self._warn, arn=self.arn,
        )  # fmt: skip
        self._server: asyncio.Server | None = None
        self._url_servers: dict[str, asyncio.Server] = {}
        self._stopped = asyncio.Event()
        self._hurried = asyncio.Event()  # a second signal: stop at once
        self.stopped_by: signal.Signals | None = None
        """The signal that stopped ``serve_forever`` (SIGINT: the CLI exits 130)."""
        self.background: list[asyncio.Task[None]] = []  # cancelled by close()
        self._prepared: set[str] = set()  # functions whose packages are prepared (prepare())

    def _make_pool(self, spec: FunctionSpec) -> FunctionPool:
        return FunctionPool(
            spec, settings=self.config.settings, limiter=self.limiter, printer=self.printer,
            account=self.account, idle_timeout=self.config.idle_timeout, observer=self.hub,
        )  # fmt: skip

    # --- what the Invoke API needs -------------------------------------------------------------

    def pool(self, name: str) -> FunctionPool | None:
        """The function named ``name``: its FunctionName, or its logical id."""
        pool = self.pools.get(name)
        if pool is None and name in self._logical_ids:
            pool = self.pools[self._logical_ids[name]]
        return pool

    def submit_event(self, pool: FunctionPool, invocation: PendingInvocation) -> None:
        invocation.kind = "event"
        self.events.submit(pool, invocation)

    def arn(self, name: str, qualifier: str | None = None) -> str:
        """NAME's ARN in the account and region the emulator models (``Settings``)."""
        return self.config.settings.function_arn(name, qualifier)

    # --- lifecycle -----------------------------------------------------------------------------

    async def prepare(self, names: Sequence[str] | None = None, *, err: bool = False) -> None:
        """Install the Python functions' own packages (``preparation.py``), off the event loop;
        NAMES: only those functions again (their sources changed). Once per function unless
        NAMES asks again; environments started later run with what was prepared. Progress
        goes to stdout (ERR: stderr)."""
        from lambdakit.emulator.preparation import prepare_functions

        wanted = [n for n in (names or self.functions) if names or n not in self._prepared]
        specs = [self.functions[name] for name in wanted]
        prepared = await asyncio.to_thread(
            prepare_functions, specs, say=lambda text: console.echo(f"lambdakit: {text}", err=err),
            warn=self._warn,
            python=self.config.settings.python or None,
        )  # fmt: skip
        for spec in prepared:
            self.functions[spec.name] = self.pools[spec.name].spec = spec
            self._prepared.add(spec.name)

    async def start(self) -> None:
        """Prepare the functions' packages, start the provisioned environments and wait for
        their init; then listen for the Invoke API and resume the events a previous run left
        pending."""
        from lambdakit.emulator.provisioning import provision_all

        await self.prepare()
        await provision_all(self.pools.values(), say=console.echo, warn=self._warn)
        api = InvokeAPI(self)
        handler: Handler = api.handle
        if self.hub is not None and self.config.console is not None and self.console_reachable:
            from lambdakit.emulator.webconsole import Console

            self.console = Console(self, self.hub, self.config.console)
            handler = self.console.wrap(api.handle)
        try:
            self._server = await start_server(
                handler, self.config.host, self.config.port, immediate=api.immediate
            )
        except OSError as error:
            hint = "choose another port with --port (0: any free port)"
            raise cannot_listen(
                self.config.host, self.config.port, "the Invoke API", hint, error
            ) from error
        await self._start_urls()
        await self._start_apis()
        resumed = self.events.resume()
        if resumed:
            self._warn(f"resumed {resumed} pending event(s) from {self.config.state_dir}")

    async def _start_urls(self) -> None:
        """One listener per function with a Function URL: at the root of its own address, so
        web frameworks see the paths they expect. Ports follow the Invoke API's (9001, ...)."""
        from lambdakit.emulator.url_server import FunctionUrl

        with_urls = [spec for spec in self.functions.values() if spec.url is not None]
        for index, spec in enumerate(with_urls):
            assert spec.url is not None
            streaming = spec.url.invoke_mode == "RESPONSE_STREAM"
            handler = FunctionUrl(
                self.pools[spec.name], region=self.config.settings.region,
                streaming=streaming, iam=spec.url.auth_type == "AWS_IAM",
            )  # fmt: skip
            first = self.config.url_port
            if first is None:
                first = 0 if self.config.port == 0 else self.config.port + 1
            port = 0 if first == 0 else first + index
            try:
                server = await start_server(handler.handle, self.config.host, port)
            except OSError as error:  # said here: the Invoke API's port is another one
                hint = "choose other ports with --url-port (the first URL's; 0: any free ports)"
                purpose = f"{spec.name}'s Function URL"
                raise cannot_listen(self.config.host, port, purpose, hint, error) from error
            self._url_servers[spec.name] = server

    async def _start_apis(self) -> None:
        """One listener for every API of the template (``apis.server``), if any has routes."""
        from lambdakit.emulator.apis.server import DEFAULT_API_PORT, ApiServer

        if not any(api.routes for api in self.apis):
            return
        settings = self.config.settings
        server = ApiServer(
            self.apis, self.pools, region=settings.region, account_id=settings.account_id,
            log=lambda text: console.echo(f"lambdakit: {text}"), warn=self._warn,
        )  # fmt: skip
        port = self.config.api_port
        if port is None:
            port = 0 if self.config.port == 0 else DEFAULT_API_PORT
        await server.start(self.config.host, port)
        self.api_server = server

    @property
    def url(self) -> str:
        if self._server is None:
            raise EmulatorError("the emulator is not started")
        return self._address(self._server)

    @property
    def console_reachable(self) -> bool:
        """The console answers loopback peers only: it is served where the Invoke API listens
        on a loopback address (a loopback host, or every address), not on one address of a
        network interface (``--host 192.0.2.2``), where no loopback peer can reach it."""
        from lambdakit.emulator.webconsole import is_loopback

        host = self.config.host
        return host in ("", "0.0.0.0", "::", "localhost") or is_loopback(host)

    @property
    def console_url(self) -> str | None:
        """The browser console's address, if it is on (``EmulatorConfig.console``)."""
        from lambdakit.emulator.webconsole import PREFIX, is_loopback

        if self._server is None or self.console is None:
            return None
        host = self.config.host if is_loopback(self.config.host) else "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{bound_port(self._server)}{PREFIX}/"

    def function_urls(self) -> dict[str, str]:
        """Function name -> its local Function URL (ending in /)."""
        return {name: self._address(server) + "/" for name, server in self._url_servers.items()}

    def _address(self, server: asyncio.Server) -> str:
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{bound_port(server)}"

    async def invoke(
        self, name: str, payload: bytes, **fields: str | None
    ) -> tuple[InvocationResult, PendingInvocation]:
        """Run one invocation of ``name`` in-process; returns the result and the invocation
        (its ``tail`` holds the log)."""
        pool = self.pool(name)
        if pool is None:
            raise EmulatorError(f"no function named {name!r}; functions: {', '.join(self.pools)}")
        if pool.spec.name not in self._prepared:  # not started: prepare what it runs
            await self.prepare([pool.spec.name])
        invocation = PendingInvocation(payload=payload, **fields)  # type: ignore[arg-type]
        return await pool.invoke(invocation), invocation

    async def serve_forever(self) -> None:
        """Serve until SIGINT or SIGTERM (or ``stop()``), then close everything. The signals
        are still handled while it closes: a second one stops at once (``hurry``)."""
        with self.capture_signals():
            await self._stopped.wait()
            await self.close()

    def stop(self) -> None:
        """Stop serving gracefully: each environment gets its Shutdown phase."""
        self._stopped.set()

    def hurry(self) -> None:
        """Stop at once: SIGKILL every environment now, so that ``close()`` waits for no grace
        period (what the environments started goes with them)."""
        self._hurried.set()
        for pool in self.pools.values():
            for environment in list(pool.environments):
                environment.stop_at_once()

    def _signalled(self, signum: int) -> None:
        if self._stopped.is_set():
            self.hurry()
            return
        self._warn("shutting down (press Ctrl-C again to stop at once)")
        self.stopped_by = signal.Signals(signum)
        self.stop()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGINT and SIGTERM call ``stop()`` the first time, ``hurry()`` after that."""
        loop = asyncio.get_running_loop()
        for signum in HANDLED_SIGNALS:
            loop.add_signal_handler(signum, self._signalled, signum)
        try:
            yield
        finally:
            for signum in HANDLED_SIGNALS:
                loop.remove_signal_handler(signum)

    async def close(self) -> None:
        """Stop listening, keep unfinished events, and shut every environment down, in a
        bounded time (``_end_environments``)."""
        if self._server is not None:
            self._server.close()
        for server in self._url_servers.values():
            server.close()
        if self.api_server is not None:
            self.api_server.close()
        for task in self.background:
            task.cancel()
        if self.console is not None:
            self.console.broadcaster.close()
        pending = await self.events.close()
        if pending:
            self._warn(
                f"{pending} event(s) not yet run were saved to "
                f"{self.config.state_dir / 'pending-events.jsonl'}; they run at the next start"
            )
        await self._end_environments()
        self._server = None
        self.printer.close(timeout=1.0)  # the last lines; a reader gets a second to take them

    async def _end_environments(self) -> None:
        """Every environment's Shutdown phase, given the grace period and CLOSE_MARGIN; then,
        or at once on a second signal, ``hurry()`` and HURRY_WAIT more at most: 0.75 s past
        the grace period (Lambda's is 2 s), whatever the functions left running."""
        closing = asyncio.gather(*(pool.close() for pool in self.pools.values()))
        hurried = asyncio.ensure_future(self._hurried.wait())
        limit = self.config.settings.shutdown_grace + CLOSE_MARGIN
        try:
            either: set[asyncio.Future[Any]] = {closing, hurried}
            await asyncio.wait(either, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
            if not closing.done():
                self.hurry()
                await asyncio.wait({closing}, timeout=HURRY_WAIT)
        finally:
            hurried.cancel()
        if closing.done():
            await closing  # a pool's error, as before
        else:
            self._warn("execution environments still ending were left behind")

    def _warn(self, text: str) -> None:
        console.warn(text)  # never blocks, even when nobody reads stderr


def _choose_limiter(configured: str | None) -> MemoryLimiter:
    """The limiter ``configured`` names, else LAMBDAKIT_MEMORY_LIMITS's, else the strongest."""
    named = os.environ.get("LAMBDAKIT_MEMORY_LIMITS") or None
    try:
        return choose_limiter(prefer=configured or named)
    except ValueError as error:
        source = "memory_limits" if configured else "LAMBDAKIT_MEMORY_LIMITS"
        raise EmulatorError(f"{source}: {error}") from error
