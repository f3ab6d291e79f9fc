"""Local layers with ``Metadata: BuildMethod: python3.x``: their requirements are installed as
``sam build`` installs them (into the layer's python/, beside its own files), for python3.x
functions and for lambdakit's bootstrap alike."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lambdakit
from lambdakit.template import load_template

APP = """import shared, six

def handler(event, context):
    return {"shared": shared.WORD, "six": six.__version__}
"""

TEMPLATE = """Transform: AWS::Serverless-2016-10-31
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer
{metadata}
  Py:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: py
      Handler: app.handler
      Runtime: python3.12
      Layers: [!Ref Shared]
  Custom:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: custom
      Handler: app.handler
      Runtime: provided.al2023
      Layers: [!Ref Shared]
"""
BUILT = "    Metadata:\n      BuildMethod: python3.12"


def project(root: Path, metadata: str = BUILT) -> Path:
    (root / "layer").mkdir(parents=True)
    (root / "layer" / "requirements.txt").write_text("six==1.16.0\n")
    (root / "layer" / "shared.py").write_text("WORD = 'from the layer'\n")
    for name in ("py", "custom"):
        (root / name).mkdir()
        (root / name / "app.py").write_text(APP)
    bootstrap = Path(lambdakit.__file__).parent / "runtime" / "bootstrap"
    shutil.copy2(bootstrap, root / "custom" / "bootstrap")
    (root / "template.yaml").write_text(TEMPLATE.format(metadata=metadata))
    return root


def test_the_template_names_the_layers_sam_build_builds(tmp_path: Path) -> None:
    built = load_template(project(tmp_path / "a") / "template.yaml").functions[0]
    assert built.built_layers == (tmp_path / "a" / "layer",)
    plain = load_template(project(tmp_path / "b", "") / "template.yaml").functions[0]
    assert plain.layers == (tmp_path / "b" / "layer",) and plain.built_layers == ()


def invoke(root: Path, function: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdakit", "invoke", str(root), "--function", function],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.slow  # installs six from the package index (cached after the first time)
@pytest.mark.parametrize("function", ["Py", "Custom"])
def test_a_built_layer_brings_its_packages_and_its_files(tmp_path: Path, function: str) -> None:
    root = project(tmp_path)
    done = invoke(root, function)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"shared": "from the layer", "six": "1.16.0"}


@pytest.mark.slow
def test_without_its_build_method_the_layer_is_taken_as_it_is(tmp_path: Path) -> None:
    # As on Lambda: its files land in /opt, not /opt/python, so they are not importable, and
    # its requirements.txt is just a file.
    done = invoke(project(tmp_path, ""), "Py")
    assert json.loads(done.stdout)["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'shared'" in done.stdout
