"""Environments are frozen between invocations, as on Lambda: a function's background thread or
timer does not run from the end of one invocation to the start of the next; its SIGTERM handler
still runs at shutdown; an invocation that comes right after a freeze is answered. Both
mechanisms: the cgroup v2 freezer (with the memory limit's cgroup v2, or, on a machine whose
memory controller is on cgroup v1, a cgroup v2 made for the test in the unified hierarchy) and
SIGSTOP to the process group (forced with LAMBDAKIT_FREEZE=signal).

Whether a process is frozen is read from the kernel (its cgroup's ``cgroup.events``, or the
``T`` state in /proc), not from the emulator."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdakit.emulator import Emulator, EmulatorConfig, freezing
from lambdakit.emulator.invocations import Outcome
from lambdakit.emulator.limits import (
    CgroupGuard,
    MemoryLimiter,
    Unavailable,
    choose_limiter,
    locate_cgroup,
)
from lambdakit.emulator.limits import cgroups as cgroup_module
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


class UnifiedLimiter:
    """cgroup v2 cgroups with no memory controller, in the unified hierarchy of a machine whose
    memory controller is on cgroup v1: the cgroup v2 freezer without a memory limit."""

    name = "cgroup v2"
    detail = "cgroup v2 for freezing only (tests)"

    def __init__(self, base: Path) -> None:
        self.base = base
        self._count = 0

    def prepare(self, env_id: str, memory_mb: int) -> CgroupGuard:
        self._count += 1
        path = self.base / f"env-{self._count}"
        path.mkdir()
        return CgroupGuard(path, cgroup_module._V2)


def _unified_base() -> Path | None:
    """A fresh cgroup v2 under ours, if we may make one and it has a freezer."""
    try:
        own = _read("/proc/self/cgroup")
        where = locate_cgroup(2, own, _read("/proc/self/mountinfo"))
        base = where.path / f"lambdakit-test-freezing-{os.getpid()}"
        base.mkdir(exist_ok=True)
    except (OSError, Unavailable):
        return None
    if not (base / "cgroup.freeze").exists():
        base.rmdir()
        return None
    return base


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
    chosen = choose_limiter(prefer="cgroup v2")
    base = None
    if chosen.name != "cgroup v2":
        base = _unified_base()
        if base is None:
            pytest.skip("no cgroup v2 with a freezer can be made here")
        chosen = UnifiedLimiter(base)  # type: ignore[assignment]
    assert freezing.choose(chosen).name == "cgroup v2 freezer"
    yield chosen
    if base is not None:
        for child in base.iterdir():
            if child.is_dir():
                child.rmdir()
        base.rmdir()


def spec_for(record: Path, kind: str = "thread") -> FunctionSpec:
    environment = {"FREEZE_RECORD": str(record), "FREEZE_KIND": kind}
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
    pid: int = json.loads(result.body)["pid"]
    return pid


def notes(record: Path) -> dict[str, list[float]]:
    """The record's times by kind: tick, start, end, sigterm."""
    found: dict[str, list[float]] = {"tick": [], "start": [], "end": [], "sigterm": []}
    for line in record.read_text().splitlines():
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
    tmp_path: Path, limiter: MemoryLimiter, kind: str
) -> None:
    record = tmp_path / "record"
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


def test_with_freezing_off_background_work_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LAMBDAKIT_FREEZE=0 turns it off; and the check above does see ticks that happen."""
    monkeypatch.setenv("LAMBDAKIT_FREEZE", "0")
    limiter = choose_limiter()
    assert freezing.choose(limiter).name == "off"
    record = tmp_path / "record"
    two_invocations(spec_for(record), limiter, tmp_path / "state")
    seen = notes(record)
    end1, start2 = seen["end"][0], seen["start"][1]
    assert [t for t in seen["tick"] if end1 + MARGIN < t < start2 - MARGIN]


@pytest.mark.parametrize("when", ["frozen", "at once"])
def test_a_frozen_function_runs_its_sigterm_handler_at_shutdown(
    tmp_path: Path, limiter: MemoryLimiter, when: str
) -> None:
    """Shut down once frozen, or at once after the answer: then the runtime asks for its next
    event while its SIGTERM is on its way, and that poll must not freeze it."""
    record = tmp_path / "record"
    spec = spec_for(record)
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
    tmp_path: Path, limiter: MemoryLimiter
) -> None:
    """Back to back (the next invocation meets a freeze being made), and after a freeze that
    the kernel has completed: every one is answered, by the same environment."""
    spec = spec_for(tmp_path / "record")
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
