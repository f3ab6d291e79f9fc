"""The runtime's operating-system process: spawned in a process group of its own, its output
pumped into the environment's ``OutputLog``, and ended with everything it started.

``ExecutionEnvironment`` (environments.py) holds Lambda's side of an environment: its states,
its invocations, the lines written about them. This is the other side: a process, two pipes,
and how to find what the process left behind when no cgroup holds it (``reaping``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.emulator import reaping
from lambdakit.emulator.output_log import OutputLog, unread
from lambdakit.emulator.process_env import OutputPipe, spawn

if TYPE_CHECKING:
    from lambdakit.emulator.limits import MemoryGuard

__all__ = ["OUTPUT_DRAIN", "RuntimeProcess"]

OUTPUT_DRAIN = 0.25  # seconds the output pumps get, once the processes are gone, to read the rest


class RuntimeProcess:
    """One environment's runtime process. GUARD limits its memory (and, with a cgroup, holds
    all it starts); OUTPUT receives what it writes."""

    def __init__(self, output: OutputLog, guard: MemoryGuard) -> None:
        self.output = output
        self.guard = guard
        self.process: asyncio.subprocess.Process | None = None
        self.pumps: list[asyncio.Task[None]] = []  # copying stdout and stderr to OUTPUT
        self._outputs: list[OutputPipe] = []  # stdout's and stderr's read ends
        self._footprint: reaping.Footprint | None = None  # how to find its processes, sans cgroup
        self._info_fd: int | None = None  # bwrap's JSON about its sandbox (sandbox.py)
        self._group: int | None = None  # the sandbox's PID 1: the runtime is in its group
        self._main: int | None = None  # the runtime's own process, in the sandbox
        self.sandboxed = False

    async def spawn(
        self,
        argv: list[str],
        *,
        cwd: Path,
        environ: dict[str, str],
        unique: Mapping[str, str],
        sandbox: Callable[[int], list[str]] | None = None,
    ) -> None:
        """Start ARGV, or the sandbox's command around it (SANDBOX: given the descriptor bwrap
        writes its child's pid to, the command). UNIQUE are variables that only this
        environment has: with the output pipes, they find its processes again when no cgroup
        holds them (unless the function's own settings replaced them)."""
        passed: tuple[int, ...] = ()
        self.sandboxed = sandbox is not None
        if sandbox is not None:
            self._info_fd, info_w = os.pipe()
            argv, passed = sandbox(info_w), (info_w,)
        try:
            self.process, self._outputs = await spawn(
                argv, cwd=cwd, environ=environ, preexec=self.guard.preexec, pass_fds=passed
            )
        finally:
            for fd in passed:
                os.close(fd)
        self.guard.attach(self.process.pid)
        if not self.guard.confines:
            self._footprint = reaping.footprint(
                self.process.pid,
                variables={
                    name: value for name, value in unique.items() if environ.get(name) == value
                },
                pipes=[pipe.fd for pipe in self._outputs],
            )
        out, err = self._outputs
        self.pumps = [
            asyncio.create_task(self.output.pump(out.reader, "stdout")),
            asyncio.create_task(self.output.pump(err.reader, "stderr")),
        ]

    def signal(self, signum: int) -> None:
        """SIGNUM to the runtime's process group, if the runtime is still running (SIGKILL to
        the sandbox's too: what is left of it dies with it)."""
        if self.process is not None and self.process.returncode is None:
            groups = {self.group} | ({self.process.pid} if signum == signal.SIGKILL else set())
            for group in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, signum)

    @property
    def group(self) -> int:
        """The process group the runtime is in: its own, or in the sandbox, that of the
        namespace's PID 1 (bwrap's ``--new-session``; sandbox.py)."""
        assert self.process is not None
        if self._info_fd is not None:
            self._group = _child_pid(self._info_fd)
            self._info_fd = None
        return self._group or self.process.pid

    @property
    def main(self) -> int:
        """The runtime's own process (in the sandbox, the child of the namespace's PID 1)."""
        assert self.process is not None
        group = self.group
        if group == self.process.pid:
            return group
        if self._main is None:
            self._main = _first_child(group)
        return self._main or group

    async def wait(self) -> int:
        """The runtime's exit status; in the sandbox, bwrap exits with 128 + N when its child
        was killed by signal N, which is told as that signal (``invocations.exit_reason``)."""
        assert self.process is not None
        returncode = await self.process.wait()
        if not self.sandboxed:
            return returncode
        if self._info_fd is not None:  # never needed: bwrap's JSON is not read any more
            os.close(self._info_fd)
            self._info_fd = None
        return -(returncode - 128) if 128 < returncode < 160 else returncode

    def unread(self) -> bool:
        """Whether output is left in the pipes that the pumps have not taken yet."""
        return unread(self.process, self._outputs)

    async def settle(self) -> None:
        """Wait (briefly) for the pumps to take what the runtime wrote before it answered."""
        await self.output.settle(self.process, self._outputs)

    async def end_leftovers(self) -> None:
        """SIGKILL whatever the runtime leaves running (a setsid child, a daemon): on Lambda
        nothing outlives its environment. A cgroup holds it all; otherwise it is searched for
        in /proc, off the event loop (reaping.py)."""
        self.guard.kill()
        if self._footprint is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, reaping.kill_all, [self._footprint])

    async def drain(self) -> None:
        """Give the pumps OUTPUT_DRAIN seconds to read what the ended processes wrote, then
        close the read ends: a writer that escaped (another user's process, a descriptor sent
        away) must not keep the environment from ending."""
        if not self.pumps:
            return
        _, reading = await asyncio.wait(self.pumps, timeout=OUTPUT_DRAIN)
        if reading:
            for pipe in self._outputs:
                pipe.transport.close()  # closes the descriptor; the reader sees its EOF
            _, reading = await asyncio.wait(reading, timeout=OUTPUT_DRAIN)  # EOF comes now
            for pump in reading:
                pump.cancel()


def _child_pid(fd: int) -> int | None:
    """The ``child-pid`` of bwrap's ``--info-fd`` JSON, read from FD (then closed): written
    before its child starts, so this waits at most for bwrap's own start."""
    data = b""
    try:
        while b"}" not in data and (piece := os.read(fd, 4096)):
            data += piece
    except OSError:
        pass
    finally:
        os.close(fd)
    found = re.search(rb'"child-pid"\s*:\s*(\d+)', data)
    return int(found.group(1)) if found else None


def _first_child(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as file:
            children = file.read().split()
    except OSError:
        return None
    return int(children[0]) if children else None
