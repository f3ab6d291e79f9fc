"""``package_stack`` against a moto server: lambdakit's build, content-addressed uploads to
lambdakit's bucket, and the SAM transform done locally with aws-sam-translator."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

import lambdakit
from lambdakit.project.errors import DeployError
from lambdakit.project.stack import Packaged, package_stack

BUCKET = "lambdakit-artifacts-123456789012-us-east-1"
TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: dev}
Resources:
  Orders:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Layers: [!Ref Shared]
      Environment:
        Variables:
          TABLE: !Ref Table
          STAGE: !Ref Stage
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Table}
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 5
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Queue:
    Type: AWS::SQS::Queue
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(
        'def handler(event, context):\n    return {"n": len(event["Records"])}\n'
    )
    (tmp_path / "layer" / "python").mkdir(parents=True)
    (tmp_path / "layer" / "python" / "shared.py").write_text('GREETING = "hi"\n')
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return tmp_path / "template.yaml"


def package(template: Path, session: boto3.Session, stack: str, **kwargs: Any) -> Packaged:
    kwargs.setdefault("parameters", {})
    return package_stack(
        template, session=session, stack_name=stack, progress=lambda text: None,
        warn=lambda text: None, build_output=template.parent / "build", **kwargs,
    )  # fmt: skip


def objects(session: boto3.Session, bucket: str, stack: str) -> dict[str, bytes]:
    s3 = session.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{stack}/").get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def of_type(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def test_packages_builds_uploads_and_transforms(project: Path, session: boto3.Session) -> None:
    packaged = package(project, session, "orders", parameters={"Stage": "prod"})

    assert packaged.bucket == BUCKET
    stored = objects(session, BUCKET, "orders")
    assert {upload.uri for upload in packaged.uploads} == {f"s3://{BUCKET}/{k}" for k in stored}
    assert len(stored) == 3  # the function, the template's layer, lambdakit's runtime layer
    for upload in packaged.uploads:
        assert upload.uploaded
        assert upload.uri.endswith(f"/orders/{upload.sha256}.zip")
        assert stored[upload.uri.split("/", 3)[3]] == Path(upload.local).read_bytes()
    s3 = session.client("s3")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    template = packaged.template
    assert "Transform" not in template
    (function,) = of_type(template, "AWS::Lambda::Function").values()
    code = function["Properties"]["Code"]
    assert code["S3Bucket"] == BUCKET
    names = zipfile.ZipFile(io.BytesIO(stored[code["S3Key"]])).namelist()
    assert "app.py" in names
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["TABLE"] == {"Ref": "Table"}
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/lambdakit-wrapper"
    layers = of_type(template, "AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    attached = [layer["Ref"] for layer in function["Properties"]["Layers"]]
    assert set(attached) == set(layers)
    assert attached[-1].startswith("LambdakitRuntime")  # last: nothing replaces the wrapper
    shared = next(r for r in layers.values() if r["Properties"].get("LayerName") == "Shared")
    layer_zip = zipfile.ZipFile(io.BytesIO(stored[shared["Properties"]["Content"]["S3Key"]]))
    assert "python/shared.py" in layer_zip.namelist()
    (mapping,) = of_type(template, "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert mapping["Properties"]["BatchSize"] == 5
    (role,) = of_type(template, "AWS::IAM::Role").values()
    assert function["Properties"]["Role"] == {
        "Fn::GetAtt": [next(iter(of_type(template, "AWS::IAM::Role"))), "Arn"]
    }
    assert any(
        "AWSLambdaSQSQueueExecutionRole" in arn for arn in role["Properties"]["ManagedPolicyArns"]
    )
    assert packaged.capabilities == ("CAPABILITY_IAM",)

    sam = packaged.sam_template
    assert sam["Transform"] == "AWS::Serverless-2016-10-31"
    assert sam["Resources"]["Orders"]["Properties"]["CodeUri"] == f"s3://{BUCKET}/{code['S3Key']}"


def test_unchanged_uploads_nothing_and_changed_handler_only_the_function(
    project: Path, session: boto3.Session
) -> None:
    first = package(project, session, "again")
    second = package(project, session, "again")
    assert [upload.uploaded for upload in second.uploads] == [False, False, False]
    assert second.template == first.template

    (project.parent / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    third = package(project, session, "again")
    uploaded = [upload for upload in third.uploads if upload.uploaded]
    assert len(uploaded) == 1
    code = third.template["Resources"]["Orders"]["Properties"]["Code"]
    assert uploaded[0].uri == f"s3://{BUCKET}/{code['S3Key']}"
    assert code != first.template["Resources"]["Orders"]["Properties"]["Code"]
    assert len(objects(session, BUCKET, "again")) == 4


def test_given_bucket_is_used_and_must_exist(project: Path, session: boto3.Session) -> None:
    with pytest.raises(DeployError, match=r"mine-missing .*does not exist"):
        package(project, session, "given", bucket="mine-missing")
    session.client("s3").create_bucket(Bucket="mine")
    packaged = package(project, session, "given", bucket="mine")
    assert packaged.bucket == "mine"
    assert len(objects(session, "mine", "given")) == 3


def test_rejected_template_names_file_resource_and_property(
    project: Path, session: boto3.Session
) -> None:
    # The loader takes it (lambdakit serve does not read event sources); the transform does not.
    project.write_text(
        TEMPLATE.replace("            BatchSize: 5\n", "            BatchSize: many\n")
    )
    with pytest.raises(DeployError) as caught:
        package(project, session, "broken")
    message = str(caught.value)
    assert str(project) in message
    assert "Orders, event Queue: " in message
    assert "'BatchSize' is invalid" in message
    assert "Traceback" not in message


def test_plain_cloudformation_passes_through(tmp_path: Path, session: boto3.Session) -> None:
    shutil.copytree(Path(__file__).parent, tmp_path / "unused", dirs_exist_ok=True)
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties: {DelaySeconds: 5}\n"
    )
    packaged = package(tmp_path / "template.yaml", session, "plain")
    assert packaged.template == {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"DelaySeconds": 5}}}
    }
    assert packaged.uploads == ()
    assert packaged.capabilities == ()


def test_a_function_that_could_not_start_is_refused_before_anything_is_built(
    tmp_path: Path, session: boto3.Session
) -> None:
    """lambdakit's bootstrap runs Python, which provided.al2023 has not: refused as the direct
    deploy refuses it, with nothing built or uploaded."""
    code = tmp_path / "src"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return 1\n")
    shutil.copy(Path(lambdakit.__file__).parent / "runtime" / "bootstrap", code / "bootstrap")
    (tmp_path / "template.yaml").write_text(
        "Transform: AWS::Serverless-2016-10-31\nResources:\n  Fn:\n"
        "    Type: AWS::Serverless::Function\n    Properties:\n      CodeUri: src\n"
        "      Handler: app.handler\n      Runtime: provided.al2023\n"
    )
    with pytest.raises(DeployError, match=r"Fn: a provided.al2023 function runs its bootstrap"):
        package(tmp_path / "template.yaml", session, "refused")
    assert not (tmp_path / ".lambdakit" / "build").exists()
