"""``--package`` and ``--layer-package``: ``lambdakit invoke`` and ``serve`` run the zips
``lambdakit build`` made (unpacked to the code cache), with the template's settings, instead of
the source tree. Real builds, real processes; boto3 against ``serve``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

import lambdakit
from lambdakit.emulator import sandbox
from tests.emulator.conftest import Server, client_for

BOOTSTRAP = Path(lambdakit.__file__).parent / "runtime" / "bootstrap"
TARGETS = ["provided.al2023", "python3.12"]
TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  GreetFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: greet
      CodeUri: src
      Handler: app.handler
      Runtime: provided.al2023
      MemorySize: 256
      Environment:
        Variables:
          GREETING: hello
  OtherFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: other
      CodeUri: src
      Handler: app.handler
      Runtime: python3.12
"""
# What it answers says where its code, the lambdakit runtime and `six` were loaded from.
APP = """\
import os, sys

def handler(event, context):
    six = sys.modules.get("six")
    return {
        "message": os.environ.get("GREETING", "-") + " " + event.get("name", "world"),
        "version": "1",
        "memory": context.memory_limit_in_mb,
        "app": __file__,
        "runtime": sys.modules["lambdakit"].__file__,
        "six": six and [six.__version__, six.__file__],
    }
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A code cache of this test's own (the commands run below inherit it)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "lambdakit" / "code"


@pytest.fixture
def project(tmp_path: Path, cache: Path) -> Path:
    directory = tmp_path / "greeter"
    (directory / "src").mkdir(parents=True)
    (directory / "src" / "app.py").write_text(APP)
    shutil.copy(BOOTSTRAP, directory / "src" / "bootstrap")  # as `lambdakit init` does
    (directory / "template.yaml").write_text(TEMPLATE)
    return directory


BOXED = sandbox.choose().active  # functions see Lambda's paths (docs/emulator.md#the-filesystem)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdakit", *args], capture_output=True, text=True, timeout=120
    )


def build(path: Path, out: Path, *args: str) -> Path:
    done = cli("build", str(path), "--output", str(out), *args)
    assert done.returncode == 0, done.stderr
    return out


def invoked(*args: str, event: str = '{"name": "zip"}') -> dict[str, Any]:
    done = cli("invoke", *args, "--event", event)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def failed(*args: str) -> subprocess.CompletedProcess[str]:
    done = cli("invoke", *args)
    assert done.returncode in (1, 2), done.stdout
    assert "Traceback" not in done.stderr
    return done


def without(archive: Path, name: str, dest: Path) -> Path:
    """A copy of ARCHIVE without the entry NAME (modes kept)."""
    with zipfile.ZipFile(archive) as source, zipfile.ZipFile(dest, "w") as copy:
        for info in source.infolist():
            if info.filename != name:
                copy.writestr(info, source.read(info))
    return dest


@pytest.mark.slow  # builds, then starts the function twice
@pytest.mark.parametrize("target", TARGETS)
def test_the_built_zip_answers_as_the_source_did(
    project: Path, tmp_path: Path, cache: Path, target: str
) -> None:
    out = build(project, tmp_path / "out", "--function", "greet", "--target", target)
    source = invoked(str(project), "--function", "greet")
    packaged = invoked(str(project), "--function", "greet", "--package", str(out / "greet.zip"))
    keys = ("message", "version", "memory")
    assert {k: packaged[k] for k in keys} == {k: source[k] for k in keys}
    assert packaged["message"] == "hello zip" and packaged["memory"] == "256"  # the template's
    runtime = Path(packaged["runtime"])
    if BOXED:  # Lambda's paths: the zip at /var/task, the runtime layer at /opt
        assert source["app"] == packaged["app"] == "/var/task/app.py"
        where = "/var/task" if target.startswith("provided") else "/opt/python"
        assert runtime == Path(where, "lambdakit", "__init__.py")
    else:
        assert source["app"] == str(project / "src" / "app.py")
        code = Path(packaged["app"]).parent
        assert code.parent == cache, packaged  # the zip, unpacked to the code cache
        if target.startswith("provided"):  # the copy of the runtime inside the zip
            assert runtime == code / "lambdakit" / "__init__.py"
        else:  # the runtime layer's, which Lambda extracts to /opt (/opt/python/lambdakit)
            assert runtime.parts[-3:] == ("python", "lambdakit", "__init__.py"), runtime
            assert runtime.parents[2].parent == cache and runtime.parents[2] != code
    # What was built is what runs: the source changes, the zip does not.
    (project / "src" / "app.py").write_text(APP.replace('"1"', '"2"'))
    assert invoked(str(project), "--function", "greet")["version"] == "2"
    again = invoked(str(project), "--function", "greet", "--package", str(out / "greet.zip"))
    assert again["version"] == "1"


@pytest.mark.slow  # builds, serves, invokes through boto3
def test_serve_runs_each_function_from_the_build_directory(project: Path, tmp_path: Path) -> None:
    out = build(project, tmp_path / "out", "--target", "python3.12")
    (project / "src" / "app.py").write_text(APP.replace('"1"', '"2"'))
    server = Server(project, "--package", str(out))
    try:
        client = client_for(server.url)
        for name in ("greet", "other"):
            answer = client.invoke(FunctionName=name, Payload=b'{"name": "boto3"}')
            assert "FunctionError" not in answer
            body = json.loads(answer["Payload"].read())
            assert body["version"] == "1", body  # built before the source changed
            assert body["runtime"].endswith("/python/lambdakit/__init__.py"), body
        assert body["message"] == "- boto3"  # other's template has no GREETING
    finally:
        server.stop()


@pytest.mark.slow  # builds, then starts the function
@pytest.mark.parametrize("target", TARGETS)
def test_a_zip_without_its_handler_module_fails_at_init_as_on_aws(
    project: Path, tmp_path: Path, target: str
) -> None:
    out = build(project, tmp_path / "out", "--function", "greet", "--target", target)
    broken = Path(shutil.copytree(out, tmp_path / "broken"))  # its manifest: runtime, layers
    without(out / "greet.zip", "app.py", broken / "greet.zip")
    done = cli("invoke", str(project), "--function", "greet", "--package", str(broken))
    assert done.returncode == 1, done.stderr
    error = json.loads(done.stdout)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'app'"


@pytest.mark.slow  # builds, then starts the function
def test_layer_packages_come_from_the_flag(project: Path, tmp_path: Path, cache: Path) -> None:
    out = build(project, tmp_path / "out", "--function", "other")  # python3.12, its Runtime
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    zipped = Path(shutil.copy(out / "other.zip", elsewhere))  # no manifest beside it
    layer = Path(shutil.copy(out / "other-runtime-layer.zip", elsewhere / "runtime.zip"))
    args = [str(project), "--function", "other", "--package", str(zipped)]
    runtime = Path(invoked(*args, "--layer-package", str(layer))["runtime"])
    bare = Path(invoked(*args)["runtime"])  # no layers: not the runtime layer's copy
    if BOXED:
        assert runtime == Path("/opt/python/lambdakit/__init__.py")
        assert bare == Path("/var/runtime/lambdakit/__init__.py")
    else:
        assert runtime.parents[2].parent == cache and runtime.parts[-3] == "python"
        assert not bare.is_relative_to(cache)


@pytest.mark.slow  # builds, then starts the function
def test_a_function_directory_runs_its_zip(tmp_path: Path, cache: Path) -> None:
    directory = tmp_path / "fn"
    directory.mkdir()
    (directory / "app.py").write_text(APP)
    out = build(directory, tmp_path / "out", "--target", "provided.al2023")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    zipped = Path(shutil.copy(out / "fn.zip", elsewhere))  # no manifest: the zip's bootstrap
    for package in (out / "fn.zip", zipped, out):
        answer = invoked(str(directory), "--package", str(package))
        assert answer["message"] == "- zip"
        assert Path(answer["runtime"]).parent.parent == Path(answer["app"]).parent


@pytest.mark.slow  # downloads six from the package index, builds, starts the function
def test_the_zips_own_dependencies_are_the_ones_imported(project: Path, tmp_path: Path) -> None:
    (project / "src" / "requirements.txt").write_text("six==1.16.0\n")
    (project / "src" / "app.py").write_text("import six\n" + APP)
    out = build(project, tmp_path / "out", "--function", "greet", "--target", "provided.al2023")
    done = cli("invoke", str(project), "--function", "greet", "--package", str(out))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    version, where = answer["six"]
    assert version == "1.16.0"
    assert Path(where).parent == Path(answer["app"]).parent  # from the zip, at its root
    # What build put in the zip is not installed again next to it.
    assert "requirements.txt" not in done.stderr and "six" not in done.stderr, done.stderr


def test_mistakes_are_named(project: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04 this is not a zip")
    done = failed(str(project), "--function", "greet", "--package", str(corrupt))
    assert f"--package: {corrupt} is not a valid zip" in done.stderr
    done = failed(str(project), "--package", str(corrupt))
    assert "one function's zip; choose the function with --function (greet, other)" in done.stderr
    done = failed(str(project), "--package", str(tmp_path))
    assert "no lambdakit-build.json in it" in done.stderr
    done = failed(str(project), "--layer-package", str(corrupt))
    assert "--layer-package goes with --package" in done.stderr
    done = failed(str(project), "--package", str(corrupt), "--image", "x:latest")
    assert "either --package (a zip) or --image" in done.stderr


@pytest.mark.slow  # builds one function of two
def test_a_build_directory_without_the_function_says_how_to_build_it(
    project: Path, tmp_path: Path
) -> None:
    out = build(project, tmp_path / "out", "--function", "greet")
    done = failed(str(project), "--package", str(out))
    assert "holds no build of 'other' (it has: greet)" in done.stderr
    assert f"lambdakit build --function other --output {out}" in done.stderr
    manifest = json.loads((out / "lambdakit-build.json").read_text())
    assert manifest["functions"]["greet"] == {
        "zip": "greet.zip", "layers": [], "runtime": "provided.al2023", "environment": {},
        "logical_id": "GreetFunction",
    }  # fmt: skip
    build(project, out, "--function", "other")
    listed = json.loads((out / "lambdakit-build.json").read_text())["functions"]
    assert sorted(listed) == ["greet", "other"]  # a second build adds its entry
    assert listed["other"]["layers"] == ["other-runtime-layer.zip"]
    assert listed["other"]["environment"] == {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/lambdakit-wrapper"}
    assert os.path.isfile(out / listed["other"]["zip"])
