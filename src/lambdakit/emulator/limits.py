"""Memory limits for execution environments: enforce ``MemorySize``, measure Max Memory Used.

On Lambda an execution environment (the runtime and everything it starts) gets ``MemorySize``
MB. A runtime that goes past it is killed (``Runtime.OutOfMemory``, lambda-wire-protocol.md
§6.1), and the REPORT line's ``Max Memory Used`` is the environment's peak. Here an environment
is a process tree on the developer's machine. ``choose_limiter`` takes the first of these
mechanisms that works, strongest first, and its ``detail`` says why it skipped the others:

``cgroup v2``  One cgroup per environment: ``memory.max``, ``memory.swap.max`` = 0 and
               ``memory.oom.group`` = 1, so the kernel kills the whole environment at the limit.
               The peak comes from ``memory.peak`` (Linux 5.19+), and ``reset_peak`` makes it
               per invocation from Linux 6.12 (``memory.peak`` is then writable, per open file).
               OOM kills come from ``memory.events``. See the kernel's cgroup-v2.rst.
``cgroup v1``  The same with ``memory.limit_in_bytes``, plus ``memory.memsw.limit_in_bytes``
               so that nothing goes to swap. The peak comes from ``memory.max_usage_in_bytes``
               (writing 0 resets it); OOM kills from ``memory.oom_control`` (cgroup-v1/memory.rst).
``rlimit``     ``RLIMIT_DATA`` = MemorySize in each process. Max Memory Used is the sum of
               VmHWM (peak RSS) over the environment's process tree; ``reset_peak`` writes
               "5" to each process's ``/proc/PID/clear_refs`` (proc(5)).
``none``       Nothing is enforced (not Linux, or asked for). The peak is measured as for
               ``rlimit`` wherever /proc exists.

An environment ends with everything it started, as on Lambda. A cgroup knows all of it
(``MemoryGuard.kill``); under ``rlimit`` and ``none`` the emulator searches /proc (reaping.py).

Cgroups need write access to the emulator's own cgroup: as root, or inside a delegated one.
The emulator creates ``<its cgroup>/lambdakit-<pid>/env-<id>`` and removes them again; stale
directories of dead emulators are swept at start. Cgroup v2 lets a cgroup that holds processes
give controllers to its children only at the root ("no internal processes"). So when our own
cgroup holds other processes, the v2 limiter works at the hierarchy's root (as root) or not at
all. When the emulator is alone in its cgroup, for example under ``systemd-run --user --scope -p
Delegate=yes``, it moves itself into a leaf ``lambdakit-<pid>/emulator`` first.

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

Errors: ``choose_limiter`` raises ValueError for an unknown ``prefer``. Any other failure
while it probes a mechanism makes it fall back to the next one. A guard swallows the OSErrors
that come from processes that are already gone. ``prepare`` raises OSError if the kernel
refuses a cgroup that the probe allowed.
"""

from __future__ import annotations

import atexit
import errno
import functools
import os
import re
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lambdakit.emulator.reaping import parse_stat

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
    "process_tree",
]

MIB = 1024 * 1024
PROC = Path("/proc")


class MemoryGuard(Protocol):
    """One environment's limit and meter (made by ``MemoryLimiter.prepare``)."""

    confines: bool
    """Whether everything the environment starts stays under the guard (a cgroup), so that
    ``kill`` ends it all. If not, the emulator finds the environment's processes itself
    (reaping.py): a setsid child or a double-forked daemon leaves the process tree."""

    def preexec(self) -> None:
        """In the child between fork and exec (``preexec_fn``): put it under the limit."""

    def attach(self, pid: int) -> None:
        """In the parent right after the spawn: make sure ``pid`` is under the limit."""

    def peak_bytes(self) -> int | None:
        """The environment's peak memory so far (since the last ``reset_peak``), if known."""

    def reset_peak(self) -> None:
        """Start a new peak where the kernel allows it (see the module docstring)."""

    def oom_killed(self) -> bool:
        """Whether the kernel OOM-killed a process of this environment (cgroups only)."""

    def kill(self) -> None:
        """SIGKILL every process under the guard (a cgroup's; none for the others)."""

    def close(self) -> None:
        """Remove what ``prepare`` made, killing any process left in it. Idempotent."""


