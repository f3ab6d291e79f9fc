"""The shipped ``bootstrap`` script, in the layouts Lambda runs it in."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import lambdakit
from tests.helpers import RuntimeProcess
from tests.stub import StubRuntimeAPI

PACKAGE = Path(lambdakit.__file__).parent
BOOTSTRAP = PACKAGE / "runtime" / "bootstrap"

HANDLER = """
import sys

def handler(event, context):
    import click  # a dependency installed in the interpreter's site-packages
    return {"no_site": sys.flags.no_site, "event": event, "click": click.__name__}
"""


def copy_runtime(destination: Path) -> None:
    """What a deployment package holds: bootstrap and the runtime part of lambdakit."""
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BOOTSTRAP, destination / "bootstrap")
    ignore = shutil.ignore_patterns("__pycache__", "cli", "*.pyc")
    shutil.copytree(PACKAGE, destination / "lambdakit", ignore=ignore)


def run_bootstrap(bootstrap: Path, task: Path, env: dict[str, str], args: list[str]) -> object:
    env = {"LAMBDAKIT_PYTHON": sys.executable, "LAMBDA_TASK_ROOT": str(task), **env}
    with (
        StubRuntimeAPI() as api,
        RuntimeProcess("", api.address, cwd=task, env=env, command=[str(bootstrap), *args]),
    ):
        api.push({"via": "bootstrap"})
        (answer,) = api.wait_for_answers(1)
    assert answer.path.endswith("/response"), answer.body
    return answer.json()


def test_the_script_is_valid_posix_sh() -> None:
    subprocess.run(["sh", "-n", str(BOOTSTRAP)], check=True)
    assert BOOTSTRAP.stat().st_mode & 0o111


def test_zip_layout_runtime_next_to_bootstrap(tmp_path: Path) -> None:
    task = tmp_path / "task"
    copy_runtime(task)
    (task / "app.py").write_text(HANDLER)
    result = run_bootstrap(task / "bootstrap", task, {"_HANDLER": "app.handler"}, [])
    assert result == {"no_site": 1, "event": {"via": "bootstrap"}, "click": "click"}


def test_image_layout_runtime_dir_and_cmd_argument(tmp_path: Path) -> None:
    runtime_dir, task = tmp_path / "runtime", tmp_path / "task"
    copy_runtime(runtime_dir)
    task.mkdir()
    (task / "app.py").write_text(HANDLER)
    env = {"LAMBDA_RUNTIME_DIR": str(runtime_dir)}
    result = run_bootstrap(runtime_dir / "bootstrap", task, env, ["app.handler"])
    assert result["no_site"] == 1 and result["event"] == {"via": "bootstrap"}


@pytest.mark.parametrize("flags", ["", "-E"])
def test_interpreter_flags_can_be_overridden(tmp_path: Path, flags: str) -> None:
    task = tmp_path / "task"
    copy_runtime(task)
    (task / "app.py").write_text(HANDLER)
    env = {"_HANDLER": "app.handler", "LAMBDAKIT_PYTHON_FLAGS": flags}
    assert run_bootstrap(task / "bootstrap", task, env, [])["no_site"] == 0  # type: ignore[index]


def test_pip_installed_runtime(tmp_path: Path) -> None:
    task = tmp_path / "task"
    task.mkdir()
    shutil.copy2(BOOTSTRAP, task / "bootstrap")
    (task / "app.py").write_text(HANDLER)
    result = run_bootstrap(task / "bootstrap", task, {"_HANDLER": "app.handler"}, [])
    assert result["no_site"] == 0  # type: ignore[index]
