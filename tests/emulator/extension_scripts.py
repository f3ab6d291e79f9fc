"""An external extension whose pace a test sets (slow to register, slow to call ``next``, never
calling it), and functions that say when their runtime started: what the tests of the phases
extensions bring run (test_extension_phases.py). Every line they write ends in the time
(epoch seconds) it was written, which ``times`` reads back from the emulator's log."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from lambdakit.template import FunctionSpec, function_from_directory

__all__ = ["APP", "TIMED_APP", "function_with_extension", "times"]

# Standard library only, as AWS's Python samples (urllib).
EXTENSION = """#!{python}
import json, os, signal, sys, threading, time, urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2020-01-01/extension"

def say(*words):
    print("EXT", *words, "%.6f" % time.time(), flush=True)

def forever(label):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        say(label)
        time.sleep(0.02)

time.sleep({register_delay})
request = urllib.request.Request(
    API + "/register", data=json.dumps({{"events": ["INVOKE", "SHUTDOWN"]}}).encode(),
    method="POST", headers={{"Lambda-Extension-Name": os.path.basename(__file__)}},
)
with urllib.request.urlopen(request) as response:
    identifier = response.headers["Lambda-Extension-Identifier"]
say("registered")
if not {first_next}:
    time.sleep(300)
while True:
    request = urllib.request.Request(
        API + "/event/next", headers={{"Lambda-Extension-Identifier": identifier}}
    )
    with urllib.request.urlopen(request) as response:
        event = json.loads(response.read())
    if event["eventType"] == "SHUTDOWN":
        say("SHUTDOWN", event["shutdownReason"], event["deadlineMs"])
        if {hang_on_shutdown}:
            forever("ALIVE")
        say("EXIT")
        sys.exit(0)
    say("INVOKE", event["requestId"])
    if {hang_on_invoke}:
        time.sleep(300)
    time.sleep({next_delay})
    say("DONE", event["requestId"])
"""

APP = """
import time
print("RUNTIME INIT", "%.6f" % time.time(), flush=True)

def handler(event, context):
    return {"id": context.aws_request_id}
"""

# The runtime ignores SIGTERM, and says it is alive until it is killed.
TIMED_APP = (
    APP
    + """
import signal, threading

def _alive():
    while True:
        print("RUNTIME ALIVE", "%.6f" % time.time(), flush=True)
        time.sleep(0.02)

def _on_sigterm(signum, frame):
    threading.Thread(target=_alive, daemon=True).start()

signal.signal(signal.SIGTERM, _on_sigterm)
"""
)


def function_with_extension(
    tmp_path: Path,
    *,
    register_delay: float = 0,
    next_delay: float = 0,
    first_next: bool = True,
    hang_on_invoke: bool = False,
    hang_on_shutdown: bool = False,
    timeout: float = 10,
    app: str = APP,
) -> FunctionSpec:
    """A function (APP) with a layer whose ``extensions/pace`` keeps the given pace."""
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(app)
    spec = function_from_directory(code, timeout=timeout)
    script = tmp_path / "layer" / "extensions" / "pace"
    script.parent.mkdir(parents=True)
    script.write_text(
        EXTENSION.format(
            # The base interpreter (stdlib only): a venv's may lie under /tmp (sandboxed).
            python=os.path.realpath(sys.executable), register_delay=register_delay,
            next_delay=next_delay, first_next=first_next, hang_on_invoke=hang_on_invoke,
            hang_on_shutdown=hang_on_shutdown,
        )
    )  # fmt: skip
    script.chmod(0o755)
    return dataclasses.replace(spec, layers=(tmp_path / "layer",))


def times(log: str, label: str) -> list[float]:
    """When each line of LOG that says LABEL was written (its last word)."""
    return [float(line.split()[-1]) for line in log.splitlines() if label in line]
