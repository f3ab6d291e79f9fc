"""A function's own environment variables, checked as Lambda checks them at deploy.

Lambda refuses (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html):

- a key it reserves ("Defined runtime environment variables": it sets them itself);
- a key not matching ``[a-zA-Z]([a-zA-Z0-9_])+`` (the API's key pattern, API_Environment);
- variables over 4 KB in total, measured as Lambda measures them: the variables as one
  compact JSON object, ``{"KEY":"value",...}``, in bytes (its error shows the string measured).

Each refusal is a ``TemplateError`` with the message Lambda gives, so that what fails at deploy
fails here first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

from lambdakit.template.errors import TemplateError

__all__ = ["MAX_SIZE", "RESERVED", "check_variables"]

RESERVED = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)  # fmt: skip
MAX_SIZE = 4096
KEY = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")

_RESERVED_MESSAGE = (
    "Lambda was unable to configure your environment variables because the environment "
    "variables you have provided contains reserved keys that are currently not supported for "
    "modification. Reserved keys used in this request: {keys}"
)
_PATTERN_MESSAGE = (
    "1 validation error detected: Value at 'environment.variables' failed to satisfy "
    "constraint: Map keys must satisfy constraint: [Member must satisfy regular expression "
    "pattern: [a-zA-Z]([a-zA-Z0-9_])+] ({keys})"
)
_SIZE_MESSAGE = (
    "Lambda was unable to configure your environment variables because the environment "
    "variables you have provided exceeded the 4KB limit. String measured: {measured}"
)


def check_variables(
    variables: Mapping[str, str], error: Callable[[str], Exception] = TemplateError
) -> dict[str, str]:
    """VARIABLES, if Lambda would take them; else ERROR(Lambda's message) is raised."""
    reserved = [key for key in variables if key in RESERVED]
    if reserved:
        raise error(_RESERVED_MESSAGE.format(keys=",".join(reserved)))
    malformed = [key for key in variables if not KEY.fullmatch(key)]
    if malformed:
        raise error(_PATTERN_MESSAGE.format(keys=", ".join(repr(key) for key in malformed)))
    measured = json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > MAX_SIZE:
        raise error(_SIZE_MESSAGE.format(measured=measured))
    return dict(variables)
