"""The zips a stack deploys, built as ``sam build`` would, with lambdakit's own build.

    function (zip)     ``bundle.build_function``: what ``lambdakit build`` and the direct
                       ``lambdakit deploy`` build, the function's code and requirements (and,
                       on python3.X, lambdakit's runtime layer, which the stack gains as a
                       layer resource of its own: ``transform.add_runtime_layers``)
    layer              each layer resource with a local ContentUri (Content), once, however
                       many functions use it: as it is, or with ``BuildMethod: python3.x`` its
                       files and requirements under python/ as ``sam build`` builds it
                       (https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-layers.html)
    function (image)   not here: ``images.publish_images`` builds and pushes those with
                       Dockerfile Metadata; one with only an ImageUri is deployed as it is

The direct deploy builds a template's layers into each function's build; a stack declares each
layer once, so here the functions are built without them and the layers on their own.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdakit.project import bundle
from lambdakit.project.contents import Target, bytecode, code_files, requirement_files
from lambdakit.project.errors import BuildError
from lambdakit.project.stack import build_cache
from lambdakit.project.zips import Files, write_zip
from lambdakit.template import FunctionSpec

__all__ = ["Artifact", "build_functions", "build_layers", "local_path"]

CODE_PROPERTY = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Lambda::Function": "Code",
    "AWS::Serverless::LayerVersion": "ContentUri",
    "AWS::Lambda::LayerVersion": "Content",
}


@dataclass(frozen=True, slots=True)
class Artifact:
    """A zip built for PROPERTY of resource LOGICAL_ID (``runtime`` for lambdakit's layer)."""

    logical_id: str
    property: str
    path: Path
    runtime: str = ""
    """The Lambda runtime it was built for (the function's; a layer's BuildMethod)."""
    runtime_layer: Path | None = None
    """A python3.X function's lambdakit runtime layer (AWS_LAMBDA_EXEC_WRAPPER runs it)."""


def local_path(value: object, base: Path) -> Path | None:
    """VALUE, a code property, as a local path under BASE; None if it is an S3 location, an
    intrinsic function or absent (``sam package`` leaves those as they are)."""
    if not isinstance(value, str) or value.startswith("s3://") or "://" in value:
        return None
    return (base / value).resolve()


def build_functions(
    specs: list[FunctionSpec],
    resources: Mapping[str, Any],
    *,
    output: Path,
    base: Path,
    progress: Callable[[str], None],
) -> list[Artifact]:
    """Build each zip function of SPECS whose code is local (image functions: ``images``).
    RESOURCES is the template's, BASE the directory its paths are relative to."""
    artifacts = []
    for spec in specs:
        resource = resources.get(spec.logical_id or "", {})
        kind = resource.get("Type", "AWS::Serverless::Function")
        properties = resource.get("Properties") or {}
        if spec.image is not None or properties.get("PackageType") == "Image":
            continue  # images.publish_images builds what has Metadata; an ImageUri stays
        prop = CODE_PROPERTY[kind]
        if kind == "AWS::Lambda::Function" and not isinstance(properties.get(prop), str):
            continue  # inline ZipFile or S3Bucket/S3Key: nothing to build
        if "InlineCode" in properties or (
            prop in properties and not local_path(properties[prop], base)
        ):
            continue  # code in the template, or already in S3
        artifacts.append(_build_function(spec, prop, output, progress))
    return artifacts


def _build_function(
    spec: FunctionSpec, prop: str, output: Path, progress: Callable[[str], None]
) -> Artifact:
    arch, python, runtime = bundle.resolve_settings(spec)

    def say(text: str) -> None:
        progress(f"{spec.name}: {text}")

    output = output.absolute()
    stamp = f"function-{spec.name}"
    key = build_cache.inputs_key(
        spec.code_dir, output, Target(runtime, python, arch), extra=("function", spec.name),
        say=say,
    )  # fmt: skip
    zips = build_cache.reuse(output, stamp, key)
    if zips is not None:
        say(f"unchanged since its last build: {', '.join(path.name for _, path in zips)}")
    else:
        alone = dataclasses.replace(spec, layers=(), built_layers=())  # layers: build_layers
        results = bundle.build_function(
            alone, output=output, arch=arch, python=python, target=runtime, progress=say
        )
        zips = [(result.kind, Path(result.path)) for result in results]
        build_cache.record(output, stamp, key, zips)
    extra = dict(zips[1:])
    return Artifact(
        spec.logical_id or spec.name,
        prop,
        zips[0][1],
        runtime=runtime,
        runtime_layer=extra.get("runtime-layer"),
    )


def build_layers(
    resources: Mapping[str, Any],
    *,
    output: Path,
    base: Path,
    progress: Callable[[str], None],
) -> list[Artifact]:
    """Build each layer resource of RESOURCES whose content is a local directory (or zip)."""
    artifacts = []
    for logical_id, resource in resources.items():
        kind = resource.get("Type") if isinstance(resource, dict) else None
        if kind not in ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"):
            continue
        prop = CODE_PROPERTY[kind]
        directory = local_path((resource.get("Properties") or {}).get(prop), base)
        if directory is None:
            continue
        say = lambda text, name=logical_id: progress(f"{name}: {text}")  # noqa: E731
        artifacts.append(_build_layer(logical_id, prop, resource, directory, output, say))
    return artifacts


def _build_layer(
    logical_id: str,
    prop: str,
    resource: Mapping[str, Any],
    directory: Path,
    output: Path,
    say: Callable[[str], None],
) -> Artifact:
    if directory.is_file() and directory.suffix == ".zip":
        return Artifact(logical_id, prop, directory)  # a zip is uploaded as it is
    if not directory.is_dir():
        raise BuildError(f"layer {logical_id}: {prop} {directory} is not a directory or a zip")
    metadata = resource.get("Metadata")
    method = metadata.get("BuildMethod") if isinstance(metadata, dict) else None
    plan = _layer_target(logical_id, method, resource.get("Properties") or {})
    output = output.absolute()
    dest = output / f"layer-{logical_id}.zip"
    stamp = f"layer-{logical_id}"
    key = build_cache.inputs_key(directory, output, plan, extra=("layer", dest.name), say=say)
    reused = build_cache.reuse(output, stamp, key)
    if reused is not None:
        say(f"unchanged since its last build: {dest.name}")
        return Artifact(logical_id, prop, dest, runtime=plan.runtime if plan else "")
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lambdakit-layer-") as tmp:
        if plan is None:
            say(f"adding the layer {directory} as it is")
            files = code_files(directory, output)
        else:
            say(f"building the layer {directory} as sam build does for BuildMethod {method}")
            own = code_files(directory, output)
            own.update(requirement_files(directory, plan, say))  # a package wins a clash
            files = {f"python/{name}": entry for name, entry in own.items()}
            files.update(bytecode(files, plan, "/opt/", Path(tmp) / "pyc", say))
        result = write_zip(_entries(files), dest, kind="layer")
    build_cache.record(output, stamp, key, [("layer", result.path)])
    return Artifact(logical_id, prop, result.path, runtime=plan.runtime if plan else "")


def _entries(files: Files) -> list[tuple[str, Any, int]]:
    return [(name, content, mode) for name, (content, mode) in files.items()]


def _layer_target(logical_id: str, method: object, properties: Mapping[str, Any]) -> Target | None:
    """What a layer is built for: its BuildMethod python3.X and first CompatibleArchitectures
    (SAM's default x86_64); None for a layer zipped as it is."""
    if method is None:
        return None
    if not isinstance(method, str) or not method.startswith("python3."):
        raise BuildError(
            f"layer {logical_id} has Metadata: BuildMethod: {method}, and lambdakit builds "
            f"Python layers only (BuildMethod: python3.x). Build the layer with `sam build "
            f"{logical_id}` and give its output directory as ContentUri, or remove BuildMethod "
            "and lay out its directory as Lambda extracts it to /opt"
        )
    arches = properties.get("CompatibleArchitectures")
    arch = arches[0] if isinstance(arches, list) and arches else "x86_64"
    return Target(method, method.removeprefix("python"), str(arch))
