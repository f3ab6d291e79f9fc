"""The phases extensions bring, timed against AWS's documented limits
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-extensions-api.html, "Init phase",
"Invoke phase", "Shutdown phase"; lambda-runtime-environment.html):

- Init: the runtime starts once every external extension has registered; the init limit counts
  that time; an extension that never calls ``next`` times the init out.
- Invoke: the invocation ends when the runtime and every extension have called ``next`` again,
  and REPORT's Duration counts the extensions' time; the function's timeout bounds the whole
  phase, so an extension that never calls ``next`` times it out.
- Shutdown: none without extensions; with an internal one, SIGTERM and 500 ms for the runtime;
  with external ones, 2,000 ms in all, of which the runtime gets 300 ms (500 ms with an
  internal extension too) before the extensions' SHUTDOWN, then SIGKILL.

Bounds on time are lower bounds (a deadline is never early) or orderings of what the processes
wrote; the shutdown's shares are measured on a stand-in runtime process, with the documented
defaults."""

from __future__ import annotations

import asyncio
import io
import re
import signal
import time

import pytest

from lambdakit.emulator import Emulator, EmulatorConfig
from lambdakit.emulator.env_extensions import ExtensionPhases
from lambdakit.emulator.extensions import Agent
from lambdakit.emulator.invocations import Outcome
from lambdakit.emulator.reports import LogPrinter
from lambdakit.emulator.settings import Settings
from lambdakit.template import FunctionSpec
from tests.emulator.extension_scripts import TIMED_APP, function_with_extension, times

EARLY = 0.005  # asyncio may run a timer up to its clock's resolution early


def run(
    spec: FunctionSpec, tmp_path: object, events: list[bytes], *, init_timeout: float = 10.0
) -> tuple[list[tuple[Outcome, float]], str]:
    """EVENTS one after the other, then the emulator's close; each outcome with the time
    (epoch s) its result came back, and the log."""
    log = io.StringIO()
    config = EmulatorConfig(
        port=0, state_dir=tmp_path / "state",  # type: ignore[operator]
        settings=Settings(init_timeout=init_timeout),
    )  # fmt: skip
    emulator = Emulator([spec], config, printer=LogPrinter(log, color=False))

    async def scenario() -> list[tuple[Outcome, float]]:
        answers = []
        try:
            for event in events:
                result, _ = await asyncio.wait_for(emulator.invoke(spec.name, event), 60)
                answers.append((result.outcome, time.time()))
        finally:
            await asyncio.wait_for(emulator.close(), 30)
        return answers

    return asyncio.run(scenario()), log.getvalue()


def report(log: str, field: str, nth: int = 0) -> float:
    """FIELD (``Duration``, ``Init Duration``) of the NTH REPORT line, in ms."""
    lines = [line for line in log.splitlines() if "REPORT RequestId" in line]
    found = re.search(rf"\t{field}: ([\d.]+) ms", lines[nth])
    assert found, lines[nth]
    return float(found.group(1))


# --- Init ------------------------------------------------------------------------------------


def test_the_runtime_starts_once_a_slow_extension_registered(tmp_path: object) -> None:
    spec = function_with_extension(tmp_path, register_delay=1.0)  # type: ignore[arg-type]
    answers, log = run(spec, tmp_path, [b"{}"])
    assert answers[0][0] is Outcome.SUCCESS, log
    registered, started = times(log, "EXT registered")[0], times(log, "RUNTIME INIT")[0]
    assert registered <= started, log  # Lambda starts the runtime after the registrations
    assert report(log, "Init Duration") >= 1000, log  # the init counts the registration


def test_a_registration_slower_than_the_init_limit_times_the_init_out(tmp_path: object) -> None:
    spec = function_with_extension(tmp_path, register_delay=30, timeout=2)  # type: ignore[arg-type]
    answers, log = run(spec, tmp_path, [b"{}"], init_timeout=1.0)
    assert answers[0][0] is not Outcome.SUCCESS, log
    assert "INIT_REPORT Init Duration: 1000.00 ms\tPhase: init\tStatus: timeout" in log, log
    assert "RUNTIME INIT" not in log, log  # never started: an extension had not registered


