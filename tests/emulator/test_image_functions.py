"""Image functions of a template (``PackageType: Image``): built from their ``Metadata`` by
`lambdakit serve` and run by the container engine, or skipped with a warning when this machine
has no engine; the template's other functions run either way. boto3 is the client.

The build test needs root, podman and the local Debian base image (tests/project/test_image.py
builds it once); without them it is skipped with its reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdakit.emulator import sandbox
from lambdakit.emulator.containers import detect_engine
from tests.emulator.conftest import Server, client_for
from tests.project.test_image import base_image

__all__ = ["base_image"]  # the fixture, shared with the image tests of `lambdakit image`

ROOT = Path(__file__).parent.parent.parent
BOOTSTRAP = ROOT / "src" / "lambdakit" / "runtime" / "bootstrap"
TAG = f"t{os.getpid()}"  # the image pictured:TAG, one per test run

CONTAINERFILE = """\
ARG BASE_IMAGE=public.ecr.aws/lambda/provided:al2023
FROM ${BASE_IMAGE} AS function
ARG GREETING=unset
ENV LAMBDA_TASK_ROOT=/var/task LAMBDA_RUNTIME_DIR=/var/runtime LAMBDAKIT_PYTHON=python3 \\
    GREETING=${GREETING}
COPY .lambdakit/runtime/lambdakit /var/runtime/lambdakit
COPY bootstrap /var/runtime/bootstrap
COPY app.py /var/task/
WORKDIR /var/task
ENTRYPOINT ["/var/runtime/bootstrap"]
CMD ["app.handler"]

FROM function AS not-this-one
ENV GREETING=the-wrong-stage
"""

APP = """\
import os


def handler(event, context):
    return {"greeting": os.environ.get("GREETING"), "event": event, "cwd": os.getcwd()}
"""


def template(base: str) -> str:
    return f"""\
Resources:
  Pictured:
    Type: AWS::Serverless::Function
    Properties:
      PackageType: Image
      Timeout: 60
    Metadata:
      Dockerfile: images/Lambda.Containerfile
      DockerContext: ./fn
      DockerTag: {TAG}
      DockerBuildTarget: function
      DockerBuildArgs:
        BASE_IMAGE: {base}
        GREETING: from-the-build-args
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn
      Runtime: python{sys.version_info[0]}.{sys.version_info[1]}
      Handler: app.handler
"""


def write_project(directory: Path, base: str) -> Path:
    (directory / "fn" / "images").mkdir(parents=True)
    (directory / "fn" / "images" / "Lambda.Containerfile").write_text(CONTAINERFILE)
    shutil.copy2(BOOTSTRAP, directory / "fn" / "bootstrap")
    (directory / "fn" / "app.py").write_text(APP)
    (directory / "template.yaml").write_text(template(base))
    return directory / "template.yaml"


def test_without_an_engine_image_functions_are_skipped_and_the_others_run(
    tmp_path: Path,
) -> None:
    path = write_project(tmp_path, "localhost/any:latest")
    bare = str(Path(sys.executable).parent)  # python, and no docker or podman
    server = Server(path, env={"PATH": bare})
    try:
        response = client_for(server.url).invoke(FunctionName="Plain", Payload=b"{}")
        assert response["StatusCode"] == 200
        errors = "".join(server.errors)
        assert (
            "warning: Pictured: skipped: an image function (PackageType: Image), and no "
            "container engine to run images"
        ) in errors
        assert errors.count("Pictured") == 1
        assert "Plain" not in errors.replace("Plain: Runtime", "")
    finally:
        server.stop()


@pytest.fixture()
def built_project(base_image: str, tmp_path: Path) -> Iterator[Path]:
    path = write_project(tmp_path, base_image)
    yield path
    podman = detect_engine("podman")
    subprocess.run(
        podman.argv("rmi", "-f", f"pictured:{TAG}"), env=podman.environ(), capture_output=True
    )


@pytest.mark.slow
@pytest.mark.timeout(600)  # the first test may build the base image (about a minute)
def test_serve_builds_the_image_from_its_metadata_and_runs_it(built_project: Path) -> None:
    server = Server(built_project)
    try:
        client = client_for(server.url)
        response = client.invoke(FunctionName="Pictured", Payload=b'{"n": 1}')
        assert "FunctionError" not in response
        assert response["Payload"].read() == (
            b'{"greeting":"from-the-build-args","event":{"n":1},"cwd":"/var/task"}'
        )
        plain = client.invoke(FunctionName="Plain", Payload=b"{}")
        code = "/var/task" if sandbox.choose().active else str(built_project.parent / "fn")
        assert b'"cwd":"' + code.encode() in plain["Payload"].read()
        errors = "".join(server.errors)
        assert f"lambdakit: building pictured:{TAG} for Pictured with podman" in errors
    finally:
        server.stop()
