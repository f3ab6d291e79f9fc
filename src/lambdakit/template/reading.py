"""CloudFormation templates as Python values: YAML or JSON in, plain dicts and lists out.

YAML's CloudFormation short-form tags become the long form CloudFormation itself works on:
``!Sub x`` becomes ``{"Fn::Sub": "x"}``
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/intrinsic-function-reference.html).
Numbers remember how they were written, for ``to_string``. Errors name the file, line and
column.

A key given twice in one mapping keeps its last value, with a warning naming both places:
that is what AWS does. CloudFormation accepts such a template and deploys the last value (for
YAML and JSON alike; aws-cloudformation/cfn-language-discussion#96), and SAM CLI reads
templates with PyYAML and ``json`` (``samcli/yamlhelper.py``), which keep the last value
silently, so ``sam build``/``sam deploy`` hand CloudFormation only that one. cfn-lint reports
it, as we do, since the first value is most likely a copy-and-paste slip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

from lambdakit.template.errors import TemplateError

__all__ = ["Template", "TemplateLoader", "read_template"]


class Template(dict[str, Any]):
    """A template's top-level mapping, with what reading it found worth a warning."""

    def __init__(self, data: dict[str, Any], warnings: list[str]) -> None:
        super().__init__(data)
        self.warnings = warnings


class _Int(int):
    """An integer that remembers how the template wrote it, for environment values."""

    source: str


class _Float(float):
    """A float that remembers how the template wrote it (``1.50`` stays ``1.50``)."""

    source: str


def _sourced(cls: type[_Int] | type[_Float], value: Any, text: str) -> _Int | _Float:
    number = cls(value)
    number.source = text
    return number


# CloudFormation's short forms: !Ref and !Condition keep their names, the rest get "Fn::".
_TAGS = {"Ref": "Ref", "Condition": "Condition"} | {
    name: f"Fn::{name}"
    for name in [
        *("And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If", "ImportValue"),
        *("Join", "Length", "Not", "Or", "Select", "Split", "Sub", "ToJsonString", "Transform"),
    ]
}


class TemplateLoader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """PyYAML's SafeLoader plus CloudFormation's tags; never constructs Python objects.

    DUPLICATES collects each key given twice in one mapping: (key, first mark, second mark).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, Any, Any]] = []

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        # Before merge keys (<<) are flattened: a key that overrides a merged one is no slip.
        first: dict[tuple[str, str], Any] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in first:
                self.duplicates.append((key_node.value, first[key], key_node.start_mark))
            first[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _construct_tag(loader: TemplateLoader, suffix: str, node: Any) -> dict[str, Any]:
    name = _TAGS.get(suffix)
    if name is None:
        known = ", ".join(f"!{tag}" for tag in _TAGS)
        raise yaml.constructor.ConstructorError(
            None, None, f"unknown tag !{suffix} (CloudFormation's are {known})", node.start_mark
        )
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":  # "!GetAtt Res.Attr.Sub" is ["Res", "Attr.Sub"]
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


def _construct_int(loader: TemplateLoader, node: Any) -> _Int | _Float:
    return _sourced(_Int, loader.construct_yaml_int(node), node.value)


def _construct_float(loader: TemplateLoader, node: Any) -> _Int | _Float:
    return _sourced(_Float, loader.construct_yaml_float(node), node.value)


def _construct_str(loader: TemplateLoader, node: Any) -> str:
    # Dates stay text: `DATE: 2024-01-01` is the string CloudFormation passes on.
    return str(loader.construct_scalar(node))


TemplateLoader.add_multi_constructor("!", _construct_tag)
TemplateLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
TemplateLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)
TemplateLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_str)


def read_template(path: Path) -> Template:
    """The template at PATH as dicts and lists (JSON if it ends in ``.json``, else YAML)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read the template {path}: {exc}") from exc
    parse = _parse_json if path.suffix == ".json" else _parse_yaml
    data, duplicates = parse(text, path)
    if not isinstance(data, dict):
        raise TemplateError(
            f"{path}: not a CloudFormation template (expected a mapping with a Resources "
            f"section, found {type(data).__name__})"
        )
    return Template(data, [_duplicate_warning(path, *d) for d in duplicates])


def _duplicate_warning(path: Path, key: str, first: Any, second: Any) -> str:
    where = f"{path}:{second.line + 1}:{second.column + 1}" if second else str(path)
    earlier = f" (first at line {first.line + 1})" if first else ""
    return (
        f"{where}: duplicate key {key!r}{earlier}: this last value is used and the first "
        "ignored, as CloudFormation and SAM CLI do; remove one of them"
    )


_SYNTAX_HINT = "; check the indentation and quoting there and on the lines above"


def _parse_yaml(text: str, path: Path) -> tuple[Any, list[tuple[str, Any, Any]]]:
    loader = TemplateLoader(text)  # a SafeLoader subclass: no Python objects
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        context = ""
        if exc.context and exc.context_mark:
            context = f" ({exc.context} at line {exc.context_mark.line + 1})"
        # A constructor error (unknown tag, duplicate key) explains itself; a syntax error
        # is most often an indentation or quoting slip on that line or the ones above.
        hint = "" if isinstance(exc, yaml.constructor.ConstructorError) else _SYNTAX_HINT
        raise TemplateError(f"{where}: YAML error: {exc.problem}{context}{hint}") from exc
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path}: YAML error: {exc}") from exc
    finally:
        loader.dispose()


def _parse_json(text: str, path: Path) -> tuple[Any, list[tuple[str, Any, Any]]]:
    duplicates: list[tuple[str, Any, Any]] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in items]
        duplicates.extend((key, None, None) for i, key in enumerate(keys) if key in keys[:i])
        return dict(items)  # the last value wins, as in CloudFormation

    try:
        data = json.loads(
            text,
            object_pairs_hook=pairs,
            parse_int=lambda s: _sourced(_Int, int(s), s),
            parse_float=lambda s: _sourced(_Float, float(s), s),
        )
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}:{exc.lineno}:{exc.colno}: JSON error: {exc.msg}") from exc
    return data, _located(text, duplicates) if duplicates else []


def _located(text: str, found: list[tuple[str, Any, Any]]) -> list[tuple[str, Any, Any]]:
    """JSON's duplicates with their places: JSON is YAML's flow syntax, and PyYAML has marks.
    Where PyYAML cannot read the JSON (tabs...), the duplicates keep no place."""
    loader = TemplateLoader(text)
    try:
        loader.get_single_data()
    except yaml.YAMLError:
        return found
    finally:
        loader.dispose()
    return loader.duplicates or found
