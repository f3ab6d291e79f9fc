"""A python3.x function runs on the CPython its Runtime names (pyenv has 3.9-3.13 here)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lambdakit.emulator.interpreters import describe, find_interpreter, runtime_version
from tests.emulator.conftest import Server, client_for

APP = "import sys\n\ndef handler(event, context):\n    return sys.version\n"


def test_the_version_a_runtime_names() -> None:
    assert runtime_version("python3.12") == (3, 12)
    assert runtime_version("python3.9") == (3, 9)
    assert runtime_version("python3.8") == (3, 9)  # outside 3.9..3.14: the nearest
    assert runtime_version("python3.20") == (3, 14)


@pytest.mark.parametrize("version", [(3, 10), (3, 12)])
def test_found_with_the_exact_version(version: tuple[int, int]) -> None:
    interpreter = find_interpreter(version)
    assert interpreter.exact and interpreter.version == version
    assert interpreter.source in ("PATH", "pyenv", "uv")
    assert "runs on Python %d.%d" % version in describe("F", "python3.x", interpreter)


def test_a_version_not_installed_takes_the_nearest_with_a_warning() -> None:
    interpreter = find_interpreter((3, 14))
    if interpreter.exact:
        pytest.skip("this machine has CPython 3.14")
    assert interpreter.version == (3, 13)
    assert describe("F", "python3.14", interpreter).startswith("F: no Python 3.14 found")


def test_a_virtual_environment_stands_for_its_base() -> None:
    interpreter = find_interpreter(sys.version_info[:2])
    assert Path(sys.prefix) not in interpreter.path.parents  # not this venv's python


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("interpreters")
    (root / "app.py").write_text(APP)
    functions = "".join(
        f"  Py{minor}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      CodeUri: .\n      Handler: app.handler\n      Runtime: python3.{minor}\n"
        for minor in (10, 12)
    )
    template = "Transform: AWS::Serverless-2016-10-31\nResources:\n" + functions
    (root / "template.yaml").write_text(template)
    srv = Server(root)
    yield srv
    srv.stop()


@pytest.mark.parametrize("minor", [10, 12])
def test_functions_run_on_their_runtimes_interpreter(server: Server, minor: int) -> None:
    client: Any = client_for(server.url)
    answer = client.invoke(FunctionName=f"Py{minor}")
    assert "FunctionError" not in answer
    assert json.loads(answer["Payload"].read()).startswith(f"3.{minor}.")
    assert f"Py{minor}: python3.{minor} runs on Python 3.{minor} (" in server.output()
