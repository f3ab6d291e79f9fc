"""``Properties``: one resource's Properties as the template's readers see them: each value
resolved (intrinsics evaluated) when it is read, errors naming the file, resource and property.

Resolving one property at a time, when it is used, is what keeps properties lambdakit does not
use (Events, Policies) from producing warnings about their values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdakit.template.errors import TemplateError
from lambdakit.template.intrinsics import Resolver
from lambdakit.template.values import NO_VALUE, to_string

__all__ = ["Properties"]


@dataclass(frozen=True, slots=True)
class Properties:
    """One resource's Properties, resolved one at a time, so that properties lambdakit does not
    use (Events, Policies) cannot produce warnings."""

    logical_id: str
    raw: Mapping[str, Any]
    resolver: Resolver
    source: Path

    def get(self, key: str, default: Any = None) -> Any:
        value = self.resolver.resolve(self.raw.get(key, default), f"{self.logical_id}.{key}")
        return default if value is NO_VALUE else value

    def error(self, key: str, message: str) -> TemplateError:
        return TemplateError(f"{self.source}: {self.logical_id}.{key}: {message}")

    def integer(self, key: str, low: int, high: int, unit: str) -> int | None:
        """The whole number at KEY within LOW..HIGH, or None if the property is absent."""
        value = self.get(key)
        if value is None:
            return None
        text = to_string(value)
        if text is None or not re.fullmatch(r"\s*\d+\s*", text):
            raise self.error(key, f"{value!r} is not a whole number of {unit}")
        if not low <= int(text) <= high:
            raise self.error(
                key, f"{int(text)} is out of range; Lambda allows {low} to {high} {unit}"
            )
        return int(text)
