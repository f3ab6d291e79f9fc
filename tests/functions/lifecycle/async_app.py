"""An async handler: one event loop for the life of the process."""

import asyncio

LOOPS = []


async def handler(event, context):
    await asyncio.sleep(0)
    LOOPS.append(id(asyncio.get_running_loop()))
    return {"loops": len(set(LOOPS)), "calls": len(LOOPS)}


async def raises(event, context):
    await asyncio.sleep(0)
    raise LookupError("async failure")
