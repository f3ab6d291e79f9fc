"""Frozen between invocations, as on Lambda: nothing of a function runs while it waits for work.

Lambda freezes an execution environment once its runtime (and each extension) has finished an
invocation and asks for the next event, and thaws it when the next event comes
(lambda-runtime-environment.html, "Invoke phase"; provisioned environments stay frozen after
their init until their first invocation). Background threads and timers of a function
therefore stop between invocations: a metrics thread that flushes "in the background" never
flushes. The Runtime API listener is the emulator's, not the frozen process's, so a frozen
runtime's ``GET /next`` simply waits for its answer.

``choose`` takes, once per emulator (per memory limiter), the first mechanism that works:

``cgroup v2 freezer``  ``cgroup.freeze`` of the environment's own cgroup (Linux 5.2+): the
                       memory limit's, when that is cgroup v2; with cgroup v1 memory limits on
                       a hybrid host, the environment's cgroup in the unified hierarchy
                       (limits/cgroups.py, ``freeze_path``). Every process the environment
                       started, also those that left its process group, stops at once.
``SIGSTOP``            SIGSTOP / SIGCONT to the runtime's process group (``os.killpg``): a
                       process that made a session of its own (``setsid``) keeps running, and
                       the function receives a SIGCONT at every thaw.
``off``                ``LAMBDAKIT_FREEZE=0`` (or the platform has no process groups).

``LAMBDAKIT_FREEZE``: ``0`` turns freezing off; ``signal`` insists on SIGSTOP; ``cgroup``
(or unset) takes the cgroup freezer where each environment has a cgroup v2, SIGSTOP otherwise.

Functions that run from a container image are not frozen: their process is the container
engine's client, not the function; ``podman pause`` / ``unpause`` would, but each is a process
of the engine's (tens of milliseconds) at every invocation. ``describe`` says so.

Freezing never fails an invocation: a freeze or thaw the kernel refuses (the process is gone,
the cgroup removed) is skipped quietly, and the environment's end shows what happened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import weakref
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lambdakit.emulator.limits import MemoryGuard, MemoryLimiter

__all__ = [
    "OFF",
    "CgroupFreezing",
    "Freezing",
    "NoFreezing",
    "SignalFreezing",
    "choose",
    "describe",
]

VARIABLE = "LAMBDAKIT_FREEZE"


class Freezing(Protocol):
    """A mechanism that stops an environment's processes and lets them go on again. PID leads
    the runtime's process group (the runtime itself, or in the sandbox PID 1 of its namespace:
    sandbox.py); GUARD is the environment's memory guard (which knows its cgroup, if any)."""

    name: str
    detail: str

    def freeze(self, guard: MemoryGuard, pid: int) -> None: ...

    def thaw(self, guard: MemoryGuard, pid: int) -> None:
        """Complete when it returns: the processes are runnable again (the kernel wakes them
        in the write or the kill), so what is sent to the runtime next runs thawed."""


