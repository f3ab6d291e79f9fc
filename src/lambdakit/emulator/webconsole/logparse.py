"""The level and request id of a log line, from the formats Lambda's runtimes write (sans-IO).

- lambdakit's runtime and awslambdaric: ``[LEVEL]\\t<timestamp>\\t<request id>\\t<message>``
  (awslambdaric's ``LambdaLoggerFilter``; reference/awslambdaric-behaviour.md);
- the Node.js runtime's text format: ``<timestamp>\\t<request id>\\t<LEVEL>\\t<message>``
  (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-logging.html);
- JSON lines (``LogFormat: JSON``, Powertools): ``"level"`` and ``"requestId"`` (or
  ``"AWSrequestId"``, ``"AWSRequestId"``, Powertools' ``"function_request_id"``);
- platform lines: ``START RequestId: <id> ...``, ``END``, ``REPORT``, the timeout line
  ``<timestamp> <id> Task timed out ...``, ``RequestId: <id> Error: ...``, and their JSON form
  (``{"type": "platform.start", "record": {"requestId": ...}}``,
  https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html).

A line that names no request id belongs to the invocation in progress in its environment (the
one between its START and its END), as it does in CloudWatch Logs' stream.
"""

from __future__ import annotations

import json
import re

__all__ = ["LEVELS", "Parsed", "at_least", "parse"]

LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}
# Python's names for two of them (logging.WARNING, logging.CRITICAL).
_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_LEVEL = r"TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|CRITICAL"
_BRACKETED = re.compile(rf"\[({_LEVEL})\]\t[^\t]*\t(?:({_UUID})\t)?")
_NODE = re.compile(rf"\S+\t({_UUID})\t({_LEVEL})\t")
_PLATFORM = re.compile(rf"(?:START|END|REPORT) RequestId: ({_UUID})|RequestId: ({_UUID}) Error")
_TIMED_OUT = re.compile(rf"\S+ ({_UUID}) Task timed out")
_JSON_IDS = ("requestId", "AWSrequestId", "AWSRequestId", "function_request_id")

Parsed = tuple[str | None, str | None]
"""(level, request id); either may be None."""


def parse(text: str, *, platform: bool = False) -> Parsed:
    """The level (one of LEVELS) and request id that TEXT names, if any."""
    if text.startswith("{"):
        return _parse_json(text)
    if platform:
        match = _PLATFORM.match(text) or _TIMED_OUT.match(text)
        if match is None:
            return None, None
        return None, match.group(1) or match.group(2)
    if text.startswith("["):
        match = _BRACKETED.match(text)
        if match is not None:
            return _level(match.group(1)), match.group(2)
    match = _NODE.match(text)
    if match is not None:
        return _level(match.group(2)), match.group(1)
    return None, None


def _parse_json(text: str) -> Parsed:
    try:
        document = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    record = document.get("record")
    if isinstance(record, dict) and str(document.get("type", "")).startswith("platform."):
        request_id = record.get("requestId")
        return None, request_id if isinstance(request_id, str) else None
    level = document.get("level")
    request_id = next((document[k] for k in _JSON_IDS if isinstance(document.get(k), str)), None)
    return _level(level) if isinstance(level, str) else None, request_id


def _level(name: str) -> str | None:
    upper = name.upper()
    upper = _ALIASES.get(upper, upper)
    return upper if upper in _RANK else None


def at_least(level: str | None, minimum: str) -> bool:
    """Whether LEVEL is MINIMUM or more severe (a line without a level is not)."""
    return level is not None and _RANK[level] >= _RANK[minimum]
