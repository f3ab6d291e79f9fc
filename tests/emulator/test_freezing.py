"""Environments are frozen between invocations, as on Lambda: a function's background thread or
timer does not run from the end of one invocation to the start of the next; its SIGTERM handler
still runs at shutdown; an invocation that comes right after a freeze is answered. Both
mechanisms: the cgroup v2 freezer (with the memory limit's cgroup v2, or, on a hybrid host whose
memory controller is on cgroup v1, each environment's cgroup in the unified hierarchy) and
SIGSTOP to the process group (forced with LAMBDAKIT_FREEZE=signal).

Whether a process is frozen is read from the kernel (its cgroup's ``cgroup.events``, or the
``T`` state in /proc), not from the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdakit.emulator import Emulator, EmulatorConfig, freezing
from lambdakit.emulator.invocations import Outcome
from lambdakit.emulator.limits import (
    MemoryLimiter,
    Unavailable,
    choose_limiter,
    locate_cgroup,
)
from lambdakit.emulator.reports import LogPrinter
from lambdakit.template import FunctionSpec, function_from_directory

FUNCTION = Path(__file__).parent.parent / "functions" / "freezing"
GAP = 1.0  # seconds between the two invocations
MARGIN = 0.25  # freezing and thawing happen within this of an invocation's end and start


# --- the kernel's view -------------------------------------------------------------------------


def _read(path: str) -> str:
    with open(path) as file:
        return file.read()


def frozen(pid: int) -> bool:
    """Whether the kernel holds PID frozen: by its cgroup v2's freezer or stopped (SIGSTOP)."""
    try:
        where = locate_cgroup(2, _read(f"/proc/{pid}/cgroup"), _read("/proc/self/mountinfo"))
        if "frozen 1" in _read(str(where.path / "cgroup.events")).splitlines():
            return True
    except (OSError, Unavailable):
        pass
    try:
        return _read(f"/proc/{pid}/stat").rpartition(")")[2].split()[0] == "T"
    except (OSError, IndexError):
        return False


async def until_frozen(pid: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not frozen(pid):
        assert time.monotonic() < deadline, f"process {pid} was not frozen"
        await asyncio.sleep(0.01)


# --- the mechanisms ----------------------------------------------------------------------------


@pytest.fixture(params=["cgroup", "signal"])
def limiter(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The memory limiter an emulator is given, with LAMBDAKIT_FREEZE set so that the
    mechanism of the parameter is the one in force."""
    if request.param == "signal":
        monkeypatch.setenv("LAMBDAKIT_FREEZE", "signal")
        chosen = choose_limiter()
        assert freezing.choose(chosen).name == "SIGSTOP"
        yield chosen
        return
    monkeypatch.delenv("LAMBDAKIT_FREEZE", raising=False)
    chosen = choose_limiter()
    mechanism = freezing.choose(chosen)
    if mechanism.name != "cgroup v2 freezer":
        pytest.skip(f"no cgroup v2 freezer here: {mechanism.detail}")
    yield chosen


class Record:
    """Where the function's notes arrive: a UDP socket on 127.0.0.1 (the function may run in
    the sandbox, whose /tmp is its own and the rest read-only)."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.setblocking(False)
        self.port: int = self.socket.getsockname()[1]
        self.received: list[str] = []

    def lines(self) -> list[str]:
        with contextlib.suppress(BlockingIOError):
            while True:
                self.received.append(self.socket.recv(256).decode())
        return self.received


@pytest.fixture
def record() -> Iterator[Record]:
    made = Record()
    yield made
    made.socket.close()


def spec_for(record: Record, kind: str = "thread", *, extension: bool = False) -> FunctionSpec:
    """The function; EXTENSION: it registers an internal extension (its SIGTERM path)."""
    environment = {"FREEZE_PORT": str(record.port), "FREEZE_KIND": kind}
    if extension:
        environment["FREEZE_EXTENSION"] = "1"
    return function_from_directory(FUNCTION, timeout=10, environment=environment)


def emulator_for(spec: FunctionSpec, limiter: object, state: Path) -> Emulator:
    config = EmulatorConfig(port=0, state_dir=state)
    null = open(os.devnull, "w")  # noqa: SIM115 - closed by the caller's close()
    emulator = Emulator([spec], config, limiter=limiter, printer=LogPrinter(null))  # type: ignore[arg-type]
    emulator._null = null  # type: ignore[attr-defined]
    return emulator


async def close(emulator: Emulator) -> None:
    try:
        await emulator.close()
    finally:
        emulator._null.close()  # type: ignore[attr-defined]


async def invoke(emulator: Emulator, name: str, event: dict[str, float]) -> int:
    """One invocation, answered within a bound; the pid of the runtime that answered."""
    result, _ = await asyncio.wait_for(emulator.invoke(name, json.dumps(event).encode()), 30)
    assert result.outcome is Outcome.SUCCESS, result.body
    answer = json.loads(result.body)
    return host_pid(answer["pid"], answer["port"])


def host_pid(pid: int, port: int) -> int:
    """The machine's pid of the process that is PID in its own namespace (the sandbox's) and
    whose notes go to PORT."""
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError):
            status = _read(f"/proc/{entry}/status")
            spaced = next(line.split()[1:] for line in status.splitlines() if "NSpid:" in line)
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            if int(spaced[-1]) == pid and f"FREEZE_PORT={port}".encode() in environ:
                return int(entry)
    raise AssertionError(f"no process is pid {pid} of the function whose notes go to {port}")


