"""Reading and writing the kernel's files (cgroupfs, /proc), and removing what we made at exit.

Cgroup interface files are written unbuffered, so that the kernel's refusal surfaces at the
write and not at close(). Everything that touches them goes through ``read`` and ``write``
here, as module attributes (``files.read(...)``), so that the tests can stand plain files in
for cgroupfs in one place.
"""

from __future__ import annotations

import atexit
import os
from pathlib import Path

created: set[Path] = set()
"""Cgroup directories to remove at exit (if still there)."""


@atexit.register
def _remove_created() -> None:
    for path in sorted(created, key=lambda p: len(p.parts), reverse=True):
        remove_tree(path)


def remove_tree(path: Path) -> None:
    """Remove the empty directories at and below ``path``; what is not empty stays."""
    try:
        for child in path.iterdir():
            if child.is_dir():
                remove_tree(child)
        os.rmdir(path)
    except OSError:
        pass  # not empty (processes) or gone


def read(path: Path) -> str:
    with open(path, encoding="ascii", errors="replace") as file:
        return file.read()


def write(path: Path, text: str) -> None:
    # Unbuffered, so that the kernel's refusal surfaces here and not at close().
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_quietly(path: Path, text: str) -> None:
    try:
        write(path, text)
    except OSError:
        pass


def procs(cgroup: Path) -> set[int]:
    """The processes in ``cgroup`` (none if it is gone)."""
    try:
        return {int(p) for p in read(cgroup / "cgroup.procs").split()}
    except (OSError, ValueError):
        return set()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_quietly(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


__all__ = [
    "alive",
    "created",
    "procs",
    "read",
    "remove_tree",
    "signal_quietly",
    "write",
    "write_quietly",
]
