"""Template parameters end to end: ``--parameter-overrides`` and samconfig (``--config-env``)
choosing a function's name and environment, seen through invoke, serve (boto3), build and
deploy (moto)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from lambdakit.cli.build import build
from lambdakit.cli.deploy import deploy
from tests.emulator.conftest import Server, client_for

RUNTIME = "python%d.%d" % sys.version_info[:2]
TEMPLATE = f"""\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
  Greeting:
    Type: String
    Default: hello
Resources:
  GreetFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "greet-${{Stage}}"
      CodeUri: src
      Handler: app.handler
      Runtime: {RUNTIME}
      Environment:
        Variables:
          GREETING: !Ref Greeting
          STACK: !Ref AWS::StackName
"""
APP = """\
import os

def handler(event, context):
    return {"name": context.function_name, "greeting": os.environ["GREETING"],
            "stack": os.environ["STACK"]}
"""
SAMCONFIG = """\
version = 0.1

[default.global.parameters]
stack_name = "greeter"

[default.local_invoke.parameters]
parameter_overrides = "Stage=test Greeting='from samconfig'"

[default.local_start_lambda.parameters]
parameter_overrides = "Stage=served"

[default.build.parameters]
parameter_overrides = "Stage=built"

[prod.global.parameters]
stack_name = "greeter-prod"
parameter_overrides = ["Stage=prod", "Greeting=welcome"]

[prod.deploy.parameters]
region = "us-west-2"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "greeter"
    (directory / "src").mkdir(parents=True)
    (directory / "src" / "app.py").write_text(APP)
    (directory / "template.yaml").write_text(TEMPLATE)
    (directory / "samconfig.toml").write_text(SAMCONFIG)
    return directory


def lambdakit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdakit", *args], capture_output=True, text=True, timeout=60
    )


def invoked(*args: str) -> dict[str, str]:
    done = lambdakit("invoke", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_invoke_reads_samconfig_and_its_environments(project: Path) -> None:
    assert invoked(str(project)) == {
        "name": "greet-test", "greeting": "from samconfig", "stack": "greeter",
    }  # fmt: skip
    assert invoked(str(project), "--config-env", "prod") == {
        "name": "greet-prod", "greeting": "welcome", "stack": "greeter-prod",
    }  # fmt: skip
    other = project / "other.toml"
    other.write_text(SAMCONFIG.replace("from samconfig", "another file"))
    assert invoked(str(project), "--config-file", "other.toml")["greeting"] == "another file"


def test_invoke_overrides_by_flag_in_sam_cli_forms(project: Path) -> None:
    # SAM's documented form: several KEY=VALUE arguments after one flag; PATH ends them.
    flags = ["--parameter-overrides", "Stage=flag", "Greeting='good day'", str(project)]
    assert invoked(*flags) == {"name": "greet-flag", "greeting": "good day", "stack": "greeter"}
    # CloudFormation's form, and the flag given twice: the values accumulate.
    flags = ["--parameter-overrides", "ParameterKey=Stage,ParameterValue=cfn", "--function"]
    flags += ["greet-cfn", "--parameter-overrides", "AWS::StackName=named", str(project)]
    assert invoked(*flags) == {"name": "greet-cfn", "greeting": "hello", "stack": "named"}
    # The flag's --option=value spelling, and a quoted value with a space.
    flags = ["--parameter-overrides=Stage=eq", 'Greeting="x y"', str(project)]
    assert invoked(*flags) == {"name": "greet-eq", "greeting": "x y", "stack": "greeter"}
    # The flag replaces samconfig's overrides; --config-env still picks the stack name.
    flags = [str(project), "--config-env", "prod", "--parameter-overrides", "Greeting=hi"]
    assert invoked(*flags) == {"name": "greet-dev", "greeting": "hi", "stack": "greeter-prod"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--parameter-overrides", "Stage"], "--parameter-overrides: 'Stage' is not a parameter"),
        (["--config-env", "staging"], "has no [staging] environment (it has: default, prod)"),
        (["--config-file", "nope.toml"], "--config-file nope.toml: "),
        (["--function", "greet-dev"], "no function 'greet-dev' in "),
    ],
)
def test_mistakes_are_named(project: Path, args: list[str], message: str) -> None:
    done = lambdakit("invoke", str(project), *args)
    assert done.returncode in (1, 2) and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_malformed_samconfig_names_the_file(project: Path) -> None:
    (project / "samconfig.toml").write_text("version = 0.1\n[default.local_invoke\n")
    done = lambdakit("invoke", str(project))
    assert done.returncode == 1
    assert f"{project / 'samconfig.toml'}: not valid TOML" in done.stderr
    assert "Traceback" not in done.stderr


