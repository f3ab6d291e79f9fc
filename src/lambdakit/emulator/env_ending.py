"""When an invocation's END and REPORT are written, once its runtime has answered.

Not before the output the runtime wrote before answering has been read from its pipes (so
that it comes before END, as on Lambda); and for a buffered answer not at once, but END_DELAY
later or as the next invocation's event goes out, whichever comes first: back to back, this
work is then done while the runtime works on the next invocation, not while the caller's next
request waits. ``ExecutionEnvironment.answer`` (environments.py) says which way applies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lambdakit.emulator.output_log import OutputLog
    from lambdakit.emulator.runtime_process import RuntimeProcess

__all__ = ["END_DELAY", "PendingEnd"]

# How long after a buffered answer END and REPORT wait for the next invocation to go out first:
# under a person's notice, and longer than a client takes to send its next request (the event
# loop's timers count whole milliseconds: 1 ms can come at once).
END_DELAY = 0.005  # seconds


class PendingEnd:
    """The END and REPORT of one environment's last answered invocation, until written. OUTPUT
    is the environment's log, RUNTIME its process (whose pipes may hold unread output), LOOP
    gives the event loop it runs in."""

    def __init__(
        self,
        output: OutputLog,
        runtime: RuntimeProcess,
        loop: Callable[[], asyncio.AbstractEventLoop],
    ) -> None:
        self.end: Callable[[], None] | None = None  # writes END and REPORT: due, not yet done
        self.deferred = False  # END waits for END_DELAY or for the next event (after_delay)
        self._due = 0.0  # when, at the latest (loop time)
        # END_DELAY's timer. It is not cancelled when the next event takes the END: back to
        # back, one fires every few invocations, checks, and the next answer arms another.
        self._timer: asyncio.TimerHandle | None = None
        self._output = output
        self._runtime = runtime
        self._loop = loop

    def after_delay(self) -> None:
        """END_DELAY from now, or once the next invocation's event has gone out (its START
        comes after it: ``finish`` is called then), whichever comes first."""
        loop = self._loop()
        self.deferred = True
        self._due = loop.time() + END_DELAY
        if self._timer is None:
            self._timer = loop.call_later(END_DELAY, self._on_time)

    def after_this_turn(self) -> None:
        """A turn of the loop later: the caller's answer and the runtime's 202 go out first."""
        loop = self._loop()
        loop.call_soon(loop.call_soon, self.once_read)

    def waits_for_output(self) -> bool:
        """A deferred END, and output in the pipes that the pumps have not taken yet."""
        return self.deferred and self._runtime.unread()

    def _on_time(self) -> None:
        self._timer = None
        if not self.deferred:
            return  # the next event took it
        loop = self._loop()
        left = self._due - loop.time()
        if left > 0.001:  # a later answer's: its time is not up yet
            self._timer = loop.call_later(left, self._on_time)
        else:
            self.once_read()

    def once_read(self) -> None:
        """END and REPORT once the pumps have taken what is left in the pipes: now, if nothing."""
        if self._runtime.unread():
            self._loop().create_task(self._settled())
        else:
            self.finish()

    async def _settled(self) -> None:
        await self._runtime.settle()
        self.finish()

    def finish(self) -> None:
        """Write END and REPORT now, if they are due; if the next START is due, with it (first)."""
        if self._output.due():
            self._output.run_due()
            return
        self.deferred = False
        end, self.end = self.end, None
        if end is not None:
            end()
