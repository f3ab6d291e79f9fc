"""What every memory-limit mechanism provides: a ``MemoryLimiter`` that prepares one
``MemoryGuard`` per execution environment."""

from __future__ import annotations

from typing import Protocol

MIB = 1024 * 1024


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
        """Start a new peak where the kernel allows it (see the package docstring)."""

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


class Unavailable(Exception):
    """A mechanism cannot work here; the message says why (for ``detail``)."""


def why(skipped: list[str] | None) -> str:
    """The end of a ``detail``: why the stronger mechanisms were skipped."""
    return f"; {'; '.join(skipped)}" if skipped else ""


__all__ = ["MIB", "MemoryGuard", "MemoryLimiter", "Unavailable", "why"]
