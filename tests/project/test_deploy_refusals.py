"""``lambdakit deploy`` refuses a package that cannot start on AWS: a ``provided.*`` function
whose bootstrap runs Python, with no interpreter in the package (``deploy/startable.py``).
Against moto's Lambda: a refusal creates nothing, builds nothing, and names the ways out."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result
from moto import mock_aws

from lambdakit.cli.deploy import deploy as deploy_command
from lambdakit.project.deploy.startable import Interpreter, interpreter, needs_python
from lambdakit.project.scaffold import create_project
from lambdakit.template import FunctionSpec
from tests.helpers import LAMBDA_TRUST, fake_aws_credentials

REGION = "us-east-1"
LAMBDAKIT_BOOTSTRAP = (resources.files("lambdakit.runtime") / "bootstrap").read_bytes()


@pytest.fixture
def role(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    fake_aws_credentials(monkeypatch, REGION)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        iam = boto3.client("iam", region_name=REGION)
        created = iam.create_role(
            RoleName="fn-role", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
        )
        yield str(created["Role"]["Arn"])


def provided_project(root: Path, extra: str = "") -> Path:
    """``lambdakit init``'s project, switched to provided.al2023 (as before issue 14)."""
    path = root / "fn"
    create_project(path)
    template = path / "template.yaml"
    text = template.read_text().replace("Runtime: python3.12", "Runtime: provided.al2023")
    template.write_text(text.replace("      MemorySize: 128\n", f"      MemorySize: 128\n{extra}"))
    return path


def run(*arguments: str) -> Result:
    return CliRunner().invoke(deploy_command, list(arguments))


def lambda_state() -> tuple[list[str], list[str]]:
    client: Any = boto3.client("lambda", region_name=REGION)
    functions = [f["FunctionName"] for f in client.list_functions()["Functions"]]
    return functions, [layer["LayerName"] for layer in client.list_layers()["Layers"]]


# --- refused: nothing built, nothing created, the ways out named -------------------------------


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_provided_package_without_python_is_refused(
    tmp_path: Path, role: str, dry_run: bool
) -> None:
    project = provided_project(tmp_path)

    result = run(str(project), "--role", role, *(["--dry-run"] if dry_run else []))

    assert result.exit_code == 1, result.output
    message = result.output
    assert message.startswith(
        "Error: fn: a provided.al2023 function runs its bootstrap, and lambdakit's bootstrap "
        "runs Python, which provided.al2023 does not have"
    )
    assert "Nothing was deployed" in message
    for way_out in (
        "`Runtime: python3.12`",
        "--target python3.12",
        "--python-layer",
        "--image-uri",
    ):
        assert way_out in message
    assert "Traceback" not in message
    assert lambda_state() == ([], [])
    assert not (project / ".lambdakit" / "build").exists()  # refused before the build


def test_a_zip_with_lambdakits_bootstrap_and_no_python_is_refused(
    tmp_path: Path, role: str
) -> None:
    project = provided_project(tmp_path)
    package = tmp_path / "fn.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("bootstrap", LAMBDAKIT_BOOTSTRAP)
        archive.writestr("app.py", "def handler(event, context):\n    return 1\n")

    result = run(str(project), "--zip", str(package), "--role", role)

    assert result.exit_code == 1
    assert f"fn: a provided.al2023 function runs its bootstrap, and {package}'s bootstrap" in (
        result.output
    )
    assert lambda_state() == ([], [])


# --- not refused ---------------------------------------------------------------------------------


def test_an_interpreter_layer_makes_it_deployable(tmp_path: Path, role: str) -> None:
    project = provided_project(tmp_path)
    python = tmp_path / "cpython"
    (python / "bin").mkdir(parents=True)
    (python / "bin" / "python3").write_text("#!/bin/sh\n")  # what build checks: bin/python3
    (python / "lib" / "python3.12").mkdir(parents=True)

    result = run(str(project), "--role", role, "--python-layer", str(python))

    assert result.exit_code == 0, result.output
    assert lambda_state() == (["fn"], ["fn-python-layer"])


def test_the_managed_runtime_target_makes_it_deployable(tmp_path: Path, role: str) -> None:
    result = run(str(provided_project(tmp_path)), "--role", role, "--target", "python3.12")

    assert result.exit_code == 0, result.output
    configuration = boto3.client("lambda", region_name=REGION).get_function(FunctionName="fn")
    assert configuration["Configuration"]["Runtime"] == "python3.12"
    assert lambda_state() == (["fn"], ["fn-runtime-layer"])


def test_a_layer_arn_may_bring_python_so_deploy_goes_on_with_a_warning(
    tmp_path: Path, role: str
) -> None:
    layer = boto3.client("lambda", region_name=REGION).publish_layer_version(
        LayerName="python312", Content={"ZipFile": zip_bytes({"bin/python3": b""})}
    )["LayerVersionArn"]
    project = provided_project(tmp_path, extra=f"      Layers: [{layer}]\n")

    result = run(str(project), "--role", role)

    assert result.exit_code == 0, result.output
    assert "unless one of the function's layers brings one to /opt/bin" in result.output
    assert lambda_state()[0] == ["fn"]


# --- the rule, case by case ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bootstrap", "needs"),
    [
        (LAMBDAKIT_BOOTSTRAP, True),
        (b"#!/bin/sh\nexec ${LAMBDAKIT_PYTHON:-python3} -m lambdakit.runtime\n", True),
        (b"#!/usr/bin/env python3\nimport sys\n", True),
        (b"#!/bin/sh\nwhile true; do curl -s localhost; done\n", False),
        (b"\x7fELF\x02\x01\x01" + bytes(64), False),  # a compiled runtime (Rust, Go)
    ],
)
def test_which_bootstraps_need_python(bootstrap: bytes, needs: bool) -> None:
    assert needs_python(bootstrap) is needs


@pytest.mark.parametrize(
    ("runtime", "options", "environment", "expected"),
    [
        ("python3.12", {}, {}, Interpreter.NOT_NEEDED),
        ("provided.al2023", {}, {}, Interpreter.MISSING),
        ("provided.al2", {}, {}, Interpreter.MISSING),
        ("provided.al2023", {"python_layer": True}, {}, Interpreter.SHIPPED),
        ("provided.al2023", {"layers": "with-python"}, {}, Interpreter.SHIPPED),
        ("provided.al2023", {"layers": "without"}, {}, Interpreter.MISSING),
        ("provided.al2023", {}, {"LAMBDAKIT_PYTHON": "/opt/py/bin/python3"}, Interpreter.SHIPPED),
        ("provided.al2023", {"layer_arns": ("arn:aws:lambda:x",)}, {}, Interpreter.UNKNOWN),
    ],
)
def test_where_python_comes_from(
    tmp_path: Path,
    runtime: str,
    options: dict[str, Any],
    environment: dict[str, str],
    expected: Interpreter,
) -> None:
    if "layers" in options:
        layer = tmp_path / options["layers"]
        (layer / "bin").mkdir(parents=True)
        if options["layers"] == "with-python":
            os.symlink("python3.12", layer / "bin" / "python3")  # as python-build-standalone's
        options = {**options, "layers": (layer,)}
    spec = FunctionSpec(name="fn", code_dir=tmp_path, runtime=runtime, environment=environment)

    assert interpreter(spec, runtime, LAMBDAKIT_BOOTSTRAP, **options) is expected


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()
