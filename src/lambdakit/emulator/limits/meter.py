"""Max Memory Used without a cgroup's peak file: the sum of VmHWM (peak RSS) over processes.

Under ``rlimit`` and ``none``, and under cgroup v2 before Linux 5.19 (no ``memory.peak``), the
peak of an environment is the sum of its processes' VmHWM (proc(5)), kept as a running maximum
so that processes that have exited still count. ``reset`` writes "5" to each process's
``/proc/PID/clear_refs``, which resets its VmHWM. The sum misses processes that started and
ended between two samples, and daemons that left the tree.

A sample is taken at every REPORT, so it is kept cheap: each status file is read with one
``os.read`` and searched as bytes (about a third of the time of reading it as text, line by
line); where the caller has to find the processes (``sample_tree``), it walks their tree again
only when ``TREE_REFRESH`` has passed since the last walk. At a developer's pace every REPORT
walks it; back to back, a process started during an invocation is summed at a REPORT at most
that much later (its VmHWM is a high-water mark, so its peak still counts then).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from lambdakit.emulator.limits import files

PROC = Path("/proc")
TREE_REFRESH = 0.1  # seconds: the longest a walk of the process tree is reused


class TreeMeter:
    """Sum of VmHWM over processes, kept as a running maximum so that exited ones still count."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._peak = 0
        self._clock = clock
        self._tree: list[int] = []
        self._walked = -TREE_REFRESH  # when the tree was last walked (clock time)

    def sample(self, pids: Iterable[int]) -> int | None:
        total = sum(map(_vm_hwm, pids))
        self._peak = max(self._peak, total)
        return self._peak or None

    def sample_tree(self, walk: Callable[[], list[int]]) -> int | None:
        """``sample`` over the processes WALK finds, walked again only after TREE_REFRESH."""
        now = self._clock()
        if now - self._walked >= TREE_REFRESH:
            self._tree, self._walked = walk(), now
        return self.sample(self._tree)

    def reset(self, pids: Iterable[int]) -> None:
        for pid in pids:
            files.write_quietly(PROC / str(pid) / "clear_refs", "5")  # 5: reset VmHWM (proc(5))
        self._peak = 0


def _vm_hwm(pid: int) -> int:
    try:
        fd = os.open(f"/proc/{pid}/status", os.O_RDONLY)
        try:
            status = os.read(fd, 8192)  # about 1.5 KB; VmHWM is in the first third
        finally:
            os.close(fd)
        at = status.find(b"\nVmHWM:")
        if at >= 0:
            return int(status[at + 7 : status.index(b"kB", at)]) * 1024  # "VmHWM:   9744 kB"
    except (OSError, ValueError):
        pass
    return 0  # gone, a zombie, or a kernel thread


__all__ = ["TreeMeter"]
