"""Endings leave nothing behind: whatever an environment started is gone within a bounded time of
its end (shutdown, timeout), in both memory modes, and ``lambdakit serve`` stops within 3 s on
SIGINT (at once on a second one) even when the function left stubborn daemons behind."""

from __future__ import annotations

import asyncio
import functools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdakit.emulator import Emulator, EmulatorConfig
from lambdakit.emulator.invocations import Outcome
from lambdakit.emulator.limits import choose_limiter
from lambdakit.emulator.reports import LogPrinter
from lambdakit.template import FunctionSpec, function_from_directory

# The functions here record the pids of what they start in a file of this machine, and the
# tests follow those processes: plain processes. In the sandbox what an environment leaves
# dies with its PID namespace (test_sandbox.py).
pytestmark = pytest.mark.usefixtures("plain_processes")

# The handler leaves behind what real functions do: (a) a `setsid` child that ignores SIGTERM
# and keeps the environment's stdout and stderr open; (b) a double-forked daemon, reparented
# away from the runtime, with its stdio closed. The runtime itself ignores SIGTERM, so that a
# graceful shutdown takes the whole grace period. The pids go to a file (the event names it)
# before the handler sleeps for as long as the event asks.
APP = r'''
import json, os, signal, subprocess, sys, time

STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("stubborn child up", flush=True)
time.sleep(300)
"""

DAEMON = """
import os, signal, sys, time
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdout.write(str(os.getpid()))
sys.stdout.flush()
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):
    os.dup2(null, fd)
time.sleep(300)
"""


def handler(event, context):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], start_new_session=True)
    daemon = subprocess.run(
        [sys.executable, "-c", DAEMON], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        check=True,
    ).stdout
    pids = {"runtime": os.getpid(), "stubborn": stubborn.pid, "daemon": int(daemon)}
    with open(event["record"], "w") as file:
        json.dump(pids, file)
    time.sleep(event.get("sleep", 0))
    if "exit" in event:
        os._exit(event["exit"])
    return pids
'''

MODES = ["cgroup", "rlimit"]


@functools.cache
def _cgroups() -> str | None:
    """Why cgroups cannot be used here, or None if they can."""
    limiter = choose_limiter(prefer="cgroup")
    return None if limiter.name.startswith("cgroup") else limiter.detail


def _mode(mode: str) -> str:
    if mode == "cgroup" and _cgroups() is not None:
        pytest.skip(f"no cgroups here: {_cgroups()}")
    return mode


def stubborn_function(directory: Path, *, timeout: float = 3.0) -> FunctionSpec:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.py").write_text(APP)
    return function_from_directory(directory, timeout=timeout)


def alive(pid: int) -> bool:
    """Running: in /proc and not a zombie (a zombie's parent, perhaps init, has yet to reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            state = file.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def survivors(pids: list[int], within: float = 0.0) -> list[int]:
    """The pids still running after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.02)


