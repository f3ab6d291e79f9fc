"""Logs at three levels through ``logging`` and answers with the log variables it was given."""

import logging
import os
import time

logger = logging.getLogger("app")


def handler(event, context):
    logger.debug("debug line")
    logger.info("info line")
    logger.warning("warning line")
    return {k: v for k, v in os.environ.items() if k.startswith("AWS_LAMBDA_LOG")}


def sleeps(event, context):
    time.sleep(event.get("sleep", 5))
    return "late"


def mixed(event, context):
    """What Lambda filters itself in JSON format: lines that are not JSON count as INFO."""
    print("a plain line", flush=True)
    print('{"level": "debug", "message": "json debug"}', flush=True)
    print('{"level": "error", "message": "json error"}', flush=True)
    print('{"log_level": "ERROR", "message": "no level key"}', flush=True)
    logger.warning("warning line")
    return "mixed"
