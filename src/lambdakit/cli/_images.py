"""Images for the template's image functions (``PackageType: Image``), before they run.

A function with ``Metadata`` ``Dockerfile``/``DockerContext`` (``spec.image_build``) is built,
as ``sam build`` would build it, with the container engine that will run it (docker, else
podman): its Dockerfile, context, ``DockerBuildArgs`` and ``DockerBuildTarget``, tagged
``<logical id>:<DockerTag or latest>``. A Dockerfile that copies the lambdakit runtime (one
``lambdakit init`` wrote) gets it in its context first, as ``lambdakit image`` does. A function
with only an ``ImageUri`` runs that image if the engine has it; nothing is pulled (an ECR image
needs ``docker pull`` with the registry's credentials first).

With no engine that can run images, image functions are skipped with one warning each, and
the others run. A build that fails is an error: the Dockerfile needs fixing.
"""

from __future__ import annotations

import subprocess
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lambdakit.template import FunctionSpec

if TYPE_CHECKING:
    from lambdakit.emulator.containers import Engine

__all__ = ["prepare_images"]

_TAIL_LINES = 25


def prepare_images(
    functions: list[FunctionSpec], *, warn: Callable[[str], None]
) -> list[FunctionSpec]:
    """FUNCTIONS whose images are ready to run, the others skipped with a warning; FUNCTIONS
    unchanged (and no engine looked for) when none is an image function."""
    if not any(spec.image is not None for spec in functions):
        return functions
    from lambdakit.emulator.containers import detect_engine
    from lambdakit.emulator.errors import ContainerEngineError

    try:
        engine = detect_engine(purpose="run")
    except ContainerEngineError as error:
        return _without_images(functions, str(error), warn)
    ready = []
    for spec in functions:
        if spec.image is None:
            ready.append(spec)
        elif spec.image_build is not None:
            _build(engine, spec)
            ready.append(spec)
        elif _present(engine, spec.image):
            ready.append(spec)
        else:
            warn(
                f"{spec.name}: skipped: its image {spec.image} is not in {engine.name}'s "
                f"storage, and lambdakit does not pull images; pull it first "
                f"({engine.name} pull {spec.image}), or give the function Metadata with "
                "Dockerfile and DockerContext to build it"
            )
    return _some(ready, functions)


def _without_images(
    functions: list[FunctionSpec], reason: str, warn: Callable[[str], None]
) -> list[FunctionSpec]:
    for spec in functions:
        if spec.image is not None:
            warn(f"{spec.name}: skipped: an image function (PackageType: Image), and {reason}")
    return _some([spec for spec in functions if spec.image is None], functions)


def _some(ready: list[FunctionSpec], functions: list[FunctionSpec]) -> list[FunctionSpec]:
    if not ready:
        names = ", ".join(spec.name for spec in functions)
        raise click.ClickException(f"none of the functions can run here ({names}): see above")
    return ready


def _present(engine: Engine, image: str) -> bool:
    argv = engine.argv("image", "inspect", "--format", "{{.Id}}", image)
    done = subprocess.run(argv, env=engine.environ(), capture_output=True, check=False)
    return done.returncode == 0


def _build(engine: Engine, spec: FunctionSpec) -> None:
    """Build SPEC's image, its output to stderr as it comes; a failure is an error."""
    build = spec.image_build
    assert build is not None and spec.image is not None
    dockerfile = build.context / build.dockerfile
    if ".lambdakit/runtime" in dockerfile.read_text(encoding="utf-8", errors="replace"):
        _vendor_runtime(build.context)
    argv = engine.build_argv(
        build.context, dockerfile=dockerfile, tag=spec.image, build_args=build.build_args
    )
    if build.target:  # the context is the last argument
        argv[-1:-1] = ["--target", build.target]
    click.echo(f"lambdakit: building {spec.image} for {spec.name} with {engine.name}", err=True)
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    try:
        with subprocess.Popen(
            argv, cwd=build.context, env=engine.environ(), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        ) as process:  # fmt: skip
            assert process.stdout is not None
            for line in process.stdout:
                tail.append(line.rstrip("\n"))
                click.echo(f"  {tail[-1]}", err=True)
    except OSError as error:
        raise click.ClickException(f"cannot run {engine.executable}: {error.strerror}") from error
    if process.returncode != 0:
        raise click.ClickException(
            f"{spec.name}: {engine.name} could not build {spec.image} from {dockerfile} (exit "
            f"status {process.returncode}); fix the Dockerfile or the function's Metadata. The "
            "end of its output:\n" + "\n".join(tail)
        )


def _vendor_runtime(context: Path) -> None:
    from lambdakit.project.errors import ImageError
    from lambdakit.project.image import vendor_runtime

    try:
        vendor_runtime(context)
    except ImageError as error:
        raise click.ClickException(str(error)) from error
