"""samconfig's ``sam deploy`` keys for ``lambdakit deploy --stack``, against a moto server.

The keys are SAM CLI's (``[ENV.deploy.parameters]`` over ``[ENV.global.parameters]``):
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-config.html
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lambdakit.project.errors import DeployError
from lambdakit.project.stack.commands import StackOptions, deploy_project_stack, with_config
from lambdakit.template import TemplateError
from lambdakit.template.deploykeys import parse_tags, space_separated
from lambdakit.template.samconfig import StackConfig, load_config

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
"""


def write_project(root: Path, samconfig: str, name: str = "samconfig.toml") -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "template.yaml").write_text(TEMPLATE)
    (root / name).write_text(samconfig)
    return root


def run_cli(
    *args: str, endpoint: str, cwd: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
    }  # fmt: skip
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        [sys.executable, "-m", "lambdakit", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=600, input=stdin,
    )  # fmt: skip


def describe(session: Any, name: str) -> dict[str, Any]:
    return dict(session.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0])


def stack_names(session: Any) -> list[str]:
    summaries = session.client("cloudformation").list_stacks()["StackSummaries"]
    return [s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"]


def test_deploy_keys_come_from_samconfig(tmp_path: Path, session: Any, moto_server: str) -> None:
    s3, sns = session.client("s3"), session.client("sns")
    s3.create_bucket(Bucket="team-artifacts")
    topic = sns.create_topic(Name="stack-events")["TopicArn"]
    project = write_project(
        tmp_path,
        "version = 0.1\n"
        "[default.global.parameters]\n"
        'stack_name = "from-samconfig"\n'
        "[default.deploy.parameters]\n"
        'capabilities = "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"\n'
        "tags = 'team=web stage=\"dev one\"'\n"
        's3_bucket = "team-artifacts"\n'
        f'notification_arns = "{topic}"\n'
        'role_arn = "arn:aws:iam::123456789012:role/deployer"\n',
    )
    # No flag but --stack: the name, capabilities, bucket, tags and ARNs are samconfig's.
    result = run_cli("deploy", "--stack", endpoint=moto_server, cwd=project)
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Stack from-samconfig created" in result.stdout
    stack = describe(session, "from-samconfig")
    assert {t["Key"]: t["Value"] for t in stack.get("Tags", [])} == {
        "team": "web", "stage": "dev one",
    }  # fmt: skip
    assert stack.get("NotificationARNs") == [topic]
    assert stack.get("RoleARN") == "arn:aws:iam::123456789012:role/deployer"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="team-artifacts")["Contents"]]
    assert any(key.startswith("from-samconfig/") and key.endswith(".zip") for key in keys)
    for bucket in s3.list_buckets()["Buckets"]:  # lambdakit's own bucket (other tests' too)
        if bucket["Name"].startswith("lambdakit-artifacts-"):
            listed = s3.list_objects_v2(Bucket=bucket["Name"], Prefix="from-samconfig/")
            assert listed["KeyCount"] == 0

    # delete --stack finds the bucket in samconfig too, and empties the stack's prefix.
    gone = run_cli("delete", "--stack", "--no-prompt", endpoint=moto_server, cwd=project)
    assert gone.returncode == 0, gone.stderr + gone.stdout
    assert "from-samconfig" not in stack_names(session)
    assert s3.list_objects_v2(Bucket="team-artifacts", Prefix="from-samconfig/")["KeyCount"] == 0


