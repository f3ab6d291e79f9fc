"""Handlers for the asynchronous invocation tests (tests/emulator/test_async_config.py)."""

import json


def flaky(event, context):
    """Counts its attempts in the marker file; fails until attempt SUCCEED_ON."""
    with open(event["marker"], "a") as f:
        f.write("x")
    with open(event["marker"]) as f:
        attempts = len(f.read())
    if attempts < event.get("succeed_on", 99):
        raise RuntimeError(f"attempt {attempts} fails")
    return {"attempts": attempts}


def ok(event, context):
    return {"ok": event}


def audit(event, context):
    """An OnSuccess destination: appends the invocation record it receives to the file that
    the original event names."""
    with open(event["requestPayload"]["audit"], "a") as f:
        f.write(json.dumps(event) + "\n")
