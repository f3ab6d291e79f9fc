"""The account's concurrency: admission, reservations, start slots, the live count's notices."""

from __future__ import annotations

import asyncio

import pytest

from lambdakit.emulator.concurrency import Account, Throttled
from lambdakit.emulator.errors import EmulatorError


def test_the_unreserved_share_is_the_limit_less_the_reservations() -> None:
    account = Account(5, reserved=2)
    for _ in range(3):
        account.admit()
    with pytest.raises(Throttled) as throttled:
        account.admit()
    assert (str(throttled.value), throttled.value.reason) == (
        "Rate Exceeded.",
        "ConcurrentInvocationLimitExceeded",
    )
    account.release()
    account.admit()  # a released one is free again


def test_reservations_past_the_limit_are_refused_at_start() -> None:
    with pytest.raises(EmulatorError, match="reserve 12 concurrent executions"):
        Account(10, reserved=12)


def test_starts_past_the_cap_wait_for_a_slot_and_say_so_once() -> None:
    said: list[str] = []

    async def scenario() -> list[str]:
        account = Account(100, max_starting=2, say=said.append)
        await account.start_slot()
        await account.start_slot()
        waiting = [asyncio.ensure_future(account.start_slot()) for _ in range(2)]
        await asyncio.sleep(0.01)
        assert not any(task.done() for task in waiting)
        account.started()
        await asyncio.sleep(0.01)
        assert [task.done() for task in waiting] == [True, False]
        account.started()
        await asyncio.wait_for(waiting[1], 1)
        return said

    notices = asyncio.run(scenario())
    assert len(notices) == 1
    assert "at most 2 run their init at the same time" in notices[0]


def test_the_live_count_is_said_when_it_changes_by_much() -> None:
    said: list[str] = []
    account = Account(100, say=said.append)
    for _ in range(10):
        account.born()
    for _ in range(10):
        account.died()
    assert said == [
        "4 execution environments alive",
        "8 execution environments alive",
        "4 execution environments alive",
        "0 execution environments alive",
    ]
