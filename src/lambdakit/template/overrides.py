"""Parameter overrides as SAM CLI takes them: ``--parameter-overrides`` and samconfig's
``parameter_overrides``.

Sans-IO: text (or a samconfig value) in, ``{name: value}`` out. The forms are SAM CLI's
(``samcli/cli/types.py``, ``CfnParameterOverridesType``)::

    Stage=prod Name="hello world" Path=a\\ b          space separated KEY=VALUE
    ParameterKey=Stage,ParameterValue=prod             CloudFormation's own form
    ["Stage=prod", "Name=x"]                           samconfig: a list of such strings
    {Stage: prod, Subnets: [a, b]}                     samconfig: a mapping (lists joined by ",")

A value wrapped in double or single quotes loses them, and ``\\ ``, ``\\"`` and ``\\'`` are
unescaped, as SAM CLI does. Later values win. Names are CloudFormation parameter names
(alphanumeric); pseudo parameters (``AWS::Region``, ``AWS::AccountId``, ``AWS::StackName``...)
are accepted too: SAM CLI lets its ``--region`` and samconfig mappings set them for local runs.
Where SAM CLI skips text it cannot read, this module says what is wrong instead.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-local-invoke.html
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from lambdakit.template.errors import TemplateError
from lambdakit.template.values import to_string

__all__ = ["parse_parameter_overrides"]

_NAME = re.compile(r"[A-Za-z0-9]+|AWS::[A-Za-z]+")
_LONG_FORM = re.compile(r"ParameterKey=(?P<key>[^,]*),ParameterValue=(?P<value>.*)", re.DOTALL)
_EXAMPLES = "Stage=prod Name='hello world', or ParameterKey=Stage,ParameterValue=prod"


def parse_parameter_overrides(value: Any, source: str = "--parameter-overrides") -> dict[str, str]:
    """VALUE (a string, a list of them, or a mapping) as ``{name: value}``.

    SOURCE names where VALUE came from in error messages (the flag, or the samconfig file
    and section).
    """
    if value is None:
        return {}
    if isinstance(value, str):
        return dict(_pairs(value, source))
    if isinstance(value, Mapping):
        return {_name(str(key), source): _mapped(item, source) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        result: dict[str, str] = {}
        for item in value:
            result |= parse_parameter_overrides(item, source)
        return result
    raise TemplateError(
        f"{source}: {value!r} is not parameter overrides; give text such as {_EXAMPLES}"
    )


def _mapped(value: Any, source: str) -> str:
    """A samconfig mapping's value: lists joined by commas, null as empty (SAM CLI's rules)."""
    if isinstance(value, list):
        return ",".join(text.strip() for text in map(to_string, value) if text)
    text = to_string(value)
    if text is None:
        raise TemplateError(
            f"{source}: {value!r} is not a parameter value; give text, a number or a list"
        )
    return text


def _pairs(text: str, source: str) -> Iterator[tuple[str, str]]:
    for token in _tokens(text, source):
        long_form = _LONG_FORM.fullmatch(token)
        if long_form is not None:
            key, value = long_form["key"], long_form["value"]
        elif token.startswith("file://"):
            raise TemplateError(
                f"{source}: {token}: lambdakit does not read parameter files; give the values "
                f"as KEY=VALUE pairs, such as {_EXAMPLES}"
            )
        elif "=" in token and not token.startswith("="):
            key, _, value = token.partition("=")
        else:
            raise TemplateError(
                f"{source}: {token!r} is not a parameter override; give KEY=VALUE pairs "
                f"separated by spaces, such as {_EXAMPLES}"
            )
        yield _name(_unquote(key), source), _unquote(value)


def _tokens(text: str, source: str) -> Iterator[str]:
    """TEXT split at whitespace outside quotes and not escaped; quotes and escapes are kept,
    for ``_unquote`` to remove as SAM CLI does."""
    token: list[str] = []
    quote = ""
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            token += [char, text[index + 1]]
            index += 2
            continue
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char.isspace():
            if token:
                yield "".join(token)
            token = []
            index += 1
            continue
        token.append(char)
        index += 1
    if quote:
        raise TemplateError(f"{source}: {text!r} has a {quote} without its closing pair")
    if token:
        yield "".join(token)


def _unquote(value: str) -> str:
    """SAM CLI's ``_unquote_wrapped_quotes``: one pair of wrapping quotes off, then the
    escapes of a space and of both quotes undone (other backslashes stay)."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value.replace("\\ ", " ").replace('\\"', '"').replace("\\'", "'")


def _name(key: str, source: str) -> str:
    if not _NAME.fullmatch(key):
        raise TemplateError(
            f"{source}: {key!r} is not a parameter name; CloudFormation parameter names are "
            "letters and digits (or a pseudo parameter such as AWS::Region)"
        )
    return key