def served(server: Server, name: str) -> dict[str, str]:
    client: Any = client_for(server.url)
    answer = client.invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in answer
    return json.loads(answer["Payload"].read())  # type: ignore[no-any-return]


def test_serve_names_functions_by_samconfig_for_boto3(project: Path) -> None:
    server = Server(project)
    try:
        assert served(server, "greet-served") == {
            "name": "greet-served", "greeting": "hello", "stack": "greeter",
        }  # fmt: skip
        assert served(server, "GreetFunction")["name"] == "greet-served"
        with pytest.raises(client_for(server.url).exceptions.ResourceNotFoundException):
            client_for(server.url).invoke(FunctionName="greet-test", Payload=b"{}")
    finally:
        server.stop()


def test_serve_with_an_environment_and_flags_for_boto3(project: Path) -> None:
    server = Server(project, "--config-env", "prod", "--parameter-overrides", "Greeting=boto3")
    try:
        assert served(server, "greet-dev") == {
            "name": "greet-dev", "greeting": "boto3", "stack": "greeter-prod",
        }  # fmt: skip
    finally:
        server.stop()


def test_build_names_the_zip_after_the_resolved_function_name(
    project: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    common = ["--target", RUNTIME, "--output", str(out)]
    done = CliRunner().invoke(build, [str(project), *common])
    assert done.exit_code == 0, done.output
    assert (out / "greet-built.zip").is_file()
    options = ["--parameter-overrides", "Stage=flag", "Greeting=x", str(project), *common]
    done = CliRunner().invoke(build, options)
    assert done.exit_code == 0, done.output
    assert (out / "greet-flag.zip").is_file()


def test_deploy_takes_name_environment_and_region_from_samconfig(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    code = tmp_path / "code.zip"
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", APP)
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                       "Action": "sts:AssumeRole"}],
    }  # fmt: skip
    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(trust))
        arguments = [str(project), "--config-env", "prod", "--zip", str(code)]
        arguments += ["--role", role["Role"]["Arn"]]
        done = CliRunner().invoke(deploy, arguments)
        assert done.exit_code == 0, done.output
        assert "greet-prod: function: created" in done.stdout
        west = boto3.client("lambda", region_name="us-west-2")
        configuration = west.get_function(FunctionName="greet-prod")["Configuration"]
        assert configuration["Environment"]["Variables"] == {
            "GREETING": "welcome", "STACK": "greeter-prod",
        }  # fmt: skip
        east = boto3.client("lambda", region_name="us-east-1")
        with pytest.raises(east.exceptions.ResourceNotFoundException):
            east.get_function(FunctionName="greet-prod")
        # The flag replaces the environment's overrides, and --region its region.
        arguments += ["--parameter-overrides", "Stage=flag", "Greeting=flagged"]
        done = CliRunner().invoke(deploy, [*arguments, "--region", "us-east-1"])
        assert done.exit_code == 0, done.output
        configuration = east.get_function(FunctionName="greet-flag")["Configuration"]
        assert configuration["Environment"]["Variables"]["GREETING"] == "flagged"