class CgroupFreezing:
    """cgroup v2's freezer: ``cgroup.freeze`` of the guard's cgroup (kernel cgroup-v2.rst).

    Each environment's ``cgroup.freeze`` is opened once, at its first freeze, and written with
    ``pwrite`` after that: an open, write and close per call cost ~70 µs here against ~10 µs
    for the write alone, and the thaw is on the invocation's path. Neither write waits for
    ``cgroup.events``: a freeze completes in the kernel while the environment is idle anyway,
    and a thaw has made every process runnable when the write returns. The descriptor does
    not keep the cgroup: its ``rmdir`` succeeds and later writes fail (ENODEV, skipped); it is
    closed with the guard (``weakref.finalize``)."""

    name = "cgroup v2 freezer"

    def __init__(self, detail: str) -> None:
        self.detail = detail
        self._fds: weakref.WeakKeyDictionary[MemoryGuard, int] = weakref.WeakKeyDictionary()

    def freeze(self, guard: MemoryGuard, pid: int) -> None:
        self._write(guard, b"1")

    def thaw(self, guard: MemoryGuard, pid: int) -> None:
        self._write(guard, b"0")

    def _write(self, guard: MemoryGuard, value: bytes) -> None:
        fd = self._fd(guard)
        if fd is None:  # no cgroup path of its own: the guard writes the file itself
            _cgroup_freeze(guard, value == b"1")
            return
        with contextlib.suppress(OSError):  # the cgroup is gone: nothing left to freeze
            os.pwrite(fd, value, 0)

    def _fd(self, guard: MemoryGuard) -> int | None:
        try:
            return self._fds[guard]
        except (KeyError, TypeError):  # TypeError: a guard that cannot be weakly referenced
            pass
        path = getattr(guard, "freeze_path", None)
        if path is None:
            return None
        try:
            fd = os.open(os.path.join(path, "cgroup.freeze"), os.O_WRONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            self._fds[guard] = fd
            weakref.finalize(guard, os.close, fd)
        except TypeError:
            os.close(fd)
            return None
        return fd


def _cgroup_freeze(guard: MemoryGuard, frozen: bool) -> None:
    set_frozen = getattr(guard, "set_frozen", None)
    if set_frozen is not None:
        set_frozen(frozen)


class SignalFreezing:
    """SIGSTOP and SIGCONT to the runtime's process group (it has one of its own: the spawn
    starts a new session)."""

    name = "SIGSTOP"

    def __init__(self, detail: str) -> None:
        self.detail = detail

    def freeze(self, guard: MemoryGuard, pid: int) -> None:
        _signal_group(pid, signal.SIGSTOP)

    def thaw(self, guard: MemoryGuard, pid: int) -> None:
        _signal_group(pid, signal.SIGCONT)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


class NoFreezing:
    """Nothing is frozen: background threads run between invocations."""

    name = "off"

    def __init__(self, detail: str) -> None:
        self.detail = detail

    def freeze(self, guard: MemoryGuard, pid: int) -> None:
        pass

    def thaw(self, guard: MemoryGuard, pid: int) -> None:
        pass


OFF = NoFreezing("a container image's process is its engine's client")
"""What image functions get (see the module docstring)."""

_chosen: weakref.WeakKeyDictionary[object, Freezing] = weakref.WeakKeyDictionary()


def choose(limiter: MemoryLimiter) -> Freezing:
    """The mechanism for the environments LIMITER guards: decided at the first call (the
    emulator's start), the same for every environment after it."""
    try:
        return _chosen[limiter]
    except (KeyError, TypeError):
        pass
    chosen = _decide(limiter, os.environ.get(VARIABLE, "").strip().lower())
    with contextlib.suppress(TypeError):  # a limiter that cannot be weakly referenced
        _chosen[limiter] = chosen
    return chosen


def _decide(limiter: MemoryLimiter, asked: str) -> Freezing:
    if asked in ("0", "off", "no", "false"):
        return NoFreezing(f"{VARIABLE}={asked}")
    if not hasattr(os, "killpg"):
        return NoFreezing("this platform has no process groups to stop")
    if asked not in ("", "1", "on", "yes", "true", "cgroup", "signal"):
        return SignalFreezing(f"{VARIABLE}={asked!r} is not 0, signal or cgroup")
    if asked == "signal":
        return SignalFreezing(f"{VARIABLE}=signal")
    if not limiter.name.startswith("cgroup"):
        return SignalFreezing(f"no cgroup v2 per environment (memory limits: {limiter.name})")
    base = getattr(limiter, "freezer_base", None)
    if base is None:
        missing = getattr(limiter, "freezer_missing", "") or f"memory limits: {limiter.name}"
        return SignalFreezing(missing)
    if not (base / "cgroup.freeze").exists():
        return SignalFreezing("the kernel has no cgroup v2 freezer (Linux 5.2+)")
    where = f"cgroup.freeze of each environment's cgroup under {base}"
    if limiter.name == "cgroup v1":
        where += ", in the unified hierarchy beside cgroup v1's memory limits"
    return CgroupFreezing(where)


def describe(freezing: Freezing, *, images: bool = False) -> str:
    """The start-up line: ``freezing between invocations: SIGSTOP (...)``; with IMAGES (some
    functions run from an image), that those are not frozen."""
    line = f"freezing between invocations: {freezing.name} ({freezing.detail})"
    return line + ("; functions from container images are not frozen" if images else "")


def thaw_for_signal(
    freezing: Freezing, guard: MemoryGuard, pid: int, limit: float = 0.2, *, main: int | None = None
) -> None:
    """Thaw (PID: the runtime's process group), then wait (LIMIT seconds at most) until the
    main thread of MAIN (the runtime's own process, PID unless in the sandbox, where PID 1 of
    its namespace leads the group) has run and is asleep again, before a signal meant for it
    (SIGTERM) is sent. Thawing wakes the threads
    and returns before they run, each with its "signal pending" flag still set; the kernel
    gives a process signal to a thread without one, and for Python a thread other than the
    main one, asleep in its GET /next, means the handler never runs. So: its context switches
    have moved since the thaw, and then stay still, asleep, for a millisecond."""
    main = pid if main is None else main
    before = _main_thread(main)
    freezing.thaw(guard, pid)
    deadline = time.monotonic() + limit
    last = before
    while before is not None and time.monotonic() < deadline:
        time.sleep(0.001)
        now = _main_thread(main)
        if now is None:
            return  # gone
        if now[0] != before[0] and now == last and now[1] == "S":
            return  # it ran since the thaw, and has been asleep since the last look
        last = now


def _main_thread(pid: int) -> tuple[int, str] | None:
    """(context switches, state) of PID's main thread, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            lines = status.read().splitlines()
    except OSError:
        return None
    counts = [line.partition(":")[2] for line in lines if "ctxt_switches:" in line]
    state = next((line.split()[1] for line in lines if line.startswith("State:")), "?")
    return (sum(int(count) for count in counts), state) if counts else None
