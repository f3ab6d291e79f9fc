"""``lambdakit deploy --stack`` and ``lambdakit delete --stack`` against a moto server.

moto applies a change set while ExecuteChangeSet is being answered, and answers a resource it
cannot create with an error of that call (not with CREATE_FAILED events and a rollback, as
CloudFormation does); the event summaries of a real rollback are checked on tables of events.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lambdakit.project.errors import DeployError
from lambdakit.project.stack.changesets import Change, change_table
from lambdakit.project.stack.commands import (
    StackOptions,
    deploy_project_stack,
)
from lambdakit.project.stack.events import StackEvent, first_failure, rolled_back
from lambdakit.project.stack.failures import missing_capabilities, not_updatable
from lambdakit.project.stack.stack import deploy_stack

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: {handler}
      Runtime: python3.12
      Layers: [!Ref Shared]
      Environment:
        Variables:
          TABLE: !Ref Table
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
Outputs:
  WorkerName:
    Value: !Ref Worker
"""


@pytest.fixture(autouse=True)
def _moto_layers_on_update(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2 resolves ``!Ref`` to a layer version into its model object, not its ARN,
    and fails to update a function that has one (its create path ignores Layers); give it
    the ARN, as CloudFormation would."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._get_layers_data

    def by_arn(self: Any, layers: list[Any]) -> Any:
        return original(self, [getattr(layer, "arn", layer) for layer in layers])

    monkeypatch.setattr(LambdaFunction, "_get_layers_data", by_arn)


def write_project(root: Path, handler: str = "app.handler") -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (root / "layer" / "python").mkdir(parents=True, exist_ok=True)
    (root / "layer" / "python" / "shared.py").write_text("VALUE = 1\n")
    (root / "template.yaml").write_text(TEMPLATE.replace("{handler}", handler))
    return root


def run_cli(*args: str, endpoint: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
    }  # fmt: skip
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        [sys.executable, "-m", "lambdakit", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip


def stack_status(session: Any, name: str) -> str:
    return str(
        session.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
    )


def deploy(root: Path, name: str, lines: list[str], **options: Any) -> Any:
    options.setdefault("capabilities", ("CAPABILITY_IAM",))
    return deploy_project_stack(
        root,
        StackOptions(stack_name=name, **options),
        progress=lines.append,
        warn=lines.append,
        region="us-east-1",
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


def test_deploy_update_no_changes_and_delete(project: Path, session: Any, moto_server: str) -> None:
    first = run_cli("deploy", "--stack", "orders", "--capabilities", "CAPABILITY_IAM",
                    endpoint=moto_server, cwd=project)  # fmt: skip
    assert first.returncode == 0, first.stderr + first.stdout
    assert "+ Add" in first.stdout and "Worker" in first.stdout
    # (moto gives a stack made by a change set no Outputs, so none are printed here.)
    assert "CREATE_COMPLETE" in first.stdout and "Stack orders created" in first.stdout
    assert stack_status(session, "orders") == "CREATE_COMPLETE"
    cloudformation, lambda_ = session.client("cloudformation"), session.client("lambda")
    resources = cloudformation.describe_stack_resources(StackName="orders")["StackResources"]
    physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources}
    function = lambda_.get_function(FunctionName=physical["Worker"])["Configuration"]
    assert function["Environment"]["Variables"]["TABLE"] == physical["Table"]
    assert function["Handler"] == "app.handler"
    mappings = lambda_.list_event_source_mappings(FunctionName=physical["Worker"])
    assert [m["EventSourceArn"].rsplit(":", 1)[-1] for m in mappings["EventSourceMappings"]] == [
        physical["Jobs"].rsplit("/", 1)[-1]
    ]
    assert any(r["ResourceType"] == "AWS::Lambda::LayerVersion" for r in resources)

    write_project(project, handler="app.other")
    lines: list[str] = []
    updated = deploy(project, "orders", lines)
    assert updated.result == "updated"
    assert [(c.action, c.logical_id) for c in updated.change_set.changes] == [("Modify", "Worker")]
    assert (
        lambda_.get_function(FunctionName=physical["Worker"])["Configuration"]["Handler"]
        == "app.other"
    )

    lines = []
    again = deploy(project, "orders", lines)
    assert again.result == "no changes"
    assert any("No changes to deploy" in line for line in lines)
    assert any("unchanged, already" in line for line in lines)  # nothing uploaded again
    summaries = cloudformation.list_change_sets(StackName="orders")["Summaries"]
    assert again.change_set.arn not in [s["ChangeSetId"] for s in summaries]

    s3 = session.client("s3")
    bucket = updated_bucket = next(
        b["Name"]
        for b in s3.list_buckets()["Buckets"]
        if b["Name"].startswith("lambdakit-artifacts-")
    )
    assert s3.list_objects_v2(Bucket=bucket, Prefix="orders/")["KeyCount"] > 0
    gone = run_cli("delete", "--stack", "orders", "--no-prompt", endpoint=moto_server, cwd=project)
    assert gone.returncode == 0, gone.stderr + gone.stdout
    assert "Stack orders deleted" in gone.stdout
    stacks = cloudformation.list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])
    assert "orders" not in [s["StackName"] for s in stacks["StackSummaries"]]
    assert s3.list_objects_v2(Bucket=updated_bucket, Prefix="orders/")["KeyCount"] == 0
    versions = s3.list_object_versions(Bucket=bucket, Prefix="orders/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")


