"""A function with something running in the background from its init: a thread (FREEZE_KIND
"thread") or a chain of ``threading.Timer``s ("timer") appends ``tick <time>`` to the file
FREEZE_RECORD every 20 ms. The handler appends ``start <time>`` and ``end <time>`` around its
work; a SIGTERM appends ``sigterm <time>`` and exits. On Lambda no tick falls between one
invocation's end and the next one's start: the environment is frozen in between."""

import os
import signal
import threading
import time

RECORD = os.environ["FREEZE_RECORD"]
INTERVAL = 0.02


def note(what: str) -> None:
    with open(RECORD, "a") as record:
        record.write(f"{what} {time.time():.6f}\n")


def tick_forever() -> None:
    while True:
        note("tick")
        time.sleep(INTERVAL)


def tick_by_timer() -> None:
    note("tick")
    timer = threading.Timer(INTERVAL, tick_by_timer)
    timer.daemon = True
    timer.start()


def on_sigterm(signum, frame):
    note("sigterm")
    os._exit(0)


signal.signal(signal.SIGTERM, on_sigterm)
if os.environ.get("FREEZE_KIND") == "timer":
    tick_by_timer()
else:
    threading.Thread(target=tick_forever, daemon=True).start()


def handler(event, context):
    note("start")
    time.sleep(event.get("work", 0.1))
    note("end")
    return {"pid": os.getpid()}
