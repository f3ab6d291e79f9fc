"""The Extensions API (2020-01-01) of one execution environment, and the gates its phases wait on.

Routes, headers, bodies and error types are Lambda's
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html; RIE's
``rapi/handler/agent*.go``; reference §2.1):

- ``POST /2020-01-01/extension/register``: ``Lambda-Extension-Name`` is the executable's file
  name for an external extension (one of /opt/extensions, started by the emulator:
  extension_launcher.py); any other name registers an internal one (the runtime's own
  thread), which may subscribe to INVOKE only. At most 10; closed once the runtime has first
  asked for work (``Extension.RegistrationClosed``).
- ``GET /2020-01-01/extension/event/next``: the next INVOKE or SHUTDOWN event.
- ``POST /2020-01-01/extension/init/error`` and ``.../exit/error``: 202; the init, or the
  environment, then fails once the extension exits (``Extension.InitError`` /
  ``Extension.ExitError``; an exit without either is ``Extension.Crash``).

The phases (lambda-runtime-environment.html): init ends when the runtime and every registered
extension have called ``next``; an invocation ends when the runtime has answered and every
extension subscribed to INVOKE has called ``next`` again: ``settled()`` is that gate.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Any

from lambdakit.emulator._http import Request, Response, json_response

__all__ = ["PREFIX", "Agent", "ExtensionFailure", "Extensions", "ExtensionsAPI"]

PREFIX = "/2020-01-01/extension/"
MAX_EXTENSIONS = 10
NAME, IDENTIFIER = "lambda-extension-name", "lambda-extension-identifier"
ERROR_TYPE = "lambda-extension-function-error-type"
EVENTS = ("INVOKE", "SHUTDOWN")


class ExtensionFailure(Exception):
    """An extension ended an environment's init or invocation; ``error_type`` is Lambda's."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class AgentState(Enum):
    """Where a registered extension is."""

    BUSY = "busy"
    """Registered, or handed an event, and it has not called ``next`` since."""
    READY = "ready"
    """Waiting in ``next`` (or about to): it holds no phase open."""
    EXITED = "exited"
    """Its process ended (external extensions)."""


class Agent:
    """One registered extension."""

    def __init__(self, name: str, events: frozenset[str], *, external: bool) -> None:
        self.name = name
        self.id = str(uuid.uuid4())
        self.events = events
        self.external = external
        self.state = AgentState.BUSY
        self.error_type: str | None = None  # what init/error or exit/error reported
        self._pending: deque[dict[str, Any]] = deque()
        self._waiter: asyncio.Future[dict[str, Any]] | None = None

    def give(self, event: dict[str, Any]) -> None:
        self.state = AgentState.BUSY
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(event)
        else:
            self._pending.append(event)

    async def next(self) -> dict[str, Any]:
        if self._pending:
            self.state = AgentState.BUSY
            return self._pending.popleft()
        self._waiter = asyncio.get_running_loop().create_future()
        return await self._waiter

    def cancel(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()


class Extensions:
    """The extensions of one environment: who registered, who holds a phase open.
    EXTERNAL are the file names of the extensions the emulator started."""

    def __init__(self, external: tuple[str, ...], metadata: Callable[[], dict[str, str]]) -> None:
        self.external = external
        self.metadata = metadata
        self.agents: dict[str, Agent] = {}
        self.closed = False
        self.failure: ExtensionFailure | None = None
        self._changed: asyncio.Future[None] | None = None
        # Given the SHUTDOWN's deadline (epoch seconds) before an extension gets its SHUTDOWN:
        # the Telemetry API delivers what it has buffered first (telemetry_hub.py).
        self.before_shutdown: Callable[[float], Awaitable[None]] | None = None

    # --- who is there ------------------------------------------------------------------------

    def any(self) -> bool:
        return bool(self.agents)

    def internal(self) -> bool:
        return any(not agent.external for agent in self.agents.values())

    def external_agents(self) -> list[Agent]:
        return [agent for agent in self.agents.values() if agent.external]

    def subscribed(self, event: str) -> list[Agent]:
        return [agent for agent in self.agents.values() if event in agent.events]

    def all_external_registered(self) -> bool:
        names = {agent.name for agent in self.external_agents()}
        return all(name in names for name in self.external)

    # --- the gates ---------------------------------------------------------------------------

    def _notify(self) -> None:
        """Wake every waiter of ``until``: they share one future, made anew after each wake."""
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None

    async def until(self, condition: Callable[[], bool]) -> None:
        """Wait until CONDITION holds; an extension's failure raises ExtensionFailure. Several
        may wait at once (the invocation's END, the runtime's next poll, a shutdown): they
        share the future ``_notify`` resolves; one waiter's cancellation (a bounded wait
        running out) must not cancel it for the others, hence the shield."""
        while True:
            if self.failure is not None:
                raise self.failure
            if condition():
                return
            if self._changed is None or self._changed.done():
                self._changed = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._changed)

    def settled(self) -> bool:
        """No extension holds the phase open: each has called ``next`` since its last event."""
        return all(agent.state is not AgentState.BUSY for agent in self.agents.values())

    def fail(self, failure: ExtensionFailure) -> None:
        if self.failure is None:
            self.failure = failure
        self._notify()

    def close(self) -> None:
        """The environment ended: no one waits any more."""
        for agent in self.agents.values():
            agent.cancel()
        if self._changed is not None and not self._changed.done():
            self._changed.cancel()

    # --- events ------------------------------------------------------------------------------

    def dispatch(self, event: dict[str, Any], *, external_only: bool = False) -> list[Agent]:
        """EVENT to every extension subscribed to it; the ones it went to."""
        agents = [a for a in self.subscribed(event["eventType"]) if a.external or not external_only]
        for agent in agents:
            if agent.state is not AgentState.EXITED:
                agent.give(event)
        self._notify()
        return agents

    def exited(self, name: str, returncode: int) -> Agent | None:
        """The external extension NAME's process ended; the agent, if it had registered."""
        for agent in self.external_agents():
            if agent.name == name:
                agent.state = AgentState.EXITED
                self._notify()
                return agent
        return None


