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

from lambdakit.emulator import extension_launcher, reaping
from lambdakit.emulator.output_log import OutputLog, unread
from lambdakit.emulator.process_env import OutputPipe, output_pipe, spawn

if TYPE_CHECKING:
    from lambdakit.emulator.limits import MemoryGuard
    from lambdakit.emulator.reports import Stream

__all__ = ["OUTPUT_DRAIN", "RuntimeProcess"]

OUTPUT_DRAIN = 0.25  # seconds the output pumps get, once the processes are gone, to read the rest
REAP_WAIT = 1.0  # seconds to wait, after its SIGKILL, for the loop to see the process end


class RuntimeProcess:
    """One environment's runtime process. GUARD limits its memory (and, with a cgroup, holds
    all it starts); OUTPUT receives what it writes."""

    def __init__(
        self, output: OutputLog, guard: MemoryGuard, extension_output: OutputLog | None = None
    ) -> None:
        self.output = output
        # What the external extensions write, on pipes of their own (extension_output.py).
        self.extension_output = extension_output or output
        self._extension_outputs: list[OutputPipe] = []
        self.guard = guard
        self.process: asyncio.subprocess.Process | None = None
        self.pumps: list[asyncio.Task[None]] = []  # copying stdout and stderr to OUTPUT
        self._outputs: list[OutputPipe] = []  # stdout's and stderr's read ends
        self._footprint: reaping.Footprint | None = None  # how to find its processes, sans cgroup
        self._info_fd: int | None = None  # bwrap's JSON about its sandbox (sandbox.py)
        self._group: int | None = None  # the sandbox's PID 1: the runtime is in its group
        self._main: int | None = None  # the runtime's own process, in the sandbox
        self.sandboxed = False
        # With external extensions the process is the launcher (extension_launcher.py): it
        # says on STATUS when the runtime or an extension ends, and waits on GO to start it.
        self.launcher = False
        self.on_extension_exit: Callable[[str, int], None] = lambda name, code: None
        self._go: int | None = None
        self._runtime_exit: asyncio.Future[int] | None = None
        self._status_task: asyncio.Task[None] | None = None

    async def spawn(
        self,
        argv: list[str],
        *,
        cwd: Path,
        environ: dict[str, str],
        unique: Mapping[str, str],
        sandbox: Callable[[int, list[str]], list[str]] | None = None,
        extensions: tuple[extension_launcher.ExternalExtension, ...] = (),
    ) -> None:
        """Start ARGV, or the sandbox's command around it (SANDBOX: given the descriptor bwrap
        writes its child's pid to, the command). UNIQUE are variables that only this
        environment has: with the output pipes, they find its processes again when no cgroup
        holds them (unless the function's own settings replaced them)."""
        passed: tuple[int, ...] = ()
        status = None
        if extensions:
            self.launcher = True
            status, status_w = os.pipe()
            go_r, self._go = os.pipe()
            (out, out_w), (err, err_w) = await output_pipe(), await output_pipe()
            self._extension_outputs = [out, err]
            fds = (out_w, err_w)
            argv = extension_launcher.launcher_argv(status_w, go_r, fds, extensions, argv)
            environ = extension_launcher.launcher_environ(environ)
            passed = (status_w, go_r, *fds)
        self.sandboxed = sandbox is not None
        if sandbox is not None:
            self._info_fd, info_w = os.pipe()
            argv, passed = sandbox(info_w, argv), (*passed, info_w)
        try:
            self.process, self._outputs = await spawn(
                argv, cwd=cwd, environ=environ, preexec=self.guard.preexec, pass_fds=passed
            )
        except BaseException:
            for pipe in self._extension_outputs:
                pipe.transport.close()
            raise
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
                pipes=[pipe.fd for pipe in self._pipes()],
            )
        if status is not None:
            self._runtime_exit = asyncio.get_running_loop().create_future()
            self._status_task = asyncio.create_task(self._read_status(status))
        self.pumps = [
            *_pumps(self.output, self._outputs),
            *_pumps(self.extension_output, self._extension_outputs),
        ]

    def _pipes(self) -> list[OutputPipe]:
        """The read ends of the runtime's stdout and stderr, and of the extensions'."""
        return [*self._outputs, *self._extension_outputs]

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
        if self._main is None:
            self._main = group if group == self.process.pid else _first_child(group)
            if self.launcher and self._main is not None:  # the launcher's child in its group
                self._main = _runtime_child(self._main)
        return self._main or group

    async def wait(self) -> int:
        """The runtime's exit status; in the sandbox, bwrap exits with 128 + N when its child
        was killed by signal N, which is told as that signal (``invocations.exit_reason``)."""
        assert self.process is not None
        if self._runtime_exit is not None:  # the launcher says, or ends (killed) first
            ended = asyncio.ensure_future(self.process.wait())
            await asyncio.wait([self._runtime_exit, ended], return_when=asyncio.FIRST_COMPLETED)
            if self._runtime_exit.done():
                return self._runtime_exit.result()
        returncode = await self.process.wait()
        if not self.sandboxed:
            return returncode
        if self._info_fd is not None:  # never needed: bwrap's JSON is not read any more
            os.close(self._info_fd)
            self._info_fd = None
        return -(returncode - 128) if 128 < returncode < 160 else returncode

    async def ended(self) -> None:
        """Every process of the environment ended: the launcher, once the extensions have."""
        if self.process is not None:
            await self.process.wait()

    async def _read_status(self, fd: int) -> None:
        """The launcher's STATUS lines: the runtime's end, and each extension's."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        file = os.fdopen(fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), file
        )
        try:
            while line := await reader.readline():
                parsed = extension_launcher.parse_status(line)
                if parsed is None:
                    continue
                what, name, code = parsed
                if what == "runtime" and self._runtime_exit and not self._runtime_exit.done():
                    self._runtime_exit.set_result(code)
                elif what == "extension":
                    self.on_extension_exit(name, code)
        finally:
            transport.close()

    def release(self) -> None:
        """Every external extension registered: the launcher starts the runtime now."""
        if self._go is not None:
            with contextlib.suppress(OSError):
                os.write(self._go, b"go\n")
            os.close(self._go)
            self._go = None

    def kill_runtime(self) -> None:
        """SIGKILL the runtime alone (its share of the shutdown is over), not the launcher that
        keeps the extensions' sandbox alive; the rest goes at the deadline."""
        if not self.launcher:
            self.signal(signal.SIGKILL)
            return
        with contextlib.suppress(ProcessLookupError, PermissionError, AssertionError):
            if self.process is not None and self.process.returncode is None:
                os.kill(self.main, signal.SIGKILL)

    def extension_groups(self) -> dict[str, int]:
        """The process group of each external extension still running, by name: the launcher's
        children in a group of their own (``setsid sh -c ... STATUS PATH``)."""
        if not self.launcher or self.process is None or self.process.returncode is not None:
            return {}
        launcher = self._launcher_pid()
        groups: dict[str, int] = {}
        for child in _children(launcher):
            with contextlib.suppress(OSError):
                if os.getpgid(child) != os.getpgid(launcher):
                    with open(f"/proc/{child}/cmdline", "rb") as file:
                        path = file.read().rstrip(b"\0").rpartition(b"\0")[2]
                    groups[os.fsdecode(path).rpartition("/")[2]] = os.getpgid(child)
        return groups

    def _launcher_pid(self) -> int:
        group = self.group
        if group == self.process.pid:  # type: ignore[union-attr]
            return group
        return _first_child(group) or group

    def unread(self) -> bool:
        """Whether output is left in the pipes that the pumps have not taken yet."""
        return unread(self.process, self._pipes())

    async def settle(self) -> None:
        """Wait (briefly) for the pumps to take what the runtime wrote before it answered."""
        await self.output.settle(self.process, self._pipes())

    async def end_leftovers(self) -> None:
        """SIGKILL whatever the runtime leaves running (a setsid child, a daemon): on Lambda
        nothing outlives its environment. A cgroup holds it all; otherwise it is searched for
        in /proc, off the event loop (reaping.py). Then the process itself (``_reaped``)."""
        self.guard.kill()
        if self._footprint is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, reaping.kill_all, [self._footprint])
        await self._reaped()

    async def _reaped(self) -> None:
        """The spawned process (the runtime, the launcher or bwrap) killed if it still runs,
        and its end seen by the loop, which then closes its transport. A launcher killed at the
        Shutdown phase's deadline is not otherwise waited for: a loop that closed before the
        report came (the end of ``invoke``) would drop the transport unclosed."""
        if self.process is None:
            return
        self.signal(signal.SIGKILL)  # nothing, if it ended
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.process.wait(), REAP_WAIT)
        await asyncio.sleep(0)  # the report of the end schedules the close: it runs first

    async def drain(self) -> None:
        """Give the pumps OUTPUT_DRAIN seconds to read what the ended processes wrote, then
        close the read ends: a writer that escaped (another user's process, a descriptor sent
        away) must not keep the environment from ending."""
        if self._status_task is not None:
            self._status_task.cancel()
        if self._go is not None:  # init never got as far as the runtime: the launcher exits
            os.close(self._go)
            self._go = None
        if not self.pumps:
            return
        _, reading = await asyncio.wait(self.pumps, timeout=OUTPUT_DRAIN)
        if reading:
            for pipe in self._pipes():
                pipe.transport.close()  # closes the descriptor; the reader sees its EOF
            _, reading = await asyncio.wait(reading, timeout=OUTPUT_DRAIN)  # EOF comes now
            for pump in reading:
                pump.cancel()


def _pumps(log: OutputLog, pipes: list[OutputPipe]) -> list[asyncio.Task[None]]:
    """Copying PIPES (stdout's and stderr's read ends, if any) to LOG."""
    streams: tuple[Stream, Stream] = ("stdout", "stderr")
    return [
        asyncio.create_task(log.pump(pipe.reader, stream))
        for pipe, stream in zip(pipes, streams, strict=False)
    ]


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


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as file:
            return [int(child) for child in file.read().split()]
    except OSError:
        return []


def _runtime_child(launcher: int) -> int | None:
    """The launcher's child in the launcher's own process group: the runtime (once started)."""
    for child in _children(launcher):
        with contextlib.suppress(OSError):
            if os.getpgid(child) == os.getpgid(launcher):
                return child
    return None
