"""Running what ``lambdakit build`` made instead of the source: ``--package`` and
``--layer-package``, and the manifest ``build`` writes beside its zips.

Lambda runs the zip it was given: it extracts the function's zip to ``/var/task`` and each layer
zip, in the function's ``Layers`` order, to ``/opt``
(https://docs.aws.amazon.com/lambda/latest/dg/chapter-layers.html). So does lambdakit here: each
zip is unpacked once to the content-addressed code cache (``code_cache``), and the function's
``code_dir`` and ``layers`` point there. Everything else (memory, timeout, variables, URL...)
is still the template's: a package replaces where the code comes from, nothing more.

``build`` records what it wrote in ``lambdakit-build.json`` in its output directory:

    {"format": 1, "functions": {"hello": {"zip": "hello.zip",
        "layers": ["hello-runtime-layer.zip"], "runtime": "python3.12", "logical_id": "Hello",
        "environment": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/lambdakit-wrapper"}}}}

(paths relative to the manifest, so that the directory can be copied as a whole, e.g. as a CI
artifact). The runtime is the one the zips were built for (``--target``), and the environment
what they need set over the function's, as ``lambdakit deploy`` sets them on AWS.

``--package`` names either one function's zip (its layers: ``--layer-package``, else those the
manifest beside it lists for it, else none) or a directory ``build`` wrote (each chosen function
runs from its own entry of the manifest).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lambdakit.template.code_cache import unpacked_zip
from lambdakit.template.errors import TemplateError
from lambdakit.template.specs import FunctionSpec

__all__ = ["MANIFEST", "BuiltPackage", "apply_packages", "read_manifest", "record_build"]

MANIFEST = "lambdakit-build.json"
_FORMAT = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class BuiltPackage:
    """One function's zips as ``build`` wrote them."""

    function: Path
    """The function's zip, absolute."""
    layers: tuple[Path, ...] = ()
    """Its layer zips, absolute, in the order Lambda extracts them to /opt."""
    runtime: str | None = None
    """The runtime they were built for; None: the function's own."""
    environment: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Variables the zips need, set over the function's (``AWS_LAMBDA_EXEC_WRAPPER``)."""
    logical_id: str | None = None


# --- the manifest -----------------------------------------------------------------------------


def record_build(output: Path, name: str, package: BuiltPackage) -> Path:
    """Add (or replace) function NAME's entry in OUTPUT's manifest; returns the manifest.

    Other functions' entries stay: ``build --function A`` then ``--function B`` into one
    directory lists both. The file is replaced whole (write, then rename), never half written.
    """
    path = output / MANIFEST
    try:
        data = _load(path)
    except TemplateError:
        data = {}  # unreadable: this build's entries start it again
    listed = data.get("functions")
    functions: dict[str, object] = dict(listed) if isinstance(listed, dict) else {}
    functions[name] = {
        "zip": _relative(package.function, output),
        "layers": [_relative(layer, output) for layer in package.layers],
        "runtime": package.runtime,
        "environment": dict(package.environment),
        "logical_id": package.logical_id,
    }
    text = json.dumps({"format": _FORMAT, "functions": functions}, indent=2, sort_keys=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text + "\n")
    os.replace(temporary, path)
    return path


def read_manifest(directory: Path) -> dict[str, BuiltPackage]:
    """The packages DIRECTORY's manifest lists, by function name ({} without a manifest)."""
    path = directory / MANIFEST
    if not path.is_file():
        return {}
    functions = _load(path).get("functions")
    if not isinstance(functions, dict):
        raise TemplateError(f'{path}: no "functions" mapping; run `lambdakit build` again')
    return {str(name): _entry(path, str(name), entry) for name, entry in functions.items()}


