"""Finding every process an execution environment started, to end them with it.

On Lambda nothing an environment started outlives it: after the Shutdown phase's SIGKILL the
environment is removed, and a runtime that fails during an invocation gets the environment
reset (lambda-runtime-environment.html, "Shutdown phase", "Failures during the invoke phase").
Here the runtime's process group is not enough. A child that called ``setsid()`` has left it;
a daemon that forked twice has been reparented to init. A cgroup per environment (limits/cgroups.py)
knows them all. Without one, this module finds them in /proc (proc(5)) by what they keep
unless they take pains to shed it:

- descent: the runtime, and any descendant of a process found;
- the environment's own variables: ``/proc/PID/environ`` is the block the process was started
  with, inherited through fork, setsid and exec. The emulator gives each environment values
  that no other has (its Runtime API address, its log stream name);
- the write end of the environment's stdout or stderr pipe (``/proc/PID/fd/N`` links to
  ``pipe:[INODE]``; the ``flags`` line of ``/proc/PID/fdinfo/N`` says which end).

Only processes started no earlier than the runtime are looked at (``starttime`` in
``/proc/PID/stat``): nothing older can descend from it. A search therefore reads one small
file per process and a few more per recent one: 15-25 ms for a thousand processes.
Unless we are root, only our own user's processes are looked at: we could not signal the
others. Searches are for endings (shutdown, a kill after a timeout, a runtime that exited,
idle reaping), never for an invocation. Everything here swallows the OSErrors of processes
that end while they are being read.

``process_tree`` is the plain descent, without marks, for what must be quick and may miss a
stray daemon: the memory meter of an environment without a cgroup (limits, at every REPORT)
and the check that a Runtime API client is the environment's own (peers). It reads only the
tree's own ``children`` files where the kernel has them. One walk (``walk``) serves it and the
search.
"""

from __future__ import annotations

import functools
import os
import signal
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Footprint",
    "Stat",
    "descendants",
    "environ_entries",
    "find",
    "footprint",
    "kill_all",
    "parse_stat",
    "pipe_inode",
    "process_tree",
    "walk",
    "writes",
]

PROC = Path("/proc")
_O_ACCMODE = 0o3  # the access mode bits of open(2)'s flags, as fdinfo shows them


@dataclass(frozen=True)
class Footprint:
    """What marks the processes of one environment."""

    root: int
    """The runtime's pid."""
    since: int
    """The runtime's start time (clock ticks after boot); 0 if unknown (all are looked at)."""
    variables: frozenset[bytes] = frozenset()
    """``NAME=value`` entries of the environment that no other environment has."""
    pipes: frozenset[int] = frozenset()
    """Inodes of its output pipes."""


@dataclass(frozen=True)
class Stat:
    """The fields of ``/proc/PID/stat`` that a search needs."""

    pid: int
    state: str
    """``R``, ``S``, ``Z`` (a zombie: exited, not yet waited for) ..."""
    ppid: int
    start: int
    """Clock ticks after boot (field 22)."""


# --- parsing (sans-IO) -------------------------------------------------------------------------


def parse_stat(text: str) -> Stat:
    """``pid (comm) state ppid ...``: comm may hold spaces and parentheses, so the fields are
    counted from its last ``)``. Raises ValueError on a text that is not one."""
    head, paren, tail = text.rpartition(")")
    fields = tail.split()
    if not paren or len(fields) < 20:
        raise ValueError(f"not a /proc/PID/stat line: {text[:80]!r}")
    pid = int(head.partition("(")[0])
    return Stat(pid=pid, state=fields[0], ppid=int(fields[1]), start=int(fields[19]))


def environ_entries(raw: bytes) -> frozenset[bytes]:
    """The ``NAME=value`` entries of an environ block (NUL-separated)."""
    return frozenset(entry for entry in raw.split(b"\0") if entry)


def pipe_inode(link: str) -> int | None:
    """The inode of a ``pipe:[INODE]`` descriptor link; None for anything else."""
    if not (link.startswith("pipe:[") and link.endswith("]")):
        return None
    inode = link[len("pipe:[") : -1]
    return int(inode) if inode.isdigit() else None


def writes(fdinfo: str) -> bool:
    """Whether a descriptor is open for writing, from its fdinfo text (``flags:`` is octal)."""
    for line in fdinfo.splitlines():
        key, _, value = line.partition(":")
        if key == "flags":
            try:
                return int(value.strip(), 8) & _O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
            except ValueError:
                return False
    return False


def descendants(parents: Mapping[int, int], roots: Iterable[int]) -> set[int]:
    """``roots`` and every process below them, given each process's parent."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    return set(walk(lambda pid: children.get(pid, ()), roots))


def walk(children: Callable[[int], Iterable[int]], roots: Iterable[int]) -> list[int]:
    """``roots`` and every process below them, each once, a parent before its children. The
    one walk of a process tree: pids reused between two reads can make a cycle, which ends."""
    found: dict[int, None] = {}  # ordered, for the parent-first order
    queue = list(roots)
    while queue:
        pid = queue.pop()
        if pid not in found:
            found[pid] = None
            queue += children(pid)
    return list(found)


# --- reading /proc -----------------------------------------------------------------------------


def footprint(
    root: int, *, variables: Mapping[str, str], pipes: Iterable[int], proc: Path = PROC
) -> Footprint:
    """The marks of the environment whose runtime is ``root``, whose unique variables are
    ``variables`` and whose output pipes' read ends are the descriptors ``pipes``. Taken right
    after the spawn: the runtime's start time is gone with it."""
    stat = _stat(f"{os.fspath(proc)}/{root}")
    return Footprint(
        root=root,
        since=stat.start if stat is not None else 0,
        variables=frozenset(os.fsencode(f"{name}={value}") for name, value in variables.items()),
        pipes=frozenset(os.fstat(fd).st_ino for fd in pipes),
    )


