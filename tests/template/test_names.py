"""Function names: FunctionName resolved as SAM CLI resolves it, else the logical id."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdakit.template import load_template
from tests.template.test_functions import fn, template, write


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("FunctionName: plain", "plain"),
        ("FunctionName: !Sub '${AWS::StackName}-api'", "proj-api"),
        ("FunctionName: !Sub '${Stage}-api'", "dev-api"),
        ("FunctionName: !Join ['-', [!Ref Stage, x]]", "dev-x"),
        ("FunctionName: !If [IsDev, dev-fn, prod-fn]", "dev-fn"),
        ("FunctionName: !Ref AWS::NoValue", "Fn"),
    ],
)
def test_function_name_is_resolved(tmp_path: Path, name: str, expected: str) -> None:
    head = (
        "Parameters: {Stage: {Type: String, Default: dev}}\n"
        "Conditions: {IsDev: !Equals [!Ref Stage, dev]}"
    )
    project = tmp_path / "proj"
    project.mkdir()
    (spec,) = load_template(write(project, template(fn(name), head=head))).functions
    assert (spec.name, spec.logical_id) == (expected, "Fn")


def test_name_follows_parameter_overrides(tmp_path: Path) -> None:
    head = "Parameters: {Stage: {Type: String, Default: dev}}"
    path = write(tmp_path, template(fn("FunctionName: !Sub '${Stage}-api'"), head=head))
    (spec,) = load_template(path, parameters={"Stage": "prod"}).functions
    assert spec.name == "prod-api"


def test_refs_and_arns_use_the_resolved_name(tmp_path: Path) -> None:
    text = template(
        fn("FunctionName: !Sub '${AWS::Region}-a'"),
        fn(
            "Environment: {Variables: {TARGET: !Ref Fn, ARN: !GetAtt Fn.Arn}}",
            name="Caller",
        ),
    )
    specs = load_template(write(tmp_path, text), parameters={"AWS::Region": "eu-west-1"})
    caller = specs.functions[1]
    assert caller.environment == {
        "TARGET": "eu-west-1-a",
        "ARN": "arn:aws:lambda:eu-west-1:123456789012:function:eu-west-1-a",
    }


def test_unknowable_or_self_referring_names_fall_back_to_the_logical_id(tmp_path: Path) -> None:
    text = template(
        fn("FunctionName: !ImportValue other-stack-name"),
        fn("FunctionName: !Sub '${Self.Arn}-x'", name="Self"),
    )
    result = load_template(write(tmp_path, text))
    assert [s.name for s in result.functions] == ["Fn", "Self"]
    warnings = "\n".join(result.warnings)
    assert "Fn.FunctionName" in warnings
    assert "Self.FunctionName: refers to itself" in warnings