class MemoryLimiter(Protocol):
    """A mechanism: ``name`` is "cgroup v2", "cgroup v1", "rlimit" or "none"; ``detail`` says
    where it works, or why the stronger ones did not."""

    name: str
    detail: str

    def prepare(self, env_id: str, memory_mb: int) -> MemoryGuard: ...


class _Unavailable(Exception):
    """A mechanism cannot work here; the message says why (for ``detail``)."""


def describe(limiter: MemoryLimiter) -> str:
    """The start-up line: ``memory limits: cgroup v1 (one cgroup per environment under ...)``."""
    return f"memory limits: {limiter.name} ({limiter.detail})"


def choose_limiter(*, prefer: str | None = None) -> MemoryLimiter:
    """The strongest mechanism that works here. ``prefer`` ("cgroup", "cgroup v2", "cgroup v1",
    "rlimit", "none") starts the search at that one; weaker ones remain the fallback."""
    chain: list[tuple[str, Callable[[list[str]], MemoryLimiter]]] = [
        ("cgroup v2", lambda skipped: _cgroup_limiter(2, skipped)),
        ("cgroup v1", lambda skipped: _cgroup_limiter(1, skipped)),
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
        except _Unavailable as exc:
            skipped.append(f"{name}: {exc}")
    raise AssertionError("NoLimiter is always available")  # pragma: no cover


# --- finding our cgroup (sans-IO) ------------------------------------------------------------


@dataclass(frozen=True)
class CgroupLocation:
    """Where this process sits in the hierarchy that holds the memory controller."""

    version: int
    mount: Path  # the hierarchy's mount point
    path: Path  # this process's cgroup directory


def locate_cgroup(version: int, proc_cgroup: str, mountinfo: str) -> CgroupLocation:
    """Our cgroup directory from the texts of /proc/self/cgroup and /proc/self/mountinfo.
    Raises ``_Unavailable``."""
    own = _own_cgroup_path(version, proc_cgroup)
    for fstype, root, point, options in _cgroup_mounts(mountinfo):
        if fstype != ("cgroup2" if version == 2 else "cgroup"):
            continue
        if version == 1 and "memory" not in options.split(","):
            continue
        # In a cgroup namespace or a bind mount, the mount shows a subtree: strip its root.
        if root != "/" and own != root and not own.startswith(root.rstrip("/") + "/"):
            raise _Unavailable(f"our cgroup {own} is outside the mounted subtree {root}")
        relative = own[len(root) :] if root != "/" else own
        return CgroupLocation(version, Path(point), Path(point) / relative.lstrip("/"))
    raise _Unavailable("no such hierarchy with the memory controller is mounted")


def _own_cgroup_path(version: int, text: str) -> str:
    for line in text.splitlines():
        ident, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if version == 2 and ident == "0" and controllers == "":
            return path
        if version == 1 and "memory" in controllers.split(","):
            return path
    raise _Unavailable("this process is in no such cgroup (see /proc/self/cgroup)")


def _cgroup_mounts(text: str) -> Iterable[tuple[str, str, str, str]]:
    """(fstype, root, mount point, super options) of each cgroup mount in a mountinfo text."""
    for line in text.splitlines():
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
            yield tail[0], _unescape(fields[3]), _unescape(fields[4]), tail[2]


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes (proc(5)).
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


# --- cgroups -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Files:
    """The interface files of one cgroup version."""

    limit: str
    extras: tuple[tuple[str, str], ...]  # best effort; "{limit}" is replaced by the limit
    peak: str
    peak_resets: tuple[str, ...]  # v1: write "0" to reset; v2 uses a per-fd reset instead
    events: str  # holds an "oom_kill N" line


_V2 = _Files(
    limit="memory.max",
    extras=(("memory.swap.max", "0"), ("memory.oom.group", "1")),
    peak="memory.peak",
    peak_resets=(),
    events="memory.events",
)
_V1 = _Files(
    limit="memory.limit_in_bytes",
    extras=(("memory.memsw.limit_in_bytes", "{limit}"), ("memory.swappiness", "0")),
    peak="memory.max_usage_in_bytes",
    peak_resets=("memory.max_usage_in_bytes", "memory.memsw.max_usage_in_bytes"),
    events="memory.oom_control",
)


def _cgroup_limiter(version: int, skipped: list[str]) -> CgroupLimiter:
    if not sys.platform.startswith("linux"):
        raise _Unavailable("not Linux")
    try:
        where = locate_cgroup(
            version, _read(PROC / "self" / "cgroup"), _read(PROC / "self" / "mountinfo")
        )
        base = _v2_base(where) if version == 2 else _make_base(where.path)
        limiter = CgroupLimiter(version, base, skipped)
        limiter.probe()
    except OSError as exc:
        raise _Unavailable(_explain(exc)) from exc
    return limiter


def _explain(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to create cgroups in {exc.filename} (not root, not delegated)"
    return f"{exc.strerror}: {exc.filename}"


def _make_base(parent: Path) -> Path:
    _sweep_stale(parent)
    base = parent / f"lambdakit-{os.getpid()}"
    base.mkdir(exist_ok=True)
    _created.add(base)
    return base


def _v2_base(where: CgroupLocation) -> Path:
    if "memory" not in _read(where.path / "cgroup.controllers").split():
        raise _Unavailable(
            f"the memory controller is not enabled for {where.path} "
            "(on a hybrid hierarchy it belongs to cgroup v1)"
        )
    try:
        return _v2_base_in(where.path)
    except _Unavailable:
        if os.geteuid() != 0 or where.path == where.mount:
            raise
    return _v2_base_in(where.mount)  # the root cgroup may hold processes and delegate


def _v2_base_in(parent: Path) -> Path:
    try:
        _enable_memory(parent)
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        if _procs(parent) != {os.getpid()}:
            raise _Unavailable(
                f"{parent} holds other processes, so it cannot delegate the memory controller "
                "(run lambdakit in a cgroup of its own, e.g. systemd-run --scope -p Delegate=yes)"
            ) from exc
        leaf = parent / f"lambdakit-{os.getpid()}" / "emulator"
        leaf.mkdir(parents=True, exist_ok=True)
        _write(leaf / "cgroup.procs", str(os.getpid()))
        _enable_memory(parent)
    base = _make_base(parent)
    _enable_memory(base)
    return base


def _enable_memory(cgroup: Path) -> None:
    if "memory" not in _read(cgroup / "cgroup.subtree_control").split():
        _write(cgroup / "cgroup.subtree_control", "+memory")


def _sweep_stale(parent: Path) -> None:
    """Remove the directories of emulators that died without cleaning up."""
    for child in parent.glob("lambdakit-*"):
        pid = child.name.removeprefix("lambdakit-")
        if pid.isdigit() and not _alive(int(pid)):
            _remove_tree(child)


class CgroupLimiter:
    """One cgroup per environment under ``base``."""

    def __init__(self, version: int, base: Path, skipped: list[str] | None = None) -> None:
        self.name = f"cgroup v{version}"
        self.detail = f"one cgroup per environment under {base}" + _why(skipped)
        self.version = version
        self.base = base
        self._files = _V2 if version == 2 else _V1
        self._names: set[str] = set()

    def prepare(self, env_id: str, memory_mb: int) -> CgroupGuard:
        path = self.base / self._unique(f"env-{re.sub(r'[^A-Za-z0-9_.-]', '_', env_id)}")
        path.mkdir()
        guard = CgroupGuard(path, self._files)
        limit = str(memory_mb * MIB)
        try:
            _write(path / self._files.limit, limit)
            for name, value in self._files.extras:
                _write_quietly(path / name, value.format(limit=limit))
        except OSError:
            guard.close()
            raise
        return guard

    def probe(self) -> None:
        """Make a cgroup and read its limit back, or raise OSError/_Unavailable."""
        guard = self.prepare("probe", 128)
        try:
            if _read(guard.path / self._files.limit).strip() != str(128 * MIB):
                raise _Unavailable(f"{guard.path / self._files.limit} does not keep its value")
        finally:
            guard.close()

    def _unique(self, name: str) -> str:
        # Several limiters of one process share ``base``; environment ids may repeat.
        candidate, n = name, 1
        while candidate in self._names or (self.base / candidate).exists():
            n += 1
            candidate = f"{name}-{n}"
        self._names.add(candidate)
        return candidate


class CgroupGuard:
    """One environment's cgroup."""

    confines = True  # nothing leaves a cgroup unless moved by what may write to the hierarchy

    def __init__(self, path: Path, files: _Files) -> None:
        self.path = path
        self._files = files
        self._procs_file = os.fsencode(path / "cgroup.procs")  # ready for preexec
        self._peak_fd: int | None = None  # v2: the fd whose peak was reset
        self._read_fd: int | None = None  # the peak file, kept open: a REPORT per invocation
        self._meter = _TreeMeter()  # v2 before Linux 5.19 has no memory.peak
        self._oom = False
        self._last_peak: int | None = None
        self._closed = False

    def preexec(self) -> None:
        try:
            fd = os.open(self._procs_file, os.O_WRONLY)
            try:
                os.write(fd, b"%d" % os.getpid())
            finally:
                os.close(fd)
        except OSError:
            pass  # attach() moves the process from the parent instead

    def attach(self, pid: int) -> None:
        if pid not in _procs(self.path):
            _write_quietly(self.path / "cgroup.procs", str(pid))
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
            return self._meter.sample(_procs(self.path))
        except (OSError, ValueError):
            return None

    def reset_peak(self) -> None:
        if self._closed:
            return
        if self._files.peak_resets:
            for name in self._files.peak_resets:
                _write_quietly(self.path / name, "0")
        elif (self.path / self._files.peak).exists():
            self._reset_v2_peak()
        else:
            self._meter.reset(_procs(self.path))

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
            _kill_all(self.path)

    def close(self) -> None:
        if self._closed:
            return
        self.oom_killed()
        self._last_peak = self.peak_bytes()
        self._closed = True
        self._close_peak_fd()
        _kill_all(self.path)
        if not _rmdir_when_empty(self.path):
            _created.add(self.path)  # retried at exit

    def _close_peak_fd(self) -> None:
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        if self._read_fd is not None:
            os.close(self._read_fd)
            self._read_fd = None


def _oom_kills(events: Path) -> int:
    try:
        for line in _read(events).splitlines():
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
    pids = _procs(cgroup)
    if not pids:
        return
    try:
        _write(cgroup / "cgroup.kill", "1")  # v2, Linux 5.14+: no race with forks
        return
    except OSError:
        pass
    signalled: set[int] = set()
    for _ in range(rounds):
        for pid in pids - signalled:
            _signal_quietly(pid, signal.SIGKILL)
        signalled |= pids
        pids = _procs(cgroup)
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


# --- rlimit and none -------------------------------------------------------------------------


class RlimitLimiter:
    """RLIMIT_DATA = MemorySize in every process of an environment (see the caveats above)."""

    name = "rlimit"

    def __init__(self, skipped: list[str] | None = None) -> None:
        if not sys.platform.startswith("linux"):
            raise _Unavailable("RLIMIT_DATA bounds mmap only on Linux (4.7+)")
        self.detail = "RLIMIT_DATA per process, peak = VmHWM of the process tree" + _why(skipped)

    def prepare(self, env_id: str, memory_mb: int) -> RlimitGuard:
        return RlimitGuard(memory_mb * MIB)


class NoLimiter:
    """No limit; the peak from /proc where there is one."""

    name = "none"

    def __init__(self, skipped: list[str] | None = None) -> None:
        self.detail = "MemorySize is not enforced" + _why(skipped)

    def prepare(self, env_id: str, memory_mb: int) -> ProcessTreeGuard:
        return ProcessTreeGuard()


def _why(skipped: list[str] | None) -> str:
    return f"; {'; '.join(skipped)}" if skipped else ""


class ProcessTreeGuard:
    """No limit; the peak is the sum of VmHWM over the environment's process tree."""

    confines = False  # the environment finds its processes itself (reaping.py)

    def __init__(self) -> None:
        self._pid: int | None = None
        self._meter = _TreeMeter()

    def preexec(self) -> None:
        pass

    def attach(self, pid: int) -> None:
        self._pid = pid

    def peak_bytes(self) -> int | None:
        return self._meter.sample(process_tree(self._pid) if self._pid else [])

    def reset_peak(self) -> None:
        self._meter.reset(process_tree(self._pid) if self._pid else [])

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


class _TreeMeter:
    """Sum of VmHWM over processes, kept as a running maximum so that exited ones still count."""

    def __init__(self) -> None:
        self._peak = 0

    def sample(self, pids: Iterable[int]) -> int | None:
        total = sum(_vm_hwm(pid) for pid in pids)
        self._peak = max(self._peak, total)
        return self._peak or None

    def reset(self, pids: Iterable[int]) -> None:
        for pid in pids:
            _write_quietly(PROC / str(pid) / "clear_refs", "5")  # 5: reset VmHWM (proc(5))
        self._peak = 0


def _vm_hwm(pid: int) -> int:
    try:
        for line in _read(PROC / str(pid) / "status").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # "VmHWM:   9744 kB"
    except (OSError, ValueError, IndexError):
        pass
    return 0  # gone, a zombie, or a kernel thread


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants now (children files if the kernel has them, else a scan)."""
    children = _children if _has_children_files() else _children_by_scan()
    tree, queue = [], [root]
    while queue:
        pid = queue.pop()
        tree.append(pid)
        queue += children(pid)
    return tree


@functools.cache
def _has_children_files() -> bool:
    # /proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN (most distributions have it).
    return (PROC / str(os.getpid()) / "task" / str(os.getpid()) / "children").exists()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in _listdir(PROC / str(pid) / "task"):
        try:
            found += [int(p) for p in _read(PROC / str(pid) / "task" / task / "children").split()]
        except (OSError, ValueError):
            pass
    return found


def _children_by_scan() -> Callable[[int], list[int]]:
    """Children from every process's parent pid, read once for one walk of the tree."""
    children: dict[int, list[int]] = {}
    for entry in _listdir(PROC):
        if entry.isdigit():
            try:
                ppid = parse_stat(_read(PROC / entry / "stat")).ppid
            except (OSError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    return lambda pid: children.get(pid, [])


# --- small helpers and clean-up at exit ------------------------------------------------------

_created: set[Path] = set()  # cgroup directories to remove at exit (if still there)


@atexit.register
def _remove_created() -> None:
    for path in sorted(_created, key=lambda p: len(p.parts), reverse=True):
        _remove_tree(path)


def _remove_tree(path: Path) -> None:
    try:
        for child in path.iterdir():
            if child.is_dir():
                _remove_tree(child)
        os.rmdir(path)
    except OSError:
        pass  # not empty (processes) or gone


def _read(path: Path) -> str:
    with open(path, encoding="ascii", errors="replace") as file:
        return file.read()


def _write(path: Path, text: str) -> None:
    # Unbuffered, so that the kernel's refusal surfaces here and not at close().
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _write_quietly(path: Path, text: str) -> None:
    try:
        _write(path, text)
    except OSError:
        pass


def _procs(cgroup: Path) -> set[int]:
    try:
        return {int(p) for p in _read(cgroup / "cgroup.procs").split()}
    except (OSError, ValueError):
        return set()


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_quietly(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass
