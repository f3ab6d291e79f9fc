"""The caches that make an unchanged ``deploy --stack`` fast: zips reused while their inputs
are unchanged (``build_cache``), transformed templates by content (``transform_cache``), and
the translator not even imported when the transform comes from the cache."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from lambdakit.project.stack import Packaged, package_stack
from lambdakit.project.stack.transform_cache import cache_root

TEMPLATE = """\
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
      Environment: {Variables: {STAGE: !Ref Stage}}
      AutoPublishAlias: !Ref Stage
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
"""


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """lambdakit's caches in this test's directory, empty at its start."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "layer" / "python").mkdir(parents=True)
    (tmp_path / "layer" / "python" / "shared.py").write_text('GREETING = "hi"\n')
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return tmp_path / "template.yaml"


def package(
    template: Path, session: boto3.Session, stack: str, **parameters: str
) -> tuple[Packaged, list[str]]:
    said: list[str] = []
    packaged = package_stack(
        template, session=session, stack_name=stack, parameters=parameters,
        progress=said.append, warn=lambda text: None, build_output=template.parent / "build",
    )  # fmt: skip
    return packaged, said


def reused(said: list[str]) -> list[str]:
    return sorted(line.split(":")[0] for line in said if "unchanged since its last build" in line)


def transformed(said: list[str]) -> bool:
    return "transforming the template (aws-sam-translator)" in said


def function_zip(packaged: Packaged, session: boto3.Session) -> zipfile.ZipFile:
    code = packaged.template["Resources"]["Orders"]["Properties"]["Code"]
    body = session.client("s3").get_object(Bucket=code["S3Bucket"], Key=code["S3Key"])["Body"]
    return zipfile.ZipFile(io.BytesIO(body.read()))


def test_unchanged_project_reuses_zips_and_transform(project: Path, session: boto3.Session) -> None:
    first, said = package(project, session, "cache-same")
    assert reused(said) == [] and transformed(said)

    second, said = package(project, session, "cache-same")
    assert reused(said) == ["Orders", "Shared"]
    assert not transformed(said)
    assert not any(upload.uploaded for upload in second.uploads)
    assert second.template == first.template
    assert second.capabilities == first.capabilities


def test_changed_file_rebuilds_and_uploads_only_its_zip(
    project: Path, session: boto3.Session
) -> None:
    first, _ = package(project, session, "cache-edit")
    # The same size, at once: only the content tells the builds apart.
    (project.parent / "src" / "app.py").write_text("def handler(event, context):\n    return 2\n")

    second, said = package(project, session, "cache-edit")
    assert reused(said) == ["Shared"]
    assert transformed(said)  # a new code location is a new template
    assert [Path(u.local).name for u in second.uploads if u.uploaded] == ["Orders.zip"]
    assert b"return 2" in function_zip(second, session).read("app.py")
    assert second.template != first.template

    (project.parent / "layer" / "python" / "shared.py").write_text('GREETING = "ho"\n')
    third, said = package(project, session, "cache-edit")
    assert reused(said) == ["Orders"]
    assert [Path(u.local).name for u in third.uploads if u.uploaded] == ["layer-Shared.zip"]


def test_a_zip_changed_since_its_build_is_built_again(
    project: Path, session: boto3.Session
) -> None:
    first, _ = package(project, session, "cache-zip")
    built = project.parent / "build" / "Orders.zip"
    built.write_bytes(b"not the build's zip")

    second, said = package(project, session, "cache-zip")
    assert reused(said) == ["Shared"]
    assert second.template == first.template  # the same inputs build the same bytes
    assert b"return 1" in function_zip(second, session).read("app.py")


def test_changed_parameter_transforms_again(project: Path, session: boto3.Session) -> None:
    dev, said = package(project, session, "cache-params", Stage="dev")
    assert transformed(said)
    prod, said = package(project, session, "cache-params", Stage="prod")
    assert transformed(said)
    assert aliases(prod) == ["prod"] and aliases(dev) == ["dev"]
    assert len(list(cache_root().iterdir())) == 2

    again, said = package(project, session, "cache-params", Stage="dev")
    assert not transformed(said)
    assert again.template == dev.template


def aliases(packaged: Packaged) -> list[Any]:
    resources = packaged.template["Resources"].values()
    return [r["Properties"]["Name"] for r in resources if r["Type"] == "AWS::Lambda::Alias"]


PROBE = """\
import sys
from lambdakit.cli import main
status = main(["deploy", {project!r}, "--stack", "cache-probe", "--capabilities",
               "CAPABILITY_IAM"])
print(json.dumps({{"status": status, "translator": "samtranslator" in sys.modules}}))
"""


def deploy_in_child(project: Path, endpoint: str, cache: Path) -> dict[str, Any]:
    """``lambdakit deploy --stack`` in a fresh interpreter; whether it imported the translator."""
    environment = {
        **os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
        "XDG_CACHE_HOME": str(cache),
    }  # fmt: skip
    environment.pop("AWS_PROFILE", None)
    script = "import json\n" + PROBE.format(project=str(project.parent))
    done = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture
def moto_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto 5.2 gives a function's update the layer version object a ``!Ref`` resolves to,
    not its ARN, and fails (test_stack.py patches the same): give it the ARN."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._get_layers_data

    def by_arn(self: Any, layers: list[Any]) -> Any:
        return original(self, [getattr(layer, "arn", layer) for layer in layers])

    monkeypatch.setattr(LambdaFunction, "_get_layers_data", by_arn)


@pytest.mark.usefixtures("moto_layers")
def test_unchanged_deploy_does_not_import_the_translator(
    project: Path, moto_server: str, cache: Path, session: boto3.Session
) -> None:
    try:
        probe_deploys(project, moto_server, cache)
    finally:  # moto lists every stack's change sets: leave none for other tests to see
        cloudformation = session.client("cloudformation")
        for summary in cloudformation.list_change_sets(StackName="cache-probe")["Summaries"]:
            if summary["StackName"] == "cache-probe":
                cloudformation.delete_change_set(ChangeSetName=summary["ChangeSetId"])
        cloudformation.delete_stack(StackName="cache-probe")


def probe_deploys(project: Path, moto_server: str, cache: Path) -> None:
    # What moto's CloudFormation creates: no alias, no layer version to update.
    project.write_text(
        TEMPLATE.replace("      AutoPublishAlias: !Ref Stage\n", "").replace(
            "      Layers: [!Ref Shared]\n", ""
        )
    )
    first = deploy_in_child(project, moto_server, cache)
    assert first == {"status": 0, "translator": True}
    second = deploy_in_child(project, moto_server, cache)
    assert second == {"status": 0, "translator": False}

    (project.parent / "src" / "app.py").write_text(
        textwrap.dedent("""\
        def handler(event, context):
            return "changed"
    """)
    )
    third = deploy_in_child(project, moto_server, cache)
    assert third == {"status": 0, "translator": True}
