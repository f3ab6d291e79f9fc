"""When an environment is frozen and thawed, as Lambda does between invocations: frozen once
it is idle as Lambda means it and still idle FREEZE_DELAY later; thawed before its next event
goes out, or before a signal that must reach it. How a process is frozen is freezing.py's.

``ExecutionEnvironment`` (environments.py) says when it may be idle; this keeps the timer and
whether it is frozen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from lambdakit.emulator import freezing

if TYPE_CHECKING:
    from lambdakit.emulator.limits import MemoryGuard
    from lambdakit.emulator.runtime_process import RuntimeProcess

__all__ = ["FREEZE_DELAY", "IdleFreezer"]

# How long an environment must stay idle before it is frozen: back to back, the next event
# usually comes sooner, and a freeze and thaw per invocation (two signals, and three wake-ups
# of the runtime) cost more than the emulator's own work for it.
FREEZE_DELAY = 0.002  # seconds


class IdleFreezer:
    """One environment's freezing by MECHANISM (``freezing.choose``'s), of RUNTIME's process
    group (GUARD's cgroup, where it has one). IDLE says whether the environment is idle as
    Lambda means it; ON_FROZEN is called once it is frozen (the browser console shows it); LOOP
    gives the event loop it runs in."""

    def __init__(
        self,
        mechanism: freezing.Freezing,
        guard: MemoryGuard,
        runtime: RuntimeProcess,
        *,
        idle: Callable[[], bool],
        on_frozen: Callable[[], None],
        loop: Callable[[], asyncio.AbstractEventLoop],
    ) -> None:
        self.mechanism = mechanism
        self.frozen = False
        self.idle_since = 0.0  # loop time at which the runtime last asked for work
        self._guard = guard
        self._runtime = runtime
        self._idle = idle
        self._on_frozen = on_frozen
        self._loop = loop
        # FREEZE_DELAY's timer. Like END_DELAY's (env_ending.py), it is not cancelled when work
        # comes: back to back, one fires every few invocations, checks, and the next poll arms
        # another.
        self._timer: asyncio.TimerHandle | None = None

    def freeze_if_idle(self) -> None:
        """Freeze once idle, and still idle FREEZE_DELAY after the runtime asked for work."""
        if self._timer is not None or self.frozen or not self._idle():
            return
        if self.mechanism.name == "off":
            self._freeze()
            return
        loop = self._loop()
        left = self.idle_since + FREEZE_DELAY - loop.time()
        if left <= 0.0005:  # idle long enough (timers run up to a millisecond early)
            self._freeze()
        else:
            self._timer = loop.call_later(left, self._on_time)

    def _on_time(self) -> None:
        self._timer = None
        self.freeze_if_idle()  # frozen now, or armed again for the time left

    def _freeze(self) -> None:
        self.frozen = True
        # The runtime's group: in the sandbox, not bwrap's own (sandbox.py, --new-session).
        self.mechanism.freeze(self._guard, self._runtime.group)
        if self.mechanism.name != "off":
            self._on_frozen()

    def thaw(self, *, for_signal: bool = False) -> None:
        """Thawed when this returns. FOR_SIGNAL: the SIGTERM that follows must reach the
        runtime's main thread (``freezing.thaw_for_signal``)."""
        if not self.frozen or self._runtime.process is None:
            return
        self.frozen = False
        group = self._runtime.group
        if for_signal:
            main = self._runtime.main
            freezing.thaw_for_signal(self.mechanism, self._guard, group, main=main)
        else:
            self.mechanism.thaw(self._guard, group)

    def cancel(self) -> None:
        """The environment ends: no freeze any more."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
