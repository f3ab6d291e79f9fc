"""Provisioned concurrency at start-up: the environments a ``ProvisionedConcurrencyConfig``
asks for are started, and their init run, before the Invoke API takes its first invocation.

On Lambda, provisioned environments are initialized ahead of time with
``AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency``, serve the alias's invocations
without a cold start (no Init Duration in REPORT), and beyond them on-demand environments
start as usual (provisioned-concurrency.html). One whose init fails leaves its place to
on-demand environments, as an allocation that fails on Lambda does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from lambdakit.emulator.errors import EmulatorError

if TYPE_CHECKING:
    from lambdakit.emulator.scheduler import FunctionPool

__all__ = ["provision_all"]


async def provision_all(
    pools: Iterable[FunctionPool], *, say: Callable[[str], None], warn: Callable[[str], None]
) -> None:
    """Provision every pool that asks for it, at once; say what is ready."""
    wanted = [pool for pool in pools if pool.spec.provisioned_concurrency]
    results = await asyncio.gather(*(_provision(pool) for pool in wanted))
    for pool, (ready, error) in zip(wanted, results, strict=True):
        asked = pool.spec.provisioned_concurrency or 0
        target = f"{pool.spec.name}:{pool.spec.alias or '1'}"
        if ready:
            say(
                f"lambdakit: {target}: {ready} of {asked} provisioned environment(s) of version "
                "1 started and initialized (AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency)"
            )
        if ready != asked:
            why = f": {error}" if error else "; their init failed (see its log above)"
            warn(f"{target}: {asked - ready} provisioned environment(s) not started{why}")


async def _provision(pool: FunctionPool) -> tuple[int, str | None]:
    try:
        return await pool.provision(), None
    except EmulatorError as error:
        return 0, str(error)