def find(footprints: Iterable[Footprint], proc: Path = PROC) -> dict[int, int]:
    """The running processes (pid -> start time) of these environments, in one pass over
    /proc; zombies are left out (nothing to kill), and so is this process."""
    prints = list(footprints)
    if not prints:
        return {}
    base = os.fspath(proc)
    recent = _recent(base, min(p.since for p in prints))
    marked = {stat.pid for stat in recent.values() if _marked(base, stat, prints)}
    found = descendants({pid: stat.ppid for pid, stat in recent.items()}, marked)
    return {pid: recent[pid].start for pid in found if pid in recent}


def kill_all(
    footprints: Iterable[Footprint],
    *,
    proc: Path = PROC,
    kill: Callable[[int, int], None] = os.kill,
    rounds: int = 10,
) -> int:
    """SIGKILL every process of these environments; returns how many were signalled.

    A process can fork between the search and its SIGKILL, so the search is repeated until it
    finds nobody new. That ends: once SIGKILL is pending, fork() fails (the kernel's
    copy_process checks for a fatal signal), so only processes not yet signalled add any.
    A process is known by its pid and start time, so a reused pid is not taken for it."""
    prints = list(footprints)
    signalled: set[tuple[int, int]] = set()
    for _ in range(rounds):
        new = set(find(prints, proc).items()) - signalled
        if not new:
            break
        for pid, _start in new:
            try:
                kill(pid, signal.SIGKILL)
            except OSError:
                pass  # gone already
        signalled |= new
    return len(signalled)


def process_tree(root: int) -> list[int]:
    """``root`` and its descendants now, ``root`` first: what the memory meter of an
    environment without a cgroup sums (limits), and whose sockets are the environment's own
    (peers). Read from the children files where the kernel has them (only the tree's own
    files), else from every process's parent."""
    children = _children if _has_children_files() else _children_by_scan(os.fspath(PROC))
    return walk(children, [root])


@functools.cache
def _has_children_files() -> bool:
    # /proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN (most distributions have it).
    return os.path.exists(f"{os.fspath(PROC)}/{os.getpid()}/task/{os.getpid()}/children")


def _children(pid: int) -> list[int]:
    task = f"{os.fspath(PROC)}/{pid}/task"
    found: list[int] = []
    for thread in _listdir(task):
        try:
            with open(f"{task}/{thread}/children", "rb") as file:  # may exceed one read
                found += [int(p) for p in file.read().split()]
        except (OSError, ValueError):
            pass
    return found


def _children_by_scan(proc: str) -> Callable[[int], list[int]]:
    """Children from every process's parent pid, read once for one walk of the tree."""
    children: dict[int, list[int]] = {}
    for entry in _listdir(proc):
        if entry.isdigit():
            stat = _stat(f"{proc}/{entry}")
            if stat is not None:
                children.setdefault(stat.ppid, []).append(stat.pid)
    return lambda pid: children.get(pid, [])


def _recent(proc: str, since: int) -> dict[int, Stat]:
    """The live processes started at ``since`` or later that we may signal, but this one."""
    mine = None if os.geteuid() == 0 else os.getuid()
    recent: dict[int, Stat] = {}
    for entry in _listdir(proc):
        if not entry.isdigit():
            continue
        stat = _stat(f"{proc}/{entry}")
        if stat is None or stat.start < since or stat.state in ("Z", "X"):
            continue
        if mine is None or _owner(f"{proc}/{entry}") == mine:
            recent[stat.pid] = stat
    recent.pop(os.getpid(), None)  # never marked: all our children would be its descendants
    return recent


def _marked(proc: str, stat: Stat, footprints: list[Footprint]) -> bool:
    """Whether the process bears a mark of one of the environments (each file read once)."""
    candidates = [p for p in footprints if stat.start >= p.since]
    if any(stat.pid == p.root for p in candidates):
        return True
    if any(p.variables for p in candidates):
        environ = _environ(f"{proc}/{stat.pid}/environ")
        if any(p.variables & environ for p in candidates):
            return True
    pipes = frozenset().union(*(p.pipes for p in candidates))
    return bool(pipes) and _holds_write_end(f"{proc}/{stat.pid}", pipes)


def _holds_write_end(process: str, pipes: frozenset[int]) -> bool:
    for fd in _listdir(f"{process}/fd"):
        try:
            inode = pipe_inode(os.readlink(f"{process}/fd/{fd}"))
            if inode in pipes and writes(_read(f"{process}/fdinfo/{fd}")):
                return True
        except OSError:
            continue  # closed meanwhile
    return False


# Paths are strings here: a search makes thousands, and pathlib objects cost as much as the reads.


def _stat(process: str) -> Stat | None:
    try:
        return parse_stat(_read(f"{process}/stat"))
    except (OSError, ValueError):
        return None


def _environ(path: str) -> frozenset[bytes]:
    try:
        with open(path, "rb") as file:
            return environ_entries(file.read())
    except OSError:
        return frozenset()


def _owner(path: str) -> int | None:
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


def _read(path: str) -> str:
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.read(fd, 4096).decode("ascii", "replace")
    finally:
        os.close(fd)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []
