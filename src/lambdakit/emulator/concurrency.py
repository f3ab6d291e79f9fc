"""Concurrency as a Lambda account has it: a limit on invocations in flight, shared by every
function, and reservations carved out of it.

On Lambda a function scales by starting another execution environment for each concurrent
request, up to the account's concurrency limit in the Region (1,000 by default,
lambda/latest/dg/lambda-concurrency.html). A synchronous request beyond it is refused with 429
``TooManyRequestsException`` (Reason ``ConcurrentInvocationLimitExceeded``); asynchronous
events wait and are retried. A function with reserved concurrency has that many for itself
and no more (``ReservedFunctionConcurrentInvocationLimitExceeded``), and the functions without
one share what the reservations leave.

What this machine adds: environments start on demand as on Lambda, but at most ``max_starting``
of them run their init at the same time (a burst of cold starts on a laptop would otherwise
compete for a few cores); the others wait for a slot, which only delays their start. When that
happens, and when the number of live environments changes by much, the emulator says so.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from lambdakit.emulator.errors import EmulatorError

ACCOUNT_LIMIT = 1000  # Lambda's default concurrent executions per account and Region


def default_max_starting() -> int:
    """Environments allowed to start at once: two per CPU, at least four."""
    return max(4, 2 * (os.cpu_count() or 1))


class Throttled(EmulatorError):
    """No concurrency left for the invocation (429 TooManyRequestsException, with ``reason``)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class Account:
    """The concurrency of the account the emulator models: what is in flight, what is
    reserved, what is starting, and how many environments are alive."""

    def __init__(
        self,
        limit: int = ACCOUNT_LIMIT,
        *,
        reserved: int = 0,
        max_starting: int | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        if reserved > limit:
            raise EmulatorError(
                f"the functions reserve {reserved} concurrent executions, more than the "
                f"account's limit of {limit} (serve --concurrency)"
            )
        self.limit = limit
        self.unreserved = limit - reserved
        self.max_starting = max_starting or default_max_starting()
        self.in_flight = 0  # invocations of functions without reserved concurrency
        self.alive = 0
        self._reported_alive = 0
        self._starting = asyncio.Semaphore(self.max_starting)
        self._waiting_to_start = 0
        self._said_waiting = False
        self._say = say

    # --- invocations ---------------------------------------------------------------------

    def admit(self) -> None:
        """Take one of the unreserved concurrency, or raise ``Throttled``."""
        if self.in_flight >= self.unreserved:
            raise Throttled("Rate Exceeded.", "ConcurrentInvocationLimitExceeded")
        self.in_flight += 1

    def release(self) -> None:
        self.in_flight -= 1

    # --- environments --------------------------------------------------------------------

    async def start_slot(self) -> None:
        """Wait until another environment may start (see the module docstring)."""
        if self._starting.locked():
            self._waiting_to_start += 1
            if not self._said_waiting:
                self._said_waiting = True
                self._say(
                    f"more environments to start than this machine starts at once: at most "
                    f"{self.max_starting} run their init at the same time "
                    "(LAMBDAKIT_MAX_STARTING), the others wait for them"
                )
            try:
                await self._starting.acquire()
            finally:
                self._waiting_to_start -= 1
        else:
            await self._starting.acquire()

    def started(self) -> None:
        """An environment left its init (it is ready, or it died): its slot is free."""
        self._starting.release()
        if not self._waiting_to_start:
            self._said_waiting = False

    def born(self) -> None:
        self.alive += 1
        self._report_alive()

    def died(self) -> None:
        self.alive -= 1
        self._report_alive()

    def _report_alive(self) -> None:
        """Say the number of live environments when it has changed by half or more (and by at
        least 4) since it was last said: a burst shows, single environments coming and going
        do not."""
        change = abs(self.alive - self._reported_alive)
        if change >= max(4, self._reported_alive // 2):
            self._reported_alive = self.alive
            self._say(f"{self.alive} execution environments alive")
