"""``lambdakit check``: the table of how a template's functions will run unlike on AWS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lambdakit.cli import main

TEMPLATE = """\
Parameters:
  UseVpc: {Type: String, Default: "no"}
Conditions:
  InVpc: !Equals [!Ref UseVpc, "yes"]
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Runtime: provided.al2023
      Handler: bootstrap
      Tracing: Active
      Timout: 5
      VpcConfig: !If [InVpc, {SubnetIds: [subnet-1]}, !Ref AWS::NoValue]
      Events:
        Jobs: {Type: SQS, Properties: {Queue: arn:aws:sqs:us-east-1:123456789012:jobs}}
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: code
      Runtime: provided.al2023
      Handler: bootstrap
      Layers: [arn:aws:lambda:us-east-1:123456789012:layer:x:1]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "code").mkdir()
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["check", *args])
    out, err = capsys.readouterr()
    return status, out, err


def test_one_table_of_differences_per_function_then_warnings(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per row
    status, out, _ = run(capsys, str(project))
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"{project / 'template.yaml'}: 2 function(s)"
    table = lines[2:7]
    assert table[0].split() == ["FUNCTION", "PROPERTY", "WHAT", "HAPPENS", "LOCALLY"]
    rows = [line.split(None, 2) for line in table[1:]]
    assert [row[:2] for row in rows] == [
        ["Worker", "Tracing"],
        ["Worker", "Timout"],
        ["Worker", "Events"],
        ["Plain", "-"],
    ]
    assert rows[0][2].startswith("no X-Ray daemon")
    assert "did you mean Timeout?" in rows[1][2]
    assert rows[2][2].startswith("event sources (SQS) are not connected")
    assert rows[3][2] == "every property is honoured"
    # The rest of the warnings follow, each once; the differences are not repeated there.
    assert lines[8] == "Warnings:"
    warnings = lines[9:]
    assert len(warnings) == 1
    assert "Plain.Layers: layer arn:aws:lambda:us-east-1:123456789012:layer:x:1" in warnings[0]


def test_parameter_overrides_choose_what_is_checked(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, before, _ = run(capsys, str(project))
    status, after, _ = run(capsys, "--parameter-overrides", "UseVpc=yes", str(project))
    assert status == 0
    assert "VpcConfig" not in before
    assert "Worker    VpcConfig  the function runs with this machine's network" in after


def test_long_lines_wrap_under_their_column(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = run(capsys, str(project))
    table = out.split("\n\n")[1].splitlines()
    assert max(map(len, table)) <= 80
    continued = [line for line in table if line.startswith(" ")]
    assert continued and all(line.startswith(" " * 19) for line in continued)


def test_a_template_that_does_not_load_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "template.yaml").write_text("Resources: {Fn: [\n")
    status, out, err = run(capsys, str(tmp_path))
    assert (status, out) == (1, "")
    assert f"{tmp_path / 'template.yaml'}:2:1: YAML error" in err
    assert "Traceback" not in err


def test_a_function_directory_has_nothing_to_compare(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return event\n")
    status, out, _ = run(capsys, str(tmp_path))
    assert status == 0
    assert out == f"{tmp_path}: a function directory, without a template: nothing to compare\n"


def test_the_installed_command(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "check", str(project / "template.yaml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Worker" in done.stdout and "Tracing" in done.stdout
