"""``select``: the user's whole selection in one call (``template/selection.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdakit.template import TemplateError, UnknownFunctionError, select

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage:
    Type: String
    Default: dev
    AllowedValues: [dev, test, prod]
  Greeting:
    Type: String
    Default: hello
Resources:
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: !Sub "hello-${Stage}"
      CodeUri: src
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          GREETING: !Ref Greeting
          STACK: !Ref AWS::StackName
          REGION: !Ref AWS::Region
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: app.other
      Runtime: python3.12
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "proj"
    (directory / "src").mkdir(parents=True)
    (directory / "src" / "app.py").write_text("def handler(e, c):\n    return e\n")
    (directory / "template.yaml").write_text(TEMPLATE)
    return directory


def hello(project: Path, **choice: object) -> dict[str, str]:
    chosen = select(project, command="invoke", function="HelloFunction", **choice)  # type: ignore[arg-type]
    (spec,) = chosen.functions
    return {"name": spec.name, **spec.environment}


def test_defaults_without_overrides_or_samconfig(project: Path) -> None:
    chosen = select(project, command="invoke")
    assert [spec.name for spec in chosen.functions] == ["hello-dev", "OtherFunction"]
    assert chosen.template == project / "template.yaml"
    assert hello(project) == {
        "name": "hello-dev", "GREETING": "hello", "STACK": "proj", "REGION": "us-east-1",
    }  # fmt: skip


def test_the_flags_overrides(project: Path) -> None:
    flags = ("Stage=prod", "Greeting='good day'")
    assert hello(project, parameter_overrides=flags) == {
        "name": "hello-prod", "GREETING": "good day", "STACK": "proj", "REGION": "us-east-1",
    }  # fmt: skip
    pseudo = ["ParameterKey=AWS::Region,ParameterValue=eu-north-1 AWS::StackName=mine"]
    assert hello(project, parameter_overrides=pseudo)["REGION"] == "eu-north-1"
    assert hello(project, parameter_overrides=pseudo)["STACK"] == "mine"


def test_samconfig_per_command_and_environment(project: Path) -> None:
    (project / "samconfig.toml").write_text(
        "version = 0.1\n"
        "[default.global.parameters]\n"
        'stack_name = "sam-app"\n'
        "[default.local_invoke.parameters]\n"
        "parameter_overrides = \"Stage=test Greeting='from samconfig'\"\n"
        "[prod.local_invoke.parameters]\n"
        'parameter_overrides = ["Stage=prod"]\n'
        'region = "ap-south-1"\n'
        "[default.deploy.parameters]\n"
        'parameter_overrides = "Stage=prod"\n'
    )
    assert hello(project) == {
        "name": "hello-test", "GREETING": "from samconfig", "STACK": "sam-app",
        "REGION": "us-east-1",
    }  # fmt: skip
    assert hello(project, config_env="prod") == {
        "name": "hello-prod", "GREETING": "hello", "STACK": "proj", "REGION": "ap-south-1",
    }  # fmt: skip
    # The flag replaces samconfig's overrides, all of them, as in SAM CLI.
    assert hello(project, parameter_overrides=["Stage=dev"])["GREETING"] == "hello"
    assert hello(project, parameter_overrides=["Stage=dev"])["STACK"] == "sam-app"
    # An override of the pseudo parameter wins over samconfig's stack_name and region.
    named = hello(project, config_env="prod", parameter_overrides=["AWS::Region=r"])
    assert named["REGION"] == "r"
    deploy = select(project, command="deploy", function="hello-prod")
    assert deploy.config.stack_name == "sam-app" and deploy.parameters["Stage"] == "prod"


def test_a_region_flag_feeds_aws_region(project: Path) -> None:
    assert hello(project, region="eu-central-1")["REGION"] == "eu-central-1"
    # The flag names the region outright, as --account-id names the account: it wins over an
    # AWS::Region override too.
    both = hello(project, region="eu-central-1", parameter_overrides=["AWS::Region=r"])
    assert both["REGION"] == "eu-central-1"


def test_samconfig_names_the_template(project: Path) -> None:
    infra = project / "infra"
    infra.mkdir()
    (infra / "stack.yaml").write_text(TEMPLATE.replace("CodeUri: src", "CodeUri: ../src"))
    (project / "template.yaml").unlink()
    (project / "samconfig.yaml").write_text(
        "version: 0.1\ndefault:\n  global:\n    parameters:\n"
        "      template_file: infra/stack.yaml\n"
    )
    chosen = select(project, command="build")
    assert chosen.template == infra / "stack.yaml"
    assert chosen.functions[0].code_dir == (project / "src").resolve()
    (project / "samconfig.yaml").write_text(
        "version: 0.1\ndefault:\n  build:\n    parameters:\n      template_file: gone.yaml\n"
    )
    with pytest.raises(TemplateError, match=r"samconfig.yaml: template_file 'gone.yaml': "):
        select(project, command="build")
    # A template given as PATH wins over samconfig's.
    assert select(infra / "stack.yaml", command="build").template == infra / "stack.yaml"


def test_an_unknown_function_lists_the_names(project: Path) -> None:
    with pytest.raises(UnknownFunctionError) as caught:
        select(project, command="invoke", function="nope")
    assert str(caught.value) == (
        f"no function 'nope' in {project} (there are: hello-dev, OtherFunction)"
    )
    assert caught.value.names == ("hello-dev", "OtherFunction")
    assert isinstance(caught.value, TemplateError)
    # Chosen by FunctionName or by logical id, once the parameters have named it.
    flags = ["Stage=prod"]
    chosen = select(project, command="invoke", function="hello-prod", parameter_overrides=flags)
    assert [spec.logical_id for spec in chosen.functions] == ["HelloFunction"]


def test_flag_overrides_and_env_file(project: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "env.json"
    env_file.write_text('{"Parameters": {"SHARED": "1"}, "hello-dev": {"GREETING": "env file"}}')
    chosen = select(
        project, command="serve", function="HelloFunction", env_file=env_file,
        timeout=30, memory_size=512, environment={"EXTRA": "x"}, handler="app.other",
    )  # fmt: skip
    (spec,) = chosen.functions
    assert (spec.timeout, spec.memory_size, spec.handler) == (30, 512, "app.other")
    assert spec.environment["GREETING"] == "env file"
    assert spec.environment["SHARED"] == "1" and spec.environment["EXTRA"] == "x"


def test_parameter_mistakes_are_template_errors(project: Path) -> None:
    with pytest.raises(TemplateError, match=r"Parameters.Stage: 'live' is not one of its"):
        select(project, command="invoke", parameter_overrides=["Stage=live"])
    with pytest.raises(TemplateError, match=r"--parameter-overrides: 'Stage' is not a parameter"):
        select(project, command="invoke", parameter_overrides=["Stage"])
    chosen = select(project, command="invoke", parameter_overrides=["Nope=1"])
    assert any("parameter override 'Nope' matches no parameter" in w for w in chosen.warnings)


def test_a_function_directory(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("def go(e, c):\n    return e\n")
    chosen = select(tmp_path, command="invoke", handler="main.go")
    assert chosen.template is None and chosen.functions[0].handler == "main.go"
    with pytest.raises(TemplateError, match=r"has no template.yaml, so parameters do not apply"):
        select(tmp_path, command="invoke", handler="main.go", parameter_overrides=["A=1"])
    (tmp_path / "samconfig.toml").write_text(
        'version = 0.1\n[default.global.parameters]\nparameter_overrides = "A=1"\n'
    )
    chosen = select(tmp_path, command="invoke", handler="main.go")
    assert chosen.warnings == [
        f"{tmp_path / 'samconfig.toml'}: parameter_overrides unused: {tmp_path} has no template"
    ]


def test_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"nowhere does not exist; give a template file"):
        select(tmp_path / "nowhere", command="invoke")
