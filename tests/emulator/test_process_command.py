"""The command line of an execution environment's process (``lambdakit.emulator.process_env``):
a custom runtime's ``bootstrap``, or lambdakit's runtime for a python3.x function."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from lambdakit.emulator.errors import EmulatorError, FunctionConfigError
from lambdakit.emulator.interpreters import find_interpreter
from lambdakit.emulator.process_env import command
from lambdakit.emulator.python_paths import runtime_directory
from lambdakit.template import FunctionSpec, TemplateError


def spec_in(directory: Path, **settings: Any) -> FunctionSpec:
    settings.setdefault("runtime", "provided.al2023")
    return FunctionSpec(name="f", code_dir=directory, **settings)


def executable(path: Path, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def test_command_of_a_custom_runtime_is_its_bootstrap(tmp_path: Path) -> None:
    bootstrap = executable(tmp_path / "bootstrap")
    assert command(spec_in(tmp_path)) == [str(bootstrap)]


def test_command_finds_the_bootstrap_in_the_last_layer_that_has_one(tmp_path: Path) -> None:
    code, first, second, third = (tmp_path / n for n in ("code", "l1", "l2", "l3"))
    for directory in (code, first, second, third):
        directory.mkdir()
    executable(first / "bootstrap")
    executable(second / "bootstrap")
    assert command(spec_in(code, layers=(first, second, third))) == [str(second / "bootstrap")]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (0o644, r"bootstrap is not executable; run `chmod \+x .*bootstrap`"),
        (None, r"starts the executable file `bootstrap`, and there is none in"),
    ],
)
def test_command_explains_a_missing_or_non_executable_bootstrap(
    tmp_path: Path, mode: int | None, expected: str
) -> None:
    if mode is not None:
        executable(tmp_path / "bootstrap", mode)
    with pytest.raises(FunctionConfigError, match=expected):
        command(spec_in(tmp_path))


def test_command_of_a_python_function_runs_the_lambdakit_runtime(tmp_path: Path) -> None:
    """On the interpreter given (Settings.python), else the one the Runtime names; with -S
    and the function's own search path (python_paths.py), never this environment's."""
    spec = spec_in(tmp_path, runtime="python3.12", handler="app.handler")
    assert spec.is_python
    argv = command(spec, python="/usr/bin/python3")
    assert argv[0] == "/usr/bin/python3" and argv[-1] == "app.handler"
    assert argv[1] == "-B"  # nothing written next to the code: /var/task is read-only on Lambda
    snippet = argv.index("-c") + 1
    assert argv[2] == "-S" and "entry.main()" in argv[snippet]
    first = argv[snippet + 1].split(os.pathsep)
    assert first == [str(tmp_path), str(runtime_directory())]
    assert argv[snippet + 2] == ""  # no SDK prepared
    assert command(spec)[0] == str(find_interpreter((3, 12)).path)
    assert Path(sys.prefix) not in Path(command(spec)[0]).parents


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"runtime": "python3.12"}, "a python3.12 function needs a handler"),
        (
            {"runtime": "nodejs20.x", "handler": "index.handler"},
            "cannot run the nodejs20.x runtime",
        ),
    ],
)
def test_command_errors(tmp_path: Path, settings: dict[str, str], expected: str) -> None:
    with pytest.raises(FunctionConfigError, match=expected):
        command(spec_in(tmp_path, **settings))


def test_function_config_error_is_an_emulator_error_and_a_template_error() -> None:
    assert issubclass(FunctionConfigError, EmulatorError)
    assert issubclass(FunctionConfigError, TemplateError)
