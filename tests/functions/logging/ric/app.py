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
