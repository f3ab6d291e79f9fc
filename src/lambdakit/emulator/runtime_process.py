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
from collections.abc import Mapping
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

    async def spawn(
        self, argv: list[str], *, cwd: Path, environ: dict[str, str], unique: Mapping[str, str]
    ) -> None:
        """Start ARGV. UNIQUE are variables that only this environment has: with the output
        pipes, they find its processes again when no cgroup holds them (unless the function's
        own settings replaced them)."""
        self.process, self._outputs = await spawn(
            argv, cwd=cwd, environ=environ, preexec=self.guard.preexec
        )
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
        """SIGNUM to the whole process group, if the runtime is still running."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    async def wait(self) -> int:
        assert self.process is not None
        return await self.process.wait()

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
