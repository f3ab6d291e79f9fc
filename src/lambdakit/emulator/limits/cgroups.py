"""Memory limits with cgroups: one cgroup per execution environment, v2 or v1.

``cgroup v2``: ``memory.max``, ``memory.swap.max`` = 0 and ``memory.oom.group`` = 1, so the
kernel kills the whole environment at the limit. The peak comes from ``memory.peak`` (Linux
5.19+, else the process tree's VmHWM, meter.py), and ``reset_peak`` makes it per invocation from
Linux 6.12 (``memory.peak`` is then writable, per open file). OOM kills come from
``memory.events``. See the kernel's cgroup-v2.rst.

``cgroup v1``: the same with ``memory.limit_in_bytes``, plus ``memory.memsw.limit_in_bytes`` so
that nothing goes to swap. The peak comes from ``memory.max_usage_in_bytes`` (writing 0 resets
it); OOM kills from ``memory.oom_control`` (cgroup-v1/memory.rst).

A cgroup knows every process of its environment, also those that left the process tree
(``CgroupGuard.kill``). Where the cgroups go is hierarchy.py's business.

Freezing (freezing.py) uses cgroup v2's ``cgroup.freeze``: a v2 guard's own cgroup; with cgroup
v1, a second cgroup per environment in the unified hierarchy of a hybrid host, which has no
controller but has the core files, ``cgroup.freeze`` and ``cgroup.kill`` (``freeze_path``). v1's
own freezer is not used: the processes it freezes cannot be killed until they are thawed.
"""

from __future__ import annotations

import errno
import os
import re
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lambdakit.emulator.limits import files
from lambdakit.emulator.limits.hierarchy import our_base, unified_base
from lambdakit.emulator.limits.meter import TreeMeter
from lambdakit.emulator.limits.protocols import MIB, Unavailable, why


@dataclass(frozen=True)
class _Files:
    """The interface files of one cgroup version."""

    limit: str
    extras: tuple[tuple[str, str], ...]  # best effort; "{limit}" is replaced by the limit
    peak: str
    peak_resets: tuple[str, ...]  # v1: write "0" to reset; v2 uses a per-fd reset instead
    events: str  # holds an "oom_kill N" line
    freezes: bool  # the cgroup has cgroup.freeze (v2)


_V2 = _Files(
    limit="memory.max",
    extras=(("memory.swap.max", "0"), ("memory.oom.group", "1")),
    peak="memory.peak",
    peak_resets=(),
    events="memory.events",
    freezes=True,
)
_V1 = _Files(
    limit="memory.limit_in_bytes",
    extras=(("memory.memsw.limit_in_bytes", "{limit}"), ("memory.swappiness", "0")),
    peak="memory.max_usage_in_bytes",
    peak_resets=("memory.max_usage_in_bytes", "memory.memsw.max_usage_in_bytes"),
    events="memory.oom_control",
    freezes=False,
)


def cgroup_limiter(version: int, skipped: list[str]) -> CgroupLimiter:
    """Cgroups of ``version``, if this machine lets us make one that keeps its limit; else
    ``Unavailable`` says why."""
    if not sys.platform.startswith("linux"):
        raise Unavailable("not Linux")
    try:
        limiter = CgroupLimiter(version, our_base(version), skipped)
        limiter.probe()
    except OSError as exc:
        raise Unavailable(_explain(exc)) from exc
    if version == 1:
        limiter.add_unified_freezer()
    return limiter


