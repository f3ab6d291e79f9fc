"""Before serving: each Python function's own packages, installed once per content.

A Python function (a ``python3.x`` one, or a ``provided.*`` one whose bootstrap is lambdakit's)
gets the packages its code directory's ``requirements.txt`` / ``pyproject.toml`` name, for the
interpreter it runs on (``interpreters.py``), with the same resolver and cache as ``lambdakit
build`` (``lambdakit.dependencies``). A managed ``python3.x`` runtime also gets the boto3 that
AWS ships with it (``python_paths.SDK_VERSIONS``); ``provided.*`` gets none, as on Lambda.

An arm64 function on an x86_64 machine (or the reverse) cannot run the other architecture's
wheels: it gets this machine's, and a line says so (``lambdakit build`` still zips arm64's).
"""

from __future__ import annotations

import dataclasses
import platform
from collections.abc import Callable, Sequence
from pathlib import Path

from lambdakit.dependencies import GLIBC, DependencyError, prepare, sources_in
from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.interpreters import bare_home, describe
from lambdakit.emulator.process_env import interpreter_for, lambdakit_bootstrap
from lambdakit.emulator.python_paths import (
    CACHE,
    compile_tree,
    runtime_directory,
    sdk_requirements,
)
from lambdakit.template import FunctionSpec

__all__ = ["host_architecture", "prepare_function", "prepare_functions"]

Say = Callable[[str], None]


def _wanted(spec: FunctionSpec, version: tuple[int, int]) -> dict[str, tuple[list[Path], str]]:
    """What to install for SPEC, by the key ``FunctionSpec.dependencies`` gives it: the code's
    requirements (not for a built package: build put them in the zip), each BuildMethod
    layer's (into what stands for its python/, as sam build installs them), and a managed
    runtime's boto3."""
    wanted: dict[str, tuple[list[Path], str]] = {}
    sources = [] if spec.packaged else sources_in(spec.code_dir)
    if sources:
        wanted["function"] = (sources, "its dependencies")
    for layer in spec.built_layers:
        wanted[str(layer)] = (sources_in(layer), f"the dependencies of its layer {layer}")
    if spec.is_python:
        wanted["sdk"] = ([sdk_requirements(version)], "the runtime's boto3")
    return wanted


def host_architecture() -> str:
    """This machine's architecture by Lambda's name (``x86_64``, ``arm64``)."""
    machine = platform.machine().lower()
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def prepare_functions(
    specs: Sequence[FunctionSpec], *, say: Say, warn: Say, python: str | None = None
) -> list[FunctionSpec]:
    """SPECS with their ``dependencies`` prepared (blocking: run it off the event loop).
    Raises EmulatorError when a function's dependencies cannot be installed."""
    runtime_directory()  # made once, before any environment needs it
    return [prepare_function(spec, say=say, warn=warn, python=python) for spec in specs]


def prepare_function(
    spec: FunctionSpec, *, say: Say, warn: Say, python: str | None = None
) -> FunctionSpec:
    """SPEC with its ``dependencies`` prepared; SPEC itself if it is not a Python function."""
    if spec.image is not None or not (spec.is_python or lambdakit_bootstrap(spec)):
        return spec
    interpreter = interpreter_for(spec, python)
    runtime = spec.runtime if spec.is_python else f"{spec.runtime} (lambdakit's bootstrap)"
    (say if interpreter.exact else warn)(describe(spec.name, runtime, interpreter))
    arch = host_architecture()
    if spec.architectures[0] != arch:
        warn(
            f"{spec.name}: an {spec.architectures[0]} function runs on this {arch} machine "
            f"with {arch} packages (lambdakit build still packages {spec.architectures[0]}'s)"
        )
    glibc = GLIBC[
        "al2023" if spec.runtime.endswith("al2023") or interpreter.version >= (3, 12) else "al2"
    ]

    def install(sources: list[Path], what: str) -> Path | None:
        try:
            return prepare(
                sources, python_version=interpreter.version, arch=arch, glibc_minor=glibc,
                progress=lambda line: say(f"{spec.name}: {line}"),
            )  # fmt: skip
        except DependencyError as error:
            raise EmulatorError(f"function {spec.name!r}: {what}: {error}") from error

    if not spec.is_python:
        bare_home(interpreter, CACHE)  # made now, not when an environment starts
    wanted = _wanted(spec, interpreter.version)
    found = {key: install(sources, what) for key, (sources, what) in wanted.items()}
    dependencies = {key: path for key, path in found.items() if path is not None}
    # Functions run with -B (nothing written next to their code, as on Lambda): what they
    # import from the prepared packages and the runtime is compiled here, once per version.
    tag = "compiled-%d%d" % interpreter.version
    for directory in [*dependencies.values(), runtime_directory()]:
        compile_tree(interpreter.path, directory, directory.parent / f".{directory.name}-{tag}")
    return dataclasses.replace(spec, dependencies=dependencies)
