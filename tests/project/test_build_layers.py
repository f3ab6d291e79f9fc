"""`lambdakit build` and `deploy` with the template's local layers: a layer with ``Metadata:
BuildMethod: python3.x`` is built as ``sam build`` builds it (its files and its requirements
under python/, from the emulator's resolver and cache), a layer without it is zipped as it is,
and any other BuildMethod is refused.

Tests marked slow install idna from the package index (PyPI, reachable in CI; cached after).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from lambdakit import dependencies
from lambdakit.cli.build import build as build_command
from lambdakit.project import bundle
from lambdakit.project.bundle import BuildResult
from lambdakit.project.deploy import Action, Clients, deploy
from lambdakit.project.deploy import project as deploy_project
from lambdakit.project.errors import BuildError
from lambdakit.template.packages import read_manifest
from tests.helpers import LAMBDA_TRUST, fake_aws_credentials

THIS_PYTHON = "%d.%d" % sys.version_info[:2]
IDNA = "idna==3.10"
REGION = "us-east-1"

APP = """import idna, plain, shared

def handler(event, context):
    return {"shared": shared.WORD, "plain": plain.WORD, "idna": idna.encode("bücher.de").decode()}
"""
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: shared
    Metadata:
      BuildMethod: {method}
  Plain:
    Type: AWS::Lambda::LayerVersion
    Properties:
      Content: plain
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: hello
      CodeUri: src
      Handler: app.handler
      Runtime: {runtime}
      Role: arn:aws:iam::123456789012:role/lambda-role
      Timeout: 30
      Layers: [!Ref Shared, !Ref Plain]
"""


def write_project(
    root: Path, *, method: str = "python3.12", runtime: str = "provided.al2023"
) -> Path:
    """A function with two layers: SHARED (BuildMethod METHOD: shared.py and idna in its
    requirements.txt) and PLAIN (no BuildMethod, laid out as python/plain.py, and with a
    requirements.txt that nothing installs)."""
    for directory, files in {
        "src": {"app.py": APP},
        "shared": {"shared.py": "WORD = 'built'\n", "requirements.txt": f"{IDNA}\n"},
        "plain": {"python/plain.py": "WORD = 'as it is'\n", "requirements.txt": "six\n"},
    }.items():
        for name, text in files.items():
            (root / directory / name).parent.mkdir(parents=True, exist_ok=True)
            (root / directory / name).write_text(text)
    (root / "template.yaml").write_text(TEMPLATE.format(method=method, runtime=runtime))
    return root


def build_all(root: Path, *, target: str | None = None) -> list[BuildResult]:
    (spec,), _ = bundle.select_functions(root)
    arch, python, runtime = bundle.resolve_settings(spec, target=target)
    return bundle.build_function(
        spec, output=bundle.default_output(root), arch=arch, python=python, target=runtime
    )


def names(result: BuildResult) -> set[str]:
    with zipfile.ZipFile(result.path) as archive:
        return set(archive.namelist())


def unzip(result: BuildResult, dest: Path) -> Path:
    with zipfile.ZipFile(result.path) as archive:
        archive.extractall(dest)
    for info in zipfile.ZipFile(result.path).infolist():
        (dest / info.filename).chmod((info.external_attr >> 16) & 0o777)
    return dest


# ---------------------------------------------------------------------------------------------
# build


@pytest.mark.slow  # installs idna from the package index
def test_a_build_method_layer_holds_its_files_and_its_requirements_under_python(
    tmp_path: Path,
) -> None:
    root = write_project(tmp_path / "project")
    results = build_all(root)

    assert [(r.kind, r.path.name) for r in results] == [
        ("function", "hello.zip"),
        ("layer", "hello-layer-shared.zip"),
        ("layer", "hello-layer-plain.zip"),
    ]
    shared = names(results[1])
    assert {"python/shared.py", "python/requirements.txt", "python/idna/__init__.py"} <= shared
    assert "python/idna-3.10.dist-info/METADATA" in shared
    assert not any(name.startswith("idna") for name in names(results[0]))  # not the function's
    # The layer's packages are the emulator's: the same prepare(), the same cache entry.
    prepared = dependencies.prepare(
        [root / "shared" / "requirements.txt"], python_version=(3, 12), arch="x86_64"
    )
    assert prepared is not None
    cached = {
        f"python/{path.relative_to(prepared).as_posix()}"
        for path in prepared.rglob("*")
        if path.is_file() and path.name != "direct_url.json"
    }
    assert cached and cached <= shared
    # No BuildMethod: the directory as it is, its requirements.txt only a file.
    assert {"python/plain.py", "requirements.txt"} <= names(results[2])
    assert not any("six" in name for name in names(results[2]))
    manifest = read_manifest(results[0].path.parent)["hello"]
    assert manifest.layers == (results[1].path, results[2].path)


@pytest.mark.slow
def test_the_built_zips_run_with_the_layers_packages(tmp_path: Path) -> None:
    """The zips extracted as Lambda extracts them (each layer into its own /opt), then run
    from a template that knows nothing of the sources: the packages come from the zips."""
    results = build_all(write_project(tmp_path / "project"))
    run = tmp_path / "run"
    code = unzip(results[0], run / "task")
    layers = [unzip(result, run / f"opt{index}") for index, result in enumerate(results[1:])]
    (run / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      CodeUri: {code}\n      Handler: app.handler\n      Runtime: provided.al2023\n"
        f"      Timeout: 30\n      Layers: [{', '.join(map(str, layers))}]\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "lambdakit", "invoke", str(run)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "shared": "built", "plain": "as it is", "idna": "xn--bcher-kva.de"
    }  # fmt: skip


