"""Whether a function's package can start on Lambda, decided before anything is built or sent.

A ``provided.*`` function starts its ``bootstrap`` and nothing else: the OS-only runtimes
ship no language, the function brings its own
(https://docs.aws.amazon.com/lambda/latest/dg/runtimes-provided.html). lambdakit's
``bootstrap`` runs ``$LAMBDAKIT_PYTHON``, else ``python3`` on ``PATH`` (``/opt/bin`` first,
where layers put executables); ``provided.al2023`` has neither, so such a function would be
created and then fail every invocation with ``Runtime.ExitError``. ``deploy`` refuses it.

    NOT_NEEDED   a managed python3.x runtime, or a bootstrap that runs no Python (a binary,
                 a shell script)
    SHIPPED      an interpreter comes with it: --python-layer, a local layer with bin/python3,
                 or LAMBDAKIT_PYTHON naming one
    UNKNOWN      a layer ARN of the template may bring /opt/bin/python3; it cannot be seen
                 from here, so the deploy goes on (the builder warns)
    MISSING      none of these: refused
"""

from __future__ import annotations

import enum
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

from lambdakit.project.bundle import DEFAULT_PYTHON
from lambdakit.project.contents import PACKAGE
from lambdakit.project.errors import DeployError
from lambdakit.template import FunctionSpec

__all__ = [
    "Interpreter",
    "built_bootstrap",
    "check_build",
    "check_zip",
    "interpreter",
    "needs_python",
    "refusal",
]

# What lambdakit's bootstrap reads, in every version: the emulator recognises it the same way.
_LAMBDAKIT_MARK = b"LAMBDAKIT_PYTHON"
_HEAD = 8192


class Interpreter(enum.Enum):
    """Where the Python a function's bootstrap runs comes from."""

    NOT_NEEDED = "not needed"
    """A managed python3.x runtime (it has its own), or a bootstrap that runs no Python."""
    SHIPPED = "shipped"
    """The package brings one: --python-layer, a local layer's bin/python3, LAMBDAKIT_PYTHON."""
    UNKNOWN = "unknown"
    """A layer ARN may bring one; its content is not visible here."""
    MISSING = "missing"
    """The bootstrap needs Python and nothing brings it: the function cannot start."""


def needs_python(bootstrap: bytes) -> bool:
    """Whether BOOTSTRAP (its first bytes) runs Python: lambdakit's script (it reads
    ``LAMBDAKIT_PYTHON``, edited or not), or a script whose ``#!`` line names python."""
    head = bootstrap[:_HEAD]
    shebang = head.split(b"\n", 1)[0] if head.startswith(b"#!") else b""
    return _LAMBDAKIT_MARK in head or b"python" in shebang


def interpreter(
    spec: FunctionSpec,
    runtime: str,
    bootstrap: bytes,
    *,
    python_layer: bool = False,
    layers: Sequence[Path] = (),
    layer_arns: Sequence[str] = (),
) -> Interpreter:
    """Where the Python of SPEC, deployed on RUNTIME with BOOTSTRAP, comes from (module doc).
    LAYERS are local layer directories, LAYER_ARNS the layers given by ARN."""
    if not runtime.startswith("provided") or not needs_python(bootstrap):
        return Interpreter.NOT_NEEDED
    if python_layer or spec.environment.get("LAMBDAKIT_PYTHON"):
        return Interpreter.SHIPPED
    if any(os.path.lexists(layer / "bin" / "python3") for layer in layers):
        return Interpreter.SHIPPED
    return Interpreter.UNKNOWN if layer_arns else Interpreter.MISSING


def built_bootstrap(spec: FunctionSpec) -> bytes:
    """The bootstrap ``lambdakit build`` puts in SPEC's zip: its own, else lambdakit's."""
    own = spec.code_dir / "bootstrap"
    source = own if own.is_file() else PACKAGE / "runtime" / "bootstrap"
    try:
        with open(source, "rb") as file:
            return file.read(_HEAD)
    except OSError as error:
        raise DeployError(f"cannot read {source}: {error.strerror}") from error


def check_build(
    functions: Sequence[FunctionSpec],
    *,
    target: str | None,
    python_layer: bool,
    layer_arns: dict[str, tuple[str, ...]],
) -> None:
    """Refuse, before anything is built, the FUNCTIONS that ``lambdakit build`` (for TARGET,
    default each one's Runtime) would package without the Python their bootstrap runs.
    LAYER_ARNS: the template's literal layer ARNs by logical id."""

    def missing(spec: FunctionSpec) -> bool:
        if spec.image is not None or spec.image_build is not None:
            return False  # an image function: build refuses it with its own message
        found = interpreter(
            spec, target or spec.runtime, built_bootstrap(spec), python_layer=python_layer,
            layers=spec.layers, layer_arns=layer_arns.get(spec.logical_id or "", ()),
        )  # fmt: skip
        return found is Interpreter.MISSING

    refused = [spec for spec in functions if missing(spec)]
    if refused:
        raise DeployError(refusal(refused, target))


def check_zip(spec: FunctionSpec, path: Path, layer_arns: Sequence[str]) -> None:
    """Refuse the zip at PATH (``--zip``) when its bootstrap needs a Python nothing brings."""
    try:
        with zipfile.ZipFile(path) as archive:
            bootstrap = archive.read("bootstrap")[:_HEAD]
    except KeyError:
        return  # no bootstrap: not this check's business (Lambda reports InvalidEntrypoint)
    except (OSError, zipfile.BadZipFile):
        return  # read again, and reported, when it is uploaded
    if interpreter(spec, spec.runtime, bootstrap, layer_arns=layer_arns) is Interpreter.MISSING:
        raise DeployError(refusal([spec], None, zip_file=path))


def refusal(
    functions: Sequence[FunctionSpec], target: str | None, zip_file: Path | None = None
) -> str:
    """Why FUNCTIONS cannot start, that nothing was deployed, and the three ways out."""
    names = ", ".join(spec.name for spec in functions)
    runtime = target or functions[0].runtime
    what = f"{zip_file}'s bootstrap" if zip_file else "lambdakit's bootstrap"
    python = DEFAULT_PYTHON
    return (
        f"{names}: a {runtime} function runs its bootstrap, and {what} runs Python, which "
        f"{runtime} does not have: on AWS the function could not start (Runtime.ExitError). "
        "Nothing was deployed. Either\n"
        f"  - use the managed Python runtime: `Runtime: python{python}` in template.yaml (or "
        f"`--target python{python}`); lambdakit's runtime then ships as a layer and starts "
        "through AWS_LAMBDA_EXEC_WRAPPER;\n"
        f"  - ship an interpreter layer: `--python-layer cpython-{python}.*-install_only.tar.gz` "
        "(python-build-standalone; docs/project.md);\n"
        "  - or deploy a container image: `lambdakit image`, then `lambdakit deploy "
        "--image-uri URI`."
    )
