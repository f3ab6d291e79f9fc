"""Max Memory Used without a cgroup's peak file: the sum of VmHWM (peak RSS) over processes.

Under ``rlimit`` and ``none``, and under cgroup v2 before Linux 5.19 (no ``memory.peak``), the
peak of an environment is the sum of its processes' VmHWM (proc(5)), kept as a running maximum
so that processes that have exited still count. ``reset`` writes "5" to each process's
``/proc/PID/clear_refs``, which resets its VmHWM. The sum misses processes that started and
ended between two samples, and daemons that left the tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lambdakit.emulator.limits import files

PROC = Path("/proc")


class TreeMeter:
    """Sum of VmHWM over processes, kept as a running maximum so that exited ones still count."""

    def __init__(self) -> None:
        self._peak = 0

    def sample(self, pids: Iterable[int]) -> int | None:
        total = sum(_vm_hwm(pid) for pid in pids)
        self._peak = max(self._peak, total)
        return self._peak or None

    def reset(self, pids: Iterable[int]) -> None:
        for pid in pids:
            files.write_quietly(PROC / str(pid) / "clear_refs", "5")  # 5: reset VmHWM (proc(5))
        self._peak = 0


def _vm_hwm(pid: int) -> int:
    try:
        for line in files.read(PROC / str(pid) / "status").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # "VmHWM:   9744 kB"
    except (OSError, ValueError, IndexError):
        pass
    return 0  # gone, a zombie, or a kernel thread


__all__ = ["TreeMeter"]
