import logging

logger = logging.getLogger("app")
logging.getLogger().info("logged at import, before any invocation")


def handler(event, context):
    logger.debug("debug %s", 1)
    logger.info("info %s", context.aws_request_id)
    logger.warning("warning")
    logger.error({"structured": True})
    try:
        raise KeyError("missing")
    except KeyError:
        logger.exception("caught", extra={"order": 7})
    context.log("raw context log")
    print("printed", "line")
    return "ok"
