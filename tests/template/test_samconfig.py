"""samconfig.toml / .yaml / .yml as SAM CLI reads them (``template/samconfig.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lambdakit.template import ProjectConfig, TemplateError, load_config
from lambdakit.template.samconfig import Command, config_from_document, find_config

TOML = """\
version = 0.1

[default.global.parameters]
stack_name = "from-global"
region = "eu-west-1"
parameter_overrides = "Stage=global"

[default.local_invoke.parameters]
parameter_overrides = "Stage=invoke Name='local invoke'"

[default.local_start_api.parameters]
parameter_overrides = "Stage=api"
stack_name = "api-stack"

[default.local_start_lambda.parameters]
parameter_overrides = "Stage=lambda"

[default.build.parameters]
template_file = "other.yaml"

[default.deploy.parameters]
stack_name = "deployed"
profile = "work"
parameter_overrides = ["Stage=deploy", "Name=d"]

[prod.deploy.parameters]
region = "us-west-2"
parameter_overrides = "ParameterKey=Stage,ParameterValue=prod"
"""


def write(directory: Path, text: str, name: str = "samconfig.toml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("command", "env", "expected"),
    [
        # A command's own section laid over [ENV.global], key by key.
        ("invoke", None, ProjectConfig(
            parameter_overrides={"Stage": "invoke", "Name": "local invoke"},
            stack_name="from-global", region="eu-west-1",
        )),
        # serve is start-api and start-lambda: start-lambda's keys win, start-api's fill in.
        ("serve", None, ProjectConfig(
            parameter_overrides={"Stage": "lambda"}, stack_name="api-stack", region="eu-west-1",
        )),
        ("build", None, ProjectConfig(
            parameter_overrides={"Stage": "global"}, stack_name="from-global",
            region="eu-west-1", template_file="other.yaml",
        )),
        ("deploy", None, ProjectConfig(
            parameter_overrides={"Stage": "deploy", "Name": "d"}, stack_name="deployed",
            region="eu-west-1", profile="work",
        )),
        ("deploy", "default", ProjectConfig(
            parameter_overrides={"Stage": "deploy", "Name": "d"}, stack_name="deployed",
            region="eu-west-1", profile="work",
        )),
        # Another environment has no [prod.global]: nothing of default's applies.
        ("deploy", "prod", ProjectConfig(
            parameter_overrides={"Stage": "prod"}, region="us-west-2",
        )),
        ("invoke", "prod", ProjectConfig()),
    ],
)  # fmt: skip
def test_sections_merge_as_sam_cli_merges_them(
    tmp_path: Path, command: Command, env: str | None, expected: ProjectConfig
) -> None:
    path = write(tmp_path, TOML)
    config = load_config(tmp_path, command=command, env=env)
    assert config == ProjectConfig(
        source=path,
        parameter_overrides=expected.parameter_overrides,
        stack_name=expected.stack_name,
        template_file=expected.template_file,
        region=expected.region,
        profile=expected.profile,
    )


def test_yaml_with_a_mapping_of_parameters(tmp_path: Path) -> None:
    write(
        tmp_path,
        "version: 0.1\n"
        "default:\n"
        "  global:\n"
        "    parameters:\n"
        "      template: infra/template.yaml\n"
        "  local_invoke:\n"
        "    parameters:\n"
        "      parameter_overrides:\n"
        "        Stage: yaml\n"
        "        Subnets: [a, b]\n"
        "        Count: 2\n",
        "samconfig.yaml",
    )
    config = load_config(tmp_path, command="invoke")
    assert config.parameter_overrides == {"Stage": "yaml", "Subnets": "a,b", "Count": "2"}
    assert config.template_file == "infra/template.yaml"


def test_toml_is_looked_for_first_then_yaml_then_yml(tmp_path: Path) -> None:
    assert find_config(tmp_path) is None
    assert load_config(tmp_path, command="invoke") == ProjectConfig()
    yml = write(tmp_path, "version: 0.1\n", "samconfig.yml")
    assert find_config(tmp_path) == yml
    yaml = write(tmp_path, "version: 0.1\n", "samconfig.yaml")
    assert find_config(tmp_path) == yaml
    toml = write(tmp_path, "version = 0.1\n")
    assert find_config(tmp_path) == toml


def test_a_config_file_is_taken_from_the_project_directory(tmp_path: Path) -> None:
    other = write(tmp_path, TOML.replace("from-global", "other-file"), "prod.toml")
    write(tmp_path, TOML)
    assert load_config(tmp_path, command="invoke", config_file=Path("prod.toml")).source == other
    assert load_config(tmp_path, command="invoke", config_file=other).stack_name == "other-file"
    with pytest.raises(TemplateError, match=r"--config-file nope.toml: .*nope.toml does not exist"):
        load_config(tmp_path, command="invoke", config_file=Path("nope.toml"))


def test_an_unknown_environment_lists_those_there_are(tmp_path: Path) -> None:
    write(tmp_path, TOML)
    with pytest.raises(TemplateError, match=r"--config-env staging: .* has no \[staging\] "
                       r"environment \(it has: default, prod\)"):  # fmt: skip
        load_config(tmp_path, command="deploy", env="staging")


def test_an_environment_without_a_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"--config-env prod: .* has no samconfig.toml"):
        load_config(tmp_path, command="deploy", env="prod")
    assert load_config(tmp_path, command="deploy", env="default") == ProjectConfig()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("samconfig.toml", "version = 0.1\n[default.deploy.parameters\n",
         r"samconfig.toml: not valid TOML: .*line 2.*; fix the file"),
        ("samconfig.yaml", "version: 0.1\ndefault: [\n", r"samconfig.yaml:3:1: not valid YAML"),
        ("samconfig.toml", "[default.deploy.parameters]\nstack_name = 's'\n",
         r"'version' is missing or not a number; .* version = 0.1"),
        ("samconfig.toml", "version = 'one'\n", r"'version' is missing or not a number"),
        ("samconfig.yaml", "- a list\n", r"a samconfig file is a mapping"),
        ("samconfig.toml", "version = 0.1\ndefault = 'x'\n", r"default must be a table"),
        ("samconfig.toml", "version = 0.1\n[default]\ndeploy = 1\n",
         r"\[default.deploy\] must be a table"),
        ("samconfig.toml", "version = 0.1\n[default.deploy]\nparameters = 1\n",
         r"\[default.deploy.parameters\] must be a table"),
        ("samconfig.toml", "version = 0.1\n[default.global.parameters]\nstack_name = 1\n",
         r"\[default.global.parameters\] stack_name must be a string"),
        ("samconfig.toml", "version = 0.1\n[default.deploy.parameters]\n"
         "parameter_overrides = 'Stage'\n",
         r"samconfig.toml: \[default.deploy.parameters\] parameter_overrides: 'Stage' is not a "
         "parameter override"),
    ],
)  # fmt: skip
def test_a_malformed_file_is_a_clear_error(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    write(tmp_path, text, name)
    with pytest.raises(TemplateError, match=message) as caught:
        load_config(tmp_path, command="deploy")
    assert str(tmp_path / name) in str(caught.value)


def test_a_config_file_of_another_format_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "{}", "samconfig.json")
    with pytest.raises(TemplateError, match=r"TOML \(.toml\) or YAML \(.yaml, .yml\); rename it"):
        load_config(tmp_path, command="deploy", config_file=Path("samconfig.json"))


def test_without_tomllib_nor_tomli_the_fix_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, TOML)
    monkeypatch.setitem(sys.modules, "tomllib", None)  # as on Python 3.10
    monkeypatch.setitem(sys.modules, "tomli", None)
    with pytest.raises(TemplateError, match=r"needs the tomli package \(pip install tomli\)"):
        load_config(tmp_path, command="deploy")


def test_an_empty_file_configures_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert load_config(tmp_path, command="serve") == ProjectConfig(source=path)


def test_documents_without_files() -> None:
    document = {"version": 0.1, "dev": {"local_invoke": {"parameters": {"region": "r"}}}}
    config = config_from_document(document, command="invoke", env="dev", source=Path("x.toml"))
    assert config.region == "r" and config.parameter_overrides is None
