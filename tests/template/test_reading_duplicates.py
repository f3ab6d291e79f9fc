"""A key given twice in one mapping: the last value wins, as in CloudFormation and SAM CLI,
with a warning at the second occurrence's file:line:column (lambdakit.template.reading)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdakit.template import load_template, read_template

FUNCTION = """\
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Runtime: provided.al2023
      Handler: bootstrap
      Timeout: 3
      Timeout: 7
"""


def write(tmp_path: Path, text: str, name: str = "template.yaml") -> Path:
    (tmp_path / "code").mkdir(exist_ok=True)
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_duplicated_property_keeps_its_last_value_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, FUNCTION)
    result = load_template(path)
    assert result.functions[0].timeout == 7.0
    assert result.warnings == [
        f"{path}:9:7: duplicate key 'Timeout' (first at line 8): this last value is used and "
        "the first ignored, as CloudFormation and SAM CLI do; remove one of them"
    ]


def test_a_duplicated_resource_is_the_last_one(tmp_path: Path) -> None:
    text = FUNCTION.replace("      Timeout: 3\n", "") + FUNCTION.split("\n", 1)[1].replace(
        "bootstrap", "second"
    )
    path = write(tmp_path, text)
    result = load_template(path)
    assert [spec.handler for spec in result.functions] == ["second"]
    assert any(
        w.startswith(f"{path}:9:3: duplicate key 'Fn' (first at line 2)") for w in result.warnings
    )


def test_keys_that_override_a_merge_key_are_not_duplicates(tmp_path: Path) -> None:
    # YAML merge keys (<<) are how a mapping overrides shared values on purpose.
    path = write(tmp_path, "Base: &base {a: 1, b: 2}\nResources:\n  X: {<<: *base, a: 3}\n")
    template = read_template(path)
    assert template["Resources"]["X"] == {"a": 3, "b": 2}
    assert template.warnings == []


def test_json_duplicates_have_their_place_and_the_last_value(tmp_path: Path) -> None:
    text = '{\n  "Resources": {},\n  "Description": "a",\n  "Description": "b"\n}\n'
    template = read_template(write(tmp_path, text, "template.json"))
    assert template["Description"] == "b"
    (warning,) = template.warnings
    assert warning.startswith(f"{tmp_path / 'template.json'}:4:3: duplicate key 'Description'")


def test_json_duplicates_that_yaml_cannot_place_are_still_named(tmp_path: Path) -> None:
    # A tab where YAML allows none: the duplicate is reported without a place.
    text = '{"Resources": {},\n\t"A": 1, "A": 2}'
    template = read_template(write(tmp_path, text, "template.json"))
    assert template["A"] == 2
    assert [w.split(": ", 1)[1] for w in template.warnings] == [
        "duplicate key 'A': this last value is used and the first ignored, as CloudFormation "
        "and SAM CLI do; remove one of them"
    ]


@pytest.mark.parametrize("times", [2, 3])
def test_each_repetition_is_one_warning(tmp_path: Path, times: int) -> None:
    text = "Resources: {}\n" + "".join(f"Description: d{i}\n" for i in range(times))
    template = read_template(write(tmp_path, text))
    assert template["Description"] == f"d{times - 1}"
    assert len(template.warnings) == times - 1