def test_flags_win_over_samconfig(tmp_path: Path, session: Any, moto_server: str) -> None:
    project = write_project(
        tmp_path,
        "version = 0.1\n[default.deploy.parameters]\n"
        'stack_name = "flags-win"\ncapabilities = ["CAPABILITY_AUTO_EXPAND"]\n'
        'tags = ["team=web"]\n',
    )
    refused = run_cli("deploy", "--stack", endpoint=moto_server, cwd=project)
    assert refused.returncode == 1
    assert "CAPABILITY_IAM" in refused.stderr and "Traceback" not in refused.stderr
    assert "flags-win" not in stack_names(session)

    # Several capabilities after one flag, as sam deploy takes them; PATH still ends the list.
    result = run_cli(
        "deploy", "--stack", "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
        "--tags", "team=api", "owner=ops", ".", endpoint=moto_server, cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr + result.stdout
    tags = {t["Key"]: t["Value"] for t in describe(session, "flags-win").get("Tags", [])}
    assert tags == {"team": "api", "owner": "ops"}


def test_confirm_changeset_asks_first(tmp_path: Path, session: Any, moto_server: str) -> None:
    project = write_project(
        tmp_path,
        "version: 0.1\ndefault:\n  deploy:\n    parameters:\n      stack_name: asked\n"
        "      capabilities: CAPABILITY_IAM\n      confirm_changeset: true\n",
        name="samconfig.yaml",
    )
    declined = run_cli("deploy", "--stack", endpoint=moto_server, cwd=project, stdin="n\n")
    assert declined.returncode == 0, declined.stderr + declined.stdout
    assert "Deploy change set" in declined.stderr and "Not deployed" in declined.stdout
    assert describe(session, "asked")["StackStatus"] == "REVIEW_IN_PROGRESS"

    with pytest.raises(DeployError, match="no prompt here"):  # no terminal to ask on
        deploy_project_stack(project, StackOptions(), region="us-east-1")
    outcome = deploy_project_stack(
        project, StackOptions(confirm_changeset=False), region="us-east-1"
    )
    assert (outcome.result, outcome.status) == ("created", "CREATE_COMPLETE")


def test_resolve_s3_with_s3_bucket_is_refused(tmp_path: Path, session: Any) -> None:
    project = write_project(
        tmp_path,
        "version = 0.1\n[default.deploy.parameters]\n"
        'stack_name = "both"\ns3_bucket = "mine"\nresolve_s3 = true\n',
    )
    with pytest.raises(DeployError, match="both s3_bucket and resolve_s3"):
        deploy_project_stack(project, StackOptions(capabilities=("CAPABILITY_IAM",)))
    assert "both" not in stack_names(session)


def test_s3_prefix_other_than_the_stack_name_is_said(tmp_path: Path, session: Any) -> None:
    project = write_project(
        tmp_path,
        "version = 0.1\n[default.deploy.parameters]\n"
        'stack_name = "prefixed"\ns3_prefix = "elsewhere"\ncapabilities = "CAPABILITY_IAM"\n',
    )
    warnings: list[str] = []
    deploy_project_stack(project, StackOptions(execute=False), warn=warnings.append)
    assert any("s3_prefix 'elsewhere' is not used" in text for text in warnings)


def config_of(tmp_path: Path, keys: str, command: Any = "deploy") -> StackConfig | None:
    (tmp_path / "samconfig.toml").write_text(f"version = 0.1\n[default.deploy.parameters]\n{keys}")
    return load_config(tmp_path, command=command).stack


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ('capabilities = "CAPABILITY_IAM  CAPABILITY_AUTO_EXPAND"',
         StackConfig(capabilities=("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"))),
        ('capabilities = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]',
         StackConfig(capabilities=("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"))),
        ('notification_arns = "arn:aws:sns:us-east-1:1:a arn:aws:sns:us-east-1:1:b"',
         StackConfig(notification_arns=("arn:aws:sns:us-east-1:1:a", "arn:aws:sns:us-east-1:1:b"))),
        ("tags = 'a=1 \"long key\"=\"x y\" c=d=e'",
         StackConfig(tags={"a": "1", "long key": "x y", "c": "d=e"})),
        ('tags = ["a=1", "b=2"]', StackConfig(tags={"a": "1", "b": "2"})),
        ("confirm_changeset = false\nresolve_s3 = true",
         StackConfig(confirm_changeset=False, resolve_s3=True)),
        ('s3_bucket = "b"\ns3_prefix = "p"\nrole_arn = "arn:r"',
         StackConfig(s3_bucket="b", s3_prefix="p", role_arn="arn:r")),
    ],
)  # fmt: skip
def test_key_forms(tmp_path: Path, keys: str, expected: StackConfig) -> None:
    assert config_of(tmp_path, keys) == expected


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ("capabilities = 3", "capabilities must be a string or a list of strings"),
        ('tags = "team"', "give tags as KEY=VALUE"),
        ("tags = 'a=\"open'", "close the quotes"),
        ('confirm_changeset = "yes"', "confirm_changeset must be true or false"),
        ("s3_bucket = 1", "s3_bucket must be a string"),
    ],
)
def test_bad_keys_say_which_and_where(tmp_path: Path, keys: str, says: str) -> None:
    with pytest.raises(TemplateError, match=says) as caught:
        config_of(tmp_path, keys)
    assert "[default.deploy.parameters]" in str(caught.value)


def test_other_commands_ignore_the_deploy_keys(tmp_path: Path) -> None:
    (tmp_path / "samconfig.toml").write_text(
        'version = 0.1\n[default.global.parameters]\ncapabilities = 3\nstack_name = "s"\n'
    )
    assert load_config(tmp_path, command="serve").stack is None
    with pytest.raises(TemplateError):
        load_config(tmp_path, command="deploy")


def test_flag_values_replace_samconfig_values() -> None:
    config = StackConfig(
        s3_bucket="file", capabilities=("CAPABILITY_IAM",), tags={"a": "1"}, role_arn="file"
    )
    merged = with_config(StackOptions(tags={"b": "2"}, role_arn="flag"), config)
    assert (merged.s3_bucket, merged.capabilities, merged.tags, merged.role_arn) == (
        "file", ("CAPABILITY_IAM",), {"b": "2"}, "flag",
    )  # fmt: skip
    assert space_separated(["A B", "C"], "x") == ("A", "B", "C")
    assert parse_tags({"n": 1}) == {"n": "1"}
