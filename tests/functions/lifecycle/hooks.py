"""on_init runs before the first event; on_shutdown runs on SIGTERM."""

import os

import lambdakit

STATE = {"init": 0}
MARKER = os.environ.get("LAMBDAKIT_TEST_MARKER", "")


@lambdakit.on_init
def warm_up():
    STATE["init"] += 1


@lambdakit.on_init
async def warm_up_async():
    STATE["async_init"] = True


@lambdakit.on_shutdown
def failing_hook():
    raise RuntimeError("this hook fails; the next one still runs")


@lambdakit.on_shutdown
def flush():
    with open(MARKER, "a") as f:
        f.write("shutdown-hook-ran\n")


def handler(event, context):
    return STATE
