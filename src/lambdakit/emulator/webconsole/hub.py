"""The hub: what the emulator tells the browser console, kept cheaply whether a console is open
or not.

The emulator calls it once per event (``Observer``): an invocation accepted, refused or
ended, an environment that changed state, a log line printed. Each call stores references and
a few numbers in bounded deques (the last ``INVOCATIONS`` invocations, the last ``LOG_LINES``
lines); nothing is parsed or serialised until a console asks (``invocations``, ``logs``) or a
console follows the stream (``stream.Broadcaster``, told of what changed only while one is
connected).
"""

from __future__ import annotations

import collections
import time
from typing import TYPE_CHECKING, Protocol

from lambdakit.emulator.concurrency import Throttled
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.webconsole import logparse
from lambdakit.emulator.webconsole.records import EnvRecord, InvocationRecord

if TYPE_CHECKING:
    from lambdakit.emulator.environments import ExecutionEnvironment
    from lambdakit.emulator.invocations import PendingInvocation
    from lambdakit.emulator.reports import LogLine
    from lambdakit.emulator.webconsole.records import EnvironmentJson

__all__ = ["INVOCATIONS", "LOG_LINES", "Hub", "LogJson", "Observer", "Watcher"]

INVOCATIONS = 1000
LOG_LINES = 5000
# EnvState's values as the console names them (the others are the console's own).
_STATES = {"starting": "initializing", "idle": "idle", "busy": "busy", "dead": "gone"}

LogJson = dict[str, object]
"""One log line as the console gets it (console_contract.md: Log)."""


class Observer(Protocol):
    """What the emulator tells the hub (scheduler.py, environments.py, reports.py)."""

    def invocation_started(
        self, function: str, memory_mb: int, invocation: PendingInvocation
    ) -> None: ...
    def invocation_refused(self, invocation: PendingInvocation, error: Exception) -> None: ...
    def environment_changed(self, environment: ExecutionEnvironment, state: str) -> None: ...
    def invocation_ended(
        self, environment: ExecutionEnvironment, invocation: PendingInvocation, status: str | None,
        duration_ms: float, init_ms: float | None,
    ) -> None: ...  # fmt: skip


class Watcher(Protocol):
    """A follower of the hub's changes (``stream.Broadcaster``), told only while it watches."""

    def invocation_changed(self, record: InvocationRecord) -> None: ...
    def environment_changed(self, snapshot: EnvironmentJson) -> None: ...


