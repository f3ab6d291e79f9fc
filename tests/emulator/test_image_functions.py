"""Image functions of a template (``PackageType: Image``): built from their ``Metadata`` by
`lambdakit serve` and run by the container engine, or skipped with a warning when this machine
has no engine; the template's other functions run either way. boto3 is the client.

The build test needs root, podman and the local Debian base image (tests/project/test_image.py
builds it once); without them it is skipped with its reason.
"""

from __future__ import annotations

import os
import re
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


# --- the Init phase of an image begins as its container starts ---------------------------------

FAKE_PODMAN = """\
#!{python}
# A podman that takes SETUP seconds to create a container, then runs the function's runtime
# on this machine: lambdakit serve sees an engine like any other.
import os, sys, time
args = sys.argv[1:]
if args[:1] == ["--version"]:
    print("podman version 4.9.3")
elif "image" in args or "rm" in args:
    pass
elif "run" in args:
    print("fake podman: creating the container", file=sys.stderr, flush=True)
    time.sleep({setup})
    if "--cidfile" in args:  # as podman does, once the container is created
        with open(args[args.index("--cidfile") + 1], "w") as id_file:
            id_file.write("f" * 64)
    os.chdir({code!r})
    os.environ.update(LAMBDA_TASK_ROOT={code!r}, PYTHONPATH={src!r})
    os.execv(sys.executable, [sys.executable, "-m", "lambdakit.runtime", "app.handler"])
else:
    sys.exit(125)
"""


def test_an_image_init_does_not_count_the_engine_creating_its_container(tmp_path: Path) -> None:
    """On Lambda the sandbox of an image is set up before Init: its 10 s limit and its Init
    Duration count from the container's start. Here podman (vfs) may take seconds to create
    a container: a 2.5 s creation passes a 1 s init limit, and Init Duration leaves it out."""
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(APP)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    podman = bin_dir / "podman"
    source = FAKE_PODMAN.format(
        python=sys.executable, setup=2.5, code=str(code), src=str(ROOT / "src")
    )
    podman.write_text(source)
    podman.chmod(0o755)
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Slow:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      PackageType: Image\n      ImageUri: slow:1\n      Timeout: 30\n"
    )
    path = f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin"
    server = Server(tmp_path / "template.yaml", env={"PATH": path, "LAMBDAKIT_INIT_TIMEOUT": "1"})
    try:
        response = client_for(server.url).invoke(FunctionName="Slow", Payload=b'{"n": 1}')
        assert "FunctionError" not in response, response["Payload"].read()
        assert b'"event":{"n":1}' in response["Payload"].read()
        server.stop()  # the END and REPORT lines are out
        log = server.output() + "".join(server.errors)
        assert "[Slow] fake podman: creating the container" in log, log
        init = re.search(r"REPORT RequestId: .*Init Duration: ([\d.]+) ms", log)
        assert init is not None and float(init.group(1)) < 1000, log
        assert "INIT_REPORT" not in log, log  # no timeout
    finally:
        server.stop()
