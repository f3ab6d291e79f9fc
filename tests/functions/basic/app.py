"""Handlers for the runtime's behaviour tests: one function per scenario."""

import os
import sys
import time


def echo(event, context):
    return event


def noop(event, context):
    return None


def raises(event, context):
    raise ValueError("bad thing")


def raises_custom(event, context):
    class CustomError(Exception):
        pass

    raise CustomError("custom failure")


def returns_bytes(event, context):
    return b"\x00\x01binary\xff"


def returns_decimal(event, context):
    from decimal import Decimal

    return {
        "price": Decimal("1.10"),
        "big": Decimal("12345678901234567890.000001"),
        "nan": Decimal("NaN"),
    }


def unicode(event, context):
    return {"text": "héllo ✓", "nested": ["ü"]}


def unserializable(event, context):
    return {1, 2}


def returns_coroutine_object(event, context):
    async def inner():
        return {"awaited": True}

    return inner()


def event_type(event, context):
    return {"type": type(event).__name__, "repr": repr(event)[:100]}


def context_dump(event, context):
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "memory_type": type(context.memory_limit_in_mb).__name__,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "invoked_function_arn": context.invoked_function_arn,
        "tenant_id": context.tenant_id,
        "remaining": context.get_remaining_time_in_millis(),
        "identity": [
            context.identity.cognito_identity_id,
            context.identity.cognito_identity_pool_id,
        ],
        "client_context": repr(context.client_context),
        "custom": context.client_context.custom if context.client_context else None,
        "w3c": context.w3c(),
        "repr": repr(context),
        "trace_env": os.environ.get("_X_AMZN_TRACE_ID"),
    }


def trace_ids(event, context):
    import lambdakit

    return {
        "env": os.environ.get("_X_AMZN_TRACE_ID"),
        "var": lambdakit.current_trace_id(),
        "request": lambdakit.current_request_id(),
    }


def prints(event, context):
    print("hello", "world")
    print("no newline", end="")
    sys.stderr.write("to stderr\n")
    return "printed"


def logs(event, context):
    import logging

    logger = logging.getLogger("app")
    logger.warning("warning from handler %s", context.aws_request_id)
    logger.info("info from handler")
    logger.error({"structured": True, "n": 1})
    try:
        raise KeyError("k")
    except KeyError:
        logger.exception("caught", extra={"order": 7})
    context.log("raw context log")
    return "logged"


def sleeps(event, context):
    time.sleep(event.get("seconds", 1) if isinstance(event, dict) else 1)
    return {"slept": True, "pid": os.getpid()}


def pid(event, context):
    time.sleep(0.2)
    return {"pid": os.getpid(), "request_id": context.aws_request_id}


def exits(event, context):
    sys.exit(3)


def big(event, context):
    size = event["size"] if isinstance(event, dict) else 1024
    return "x" * size


not_callable = 42