def recorded(record: Path, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return list(json.loads(record.read_text()).values())
        except (OSError, ValueError):
            time.sleep(0.02)
    raise AssertionError(f"the handler wrote no pids to {record}")


@pytest.fixture
def record(tmp_path: Path) -> Iterator[Path]:
    """Where the handler writes its pids; whatever survives the test is killed afterwards."""
    path = tmp_path / "pids.json"
    yield path
    if path.exists():
        for pid in json.loads(path.read_text()).values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def quiet_emulator(spec: FunctionSpec, mode: str, state: Path, **options: float) -> Emulator:
    null = open(os.devnull, "w")  # noqa: SIM115 - closed with the emulator
    config = EmulatorConfig(port=0, memory_limits=mode, state_dir=state, **options)  # type: ignore[arg-type]
    emulator = Emulator([spec], config, printer=LogPrinter(null))
    emulator._null = null  # type: ignore[attr-defined]
    return emulator


async def timed_close(emulator: Emulator, limit: float = 10.0) -> float:
    started = time.monotonic()
    try:
        await asyncio.wait_for(emulator.close(), limit)
    except asyncio.TimeoutError:
        pass  # reported by the caller's assertion on the time
    finally:
        emulator._null.close()  # type: ignore[attr-defined]
    return time.monotonic() - started


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_close_ends_every_process_of_an_environment(
    tmp_path: Path, record: Path, mode: str
) -> None:
    spec = stubborn_function(tmp_path / "fn")
    emulator = quiet_emulator(spec, _mode(mode), tmp_path / "state")

    async def scenario() -> tuple[Outcome, float]:
        try:
            event = json.dumps({"record": str(record)}).encode()
            result, _ = await emulator.invoke(spec.name, event)
        finally:
            took = await timed_close(emulator)
        return result.outcome, took

    outcome, took = asyncio.run(scenario())
    assert outcome is Outcome.SUCCESS
    assert took < 3.0, f"close() took {took:.1f} s"
    assert emulator.limiter.name.startswith(mode)
    assert survivors(recorded(record), within=0.5) == []


@pytest.mark.slow
def test_a_writer_that_escapes_the_search_does_not_hold_close(
    tmp_path: Path, record: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output pumps get a bounded time once the runtime is gone, even when a process that
    keeps the pipes open is not found (here: the search finds nothing)."""
    monkeypatch.setattr("lambdakit.emulator.reaping.kill_all", lambda *_, **__: 0)
    spec = stubborn_function(tmp_path / "fn")
    emulator = quiet_emulator(spec, "rlimit", tmp_path / "state")

    async def scenario() -> float:
        try:
            await emulator.invoke(spec.name, json.dumps({"record": str(record)}).encode())
        finally:
            took = await timed_close(emulator)
        return took

    took = asyncio.run(scenario())
    assert took < 3.0, f"close() took {took:.1f} s"
    assert len(survivors(recorded(record))) == 2  # the two it could not find, killed now


ENDINGS = {  # how an environment ends: the event, the outcome, how soon its processes go
    "timeout": ({"sleep": 60}, Outcome.TIMEOUT, 2.0),
    "crash": ({"exit": 3}, Outcome.CRASH, 2.0),  # the runtime exits, its daemons live on
    "idle": ({}, Outcome.SUCCESS, 2.0 + 2.0),  # reaped: the grace period, then SIGKILL
}


@pytest.mark.slow
@pytest.mark.parametrize("ending", list(ENDINGS))
@pytest.mark.parametrize("mode", MODES)
def test_an_environment_that_ends_leaves_no_process(
    tmp_path: Path, record: Path, mode: str, ending: str
) -> None:
    fields, expected, within = ENDINGS[ending]
    spec = stubborn_function(tmp_path / "fn", timeout=1.0)
    emulator = quiet_emulator(spec, _mode(mode), tmp_path / "state", idle_timeout=0.2)

    async def scenario() -> tuple[Outcome, list[int]]:
        try:
            event = json.dumps({"record": str(record), **fields}).encode()
            result, _ = await emulator.invoke(spec.name, event)
            pids = recorded(record)
            deadline = time.monotonic() + within
            while survivors(pids) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return result.outcome, survivors(pids)
        finally:
            await timed_close(emulator)

    outcome, left = asyncio.run(scenario())
    assert outcome is expected
    assert left == []


@pytest.mark.parametrize("mode", MODES)
def test_an_ending_goes_on_when_what_awaits_it_is_cancelled(
    tmp_path: Path, record: Path, mode: str
) -> None:
    """The idle reaper awaits a shutdown, and is cancelled when the pool closes: the ending
    itself (kill what is left, close the listener, tell the pool) must still run."""
    spec = stubborn_function(tmp_path / "fn")
    emulator = quiet_emulator(spec, _mode(mode), tmp_path / "state")

    async def scenario() -> tuple[int, list[int]]:
        try:
            await emulator.invoke(spec.name, json.dumps({"record": str(record)}).encode())
            pool = emulator.pools[spec.name]
            (environment,) = pool.environments
            ending = asyncio.create_task(environment.kill("test"))
            await asyncio.sleep(0)  # it has sent SIGKILL and waits for the ending
            ending.cancel()
            pids = recorded(record)
            deadline = time.monotonic() + 2.0
            while (pool.environments or survivors(pids)) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            return len(pool.environments), survivors(pids)
        finally:
            await timed_close(emulator)

    assert asyncio.run(scenario()) == (0, [])


# --- a real `lambdakit serve` ----------------------------------------------------------------


class Serve:
    """``python -m lambdakit serve DIR --port 0`` with LAMBDAKIT_MEMORY_LIMITS=rlimit, its
    stderr collected."""

    def __init__(self, directory: Path) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        environ["LAMBDAKIT_MEMORY_LIMITS"] = "rlimit"
        command = [sys.executable, "-m", "lambdakit", "serve", str(directory), "--port", "0"]
        self.process = subprocess.Popen(
            command, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.errors: list[str] = []
        self.url = ""
        self._banner = threading.Event()
        self._readers = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        if not self._banner.wait(30):
            self.kill()
            raise AssertionError(f"no banner from lambdakit serve: {self.stderr()}")

    def _read_out(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            match = re.search(r"Invoke API at (http://\S+)", line)
            if match:
                self.url = match.group(1)
                self._banner.set()

    def _read_err(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.errors.append(line)

    def stderr(self) -> str:
        return "".join(self.errors)

    def invoke(self, event: dict[str, object]) -> dict[str, int]:
        url = f"{self.url}/2015-03-31/functions/fn/invocations"
        request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))

    def interrupt(self, times: int) -> float:
        """Send SIGINT ``times`` times, 50 ms apart; how long the process took to exit."""
        started = time.monotonic()
        for n in range(times):
            if n:
                time.sleep(0.05)
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
        took = time.monotonic() - started
        self._finish()
        return took

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._finish()

    def _finish(self) -> None:
        for reader in self._readers:
            reader.join(5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.mark.slow
@pytest.mark.parametrize(("times", "limit"), [(1, 3.0), (2, 1.0)], ids=["once", "twice"])
def test_serve_stops_on_sigint_without_leaving_processes(
    tmp_path: Path, record: Path, times: int, limit: float
) -> None:
    stubborn_function(tmp_path / "fn")
    server = Serve(tmp_path / "fn")
    try:
        pids = list(server.invoke({"record": str(record)}).values())
    except BaseException:
        server.kill()
        raise
    took = server.interrupt(times)
    errors = server.stderr()
    assert "memory limits: rlimit" in errors
    assert took < limit, f"serve took {took:.1f} s to stop:\n{errors}"
    assert server.process.returncode == 130, errors  # as Ctrl-C ends a program
    assert "Traceback" not in errors
    assert "shutting down" in errors
    assert survivors(pids, within=0.5) == []