def test_missing_capability_is_named_and_nothing_is_created(
    project: Path, session: Any, moto_server: str
) -> None:
    result = run_cli("deploy", "--stack", "nocaps", endpoint=moto_server, cwd=project)
    assert result.returncode == 1
    assert "CAPABILITY_IAM" in result.stderr and "--capabilities CAPABILITY_IAM" in result.stderr
    assert "Traceback" not in result.stderr
    names = [
        s["StackName"] for s in session.client("cloudformation").list_stacks()["StackSummaries"]
    ]
    assert "nocaps" not in names


def test_no_execute_stops_at_the_change_set_then_deploys(project: Path, session: Any) -> None:
    lines: list[str] = []
    outcome = deploy(project, "review", lines, execute=False)
    assert outcome.result == "not executed"
    assert any("execute-change-set --stack-name review" in line for line in lines)
    assert stack_status(session, "review") == "REVIEW_IN_PROGRESS"
    functions = session.client("lambda").list_functions()["Functions"]
    assert not [f for f in functions if f["FunctionName"].startswith("review-")]
    declined = deploy(project, "review", [], confirm=lambda change_set: False)
    assert declined.result == "declined"
    assert stack_status(session, "review") == "REVIEW_IN_PROGRESS"
    created = deploy(project, "review", [], confirm=lambda change_set: True)
    assert (created.result, created.status) == ("created", "CREATE_COMPLETE")


def function_template(bucket: str) -> dict[str, Any]:
    return {
        "Resources": {
            "Broken": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Code": {"S3Bucket": bucket, "S3Key": "missing.zip"},
                    "Handler": "app.handler",
                    "Runtime": "python3.12",
                    "Role": "arn:aws:iam::123456789012:role/nobody",
                },
            }
        }
    }


def test_a_broken_resource_fails_with_its_reason(session: Any) -> None:
    with pytest.raises(DeployError) as caught:
        deploy_stack(
            session.client("cloudformation"), stack_name="broken",
            template=function_template("no-such-bucket-here"), progress=lambda text: None,
        )  # fmt: skip
    message = str(caught.value)
    assert message.startswith("stack broken was not deployed: ")
    assert "NoSuchBucket" in message and "the stack is now" in message


def test_a_template_over_51200_bytes_goes_by_s3(session: Any) -> None:
    s3, uploaded = session.client("s3"), []
    s3.create_bucket(Bucket="big-templates")
    template: dict[str, Any] = {"Resources": {}}
    for index in range(400):
        template["Resources"][f"Queue{index}"] = {
            "Type": "AWS::SQS::Queue", "Properties": {"Tags": [{"Key": "pad", "Value": "x" * 100}]},
        }  # fmt: skip

    def upload(body: bytes) -> str:
        s3.put_object(Bucket="big-templates", Key="big/template.json", Body=body)
        uploaded.append(len(body))
        return "https://s3.us-east-1.amazonaws.com/big-templates/big/template.json"

    outcome = deploy_stack(
        session.client("cloudformation"), stack_name="big", template=template,
        upload_template=upload, execute=False,
    )  # fmt: skip
    assert outcome.result == "not executed" and len(outcome.change_set.changes) == 400
    assert uploaded and uploaded[0] > 51_200


