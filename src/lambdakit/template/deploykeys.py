"""The values of ``sam deploy``'s list and tag options, from a flag or from samconfig.

Sans-IO. SAM CLI reads ``capabilities``, ``notification_arns`` and ``tags`` from samconfig as
a string (``"CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"``, ``'team=web stage="dev one"'``) or a
list of strings, and its flags take the same text (``samcli/cli/types.py``: ``CfnTags``;
``samcli/commands/_utils/options.py``: the space-separated list type). Tags are KEY=VALUE
pairs; a key or value in quotes may hold spaces and loses its quotes.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-deploy.html
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from lambdakit.template.errors import TemplateError

__all__ = ["boolean", "parse_tags", "space_separated", "string"]


def space_separated(value: Any, source: str) -> tuple[str, ...]:
    """VALUE (a string of space-separated words, or a list of them) as a tuple of words."""
    return tuple(word for text in _strings(value, source) for word in text.split())


def parse_tags(value: Any, source: str = "--tags") -> dict[str, str]:
    """VALUE (``"a=b c=d"``, a list of such strings, or a mapping) as ``{key: value}``."""
    if isinstance(value, Mapping):
        return {str(key): _scalar(tag, f"{source} {key}") for key, tag in value.items()}
    tags: dict[str, str] = {}
    for text in _strings(value, source):
        try:
            pairs = shlex.split(text)
        except ValueError as error:  # an unclosed quote
            raise TemplateError(f"{source} {text!r}: {error}; close the quotes") from error
        for pair in pairs:
            key, sign, tag = pair.partition("=")
            if not sign or not key:
                raise TemplateError(
                    f"{source} {pair!r}: give tags as KEY=VALUE pairs, e.g. team=web "
                    'stage="dev one"'
                )
            tags[key] = tag
    return tags


def boolean(value: Any, source: str) -> bool | None:
    """VALUE, which must be true or false (TOML's and YAML's booleans); None stays None."""
    if value is None or isinstance(value, bool):
        return value
    raise TemplateError(f"{source} must be true or false, not {value!r}")


def string(value: Any, source: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TemplateError(f"{source} must be a string, not {value!r}")


def _strings(value: Any, source: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return list(value)
    raise TemplateError(f"{source} must be a string or a list of strings, not {value!r}")


def _scalar(value: Any, source: str) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise TemplateError(f"{source} must be a string, not {value!r}")