def test_an_extension_that_never_calls_next_times_the_init_out(tmp_path: object) -> None:
    spec = function_with_extension(tmp_path, first_next=False, timeout=2)  # type: ignore[arg-type]
    answers, log = run(spec, tmp_path, [b"{}"], init_timeout=1.0)
    assert answers[0][0] is not Outcome.SUCCESS, log
    assert "Phase: init\tStatus: timeout" in log, log
    assert "RUNTIME INIT" in log, log  # the runtime ran; the extension held the init open


# --- Invoke ----------------------------------------------------------------------------------


def test_an_invocation_lasts_until_a_slow_extension_calls_next(tmp_path: object) -> None:
    spec = function_with_extension(tmp_path, next_delay=1.0)  # type: ignore[arg-type]
    answers, log = run(spec, tmp_path, [b"{}", b"{}"])
    assert [outcome for outcome, _ in answers] == [Outcome.SUCCESS] * 2, log
    done = times(log, "EXT DONE")
    for (_, answered), finished in zip(answers, done, strict=True):
        assert answered < finished, log  # the caller has its answer before the extension ends
    for n, request_id in enumerate(re.findall(r"END RequestId: (\S+)", log)):
        assert log.index(f"EXT DONE {request_id}") < log.index(f"END RequestId: {request_id}")
        assert report(log, "Duration", n) >= 1000, log  # REPORT counts the extension's time


def test_an_extension_that_never_calls_next_times_the_invocation_out(tmp_path: object) -> None:
    spec = function_with_extension(tmp_path, hang_on_invoke=True, timeout=2)  # type: ignore[arg-type]
    answers, log = run(spec, tmp_path, [b"{}", b"{}"])
    # The runtime answered: the caller has its result; the Invoke phase still times out.
    assert [outcome for outcome, _ in answers] == [Outcome.SUCCESS] * 2, log
    assert log.count("Task timed out after 2.00 seconds") == 2, log
    first = next(line for line in log.splitlines() if "REPORT RequestId" in line)
    assert "Status: timeout" in first and report(log, "Duration") >= 2000, log
    assert report(log, "Init Duration", 1) > 0, log  # the environment was replaced: cold start
    assert log.count("RUNTIME INIT") == 2, log
    assert "Killed" not in log, log


# --- Shutdown: the shares of the deadline, on a stand-in runtime ------------------------------


class StandIn:
    """The RuntimeProcess calls of the Shutdown phase, timed: the runtime ignores SIGTERM
    unless EXITS, the extensions never exit."""

    def __init__(self, *, exits: bool) -> None:
        self.calls: list[tuple[str, float]] = []
        self.exits = exits
        self.started = 0.0
        self._exit: asyncio.Future[int] | None = None

    def _note(self, what: str) -> None:
        self.calls.append((what, time.monotonic() - self.started))

    def signal(self, signum: int) -> None:
        self._note(signal.Signals(signum).name)
        if signum == signal.SIGTERM and self.exits:
            self._exited().set_result(0)

    def kill_runtime(self) -> None:
        self._note("kill runtime")
        if not self._exited().done():
            self._exited().set_result(-9)

    def _exited(self) -> asyncio.Future[int]:
        if self._exit is None:
            self._exit = asyncio.get_running_loop().create_future()
        return self._exit

    async def wait(self) -> int:
        return await self._exited()

    async def ended(self) -> None:
        await asyncio.Event().wait()  # the extensions never exit: SIGKILL at the deadline

    def extension_groups(self) -> dict[str, int]:
        return {}