def _load(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise TemplateError(f"cannot read {path} ({error}); run `lambdakit build` again") from error
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        raise TemplateError(
            f"{path} is not a manifest this lambdakit reads; run `lambdakit build` again"
        )
    return data


def _entry(path: Path, name: str, entry: object) -> BuiltPackage:
    try:
        assert isinstance(entry, dict)
        layers, environment = entry.get("layers", []), entry.get("environment") or {}
        assert isinstance(layers, list) and isinstance(environment, dict)
        return BuiltPackage(
            function=path.parent / str(entry["zip"]),
            layers=tuple(path.parent / str(layer) for layer in layers),
            runtime=entry.get("runtime"),
            environment={str(k): str(v) for k, v in environment.items()},
            logical_id=entry.get("logical_id"),
        )
    except (AssertionError, KeyError) as error:
        raise TemplateError(
            f"{path}: the entry of {name!r} is malformed; run `lambdakit build` again"
        ) from error


def _relative(path: Path, base: Path) -> str:
    return os.path.relpath(path.absolute(), base.absolute())


# --- --package --------------------------------------------------------------------------------


def apply_packages(
    functions: list[FunctionSpec],
    package: Path,
    layer_packages: Sequence[Path] = (),
    *,
    directory: bool = False,
    warn: Callable[[str], None] = lambda text: None,
) -> list[FunctionSpec]:
    """FUNCTIONS, each run from its built zips instead of its source (module docstring).

    DIRECTORY: the functions come from a function directory, not a template, so a zip with a
    ``bootstrap`` at its root is a custom runtime's (as the directory's own would be) unless
    the manifest names the runtime. WARN receives what the user should know.
    """
    packages = _packages(functions, package, tuple(layer_packages))
    return [
        _packaged(spec, built, directory=directory, own_layers=bool(layer_packages), warn=warn)
        for spec, built in zip(functions, packages, strict=True)
    ]


def _packages(
    functions: list[FunctionSpec], package: Path, layers: tuple[Path, ...]
) -> list[BuiltPackage]:
    names = ", ".join(spec.name for spec in functions)
    if package.is_dir():
        listed = read_manifest(package)
        if not listed:
            raise TemplateError(
                f"--package {package}: no {MANIFEST} in it; give a function's zip, or the "
                "directory `lambdakit build` wrote (its --output)"
            )
        if layers and len(functions) > 1:
            raise TemplateError(
                f"--layer-package applies to one function; choose it with --function ({names})"
            )
        found = [_listed(spec, listed, package) for spec in functions]
        return [dataclasses.replace(b, layers=layers) if layers else b for b in found]
    if len(functions) > 1:
        raise TemplateError(
            f"--package {package} is one function's zip; choose the function with --function "
            f"({names}), or give the directory `lambdakit build` wrote"
        )
    beside = read_manifest(package.parent)
    built = next(
        (b for b in beside.values() if b.function.resolve() == package.resolve()),
        BuiltPackage(function=package),
    )
    return [dataclasses.replace(built, function=package, layers=layers or built.layers)]


def _listed(spec: FunctionSpec, listed: Mapping[str, BuiltPackage], package: Path) -> BuiltPackage:
    """SPEC's entry: by its name, else by its logical id (a FunctionName that changed)."""
    built = listed.get(spec.name) or next(
        (b for b in listed.values() if spec.logical_id and b.logical_id == spec.logical_id), None
    )
    if built is None:
        raise TemplateError(
            f"--package {package} holds no build of {spec.name!r} (it has: "
            f"{', '.join(listed) or 'none'}); run `lambdakit build --function {spec.name} "
            f"--output {package}`, or choose the functions it has with --function"
        )
    return built


def _packaged(
    spec: FunctionSpec,
    built: BuiltPackage,
    *,
    directory: bool,
    own_layers: bool,
    warn: Callable[[str], None],
) -> FunctionSpec:
    if spec.image is not None or spec.image_build is not None:
        raise TemplateError(
            f"{spec.name} is an image function (PackageType: Image): --package runs zip "
            "functions; choose the others with --function"
        )
    code = _unpacked(built.function, "--package")
    layers = tuple(_unpacked(layer, "--layer-package") for layer in built.layers)
    # ``build`` zips the template's layers too (<function>-layer-<dir>.zip); a manifest
    # written before it did has only lambdakit's own.
    built_own = any(layer.name.startswith(f"{spec.name}-layer-") for layer in built.layers)
    if spec.layers and not own_layers and not built_own:
        warn(
            f"{spec.name}: its template Layers are not used with --package (a built function "
            "runs with the layers built for it); give their zips with --layer-package, in "
            "Lambda's order, to run with them, or run `lambdakit build` again"
        )
    runtime = built.runtime or spec.runtime
    if built.runtime is None and directory and (code / "bootstrap").is_file():
        runtime = "provided.al2023"
    return dataclasses.replace(
        spec,
        code_dir=code,
        layers=layers,
        built_layers=(),  # built: their packages are in their zips
        runtime=runtime,
        environment={**spec.environment, **built.environment},
        packaged=True,
    )


def _unpacked(archive: Path, flag: str) -> Path:
    if not archive.is_file():
        raise TemplateError(
            f"{flag} {archive}: no such zip; run `lambdakit build` again (or give the zip's path)"
        )
    try:
        return unpacked_zip(archive)
    except TemplateError as error:
        raise TemplateError(f"{flag}: {error}") from error
