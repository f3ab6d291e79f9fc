"""Deployment packages (``lambdakit build``): deterministic zips, one set per function.

    provided.al2023 / provided.al2      <function>.zip: bootstrap (the function's own, else
                                        lambdakit's), the code, the lambdakit runtime, the
                                        requirements; <function>-python-layer.zip with
                                        --python-layer: an interpreter for /opt/bin/python3
    python3.X                           <function>.zip: the code and the requirements;
                                        <function>-runtime-layer.zip: the lambdakit runtime
                                        in /opt/python and /opt/lambdakit-wrapper, which
                                        AWS_LAMBDA_EXEC_WRAPPER runs instead of awslambdaric
    either                              <function>-layer-<directory>.zip: each local layer of
                                        the template, built as sam build builds it with
                                        BuildMethod python3.x, else as it is (``layers``)

Requirements are wheels for the target's CPython, architecture and glibc, installed by
``lambdakit.dependencies`` (the emulator's installer and cache too). Bytecode is precompiled
(unchecked-hash .pyc: Lambda's /var/task is read-only, so Python cannot cache what it
compiles) when this interpreter is the target's version. The same inputs give the same
bytes: sorted entries, one timestamp, normalised modes, no extra fields.

This module chooses and checks (targets, Lambda's size limits, next steps); the parts are in
``contents`` (code, requirements, runtime, bytecode), ``layers`` (the template's layers),
``python_layer`` (an interpreter for provided.*) and ``zips`` (deterministic zip files).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lambdakit.dependencies import MACHINE
from lambdakit.project.contents import (
    WRAPPER_PATH,
    Target,
    function_files,
    python_minor,
    runtime_layer_files,
)
from lambdakit.project.errors import BuildError
from lambdakit.project.layers import check_build_methods, layer_files, layer_suffixes
from lambdakit.project.python_layer import python_layer_files
from lambdakit.project.zips import (
    SYMLINK,
    BuildResult,
    Files,
    Kind,
    content_size,
    write_zip,
)
from lambdakit.template import FunctionSpec, TemplateError, select
from lambdakit.template.packages import BuiltPackage, record_build

__all__ = [
    "MAX_UNZIPPED",
    "MAX_ZIPPED",
    "SYMLINK",
    "WRAPPER_PATH",
    "BuildResult",
    "Kind",
    "build_function",
    "default_output",
    "next_steps",
    "resolve_settings",
    "select_functions",
    "write_zip",
]

# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: a zip uploaded
# directly, and the function with all its layers once extracted (the API's own numbers).
MAX_ZIPPED = 52_428_800  # 50 MB
MAX_UNZIPPED = 262_144_000  # 250 MB
DEFAULT_PYTHON = "3.12"
_Target = Target  # the name the tests know

# ---------------------------------------------------------------------------------------------
# Choosing what to build


def select_functions(
    path: Path,
    function: str | None = None,
    *,
    parameter_overrides: Any = None,
    config_env: str | None = None,
    config_file: Path | None = None,
) -> tuple[list[FunctionSpec], list[str]]:
    """The functions at PATH (a project with template.yaml, or a function directory), and the
    template's warnings; only the one named FUNCTION (FunctionName or logical id) if given.
    PARAMETER_OVERRIDES, CONFIG_ENV and CONFIG_FILE are the flags of ``lambdakit build``
    (``lambdakit.template.select``, with samconfig's ``build`` sections)."""
    try:
        chosen = select(
            path, command="build", function=function, parameter_overrides=parameter_overrides,
            config_env=config_env, config_file=config_file,
        )  # fmt: skip
    except TemplateError as exc:
        raise BuildError(str(exc)) from exc
    if chosen.template is not None:
        check_build_methods(chosen.template, chosen.functions)
    return chosen.functions, chosen.other_warnings()


def default_output(path: Path) -> Path:
    """Where zips go unless told: ``.lambdakit/build`` in the project directory."""
    return (path if path.is_dir() else path.parent) / ".lambdakit" / "build"


def resolve_settings(
    spec: FunctionSpec,
    *,
    arch: str | None = None,
    python: str | None = None,
    target: str | None = None,
) -> tuple[str, str, str]:
    """(arch, python, target) for SPEC: the flags given, else what its template says."""
    if target is None:
        if not spec.runtime.startswith(("provided", "python")):
            raise BuildError(
                f"function {spec.name!r} has Runtime {spec.runtime}; lambdakit builds provided.* "
                "(custom runtime) and python3.x functions"
            )
        target = spec.runtime
    if python is None:
        python = target.removeprefix("python") if target.startswith("python") else DEFAULT_PYTHON
    return arch or (spec.architectures or ("x86_64",))[0], python, target


def _target(spec: FunctionSpec, runtime: str, python: str, arch: str) -> Target:
    if not re.fullmatch(r"3\.\d+", python) or python_minor(python) < 10:
        raise BuildError(
            f"Python {python}: the lambdakit runtime needs 3.10 or newer; give --python 3.12 "
            "(or --target python3.12)"
        )
    if arch not in MACHINE:
        raise BuildError(f"--arch {arch}: Lambda runs x86_64 and arm64")
    if runtime not in ("provided.al2023", "provided.al2") and not re.fullmatch(
        r"python3\.\d+", runtime
    ):
        raise BuildError(
            f"function {spec.name!r}: cannot build for {runtime}; give --target provided.al2023 "
            "(a custom runtime) or python3.X (a managed Python runtime)"
        )
    if runtime.startswith("python") and runtime != f"python{python}":
        raise BuildError(
            f"--python {python} does not match the {runtime} runtime; leave --python out, or "
            f"build for python{python}"
        )
    return Target(runtime, python, arch)


# ---------------------------------------------------------------------------------------------
# Building


def build_function(
    spec: FunctionSpec,
    *,
    output: Path,
    arch: str,
    python: str,
    target: str,
    python_layer: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BuildResult]:
    """Build SPEC's zips into the directory OUTPUT: the function, then its layers."""
    say = progress or (lambda _: None)
    plan = _target(spec, target, python, arch)
    if python_layer is not None and plan.managed:
        raise BuildError(
            f"--python-layer is for provided.* functions; {plan.runtime} has its own interpreter"
        )
    say(f"building for {plan.runtime}, CPython {plan.python}, {plan.arch}")
    output = output.absolute()
    with tempfile.TemporaryDirectory(prefix="lambdakit-build-") as tmp:
        work = Path(tmp)
        zips: list[tuple[Kind, str, Files]] = [
            ("function", "", function_files(spec, plan, output, work, say))
        ]
        # The template's layers first, lambdakit's last: Lambda extracts them in this order,
        # so the runtime's wrapper is never replaced by a file of the same name.
        for layer, suffix in zip(spec.layers, layer_suffixes(spec), strict=True):
            zips.append(("layer", suffix, layer_files(spec, layer, plan, output, work, say)))
        if plan.managed:
            zips.append(("runtime-layer", "runtime-layer", runtime_layer_files(plan, work, say)))
        if python_layer is not None:
            files = python_layer_files(python_layer, plan, work, say)
            zips.append(("python-layer", "python-layer", files))
        _check_unzipped(spec.name, zips)
        output.mkdir(parents=True, exist_ok=True)
        results = []
        for kind, suffix, files in zips:
            dest = output / (f"{spec.name}-{suffix}.zip" if suffix else f"{spec.name}.zip")
            say(f"writing {dest.name} ({len(files)} files)")
            results.append(write_zip([(n, *entry) for n, entry in files.items()], dest, kind=kind))
            _check_zipped(results[-1])
    _record(spec, plan, output, results)
    return results


def _record(spec: FunctionSpec, plan: Target, output: Path, results: list[BuildResult]) -> None:
    """List the zips in OUTPUT's manifest, so that ``--package`` runs them as deployed."""
    layers = tuple(result.path for result in results[1:])
    managed = any(result.kind == "runtime-layer" for result in results)
    package = BuiltPackage(
        function=results[0].path,
        layers=layers,
        runtime=plan.runtime,
        environment={"AWS_LAMBDA_EXEC_WRAPPER": WRAPPER_PATH} if managed else {},
        logical_id=spec.logical_id,
    )
    try:
        record_build(output, spec.name, package)
    except OSError as error:
        raise BuildError(f"cannot write the build's manifest in {output}: {error}") from error


def _check_unzipped(function: str, zips: list[tuple[Kind, str, Files]]) -> None:
    sizes = {
        suffix or kind: sum(content_size(c) for c, _ in files.values())
        for kind, suffix, files in zips
    }
    total = sum(sizes.values())
    if total <= MAX_UNZIPPED:
        return
    parts = ", ".join(f"{kind} {_mb(size)}" for kind, size in sizes.items())
    tops: dict[str, int] = {}
    for name, (content, _) in zips[0][2].items():
        tops[name.split("/")[0]] = tops.get(name.split("/")[0], 0) + content_size(content)
    largest = ", ".join(f"{n} {_mb(s)}" for n, s in sorted(tops.items(), key=lambda t: -t[1])[:3])
    raise BuildError(
        f"{function}: {_mb(total)} unzipped ({total:,} bytes: {parts}); Lambda allows "
        f"{_mb(MAX_UNZIPPED)} ({MAX_UNZIPPED:,} bytes) for a function and its layers together. "
        f"The largest parts of the function are {largest}. Leave out what it does not need, "
        "or build a container image instead (`lambdakit image`; up to 10 GB)."
    )


def _check_zipped(result: BuildResult) -> None:
    if result.size <= MAX_ZIPPED:
        return
    result.path.unlink()
    raise BuildError(
        f"{result.path.name} is {_mb(result.size)} zipped ({result.size:,} bytes); Lambda takes "
        f"at most {_mb(MAX_ZIPPED)} ({MAX_ZIPPED:,} bytes) in a direct upload. Move large "
        "dependencies into a layer (each layer has the same limit), upload the zip through S3 "
        f"(then only the {_mb(MAX_UNZIPPED)} unzipped limit applies), or build a container "
        "image instead (`lambdakit image`)."
    )


def _mb(size: int) -> str:
    """Sizes as Lambda's limits count them (1 MB = 1,048,576 bytes)."""
    if size < 1048576:
        return f"{size / 1024:.1f} KB".replace(".0 ", " ")
    return f"{size / 1048576:.1f} MB".replace(".0 ", " ")


# ---------------------------------------------------------------------------------------------
# What to do with the zips


def next_steps(spec: FunctionSpec, results: list[BuildResult], target: str, arch: str) -> list[str]:
    """What the user must set on AWS for the zips in RESULTS to run (docs/project.md)."""
    own = ", ".join(result.path.name for result in results if result.kind == "layer")
    steps = [
        f"{spec.name}: publish its layers ({own}: aws lambda publish-layer-version --zip-file "
        f"fileb://... --compatible-runtimes {target} --compatible-architectures {arch}) and "
        "list their LayerVersionArns in the function's Layers, in this order "
        "(`lambdakit deploy` does both)"
    ]
    return (steps if own else []) + _lambdakit_layer_steps(spec, results, target, arch)


def _lambdakit_layer_steps(
    spec: FunctionSpec, results: list[BuildResult], target: str, arch: str
) -> list[str]:
    layers = {result.kind: result.path for result in results}
    if "runtime-layer" in layers:
        return [
            f"{spec.name}: to run it on {target} with the lambdakit runtime, publish the layer "
            f"(aws lambda publish-layer-version --layer-name lambdakit-runtime --zip-file "
            f"fileb://{layers['runtime-layer']} --compatible-runtimes {target}), add the "
            "LayerVersionArn it prints to the function's Layers, and set the function's "
            f"environment variable AWS_LAMBDA_EXEC_WRAPPER={WRAPPER_PATH}",
        ]
    if "python-layer" in layers:
        return [
            f"{spec.name}: publish the interpreter layer (aws lambda publish-layer-version "
            f"--layer-name python --zip-file fileb://{layers['python-layer']} "
            f"--compatible-runtimes {target} --compatible-architectures {arch}) and add the "
            "LayerVersionArn it prints to the function's Layers; the bootstrap runs "
            "/opt/bin/python3 from it",
        ]
    if target.startswith("provided"):
        return [
            f"{spec.name}: {target} has no Python of its own: give the function an interpreter "
            "layer (--python-layer, see docs/project.md), or build a container image "
            "(`lambdakit image`)",
        ]
    return []