@pytest.mark.slow
def test_layer_bytecode_is_precompiled_for_opt(tmp_path: Path) -> None:
    root = write_project(tmp_path / "project", runtime=f"python{THIS_PYTHON}")
    results = build_all(root)
    tag = sys.implementation.cache_tag
    assert f"python/__pycache__/shared.{tag}.pyc" in names(results[1])
    assert f"python/idna/__pycache__/core.{tag}.pyc" in names(results[1])
    assert [r.kind for r in results] == ["function", "layer", "layer", "runtime-layer"]


@pytest.mark.parametrize("method", ["makefile", "nodejs20.x"])
def test_another_build_method_is_refused_with_what_to_do(tmp_path: Path, method: str) -> None:
    root = write_project(tmp_path, method=method)
    with pytest.raises(BuildError, match=f"layer Shared has Metadata: BuildMethod: {method}"):
        bundle.select_functions(root)
    done = CliRunner().invoke(build_command, [str(root)])
    assert done.exit_code == 1
    assert "sam build Shared" in done.output
    assert not (root / ".lambdakit" / "build").exists()


def test_another_build_method_on_a_layer_no_function_uses_is_no_matter(tmp_path: Path) -> None:
    root = write_project(tmp_path, method="makefile")
    template = root / "template.yaml"
    template.write_text(template.read_text().replace("!Ref Shared, ", ""))
    (spec,), _ = bundle.select_functions(root)
    assert spec.layers == (root / "plain",)


def test_a_layer_without_build_method_installs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No package index needed: the BuildMethod layer is left out of this template."""
    root = write_project(tmp_path)
    template = root / "template.yaml"
    template.write_text(template.read_text().replace("!Ref Shared, ", ""))
    (root / "src" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    asked: list[object] = []
    monkeypatch.setattr(dependencies, "prepare", lambda sources, **_: asked.append(sources))
    results = build_all(root)
    assert [r.path.name for r in results] == ["hello.zip", "hello-layer-plain.zip"]
    assert names(results[1]) == {"python/", "python/plain.py", "requirements.txt"}
    assert asked == [[]]  # the function's sources only (it has none)


def test_layers_of_the_same_directory_name_get_their_own_zips(tmp_path: Path) -> None:
    for side in ("a", "b"):
        (tmp_path / side / "layer" / "python").mkdir(parents=True)
        (tmp_path / side / "layer" / "python" / f"{side}.py").write_text("")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("")
    (tmp_path / "template.yaml").write_text(
        "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        "      FunctionName: fn\n      CodeUri: src\n      Handler: app.handler\n"
        "      Runtime: provided.al2023\n      Layers: [a/layer, b/layer]\n"
    )
    results = build_all(tmp_path)
    assert [r.path.name for r in results[1:]] == ["fn-layer-layer.zip", "fn-layer-layer-2.zip"]
    assert "python/b.py" in names(results[2])


# ---------------------------------------------------------------------------------------------
# deploy (moto's Lambda)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_credentials(monkeypatch, REGION)
    with mock_aws():
        boto3.client("iam", region_name=REGION).create_role(
            RoleName="lambda-role", AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST)
        )
        lambda_ = boto3.client("lambda", region_name=REGION)
        ecr = boto3.client("ecr", region_name=REGION)
        monkeypatch.setattr(deploy_project, "connect", lambda **_: Clients(lambda_, ecr))
        yield lambda_


def code_sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


@pytest.mark.slow  # installs idna from the package index
def test_deploy_publishes_the_built_layers_in_order(tmp_path: Path, client: Any) -> None:
    root = write_project(tmp_path / "project", runtime="python3.12")
    lines: list[str] = []

    deploy(root, report=lambda step: lines.append(step.describe()))

    build = root / ".lambdakit" / "build"
    assert lines[:3] == [
        "hello: layer hello-layer-shared: published (version 1)",
        "hello: layer hello-layer-plain: published (version 1)",
        "hello: layer hello-runtime-layer: published (version 1)",
    ]
    with zipfile.ZipFile(build / "hello-layer-shared.zip") as archive:
        assert {"python/shared.py", "python/idna/__init__.py"} <= set(archive.namelist())
    for name in ("hello-layer-shared", "hello-layer-plain"):
        published = client.get_layer_version(LayerName=name, VersionNumber=1)
        assert published["Content"]["CodeSha256"] == code_sha256(build / f"{name}.zip")
        assert published["CompatibleRuntimes"] == ["python3.12"]
    configuration = client.get_function(FunctionName="hello")["Configuration"]
    assert [layer["Arn"].rsplit(":", 2)[1] for layer in configuration["Layers"]] == [
        "hello-layer-shared", "hello-layer-plain", "hello-runtime-layer"
    ]  # fmt: skip

    (again,) = deploy(root)
    assert set(step.action for step in again.steps) == {Action.UNCHANGED}


def test_deploy_refuses_another_build_method_before_anything_happens(
    tmp_path: Path, client: Any
) -> None:
    root = write_project(tmp_path, method="makefile")
    with pytest.raises(BuildError, match="BuildMethod: makefile"):
        deploy(root)
    assert client.list_functions()["Functions"] == []
    assert not (root / ".lambdakit" / "build").exists()
