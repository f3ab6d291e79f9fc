"""Where our cgroups go: this process's place in the hierarchy, and the base cgroup made there.

Cgroups need write access to the emulator's own cgroup: as root, or inside a delegated one.
The emulator creates ``<its cgroup>/lambdakit-<pid>/env-<id>`` and removes them again; stale
directories of dead emulators are swept at start. Cgroup v2 lets a cgroup that holds processes
give controllers to its children only at the root ("no internal processes"). So when our own
cgroup holds other processes, the v2 limiter works at the hierarchy's root (as root) or not at
all. When the emulator is alone in its cgroup, for example under ``systemd-run --user --scope -p
Delegate=yes``, it moves itself into a leaf ``lambdakit-<pid>/emulator`` first.

On a hybrid host, whose memory controller is on cgroup v1 while a cgroup v2 hierarchy with no
controllers is mounted beside it (``/sys/fs/cgroup/unified``), each environment also has a
cgroup there, for its freezer (``unified_base``).

Finding our cgroup is sans-IO (``locate_cgroup`` takes the texts of /proc/self/cgroup and
/proc/self/mountinfo); making the base raises ``Unavailable`` with the reason, or OSError.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lambdakit.emulator.limits import files
from lambdakit.emulator.limits.protocols import Unavailable

PROC = Path("/proc")


def our_base(version: int) -> Path:
    """The directory under which this emulator makes its cgroups of ``version`` (made now)."""
    where = locate_cgroup(
        version, files.read(PROC / "self" / "cgroup"), files.read(PROC / "self" / "mountinfo")
    )
    return _v2_base(where) if version == 2 else _make_base(where.path)


def unified_base() -> Path:
    """On a hybrid host, whose memory controller is on cgroup v1: the directory under which this
    emulator makes cgroups with no controller in the unified (v2) hierarchy, for the core files
    every v2 cgroup has (``cgroup.freeze``, ``cgroup.kill``: freezing.py). Raises
    ``Unavailable``, or OSError where we may not make it."""
    try:
        where = locate_cgroup(
            2, files.read(PROC / "self" / "cgroup"), files.read(PROC / "self" / "mountinfo")
        )
    except Unavailable as exc:
        raise Unavailable(f"the unified hierarchy beside cgroup v1: {exc}") from exc
    base = _make_base(where.path)
    if not (base / "cgroup.freeze").exists():
        raise Unavailable(f"the kernel has no cgroup v2 freezer (Linux 5.2+) in {where.mount}")
    return base


# --- finding our cgroup (sans-IO) ------------------------------------------------------------


@dataclass(frozen=True)
class CgroupLocation:
    """Where this process sits in the hierarchy that holds the memory controller."""

    version: int
    mount: Path  # the hierarchy's mount point
    path: Path  # this process's cgroup directory


def locate_cgroup(version: int, proc_cgroup: str, mountinfo: str) -> CgroupLocation:
    """Our cgroup directory from the texts of /proc/self/cgroup and /proc/self/mountinfo.
    Raises ``Unavailable``."""
    own = _own_cgroup_path(version, proc_cgroup)
    for fstype, root, point, options in _cgroup_mounts(mountinfo):
        if fstype != ("cgroup2" if version == 2 else "cgroup"):
            continue
        if version == 1 and "memory" not in options.split(","):
            continue
        # In a cgroup namespace or a bind mount, the mount shows a subtree: strip its root.
        if root != "/" and own != root and not own.startswith(root.rstrip("/") + "/"):
            raise Unavailable(f"our cgroup {own} is outside the mounted subtree {root}")
        relative = own[len(root) :] if root != "/" else own
        return CgroupLocation(version, Path(point), Path(point) / relative.lstrip("/"))
    if version == 2:
        raise Unavailable("no such hierarchy (cgroup2) is mounted")
    raise Unavailable("no such hierarchy with the memory controller is mounted")


def _own_cgroup_path(version: int, text: str) -> str:
    for line in text.splitlines():
        ident, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if version == 2 and ident == "0" and controllers == "":
            return path
        if version == 1 and "memory" in controllers.split(","):
            return path
    raise Unavailable("this process is in no such cgroup (see /proc/self/cgroup)")


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


# --- the base cgroup ---------------------------------------------------------------------------


def _make_base(parent: Path) -> Path:
    _sweep_stale(parent)
    base = parent / f"lambdakit-{os.getpid()}"
    base.mkdir(exist_ok=True)
    files.created.add(base)
    return base


def _v2_base(where: CgroupLocation) -> Path:
    if "memory" not in files.read(where.path / "cgroup.controllers").split():
        raise Unavailable(
            f"the memory controller is not enabled for {where.path} "
            "(on a hybrid hierarchy it belongs to cgroup v1)"
        )
    try:
        return _v2_base_in(where.path)
    except Unavailable:
        if os.geteuid() != 0 or where.path == where.mount:
            raise
    return _v2_base_in(where.mount)  # the root cgroup may hold processes and delegate


def _v2_base_in(parent: Path) -> Path:
    try:
        _enable_memory(parent)
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
        if files.procs(parent) != {os.getpid()}:
            raise Unavailable(
                f"{parent} holds other processes, so it cannot delegate the memory controller "
                "(run lambdakit in a cgroup of its own, e.g. systemd-run --scope -p Delegate=yes)"
            ) from exc
        leaf = parent / f"lambdakit-{os.getpid()}" / "emulator"
        leaf.mkdir(parents=True, exist_ok=True)
        files.write(leaf / "cgroup.procs", str(os.getpid()))
        _enable_memory(parent)
    base = _make_base(parent)
    _enable_memory(base)
    return base


def _enable_memory(cgroup: Path) -> None:
    if "memory" not in files.read(cgroup / "cgroup.subtree_control").split():
        files.write(cgroup / "cgroup.subtree_control", "+memory")


def _sweep_stale(parent: Path) -> None:
    """Remove the directories of emulators that died without cleaning up."""
    for child in parent.glob("lambdakit-*"):
        pid = child.name.removeprefix("lambdakit-")
        if pid.isdigit() and not files.alive(int(pid)):
            files.remove_tree(child)


__all__ = ["CgroupLocation", "locate_cgroup", "our_base", "unified_base"]