class Hub:
    """Records invocations, environments and log lines for the console (module docstring)."""

    def __init__(self) -> None:
        self._invocations: collections.deque[InvocationRecord] = collections.deque()
        self._by_id: dict[str, InvocationRecord] = {}
        self.environments: dict[ExecutionEnvironment, EnvRecord] = {}
        # What the printer was given: a LogLine may hold several lines (a pipe's read).
        self._raw: collections.deque[LogLine] = collections.deque(maxlen=LOG_LINES)
        self._count = 0  # LogLines ever added
        self._parsed: collections.deque[LogJson] = collections.deque(maxlen=LOG_LINES)
        self._parsed_upto = 0  # the number of the first LogLine not parsed yet
        self.next_seq = 0  # the seq of the next line parsed
        self._current: dict[str, str] = {}  # environment id -> request id between START and END
        self.watcher: Watcher | None = None
        self.started = time.time()

    # --- Observer ----------------------------------------------------------------------------

    def invocation_started(
        self, function: str, memory_mb: int, invocation: PendingInvocation
    ) -> None:
        record = InvocationRecord(function, memory_mb, invocation)
        if len(self._invocations) >= INVOCATIONS:
            old = self._invocations.popleft()
            if self._by_id.get(old.request_id) is old:
                del self._by_id[old.request_id]
        self._invocations.append(record)
        self._by_id[record.request_id] = record  # an event's retries: its latest attempt
        if self.watcher is not None:
            self.watcher.invocation_changed(record)

    def invocation_refused(self, invocation: PendingInvocation, error: Exception) -> None:
        """The pool refused INVOCATION or gave up on it before it ran (ERROR: throttled, the
        emulator shutting down, its environment not starting): it ends with the error type the
        Invoke API answered (``invoke_api._run``: 429 for ``Throttled``, else 500
        ServiceException)."""
        if isinstance(error, Throttled):
            error_type = "TooManyRequestsException"
        elif isinstance(error, EmulatorError):
            error_type = "ServiceException"
        else:
            error_type = type(error).__name__
        self._refused(invocation, error_type, str(error))

    def _refused(self, invocation: PendingInvocation, error_type: str, message: str) -> None:
        record = self._by_id.get(invocation.request_id)
        if record is not None and record.invocation is invocation:  # once (not if it ran)
            record.refuse(error_type, message)
            if self.watcher is not None:
                self.watcher.invocation_changed(record)

    def environment_changed(self, environment: ExecutionEnvironment, state: str) -> None:
        """STATE: an ``EnvState`` value, ``frozen`` or ``shutting-down``."""
        record = self.environments.get(environment)
        if record is None:
            record = self.environments[environment] = EnvRecord(
                environment.spec.name, environment.id
            )
        record.state = _STATES.get(state, state)
        record.since = time.time()
        if record.pid is None:
            process = environment.runtime.process
            record.pid = process.pid if process is not None else None
        if state == "busy":
            self._delivered(environment, record)
        elif state == "dead":
            del self.environments[environment]
        if self.watcher is not None:
            self.watcher.environment_changed(record.to_json())

    def _delivered(self, environment: ExecutionEnvironment, env: EnvRecord) -> None:
        invocation = environment.current()
        record = self._by_id.get(invocation.request_id) if invocation is not None else None
        env.invocations += 1
        if record is not None and record.invocation is invocation:
            record.environment = environment.id
            # A cold start: the environment's first invocation, unless it was provisioned.
            record.cold = env.invocations == 1 and not environment.provisioned
            if self.watcher is not None:
                self.watcher.invocation_changed(record)

    def invocation_ended(
        self,
        environment: ExecutionEnvironment,
        invocation: PendingInvocation,
        status: str | None,
        duration_ms: float,
        init_ms: float | None,
    ) -> None:
        record = self._by_id.get(invocation.request_id)
        if record is None or record.invocation is not invocation:
            return
        record.environment = environment.id
        record.end_status = status
        record.duration_ms = duration_ms
        record.init_ms = init_ms
        record.cold = record.cold or init_ms is not None
        record.max_memory_mb = environment.records.max_memory_mb
        record.settle()
        if self.watcher is not None:
            self.watcher.invocation_changed(record)

    def log(self, line: LogLine) -> None:
        """A line printed (``reports.LogPrinter.tap``)."""
        self._raw.append(line)
        self._count += 1

    # --- queries -------------------------------------------------------------------------------

    def invocation(self, request_id: str) -> InvocationRecord | None:
        return self._by_id.get(request_id)

    def invocations(self, function: str | None = None, limit: int = 200) -> list[InvocationRecord]:
        """Newest first."""
        found: list[InvocationRecord] = []
        for record in reversed(self._invocations):
            if len(found) >= limit:
                break
            if function is None or record.function == function:
                found.append(record)
        return found

    def logs(
        self,
        *,
        function: str | None = None,
        request_id: str | None = None,
        level: str | None = None,
        limit: int = 500,
    ) -> list[LogJson]:
        """The newest LIMIT lines that match, oldest first. LEVEL: that level or worse."""
        self.parse()
        found: list[LogJson] = []
        for entry in reversed(self._parsed):
            if len(found) >= limit:
                break
            if function is not None and entry["function"] != function:
                continue
            if request_id is not None and entry["request_id"] != request_id:
                continue
            if level is not None and not logparse.at_least(entry["level"], level):  # type: ignore[arg-type]
                continue
            found.append(entry)
        found.reverse()
        return found

    def lines_since(self, seq: int) -> list[LogJson]:
        """The lines whose seq is SEQ or later (those still kept), oldest first."""
        self.parse()
        newer: list[LogJson] = []
        for entry in reversed(self._parsed):
            if int(entry["seq"]) < seq:  # type: ignore[call-overload]
                break
            newer.append(entry)
        newer.reverse()
        return newer

    def parse(self) -> None:
        """Parse what was added since the last call, one entry per line (the oldest, if more
        than LOG_LINES came meanwhile, were dropped unparsed)."""
        first = self._count - len(self._raw)  # the number of the oldest LogLine kept
        for number in range(max(self._parsed_upto, first), self._count):
            line = self._raw[number - first]
            for text in line.text.split("\n"):
                self._parsed.append(self._parse(line, text))
        self._parsed_upto = self._count

    def _parse(self, line: LogLine, text: str) -> LogJson:
        platform = line.stream == "platform"
        level, request_id = logparse.parse(text, platform=platform)
        env = line.env_id
        if platform and request_id is not None:
            head = text[:60]  # JSON: {"time":"<24 characters>","type":"platform.start"
            if head.startswith("START ") or '"platform.start"' in head:
                self._current[env] = request_id
            elif head.startswith(("END ", "REPORT ")) or '"platform.r' in head:
                self._current.pop(env, None)
        elif request_id is None:
            request_id = self._current.get(env)
        seq, self.next_seq = self.next_seq, self.next_seq + 1
        return {
            "seq": seq,
            "time": int(line.time * 1000),
            "function": line.function,
            "environment": env,
            "request_id": request_id,
            "level": level,
            "stream": line.stream,
            "text": text,
        }
