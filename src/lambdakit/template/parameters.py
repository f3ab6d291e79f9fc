"""Parameters: the template's own, with their overrides, and AWS's pseudo parameters.

https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambdakit.template.errors import TemplateError
from lambdakit.template.values import to_string

__all__ = ["ParameterValue", "is_ssm", "parameter_values", "pseudo_parameters"]

ParameterValue = str | list[str] | None
"""A parameter's value: text, a list for list types, None if it has none locally."""


def pseudo_parameters(
    overrides: Mapping[str, str], stack_name: str, environ: Mapping[str, str]
) -> dict[str, Any]:
    """AWS::Region, AWS::AccountId... with local stand-ins; parameter overrides win.

    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/pseudo-parameter-reference.html
    """
    region = (
        overrides.get("AWS::Region")
        or environ.get("AWS_REGION")
        or environ.get("AWS_DEFAULT_REGION")
        or "us-east-1"
    )
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    partition = "aws-us-gov" if region.startswith("us-gov-") else partition
    account = overrides.get("AWS::AccountId", "123456789012")
    stack = overrides.get("AWS::StackName", stack_name)
    values: dict[str, Any] = {
        "AWS::AccountId": account,
        "AWS::NotificationARNs": [],
        "AWS::Partition": partition,
        "AWS::Region": region,
        "AWS::StackId": f"arn:{partition}:cloudformation:{region}:{account}:stack/{stack}/"
        "00000000-0000-0000-0000-000000000000",
        "AWS::StackName": stack,
        "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
    }
    return values | {key: value for key, value in overrides.items() if key in values}


def is_ssm(declaration: object) -> bool:
    """Whether a parameter's value is read from SSM Parameter Store at deploy time."""
    kind = declaration.get("Type", "") if isinstance(declaration, dict) else ""
    return str(kind).startswith("AWS::SSM::Parameter::Value<")


def parameter_values(
    declared: Mapping[str, Any], overrides: Mapping[str, str], source: str
) -> dict[str, ParameterValue]:
    """Each declared parameter's value: its override, else its Default, else None."""
    return {name: _value(name, declared[name], overrides, source) for name in declared}


def _value(
    name: str, declaration: object, overrides: Mapping[str, str], source: str
) -> ParameterValue:
    declaration = declaration if isinstance(declaration, dict) else {}
    kind = str(declaration.get("Type", "String"))
    if name not in overrides and is_ssm(declaration):
        return None  # the Default names an SSM parameter; its value lives in the cloud
    text = to_string(overrides.get(name, declaration.get("Default")))
    if text is None or (name not in overrides and "Default" not in declaration):
        return None
    is_list = kind == "CommaDelimitedList" or kind.startswith("List<")
    # "Each member string is space trimmed" (CloudFormation Parameters, Type).
    values = [item.strip() for item in text.split(",")] if is_list else [text]
    allowed = declaration.get("AllowedValues")
    if isinstance(allowed, list):
        _check_allowed(name, values, [to_string(option) for option in allowed], source)
    return values if is_list else text


def _check_allowed(name: str, values: list[str], allowed: list[str | None], source: str) -> None:
    for value in values:
        if value not in allowed:
            raise TemplateError(
                f"{source}: Parameters.{name}: {value!r} is not one of its "
                f"AllowedValues {allowed}; give an allowed value as a parameter override"
            )