@pytest.mark.parametrize(
    ("resources", "given", "missing"),
    [
        ({"R": {"Type": "AWS::IAM::Role"}}, (), ["CAPABILITY_IAM"]),
        ({"R": {"Type": "AWS::IAM::Role"}}, ("CAPABILITY_NAMED_IAM",), []),
        ({"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "x"}}}, ("CAPABILITY_IAM",),
         ["CAPABILITY_NAMED_IAM"]),
        ({"S": {"Type": "AWS::CloudFormation::Stack"}}, (), ["CAPABILITY_AUTO_EXPAND"]),
        ({"Q": {"Type": "AWS::SQS::Queue"}}, (), []),
    ],
)  # fmt: skip
def test_missing_capabilities(
    resources: dict[str, Any], given: tuple[str, ...], missing: list[str]
) -> None:
    assert missing_capabilities({"Resources": resources}, given) == missing


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("ROLLBACK_COMPLETE", "lambdakit delete --stack app"),
        ("UPDATE_IN_PROGRESS", "wait"),
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback"),
        ("UPDATE_COMPLETE", None),
        ("REVIEW_IN_PROGRESS", None),
    ],
)
def test_states_that_cannot_be_updated(status: str, says: str | None) -> None:
    refusal = not_updatable("app", status)
    assert (refusal is None) if says is None else (refusal is not None and says in str(refusal))


def events(*rows: tuple[str, str, str, str]) -> list[StackEvent]:
    start = datetime(2025, 1, 1, 12, 0, 0)
    return [
        StackEvent(str(i), start + timedelta(seconds=i), status, kind, logical_id, reason)
        for i, (status, kind, logical_id, reason) in enumerate(rows)
    ]


ROLLBACK = events(
    ("CREATE_IN_PROGRESS", "AWS::CloudFormation::Stack", "app", "User Initiated"),
    ("CREATE_COMPLETE", "AWS::SQS::Queue", "Jobs", ""),
    ("CREATE_FAILED", "AWS::Lambda::Function", "Worker", "Resource creation cancelled"),
    ("CREATE_FAILED", "AWS::DynamoDB::Table", "Table", "Property KeySchema is invalid"),
    (
        "ROLLBACK_IN_PROGRESS",
        "AWS::CloudFormation::Stack",
        "app",
        "The following resource(s) failed",
    ),
    ("DELETE_IN_PROGRESS", "AWS::SQS::Queue", "Jobs", ""),
    ("DELETE_COMPLETE", "AWS::SQS::Queue", "Jobs", ""),
    ("DELETE_COMPLETE", "AWS::Lambda::Function", "Worker", ""),
    ("ROLLBACK_COMPLETE", "AWS::CloudFormation::Stack", "app", ""),
)


def test_the_failure_that_caused_a_rollback_comes_first() -> None:
    failed = first_failure(ROLLBACK[::-1])  # DescribeStackEvents gives newest first
    assert failed is not None and (failed.logical_id, failed.reason) == (
        "Table", "Property KeySchema is invalid",
    )  # fmt: skip
    assert rolled_back(ROLLBACK) == ["Jobs (DELETE_COMPLETE)", "Worker (DELETE_COMPLETE)"]
    assert rolled_back(ROLLBACK[:4]) == []


def test_change_table() -> None:
    lines = change_table([Change("Modify", "Worker", "AWS::Lambda::Function", "False")])
    assert lines[0].split() == ["Operation", "LogicalResourceId", "ResourceType", "Replacement"]
    assert lines[1].split() == ["~", "Modify", "Worker", "AWS::Lambda::Function", "False"]