def _error(status: int, error_type: str, message: str) -> Response:
    return json_response(status, {"errorMessage": message, "errorType": error_type})


class ExtensionsAPI:
    """The ``/2020-01-01/extension/`` routes of one environment's Runtime API listener."""

    def __init__(self, extensions: Extensions) -> None:
        self.extensions = extensions

    async def handle(self, request: Request) -> Response:
        action = request.path[len(PREFIX) :]
        routes = {
            "register": ("POST", self.register), "event/next": ("GET", self.next),
            "init/error": ("POST", self.init_error), "exit/error": ("POST", self.exit_error),
        }  # fmt: skip
        if action not in routes:
            return _error(404, "NotFound", f"no Extensions API endpoint at {request.path}")
        method, endpoint = routes[action]
        if request.method != method:
            return _error(405, "MethodNotAllowed", f"{request.method} not allowed")
        return await endpoint(request)

    async def register(self, request: Request) -> Response:
        name = request.header(NAME) or ""
        if not name:
            return _error(403, "Extension.InvalidExtensionName", "Empty extension name")
        try:
            body = json.loads(await request.body(limit=64 * 1024) or b"{}")
            events = body.get("events") or []
            if not isinstance(events, list) or body.get("configurationKeys"):
                raise ValueError("events must be a list; configurationKeys are not supported")
        except (ValueError, AttributeError) as error:
            return _error(403, "InvalidRequestFormat", str(error))
        extensions = self.extensions
        external = name in extensions.external and name not in {
            a.name for a in extensions.agents.values()
        }
        allowed = EVENTS if external else ("INVOKE",)
        for event in events:
            if event not in allowed:
                reason = (
                    "ShutdownEventNotSupportedForInternalExtension"
                    if event == "SHUTDOWN"
                    else "ErrorInvalidEventType"
                )
                return _error(403, "Extension.InvalidEventType", f"{event}: {reason}")
        if extensions.closed and not external:
            return _error(
                403, "Extension.RegistrationClosed", "Extension registration closed already"
            )
        if any(agent.name == name for agent in extensions.agents.values()):
            return _error(
                403,
                "Extension.InvalidExtensionState",
                "Extension with this name already registered",
            )
        if len(extensions.agents) >= MAX_EXTENSIONS:
            return _error(
                403, "Extension.TooManyExtensions", f"Extension limit ({MAX_EXTENSIONS}) reached"
            )
        agent = Agent(name, frozenset(events), external=external)
        extensions.agents[agent.id] = agent
        extensions._notify()
        document = dict(extensions.metadata())
        account = document.pop("accountId")
        if "accountId" in (request.header("lambda-extension-accept-feature") or ""):
            document["accountId"] = account
        return json_response(200, document, [("Lambda-Extension-Identifier", agent.id)])

    def _agent(self, request: Request) -> tuple[Agent | None, Response]:
        return identify(self.extensions, request)

    async def next(self, request: Request) -> Response:
        agent, refusal = self._agent(request)
        if agent is None:
            return refusal
        if agent.error_type is not None:  # after init/error or exit/error, no call succeeds
            return _error(403, "Extension.InvalidExtensionState", "State transition from "
                          f"Error to Ready failed for extension {agent.id}")  # fmt: skip
        agent.state = AgentState.READY
        self.extensions._notify()
        event = await agent.next()
        if event["eventType"] == "SHUTDOWN" and self.extensions.before_shutdown is not None:
            await self.extensions.before_shutdown(event["deadlineMs"] / 1000)
        headers = [("Lambda-Extension-Event-Identifier", str(uuid.uuid4()))]
        return json_response(200, event, headers)

    async def init_error(self, request: Request) -> Response:
        return await self._error_report(request, "Extension.InitError")

    async def exit_error(self, request: Request) -> Response:
        return await self._error_report(request, "Extension.ExitError")

    async def _error_report(self, request: Request, fatal: str) -> Response:
        agent, refusal = self._agent(request)
        if agent is None:
            return refusal
        if not request.header(ERROR_TYPE):
            return _error(403, "Extension.MissingHeader",
                          "Lambda-Extension-Function-Error-Type not found")  # fmt: skip
        await request.body(limit=1024 * 1024)
        agent.error_type = fatal
        if not agent.external:  # no process of its own to wait for: it fails the phase now
            self.extensions.fail(
                ExtensionFailure(fatal, f"extension {agent.name} reported {fatal}")
            )
        return json_response(202, {"status": "OK"})


def identify(extensions: Extensions, request: Request) -> tuple[Agent | None, Response]:
    """The registered extension REQUEST names (``Lambda-Extension-Identifier``), or None and
    AWS's refusal (403 ``Extension.*``, as RIE answers it); for the Extensions API and the
    Telemetry and Logs APIs alike."""
    identifier = request.header(IDENTIFIER)
    if not identifier:
        return None, _error(403, "Extension.MissingExtensionIdentifier",
                            "Missing Lambda-Extension-Identifier header")  # fmt: skip
    try:
        uuid.UUID(identifier)
    except ValueError:
        return None, _error(403, "Extension.InvalidExtensionIdentifier",
                            "Invalid Lambda-Extension-Identifier")  # fmt: skip
    agent = extensions.agents.get(identifier)
    if agent is None:
        return None, _error(403, "Extension.UnknownExtensionIdentifier",
                            f"Unknown extension {identifier}")  # fmt: skip
    return agent, Response(202)