def shutdown_phase(
    *, external: bool, internal: bool, exits: bool = False
) -> tuple[list[tuple[str, float]], list[tuple[dict[str, object], float]], float]:
    """The Shutdown phase (reason spindown) with the documented defaults; the stand-in's
    calls, the SHUTDOWN events the external extension received (with when), and the epoch
    time the phase began."""
    stand_in = StandIn(exits=exits)
    phases = ExtensionPhases(stand_in, Settings(), dict)  # type: ignore[arg-type]
    received: list[tuple[dict[str, object], float]] = []

    async def listen(agent: Agent) -> None:
        event = await agent.next()
        received.append((event, time.monotonic() - stand_in.started))

    async def scenario() -> float:
        agents = [Agent("ext", frozenset({"INVOKE", "SHUTDOWN"}), external=True)] * external
        agents += [Agent("internal", frozenset({"INVOKE"}), external=False)] * internal
        for agent in agents:
            phases.extensions.agents[agent.id] = agent
        listening = [asyncio.create_task(listen(agent)) for agent in agents[:external]]
        began = time.time()
        stand_in.started = time.monotonic()
        await phases.spindown()
        for task in listening:
            task.cancel()
        return began

    began = asyncio.run(scenario())
    return stand_in.calls, received, began


def test_the_documented_shutdown_limits_are_the_defaults() -> None:
    settings = Settings()
    assert (settings.runtime_share, settings.runtime_share_internal) == (0.3, 0.5)
    assert settings.shutdown_grace == 2.0


@pytest.mark.parametrize(("internal", "share"), [(False, 0.3), (True, 0.5)])
def test_external_extensions_get_2000_ms_the_runtime_its_share(
    internal: bool, share: float
) -> None:
    calls, received, began = shutdown_phase(external=True, internal=internal)
    assert [what for what, _ in calls] == ["SIGTERM", "kill runtime", "SIGKILL"], calls
    assert calls[1][1] >= share - EARLY  # the runtime's share, then SIGKILL
    ((event, at),) = received
    assert at >= calls[1][1]  # the extensions' SHUTDOWN only once the runtime's share is over
    assert event["shutdownReason"] == "spindown"
    deadline = int(event["deadlineMs"])  # type: ignore[call-overload]
    assert int(began * 1000) + 2000 <= deadline <= int(began * 1000) + 2000 + int(at * 1000) + 1
    assert calls[2][1] >= 2.0 - EARLY  # the rest is the extensions', then SIGKILL


def test_an_internal_extension_gives_the_runtime_500_ms() -> None:
    calls, received, _ = shutdown_phase(external=False, internal=True)
    assert [what for what, _ in calls] == ["SIGTERM", "kill runtime", "SIGKILL"], calls
    assert calls[1][1] >= 0.5 - EARLY
    assert received == []  # internal extensions cannot subscribe to SHUTDOWN


def test_a_runtime_that_exits_at_once_brings_the_shutdown_event_forward() -> None:
    calls, received, _ = shutdown_phase(external=True, internal=False, exits=True)
    assert [what for what, _ in calls] == ["SIGTERM", "SIGKILL"], calls  # no kill: it exited
    ((event, _at),) = received
    assert event["eventType"] == "SHUTDOWN"


# --- Shutdown, with real processes -------------------------------------------------------------


def test_an_extension_that_never_returns_is_killed_at_the_deadline(tmp_path: object) -> None:
    """The runtime ignores SIGTERM and the extension its SHUTDOWN: the runtime is killed first
    (its share), the extension, still running past its SHUTDOWN, at the 2,000 ms deadline."""
    spec = function_with_extension(tmp_path, hang_on_shutdown=True, app=TIMED_APP)  # type: ignore[arg-type]
    started = time.time()
    answers, log = run(spec, tmp_path, [b"{}"])
    closed = time.time()
    assert answers[0][0] is Outcome.SUCCESS, log
    (shutdown,) = [line for line in log.splitlines() if "EXT SHUTDOWN" in line]
    *_, reason, deadline, received = shutdown.split()
    assert reason == "spindown", log
    assert started * 1000 + 2000 <= int(deadline) <= closed * 1000, log
    assert times(log, "RUNTIME ALIVE")[-1] < float(received), log  # killed before SHUTDOWN
    assert times(log, "EXT ALIVE")[-1] >= float(received), log  # ran on past its SHUTDOWN
    assert closed - started >= 2.0, log  # it never exited: the whole deadline went by
    assert "EXT EXIT" not in log, log
    assert "Killed" not in log, log  # no shell's word on how the runtime ended (Lambda has none)