def _explain(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to create cgroups in {exc.filename} (not root, not delegated)"
    return f"{exc.strerror}: {exc.filename}"


class CgroupLimiter:
    """One cgroup per environment under ``base``; with cgroup v1, another one under
    ``freezer_base`` in the unified hierarchy, where the host has one (``add_unified_freezer``).
    ``freezer_base`` is None where environments have no ``cgroup.freeze``, and
    ``freezer_missing`` then says why."""

    def __init__(self, version: int, base: Path, skipped: list[str] | None = None) -> None:
        self.name = f"cgroup v{version}"
        self.detail = f"one cgroup per environment under {base}" + why(skipped)
        self.version = version
        self.base = base
        self._files = _V2 if version == 2 else _V1
        self.freezer_base: Path | None = base if self._files.freezes else None
        self.freezer_missing = "" if self._files.freezes else "not looked for"
        self._names: set[str] = set()

    def add_unified_freezer(self) -> None:
        """Give each environment a cgroup in the unified hierarchy too, for its freezer, if
        this host has one and lets us write there (probed); otherwise say why not."""
        try:
            base = unified_base()
            _probe_freezer(base)
        except (OSError, Unavailable) as exc:
            reason = _explain(exc) if isinstance(exc, OSError) else str(exc)
            self.freezer_missing = f"no cgroup v2 freezer beside cgroup v1 ({reason})"
            return
        self.freezer_base = base

    def prepare(self, env_id: str, memory_mb: int) -> CgroupGuard:
        name = self._unique(f"env-{re.sub(r'[^A-Za-z0-9_.-]', '_', env_id)}")
        path = self.base / name
        path.mkdir()
        freeze_path = None
        if self.freezer_base is not None and self.freezer_base != self.base:
            freeze_path = self.freezer_base / name
            try:
                freeze_path.mkdir()
            except OSError:
                _rmdir_when_empty(path)
                raise
        guard = CgroupGuard(path, self._files, freeze_path=freeze_path)
        limit = str(memory_mb * MIB)
        try:
            files.write(path / self._files.limit, limit)
            for name, value in self._files.extras:
                files.write_quietly(path / name, value.format(limit=limit))
        except OSError:
            guard.close()
            raise
        return guard

    def probe(self) -> None:
        """Make a cgroup and read its limit back, or raise OSError/Unavailable."""
        guard = self.prepare("probe", 128)
        try:
            if files.read(guard.path / self._files.limit).strip() != str(128 * MIB):
                raise Unavailable(f"{guard.path / self._files.limit} does not keep its value")
        finally:
            guard.close()

    def _unique(self, name: str) -> str:
        # Several limiters of one process share ``base``; environment ids may repeat.
        candidate, n = name, 1
        while candidate in self._names or any(
            (base / candidate).exists() for base in {self.base, self.freezer_base} if base
        ):
            n += 1
            candidate = f"{name}-{n}"
        self._names.add(candidate)
        return candidate


class CgroupGuard:
    """One environment's cgroup, and FREEZE_PATH, its cgroup in the unified hierarchy beside a
    cgroup v1 one (``freeze_path`` is then that; for cgroup v2 it is ``path``)."""

    confines = True  # nothing leaves a cgroup unless moved by what may write to the hierarchy

    def __init__(self, path: Path, files: _Files, *, freeze_path: Path | None = None) -> None:
        self.path = path
        self._files = files
        self.freeze_path = path if files.freezes else freeze_path
        # Every cgroup the environment's processes join (ready for preexec, which is in the
        # child between fork and exec).
        self._cgroups = [path, *([freeze_path] if freeze_path not in (None, path) else [])]
        self._procs_files = [os.fsencode(cgroup / "cgroup.procs") for cgroup in self._cgroups]
        self._peak_fd: int | None = None  # v2: the fd whose peak was reset
        self._read_fd: int | None = None  # the peak file, kept open: a REPORT per invocation
        self._meter = TreeMeter()  # v2 before Linux 5.19 has no memory.peak
        self._oom = False
        self._last_peak: int | None = None
        self._closed = False

    def preexec(self) -> None:
        for procs_file in self._procs_files:
            try:
                fd = os.open(procs_file, os.O_WRONLY)
                try:
                    os.write(fd, b"%d" % os.getpid())
                finally:
                    os.close(fd)
            except OSError:
                pass  # attach() moves the process from the parent instead

    def attach(self, pid: int) -> None:
        for cgroup in self._cgroups:
            if pid not in files.procs(cgroup):
                files.write_quietly(cgroup / "cgroup.procs", str(pid))
        # The peak file is read at every REPORT: open it now, so that an environment holds the
        # same descriptors from its start to its end (a leak shows as a count that grows).
        if self._read_fd is None:
            try:
                self._read_fd = os.open(self.path / self._files.peak, os.O_RDONLY)
            except OSError:
                pass  # cgroup v2 before Linux 5.19 has no memory.peak: the tree meter instead

    def peak_bytes(self) -> int | None:
        if self._closed:
            return self._last_peak
        try:
            if self._peak_fd is not None:
                return int(os.pread(self._peak_fd, 64, 0))
            if self._read_fd is None:
                self._read_fd = os.open(self.path / self._files.peak, os.O_RDONLY)
            return int(os.pread(self._read_fd, 64, 0))
        except FileNotFoundError:
            return self._meter.sample(files.procs(self.path))
        except (OSError, ValueError):
            return None

    def reset_peak(self) -> None:
        if self._closed:
            return
        if self._files.peak_resets:
            for name in self._files.peak_resets:
                files.write_quietly(self.path / name, "0")
        elif (self.path / self._files.peak).exists():
            self._reset_v2_peak()
        else:
            self._meter.reset(files.procs(self.path))

    def _reset_v2_peak(self) -> None:
        # Since Linux 6.12 a write to memory.peak resets the peak seen through that open file.
        try:
            if self._peak_fd is None:
                self._peak_fd = os.open(self.path / "memory.peak", os.O_RDWR)
            os.pwrite(self._peak_fd, b"reset\n", 0)
        except OSError:
            self._close_peak_fd()  # an older kernel: the peak stays since start

    def oom_killed(self) -> bool:
        if not self._closed:
            self._oom = self._oom or _oom_kills(self.path / self._files.events) > 0
        return self._oom

    def kill(self) -> None:
        if not self._closed:
            self._kill_all()

    def _kill_all(self) -> None:
        for cgroup in reversed(self._cgroups):  # the unified one first: it has cgroup.kill
            _kill_all(cgroup)

    def set_frozen(self, frozen: bool) -> None:
        """cgroup v2's freezer (freezing.py; Linux 5.2+): ``cgroup.freeze`` = 1 stops every
        process of the environment (the kernel finishes it shortly after: ``frozen``); = 0
        makes them runnable again before the write returns. SIGKILL works on frozen ones."""
        if not self._closed and self.freeze_path is not None:
            files.write_quietly(self.freeze_path / "cgroup.freeze", "1" if frozen else "0")

    def frozen(self) -> bool:
        """Whether the kernel has frozen every process (``frozen 1`` in cgroup.events)."""
        if self.freeze_path is None:
            return False
        try:
            return "frozen 1" in files.read(self.freeze_path / "cgroup.events").splitlines()
        except OSError:
            return False

    def close(self) -> None:
        if self._closed:
            return
        self.oom_killed()
        self._last_peak = self.peak_bytes()
        self._closed = True
        self._close_peak_fd()
        self._kill_all()
        for cgroup in self._cgroups:
            if not _rmdir_when_empty(cgroup):
                files.created.add(cgroup)  # retried at exit

    def _close_peak_fd(self) -> None:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None


def _probe_freezer(base: Path) -> None:
    """Make a cgroup under BASE, freeze and thaw it; OSError if the kernel refuses."""
    probe = base / "probe"
    probe.mkdir(exist_ok=True)
    try:
        files.write(probe / "cgroup.freeze", "1")
        files.write(probe / "cgroup.freeze", "0")
    finally:
        probe.rmdir()


def _oom_kills(events: Path) -> int:
    try:
        for line in files.read(events).splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _kill_all(cgroup: Path, rounds: int = 10) -> None:
    """SIGKILL whatever is left in ``cgroup`` (daemons the runtime left behind). Without
    cgroup.kill, a process can fork between the read of cgroup.procs and its SIGKILL, so the
    file is read again until it shows nobody new (once SIGKILL is pending, fork() fails)."""
    pids = files.procs(cgroup)
    if not pids:
        return
    try:
        files.write(cgroup / "cgroup.kill", "1")  # v2, Linux 5.14+: no race with forks
        return
    except OSError:
        pass
    signalled: set[int] = set()
    for _ in range(rounds):
        for pid in pids - signalled:
            files.signal_quietly(pid, signal.SIGKILL)
        signalled |= pids
        pids = files.procs(cgroup)
        if pids <= signalled:
            return


def _rmdir_when_empty(cgroup: Path, wait: float = 0.5) -> bool:
    deadline = time.monotonic() + wait
    while True:
        try:
            os.rmdir(cgroup)
            return True
        except FileNotFoundError:
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)  # killed processes take a moment to leave


__all__ = ["CgroupGuard", "CgroupLimiter", "cgroup_limiter"]
