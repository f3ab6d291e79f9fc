"""Environment variables that Lambda refuses at deploy are refused at load, with its message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lambdakit.template import FunctionSpec, TemplateError, load_functions
from lambdakit.template.variables import MAX_SIZE, RESERVED, check_variables

RESERVED_TEXT = (
    "Lambda was unable to configure your environment variables because the environment "
    "variables you have provided contains reserved keys that are currently not supported for "
    "modification. Reserved keys used in this request: AWS_REGION"
)


def template(tmp_path: Path, variables: str) -> Path:
    (tmp_path / "app.py").write_text("def handler(e, c): return e\n")
    path = tmp_path / "template.yaml"
    path.write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: .\n"
        "      Handler: app.handler\n      Runtime: python3.12\n"
        f"      Environment:\n        Variables:\n{variables}"
    )
    return path


def test_a_reserved_key_is_refused_at_load_with_lambdas_message(tmp_path: Path) -> None:
    path = template(tmp_path, "          TABLE: t\n          AWS_REGION: eu-west-1\n")
    with pytest.raises(TemplateError) as raised:
        load_functions(path)
    assert "Fn.Environment.Variables" in str(raised.value)
    assert str(raised.value).endswith(RESERVED_TEXT)


@pytest.mark.parametrize("key", sorted(RESERVED))
def test_every_reserved_key(key: str) -> None:
    with pytest.raises(TemplateError, match=f"used in this request: {key}$"):
        check_variables({key: "x"})


@pytest.mark.parametrize("key", ["TZ", "LANG", "PATH", "AWS_LAMBDA_EXEC_WRAPPER", "Ab"])
def test_keys_lambda_lets_a_function_set(key: str) -> None:
    assert check_variables({key: "x"}) == {key: "x"}


@pytest.mark.parametrize("key", ["1ABC", "A", "MY-VAR", "_PRIVATE", "A B", "É1"])
def test_keys_outside_lambdas_pattern(key: str) -> None:
    with pytest.raises(TemplateError, match=r"regular expression pattern: \[a-zA-Z\]"):
        check_variables({key: "x"})


def test_the_4kb_limit_counts_the_variables_as_compact_json() -> None:
    # {"KK":"<value>"} is 9 bytes more than the value.
    at_limit = {"KK": "v" * (MAX_SIZE - 9)}
    assert check_variables(at_limit) == at_limit
    with pytest.raises(
        TemplateError, match=re.escape('exceeded the 4KB limit. String measured: {"KK":"v')
    ):
        check_variables({"KK": "v" * (MAX_SIZE - 8)})
    with pytest.raises(TemplateError, match="4KB limit"):  # bytes, not characters
        check_variables({"KK": "é" * ((MAX_SIZE - 9) // 2 + 1)})


def test_overrides_from_env_and_env_files_are_checked(tmp_path: Path) -> None:
    spec = FunctionSpec(name="Fn", code_dir=tmp_path, runtime="python3.12", handler="app.h")
    assert spec.with_overrides(environment={"TABLE": "t"}).environment == {"TABLE": "t"}
    with pytest.raises(TemplateError, match=r"function 'Fn': .*reserved keys.*: _HANDLER$"):
        spec.with_overrides(environment={"_HANDLER": "other.handler"})
    big = {f"K{i}": "v" * 100 for i in range(40)}
    with pytest.raises(TemplateError, match="4KB limit"):
        spec.with_overrides(environment=big)
