"""The local API Gateway's listener: every REST and HTTP API of the template on one port, as
``sam local start-api`` serves them (its default port, 3000; the stage optional in the path).

``ApiServer`` is what the emulator starts when the template has APIs: it builds the
``Gateway`` (the per-request work), the Lambda authorizers (``apis.authorizers``), listens, and
describes what it serves for the start-up output: each API with its base URL and a table of its
routes (method, path, function, payload format, authorizer), and a warning for each authorizer
that does not run locally (Cognito, IAM, JWT: the requests pass).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from lambdakit.emulator import reports
from lambdakit.emulator._http import bound_port, start_server
from lambdakit.emulator.apis.gateway import Gateway
from lambdakit.emulator.errors import EmulatorError, cannot_listen
from lambdakit.emulator.invocations import PendingInvocation, StreamTooLarge
from lambdakit.template.apis import ApiSpec, RouteSpec

if TYPE_CHECKING:
    from lambdakit.emulator.apis.authorizers import Authorizers
    from lambdakit.emulator.scheduler import FunctionPool

__all__ = ["DEFAULT_API_PORT", "ApiServer", "RequestLog", "route_table"]

DEFAULT_API_PORT = 3000  # sam local start-api's


class ApiServer:
    """The APIs of a template, served on one listener."""

    def __init__(
        self,
        apis: Sequence[ApiSpec],
        pools: Mapping[str, FunctionPool],
        *,
        region: str,
        account_id: str,
        log: Callable[[str], None],
        warn: Callable[[str], None],
    ) -> None:
        self.apis = [api for api in apis if api.routes]
        self.pools = pools
        self.warn = warn
        self._request_log = RequestLog(log)
        self.gateway = Gateway(
            self.apis, pools, region=region, account_id=account_id,
            authorizers=self._authorizers(), log=self._request_log, warn=warn,
        )  # fmt: skip
        self._server: asyncio.Server | None = None
        self._host = "127.0.0.1"

    def _authorizers(self) -> Authorizers | None:
        """The Lambda authorizers, when any route has one that runs locally."""
        runnable = any(
            spec.runnable
            for api in self.apis
            for route in api.routes
            if (spec := api.authorizers.get(route.authorizer or "")) is not None
        )
        if not runnable:
            return None
        from lambdakit.emulator.apis.authorizers import Authorizers

        return Authorizers(self.apis, self._invoke, warn=self.warn)

    async def _invoke(self, name: str, event: bytes) -> tuple[bool, bytes]:
        """An authorizer function's answer: (succeeded, payload), buffered."""
        pool = self.pools.get(name)
        if pool is None:
            return False, json.dumps({"errorMessage": f"no function {name!r}"}).encode()
        try:
            result = await pool.invoke(PendingInvocation(payload=event, qualifier=pool.spec.alias))
            if result.stream is None:
                return not result.function_error, result.body
            body = await result.stream.read_all()
            return result.stream.error_type is None, body
        except (EmulatorError, StreamTooLarge) as error:
            self.warn(f"authorizer {name}: {error}")
            return False, b""

    async def start(self, host: str, port: int) -> None:
        self._host = host
        # REST events keep header names as the client sent them (API Gateway REST does).
        try:
            self._server = await start_server(
                self.gateway.handle, host, port, keep_header_case=True
            )
        except OSError as error:  # said here: the Invoke API's port is another one
            hint = "choose another port with --api-port (0: any free port)"
            raise cannot_listen(host, port, "the template's APIs", hint, error) from error

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self._request_log.close()

    @property
    def url(self) -> str:
        if self._server is None:
            raise EmulatorError("the API server is not started")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{bound_port(self._server)}"

    def describe(self) -> list[str]:
        """Each API with its base URL and its routes, for the start-up output."""
        lines: list[str] = []
        base = self.url
        for api in self.apis:
            if api.stage_name == "$default":
                lines.append(f"{api.logical_id} ({api.kind} API): {base}")
            else:
                lines.append(
                    f"{api.logical_id} ({api.kind} API, stage {api.stage_name}): "
                    f"{base}/{api.stage_name} (the stage is optional: {base})"
                )
            lines += ["  " + row for row in route_table(api)]
        return lines

    def unenforced(self) -> list[str]:
        """Warnings for the authorizers that do not run locally, one per authorizer in use."""
        warnings = []
        for api in self.apis:
            used = {route.authorizer for route in api.routes if route.authorizer}
            for name in sorted(used):
                spec = api.authorizers.get(name)
                if spec is not None and not spec.runnable:
                    warnings.append(
                        f"{api.logical_id} authorizer {name} ({spec.kind}) is not run locally: "
                        "requests to its routes pass without it"
                    )
        return warnings


class RequestLog:
    """The request lines (``GET /hello 200 0.9 ms``), handed to LOG in batches, as
    ``reports.LogPrinter`` hands over the functions' lines and with its delays: a line
    written at once wakes the console writer's thread for each request, ~6 more context
    switches and ~0.1 ms more CPU a request than through the Function URL, the largest part
    of the gap bench/api.py measured. Each line is still written whole, in order; after
    ``close`` at once."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._pending: list[str] = []
        self._batch_began = -math.inf  # loop time at which the last batch began
        self._closed = False

    def __call__(self, text: str) -> None:
        if self._closed:
            self._log(text)
            return
        self._pending.append(text)
        if len(self._pending) == 1:
            self._flush_soon()

    def _flush_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        now = loop.time()
        busy = now - self._batch_began < reports.LogPrinter.BUSY_WINDOW
        self._batch_began = now
        printer = reports.LogPrinter
        loop.call_later(printer.BUSY_FLUSH_DELAY if busy else printer.FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Hand the lines logged so far to LOG."""
        lines, self._pending = self._pending, []
        for line in lines:
            self._log(line)

    def close(self) -> None:
        """Flush, and log later lines at once (the event loop may not run the timer)."""
        self._closed = True
        self.flush()


def route_table(api: ApiSpec) -> list[str]:
    """The routes as aligned columns: method, path, function, payload format, authorizer."""
    header = ("METHOD", "PATH", "FUNCTION", "PAYLOAD", "AUTHORIZER")
    rows = [header, *(_row(api, route) for route in api.routes)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            for row in rows]  # fmt: skip


def _row(api: ApiSpec, route: RouteSpec) -> tuple[str, str, str, str, str]:
    method = "" if route.is_default else route.method
    payload: str = route.payload_format_version
    if route.transfer_mode == "STREAM":
        payload += " (stream)"
    authorizer = "-"
    if route.authorizer:
        spec = api.authorizers.get(route.authorizer)
        kind = spec.kind if spec else "?"
        authorizer = f"{route.authorizer} ({kind}{'' if spec and spec.runnable else ', not run'})"
    return (method or "*", route.path, route.function, payload, authorizer)
