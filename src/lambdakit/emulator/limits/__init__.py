"""Memory limits for execution environments: enforce ``MemorySize``, measure Max Memory Used.

On Lambda an execution environment (the runtime and everything it starts) gets ``MemorySize``
MB. A runtime that goes past it is killed (``Runtime.OutOfMemory``, lambda-wire-protocol.md
§6.1), and the REPORT line's ``Max Memory Used`` is the environment's peak. Here an environment
is a process tree on the developer's machine. ``choose_limiter`` takes the first of these
mechanisms that works, strongest first, and its ``detail`` says why it skipped the others;
``describe`` is the line that says at start-up which one is in force:

``cgroup v2``  One cgroup per environment; the kernel kills the whole environment at the
               limit; the peak from ``memory.peak`` (cgroups.py; where they go: hierarchy.py).
``cgroup v1``  The same with the v1 interface files (cgroups.py).
``rlimit``     ``RLIMIT_DATA`` = MemorySize in each process, with caveats users are told
               (rlimit.py); the peak is the sum of VmHWM over the process tree (meter.py).
``none``       Nothing is enforced (not Linux, or asked for). The peak is measured as for
               ``rlimit`` wherever /proc exists.

An environment ends with everything it started, as on Lambda. A cgroup knows all of it
(``MemoryGuard.kill``); under ``rlimit`` and ``none`` the emulator searches /proc (reaping.py).
A cgroup v2 guard also freezes its environment between invocations (``CgroupGuard.set_frozen``,
for freezing.py).

Errors: ``choose_limiter`` raises ValueError for an unknown ``prefer``. Any other failure
while it probes a mechanism makes it fall back to the next one. A guard swallows the OSErrors
that come from processes that are already gone. ``prepare`` raises OSError if the kernel
refuses a cgroup that the probe allowed.
"""

from __future__ import annotations

from collections.abc import Callable

from lambdakit.emulator.limits.cgroups import CgroupGuard, CgroupLimiter, cgroup_limiter
from lambdakit.emulator.limits.hierarchy import CgroupLocation, locate_cgroup
from lambdakit.emulator.limits.protocols import MemoryGuard, MemoryLimiter, Unavailable
from lambdakit.emulator.limits.rlimit import (
    NoLimiter,
    ProcessTreeGuard,
    RlimitGuard,
    RlimitLimiter,
)

__all__ = [
    "CgroupGuard",
    "CgroupLimiter",
    "CgroupLocation",
    "MemoryGuard",
    "MemoryLimiter",
    "NoLimiter",
    "ProcessTreeGuard",
    "RlimitGuard",
    "RlimitLimiter",
    "choose_limiter",
    "describe",
    "locate_cgroup",
]


def describe(limiter: MemoryLimiter) -> str:
    """The start-up line: ``memory limits: cgroup v1 (one cgroup per environment under ...)``."""
    return f"memory limits: {limiter.name} ({limiter.detail})"


def choose_limiter(*, prefer: str | None = None) -> MemoryLimiter:
    """The strongest mechanism that works here. ``prefer`` ("cgroup", "cgroup v2", "cgroup v1",
    "rlimit", "none") starts the search at that one; weaker ones remain the fallback."""
    chain: list[tuple[str, Callable[[list[str]], MemoryLimiter]]] = [
        ("cgroup v2", lambda skipped: cgroup_limiter(2, skipped)),
        ("cgroup v1", lambda skipped: cgroup_limiter(1, skipped)),
        ("rlimit", RlimitLimiter),
        ("none", NoLimiter),
    ]
    starts = {"cgroup": 0, "cgroup v2": 0, "cgroup v1": 1, "rlimit": 2, "none": 3}
    if prefer is not None and prefer not in starts:
        raise ValueError(f"unknown memory limiter {prefer!r}; choose from {', '.join(starts)}")
    skipped: list[str] = []
    for name, factory in chain[starts[prefer] if prefer else 0 :]:
        try:
            return factory(skipped)
        except Unavailable as exc:
            skipped.append(f"{name}: {exc}")
    raise AssertionError("NoLimiter is always available")  # pragma: no cover
