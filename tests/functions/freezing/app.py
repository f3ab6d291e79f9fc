"""A function with something running in the background from its init: a thread (FREEZE_KIND
"thread"), a chain of ``threading.Timer``s ("timer") or a process in a session of its own
("setsid") sends ``tick <time>`` every 20 ms as a UDP datagram to 127.0.0.1:FREEZE_PORT (the
test's socket: the network is the machine's, where the sandbox gives the function a /tmp of
its own and the rest read-only). The handler sends ``start <time>`` and ``end <time>`` around
its work; a SIGTERM sends ``sigterm <time>`` and exits. On Lambda no tick falls between one
invocation's end and the next one's start: the environment is frozen in between."""

import os
import signal
import socket
import threading
import time

RECORD = ("127.0.0.1", int(os.environ["FREEZE_PORT"]))
INTERVAL = 0.02
OUT = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def note(what: str) -> None:
    OUT.sendto(f"{what} {time.time():.6f}".encode(), RECORD)


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
if os.environ.get("FREEZE_EXTENSION"):  # an internal extension: Lambda then sends SIGTERM
    import json
    import urllib.request

    API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2020-01-01/extension"
    body = json.dumps({"events": []}).encode()
    headers = {"Lambda-Extension-Name": "freezing-test"}
    request = urllib.request.Request(f"{API}/register", body, headers, method="POST")
    with urllib.request.urlopen(request) as response:
        identifier = response.headers["Lambda-Extension-Identifier"]
    headers = {"Lambda-Extension-Identifier": identifier}
    waiting = urllib.request.Request(f"{API}/event/next", headers=headers)
    threading.Thread(target=urllib.request.urlopen, args=(waiting,), daemon=True).start()
if os.environ.get("FREEZE_KIND") == "timer":
    tick_by_timer()
elif os.environ.get("FREEZE_KIND") == "setsid":  # a process that left the runtime's group
    import subprocess
    import sys

    TICKER = (
        "import socket, time\n"
        "out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "while True:\n"
        f"    out.sendto(b'tick %.6f' % time.time(), {RECORD!r})\n"
        f"    time.sleep({INTERVAL})\n"
    )
    subprocess.Popen([sys.executable, "-c", TICKER], start_new_session=True)
else:
    threading.Thread(target=tick_forever, daemon=True).start()


def handler(event, context):
    note("start")
    time.sleep(event.get("work", 0.1))
    note("end")
    return {"pid": os.getpid(), "port": RECORD[1]}  # its pid in its own namespace, if any
