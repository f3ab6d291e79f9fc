"""Handlers for the differential tests: awslambdaric and lambdakit each run every one of them.

They import only the standard library, so that both runtimes load them the same way.
"""

import collections
import logging
import os
from decimal import Decimal

Point = collections.namedtuple("Point", "x y")


class InsufficientFunds(Exception):
    """A user-defined exception: its bare class name is the error type."""


# --- results: ``results`` returns RESULTS[event["case"]] --------------------------------------

RESULTS = {
    "object": lambda: {"a": 1, "b": [True, None, 2.5], "c": {"d": "e"}},
    "unicode": lambda: {"text": "héllo ✓", "nested": ["ü", "日本"], "emoji": "\U0001f600"},
    "decimal": lambda: {
        "price": Decimal("1.10"),
        "big": Decimal("12345678901234567890.000001"),
        "small": Decimal("-0.000"),
        "exp": Decimal("1E+3"),
        "nan": Decimal("NaN"),
    },
    "bytes": lambda: b"\x00\x01binary\xff",
    "none": lambda: None,
    "str": lambda: 'a "quoted" string',
    "empty-bytes": lambda: b"",
    "float": lambda: {"nan": float("nan"), "inf": float("inf"), "tenth": 0.1},
}


def results(event, context):
    return RESULTS[event["case"]]()


def echo(event, context):
    return event


def event_type(event, context):
    """What the handler received: parsed JSON, or raw bytes (shown as latin-1 text)."""
    if isinstance(event, bytes):
        return {"type": "bytes", "value": event.decode("latin-1")}
    return {"type": type(event).__name__, "value": event}


# --- errors -------------------------------------------------------------------------------------


def raises(event, context):
    raise ValueError("bad thing")


def raises_nested(event, context):
    return {"amount": _parse_amount(event)}


def _parse_amount(event):
    return int(event["amount"])


def raises_unicode(event, context):
    raise ValueError("prix invalide : 3 €")


def raises_custom(event, context):
    raise InsufficientFunds("balance 3 < 5")


def unserializable(event, context):
    return {1, 2}


def returns_namedtuple(event, context):
    return {"point": Point(1, 2)}


def returns_nested_bytes(event, context):
    return {"data": b"abc"}


def returns_bytearray(event, context):
    return bytearray(b"raw")


# --- context and environment --------------------------------------------------------------------


def context_dump(event, context):
    identity = context.identity
    client_context = context.client_context
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
        "remaining_positive": context.get_remaining_time_in_millis() > 0,
        "identity": [identity.cognito_identity_id, identity.cognito_identity_pool_id],
        "identity_repr": repr(identity),
        "client_context_none": client_context is None,
        "custom": client_context.custom if client_context else None,
        "env": client_context.env if client_context else None,
        "client_app_title": client_context.client.app_title if client_context else None,
        "client_installation_id": (
            client_context.client.installation_id if client_context else None
        ),
        "w3c": context.w3c(),
    }


def context_repr(event, context):
    return {"context": repr(context), "client_context": repr(context.client_context)}


def trace_env(event, context):
    return {"trace": os.environ.get("_X_AMZN_TRACE_ID")}


# --- logs ---------------------------------------------------------------------------------------


def logs_root_warning(event, context):
    logging.getLogger().warning("warning from %s", context.aws_request_id)
    print("printed", "words")
    context.log("context log\n")
    return "logged"


def logs_levels(event, context):
    logger = logging.getLogger("levels")
    logger.debug("debug")
    logger.info("info")
    logger.warning("warning")
    return logging.getLogger().level


def logs_json(event, context):
    logger = logging.getLogger("app")
    logger.warning("warning from %s", context.aws_request_id, extra={"order": 7})
    logger.info("not shown: the default level is WARNING")
    logger.error({"structured": True, "n": 1})
    if event.get("fail"):
        raise ValueError("failed after logging")
    return "logged"
