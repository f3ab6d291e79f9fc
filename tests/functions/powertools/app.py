"""A handler written for AWS's managed Python runtime, using Powertools' structured Logger."""

from aws_lambda_powertools import Logger

logger = Logger(service="svc")


@logger.inject_lambda_context
def handler(event, context):
    logger.info("hello", extra={"invocation": event.get("n")})
    return {"ok": True}
