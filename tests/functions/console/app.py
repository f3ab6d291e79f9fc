"""Handlers for the browser console's API tests (tests/emulator/test_console_api.py)."""

import json
import logging
import time

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def talk(event, context):
    """A line of each kind the console parses: print, logging at two levels, a JSON line."""
    print(f"plain line {event.get('n')}")
    logger.info("info line %s", event.get("n"))
    logger.error("error line %s", event.get("n"))
    line = {"level": "WARNING", "message": "json line", "AWSrequestId": context.aws_request_id}
    print(json.dumps(line))
    return {"said": event.get("n")}


def fails(event, context):
    raise ValueError("failed on purpose")


def sleepy(event, context):
    time.sleep(event.get("seconds", 1))
    return "slept"