def notes(record: Record) -> dict[str, list[float]]:
    """The record's times by kind: tick, start, end, sigterm."""
    found: dict[str, list[float]] = {"tick": [], "start": [], "end": [], "sigterm": []}
    for line in record.lines():
        what, _, when = line.partition(" ")
        found[what].append(float(when))
    return found


def two_invocations(spec: FunctionSpec, limiter: object, state: Path) -> None:
    emulator = emulator_for(spec, limiter, state)

    async def scenario() -> None:
        try:
            await invoke(emulator, spec.name, {})
            await asyncio.sleep(GAP)
            await invoke(emulator, spec.name, {"work": 0.2})
        finally:
            await close(emulator)

    asyncio.run(scenario())


# --- tests -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["thread", "timer"])
def test_background_work_stops_between_invocations(
    tmp_path: Path, record: Record, limiter: MemoryLimiter, kind: str
) -> None:
    spec = spec_for(record, kind)
    two_invocations(spec, limiter, tmp_path / "state")
    seen = notes(record)
    (_, start2), (end1, end2) = seen["start"], seen["end"]
    ticks = seen["tick"]
    assert start2 - end1 >= GAP
    assert [t for t in ticks if t <= end1], "the background work never ran"
    between = [round(t - end1, 3) for t in ticks if end1 + MARGIN < t < start2 - MARGIN]
    assert between == [], f"ticks while frozen, seconds after the first invocation's end: {between}"
    assert [t for t in ticks if start2 <= t <= end2], "the background work did not resume"


def test_a_process_in_a_session_of_its_own_is_frozen_by_the_cgroup_freezer_only(
    tmp_path: Path, record: Record, limiter: MemoryLimiter
) -> None:
    """A process the function started with setsid (out of the runtime's process group): the
    cgroup freezer stops it with the rest, as on Lambda; SIGSTOP to the group does not reach it
    (a difference docs/emulator.md names)."""
    two_invocations(spec_for(record, "setsid"), limiter, tmp_path / "state")
    seen = notes(record)
    end1, start2 = seen["end"][0], seen["start"][1]
    assert [t for t in seen["tick"] if t <= end1], "the background process never ran"
    between = [t for t in seen["tick"] if end1 + MARGIN < t < start2 - MARGIN]
    if freezing.choose(limiter).name == "SIGSTOP":
        assert between, "SIGSTOP to the group stopped a process of another session"
    else:
        assert between == [], f"{len(between)} ticks while frozen"
        assert [t for t in seen["tick"] if t >= start2], "the background process did not resume"


