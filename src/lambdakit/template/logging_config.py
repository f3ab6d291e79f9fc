"""A function's ``LoggingConfig``, checked as Lambda checks it.

``LogFormat`` is ``JSON`` or ``Text`` (Lambda's default); ``ApplicationLogLevel`` (TRACE...FATAL)
and ``SystemLogLevel`` (DEBUG, INFO, WARN) filter what reaches CloudWatch and are allowed with
the JSON format only; ``LogGroup`` names the log group
(https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-advanced.html,
https://docs.aws.amazon.com/lambda/latest/api/API_LoggingConfig.html). The same property on
``AWS::Serverless::Function`` (and in ``Globals.Function``, merged key by key) and on
``AWS::Lambda::Function``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lambdakit.template.properties import Properties
from lambdakit.template.specs import LoggingConfig
from lambdakit.template.values import NO_VALUE, to_string

__all__ = ["APPLICATION_LEVELS", "LOG_FORMATS", "SYSTEM_LEVELS", "logging_config"]

LOG_FORMATS = ("JSON", "Text")
APPLICATION_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LEVELS = ("DEBUG", "INFO", "WARN")
_KEYS = ("LogFormat", "ApplicationLogLevel", "SystemLogLevel", "LogGroup")
# API_LoggingConfig: LogGroup is 1 to 512 characters of this set.
_LOG_GROUP = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
# What Lambda answers (CloudFormation shows it as the resource handler's message) when a level
# comes without the JSON format (aws-cdk#28045 quotes it).
_LEVEL_WITH_TEXT = (
    'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your '
    'request or change the LogFormat to "Json" and try again.'
)


def logging_config(properties: Properties) -> LoggingConfig:
    """The function's ``LoggingConfig`` (Lambda's defaults if it has none)."""
    values = properties.get("LoggingConfig")
    if values is None:
        return LoggingConfig()
    if not isinstance(values, Mapping):
        raise properties.error("LoggingConfig", "must be a mapping (LogFormat, LogGroup...)")
    for key in values:
        if key not in _KEYS:
            raise properties.error(
                f"LoggingConfig.{key}", f"is not a LoggingConfig property; use {', '.join(_KEYS)}"
            )
    log_format = _choice(properties, values, "LogFormat", LOG_FORMATS) or "Text"
    application = _choice(properties, values, "ApplicationLogLevel", APPLICATION_LEVELS)
    system = _choice(properties, values, "SystemLogLevel", SYSTEM_LEVELS)
    if log_format != "JSON" and (application or system):
        key = "ApplicationLogLevel" if application else "SystemLogLevel"
        raise properties.error(f"LoggingConfig.{key}", _LEVEL_WITH_TEXT)
    return LoggingConfig(
        log_format="JSON" if log_format == "JSON" else "Text",
        application_log_level=application,
        system_log_level=system,
        log_group=_log_group(properties, values),
    )


def _text(properties: Properties, values: Mapping[str, Any], key: str) -> str | None:
    value = values.get(key)
    if value is None or value is NO_VALUE:
        return None
    text = to_string(value)
    if text is None:
        raise properties.error(f"LoggingConfig.{key}", f"{value!r} is not a string")
    return text or None


def _choice(
    properties: Properties, values: Mapping[str, Any], key: str, allowed: tuple[str, ...]
) -> str | None:
    """The value at KEY, one of ALLOWED as written (Lambda's enums are case-sensitive)."""
    text = _text(properties, values, key)
    if text is not None and text not in allowed:
        raise properties.error(
            f"LoggingConfig.{key}", f"{text!r} is not one of {', '.join(allowed)}; use one of them"
        )
    return text


def _log_group(properties: Properties, values: Mapping[str, Any]) -> str | None:
    text = _text(properties, values, "LogGroup")
    if text is not None and not _LOG_GROUP.fullmatch(text):
        raise properties.error(
            "LoggingConfig.LogGroup",
            f"{text!r} is not a log group name; Lambda allows 1 to 512 of the characters "
            "A-Z a-z 0-9 . - _ / #",
        )
    return text
