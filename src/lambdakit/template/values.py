"""The vocabulary shared by reading and resolving: resource types, ``AWS::NoValue``, strings."""

from __future__ import annotations

import enum
from typing import Any

__all__ = ["FUNCTION_TYPES", "LAYER_TYPES", "NO_VALUE", "to_string"]

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")


class _Sentinel(enum.Enum):
    NO_VALUE = "AWS::NoValue"
    """``!Ref AWS::NoValue``: the enclosing key or list item is removed."""


NO_VALUE = _Sentinel.NO_VALUE


def to_string(value: Any) -> str | None:
    """VALUE as CloudFormation passes it where a string is needed, or None for lists and maps.

    Booleans become ``true``/``false``; numbers keep the text they were written with.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return getattr(value, "source", None) or str(value)
    if isinstance(value, str):
        return value
    if value is None or value is NO_VALUE:
        return ""
    return None
