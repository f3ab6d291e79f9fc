"""Memory limits without cgroups: ``RLIMIT_DATA`` per process (``rlimit``), or none at all.

``rlimit``: ``RLIMIT_DATA`` = MemorySize in each process. Max Memory Used is the sum of VmHWM
over the environment's process tree (meter.py). ``none``: nothing is enforced (not Linux, or
asked for); the peak is measured the same way wherever /proc exists. Neither knows the
processes that left the tree: the emulator searches /proc for them (reaping.py).

Why RLIMIT_DATA and not RLIMIT_AS. This was measured on Linux 6.18, CPython 3.11, Node 18 and
OpenJDK 17, with a 128 MB limit. Under either limit, ``python -c pass`` (VmHWM about 10 MB) and
the lambdakit runtime start, and a handler that allocates 500 MB gets MemoryError. But
RLIMIT_AS counts reserved address space as well. Under it ``node -e 1`` hangs (and dies of
SIGTRAP at 256 MB), ``java -version`` segfaults, a read-only mmap of a 200 MB file fails, and
at most 14 threads start even at 512 MB. RLIMIT_DATA (Linux 4.7+) counts only private writable
mappings. Its caveats, which users should be told:

- It is per process, not per environment: each worker process gets MemorySize of its own.
- It limits what a process maps, not what it touches. An allocation fails (MemoryError, ENOMEM)
  instead of the process being SIGKILLed, so a Python runtime reports a function error and not
  Runtime.OutOfMemory. Node aborts (SIGABRT).
- Thread stacks count, 8 MB each by default: about MemorySize/8 threads fit (15 at 128 MB).
- A JVM needs about 256 MB to start.
- The peak misses processes that started and ended between two samples, and daemons that left
  the tree.
"""

from __future__ import annotations

import sys

from lambdakit.emulator.limits.meter import TreeMeter
from lambdakit.emulator.limits.protocols import MIB, Unavailable, why
from lambdakit.emulator.reaping import process_tree


class RlimitLimiter:
    """RLIMIT_DATA = MemorySize in every process of an environment (see the caveats above)."""

    name = "rlimit"

    def __init__(self, skipped: list[str] | None = None) -> None:
        if not sys.platform.startswith("linux"):
            raise Unavailable("RLIMIT_DATA bounds mmap only on Linux (4.7+)")
        self.detail = "RLIMIT_DATA per process, peak = VmHWM of the process tree" + why(skipped)

    def prepare(self, env_id: str, memory_mb: int) -> RlimitGuard:
        return RlimitGuard(memory_mb * MIB)


class NoLimiter:
    """No limit; the peak from /proc where there is one."""

    name = "none"

    def __init__(self, skipped: list[str] | None = None) -> None:
        self.detail = "MemorySize is not enforced" + why(skipped)

    def prepare(self, env_id: str, memory_mb: int) -> ProcessTreeGuard:
        return ProcessTreeGuard()


class ProcessTreeGuard:
    """No limit; the peak is the sum of VmHWM over the environment's process tree."""

    confines = False  # the environment finds its processes itself (reaping.py)

    def __init__(self) -> None:
        self._pid: int | None = None
        self._meter = TreeMeter()

    def preexec(self) -> None:
        pass

    def attach(self, pid: int) -> None:
        self._pid = pid
        self._meter = TreeMeter()  # not the tree walked before there was one

    def peak_bytes(self) -> int | None:
        return self._meter.sample_tree(self._tree)

    def _tree(self) -> list[int]:
        return process_tree(self._pid) if self._pid else []

    def reset_peak(self) -> None:
        self._meter.reset(self._tree())

    def oom_killed(self) -> bool:
        return False  # the kernel's OOM killer is not involved; see the module docstring

    def kill(self) -> None:
        pass  # it knows no process that the environment's own search does not find

    def close(self) -> None:
        pass


class RlimitGuard(ProcessTreeGuard):
    """RLIMIT_DATA for the child (inherited by everything it starts)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)  # an unprivileged process cannot raise its hard limit
        # Soft = hard: the function cannot lift its own limit (unless it runs as root).
        self._args = (resource.RLIMIT_DATA, (limit, limit))
        self._setrlimit = resource.setrlimit

    def preexec(self) -> None:
        try:
            self._setrlimit(*self._args)
        except (OSError, ValueError):
            pass  # better an unlimited environment than none


__all__ = ["NoLimiter", "ProcessTreeGuard", "RlimitGuard", "RlimitLimiter"]