def test_with_freezing_off_background_work_goes_on(
    tmp_path: Path, record: Record, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LAMBDAKIT_FREEZE=0 turns it off; and the check above does see ticks that happen."""
    monkeypatch.setenv("LAMBDAKIT_FREEZE", "0")
    limiter = choose_limiter()
    assert freezing.choose(limiter).name == "off"
    two_invocations(spec_for(record), limiter, tmp_path / "state")
    seen = notes(record)
    end1, start2 = seen["end"][0], seen["start"][1]
    assert [t for t in seen["tick"] if end1 + MARGIN < t < start2 - MARGIN]


@pytest.mark.parametrize("when", ["frozen", "at once"])
def test_a_frozen_function_runs_its_sigterm_handler_at_shutdown(
    tmp_path: Path, record: Record, limiter: MemoryLimiter, when: str
) -> None:
    """Shut down once frozen, or at once after the answer: then the runtime asks for its next
    event while its SIGTERM is on its way, and that poll must not freeze it. (Lambda sends
    SIGTERM only to a runtime with an extension: the function registers an internal one.)"""
    spec = spec_for(record, extension=True)
    emulator = emulator_for(spec, limiter, tmp_path / "state")

    async def scenario() -> None:
        try:
            pid = await invoke(emulator, spec.name, {})
            if when == "frozen":
                await until_frozen(pid)
        finally:
            await close(emulator)

    asyncio.run(scenario())
    seen = notes(record)
    assert len(seen["sigterm"]) == 1, "the SIGTERM handler did not run"
    assert seen["sigterm"][0] > seen["end"][0]


def test_invocations_right_after_a_freeze_are_answered(
    tmp_path: Path, record: Record, limiter: MemoryLimiter
) -> None:
    """Back to back (the next invocation meets a freeze being made), and after a freeze that
    the kernel has completed: every one is answered, by the same environment."""
    spec = spec_for(record)
    emulator = emulator_for(spec, limiter, tmp_path / "state")

    async def scenario() -> set[int]:
        pids = set()
        try:
            for number in range(60):
                pid = await invoke(emulator, spec.name, {"work": 0})
                pids.add(pid)
                if number % 6 == 5:
                    await until_frozen(pid)
        finally:
            await close(emulator)
        return pids

    assert len(asyncio.run(scenario())) == 1


def test_the_start_up_line_names_the_mechanism(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAMBDAKIT_FREEZE", "signal")
    limiter = choose_limiter(prefer="none")
    line = freezing.describe(freezing.choose(limiter), images=True)
    assert line.startswith("freezing between invocations: SIGSTOP (LAMBDAKIT_FREEZE=signal)")
    assert line.endswith("functions from container images are not frozen")


class StandIn:
    """A limiter's face, as freezing.choose reads it (limits/cgroups.py's CgroupLimiter)."""

    def __init__(self, name: str, freezer_base: Path | None, freezer_missing: str = "") -> None:
        self.name, self.freezer_base, self.freezer_missing = name, freezer_base, freezer_missing


def test_the_mechanism_follows_the_limiter_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cgroup v1 memory limits with a unified hierarchy beside them freeze by cgroup, without
    one by SIGSTOP, saying why; limits that are no cgroups, by SIGSTOP."""
    monkeypatch.delenv("LAMBDAKIT_FREEZE", raising=False)
    (tmp_path / "cgroup.freeze").write_text("0")
    hybrid = freezing.choose(StandIn("cgroup v1", tmp_path))  # type: ignore[arg-type]
    assert hybrid.name == "cgroup v2 freezer"
    assert hybrid.detail.endswith("in the unified hierarchy beside cgroup v1's memory limits")
    why = "no cgroup v2 freezer beside cgroup v1 (no permission)"
    alone = freezing.choose(StandIn("cgroup v1", None, why))  # type: ignore[arg-type]
    assert (alone.name, alone.detail) == ("SIGSTOP", why)
    rlimit = freezing.choose(StandIn("rlimit", None))  # type: ignore[arg-type]
    assert rlimit.detail == "no cgroup v2 per environment (memory limits: rlimit)"
    old_kernel = freezing.choose(StandIn("cgroup v2", tmp_path / "elsewhere"))  # type: ignore[arg-type]
    assert old_kernel.detail == "the kernel has no cgroup v2 freezer (Linux 5.2+)"


def test_a_thaw_is_complete_when_it_returns(tmp_path: Path, limiter: MemoryLimiter) -> None:
    """No wait on cgroup.events after a thaw: the kernel has made every process runnable when
    the write (or the SIGCONT) returns, so the event sent next reaches a thawed runtime."""
    chosen = freezing.choose(limiter)
    guard = limiter.prepare("thaw-probe", 128)
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        start_new_session=True,
        preexec_fn=guard.preexec,
    )
    try:
        guard.attach(sleeper.pid)
        for _ in range(3):
            chosen.freeze(guard, sleeper.pid)
            asyncio.run(until_frozen(sleeper.pid))
            chosen.thaw(guard, sleeper.pid)
            assert not frozen(sleeper.pid), "still frozen right after the thaw returned"
    finally:
        sleeper.kill()
        sleeper.wait()
        guard.close()


@pytest.mark.parametrize("limiter", ["cgroup"], indirect=True)
def test_the_freezer_file_is_opened_once_per_environment_and_closed_with_it(
    tmp_path: Path, record: Record, limiter: MemoryLimiter
) -> None:
    """cgroup.freeze stays open for the environment's life (a write per freeze and thaw, no
    open and close each time), and nothing of it stays open once the emulator is closed."""
    gc.collect()  # what earlier tests' environments held
    before = freezer_fds()
    assert fds_after_five_freezes(spec_for(record), limiter, tmp_path) == before + 1
    gc.collect()  # the emulator and its environments are gone
    assert freezer_fds() == before


def fds_after_five_freezes(spec: FunctionSpec, limiter: MemoryLimiter, tmp_path: Path) -> int:
    emulator = emulator_for(spec, limiter, tmp_path / "state")

    async def scenario() -> int:
        try:
            for _ in range(5):
                await until_frozen(await invoke(emulator, spec.name, {"work": 0}))
            return freezer_fds()
        finally:
            await close(emulator)

    return asyncio.run(scenario())


def freezer_fds() -> int:
    """This process's open descriptors of cgroup.freeze files."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            found += os.readlink(f"/proc/self/fd/{fd}").endswith("/cgroup.freeze")
    return found
