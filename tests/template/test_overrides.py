"""SAM CLI's parameter-override forms, parsed without I/O (``template/overrides.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from lambdakit.template import TemplateError, parse_parameter_overrides


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Stage=prod", {"Stage": "prod"}),
        ("Stage=prod Name=hello", {"Stage": "prod", "Name": "hello"}),
        ("  Stage=prod\t\nName=x  ", {"Stage": "prod", "Name": "x"}),
        ('Name="hello world"', {"Name": "hello world"}),
        ("Name='hello world' Stage=prod", {"Name": "hello world", "Stage": "prod"}),
        (r"Name=hello\ world", {"Name": "hello world"}),
        (r"Quote=say\"hi\"", {"Quote": 'say"hi"'}),
        (r"Path=C:\temp", {"Path": r"C:\temp"}),  # other backslashes stay, as in SAM CLI
        ("Url=https://x/?a=1&b=2", {"Url": "https://x/?a=1&b=2"}),
        ("Subnets=a,b,c", {"Subnets": "a,b,c"}),
        ("Empty=", {"Empty": ""}),
        ('Empty=""', {"Empty": ""}),
        ('"Stage"=prod', {"Stage": "prod"}),
        ("ParameterKey=Stage,ParameterValue=prod", {"Stage": "prod"}),
        (
            "ParameterKey=Stage,ParameterValue=prod ParameterKey=Subnets,ParameterValue=a,b",
            {"Stage": "prod", "Subnets": "a,b"},
        ),
        ('ParameterKey=Name,ParameterValue="a b"', {"Name": "a b"}),
        ("ParameterKey=Stage,ParameterValue=prod Name=x", {"Stage": "prod", "Name": "x"}),
        ("Stage=dev Stage=prod", {"Stage": "prod"}),  # the later one wins
        (
            "AWS::Region=eu-west-1 AWS::AccountId=111122223333",
            {
                "AWS::Region": "eu-west-1",
                "AWS::AccountId": "111122223333",
            },
        ),
        ("ParameterKey=AWS::StackName,ParameterValue=s", {"AWS::StackName": "s"}),
        ("", {}),
        (None, {}),
        # samconfig's other shapes: a list of strings, a mapping
        (["Stage=prod", "Name='a b' Other=1"], {"Stage": "prod", "Name": "a b", "Other": "1"}),
        ([], {}),
        (
            {"Stage": "prod", "Count": 3, "On": True, "Off": None},
            {
                "Stage": "prod",
                "Count": "3",
                "On": "true",
                "Off": "",
            },
        ),
        ({"Subnets": ["a", " b ", ""]}, {"Subnets": "a,b"}),
        ({"AWS::Region": "us-west-2"}, {"AWS::Region": "us-west-2"}),
    ],
)
def test_the_forms_sam_cli_takes(value: Any, expected: dict[str, str]) -> None:
    assert parse_parameter_overrides(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Stage", "'Stage' is not a parameter override; give KEY=VALUE pairs"),
        ("Stage=prod oops", "'oops' is not a parameter override"),
        ("=prod", "'=prod' is not a parameter override"),
        ("Sta-ge=prod", "'Sta-ge' is not a parameter name"),
        ("my.param=1", "'my.param' is not a parameter name"),
        ("ParameterKey=,ParameterValue=x", "'' is not a parameter name"),
        ("Name='hello world", "has a ' without its closing pair"),
        ('Name="x', 'has a " without its closing pair'),
        ("file://params.yaml", "file://params.yaml: lambdakit does not read parameter files"),
        (42, "42 is not parameter overrides"),
        ({"Stage": {"nested": 1}}, "is not a parameter value"),
        ({"bad name": "x"}, "'bad name' is not a parameter name"),
    ],
)
def test_what_cannot_be_read_is_named(value: Any, message: str) -> None:
    with pytest.raises(TemplateError, match=r"^--parameter-overrides: ") as caught:
        parse_parameter_overrides(value)
    assert message in str(caught.value)


def test_the_source_is_named_in_errors() -> None:
    with pytest.raises(TemplateError, match=r"^samconfig.toml \[default\.deploy\.parameters\]: "):
        parse_parameter_overrides("nope", "samconfig.toml [default.deploy.parameters]")
