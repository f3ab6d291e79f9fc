"""A function's local layers in its build: one zip per layer directory of the template, laid
out as Lambda extracts it to /opt.

    no BuildMethod          the directory as it is, which is what ``sam deploy`` uploads: its
                            files at the root of /opt (Python code belongs under python/)
    BuildMethod: python3.x  as ``sam build`` builds it: the directory's own files and the
                            packages its requirements.txt names, both under python/
                            (/opt/python, on the managed runtimes' sys.path and lambdakit's)
    any other BuildMethod   (makefile, nodejs20.x...) refused with what to do: lambdakit
                            builds Python layers only, and zipping the sources as they are
                            would deploy a layer that was never built

https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/building-layers.html

The packages are installed for the function's CPython and architecture by
``lambdakit.dependencies.prepare``, the resolver and cache with which the emulator prepares
the same layer (``FunctionSpec.built_layers``), so the versions deployed are the versions
that ran locally. The zip of layer ``shared`` of function ``hello`` is
``hello-layer-shared.zip``, which ``lambdakit deploy`` publishes as layer ``hello-layer-shared``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from lambdakit.project.contents import Target, bytecode, code_files, requirement_files
from lambdakit.project.errors import BuildError
from lambdakit.project.zips import Files
from lambdakit.template import FunctionSpec, TemplateError, read_template

__all__ = ["LAYER_TYPES", "check_build_methods", "layer_files", "layer_suffixes"]

LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")


def layer_suffixes(spec: FunctionSpec) -> list[str]:
    """The zip name suffix of each of SPEC's layers, in order: ``layer-<directory name>``, with
    ``-2``, ``-3``... for a second directory of the same name."""
    suffixes: list[str] = []
    for layer in spec.layers:
        base = "layer-" + (re.sub(r"[^A-Za-z0-9_-]", "-", layer.name) or "root")
        suffix, count = base, 1
        while suffix in suffixes:
            count += 1
            suffix = f"{base}-{count}"
        suffixes.append(suffix)
    return suffixes


def layer_files(
    spec: FunctionSpec,
    layer: Path,
    plan: Target,
    output: Path,
    work: Path,
    say: Callable[[str], None],
) -> Files:
    """What the zip of SPEC's LAYER holds: the directory as it is, or, for a layer with
    ``BuildMethod: python3.x``, its own files and its requirements under ``python/``."""
    if layer not in spec.built_layers:
        say(f"adding the layer {layer} as it is")
        files = code_files(layer, output)
    else:
        say(f"building the layer {layer} as sam build does for BuildMethod python3.x")
        # sam build copies the sources, then installs over them: a package wins a clash.
        own = code_files(layer, output)
        own.update(requirement_files(layer, plan, say))
        files = {f"python/{name}": entry for name, entry in own.items()}
    files.update(bytecode(files, plan, "/opt/", work / f"pyc-{_slug(layer)}", say))
    return files


def _slug(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", os.fspath(path).strip("/")) or "root"


def check_build_methods(template: Path, functions: Iterable[FunctionSpec]) -> None:
    """Refuse a layer of FUNCTIONS that TEMPLATE builds with a BuildMethod lambdakit does not
    have (anything but python3.x), before anything is built."""
    used = {os.path.realpath(layer) for spec in functions for layer in spec.layers}
    for logical_id, method, directory in _layer_methods(template):
        if method.startswith("python") or os.path.realpath(directory) not in used:
            continue
        raise BuildError(
            f"{template}: layer {logical_id} has Metadata: BuildMethod: {method}, and lambdakit "
            f"builds Python layers only (BuildMethod: python3.x). Build the layer with `sam "
            f"build {logical_id}` and give its output directory as ContentUri, or remove "
            "BuildMethod and lay out its directory as Lambda extracts it to /opt"
        )


def _layer_methods(template: Path) -> Iterator[tuple[str, str, Path]]:
    """(logical id, BuildMethod, directory) of each layer of TEMPLATE with a BuildMethod and a
    literal local ContentUri (Content)."""
    try:
        data = read_template(template)
    except TemplateError as error:
        raise BuildError(str(error)) from error
    resources = data.get("Resources")
    for logical_id, resource in (resources if isinstance(resources, dict) else {}).items():
        if not isinstance(resource, dict) or resource.get("Type") not in LAYER_TYPES:
            continue
        metadata = resource.get("Metadata")
        method = metadata.get("BuildMethod") if isinstance(metadata, dict) else None
        properties = resource.get("Properties")
        content = (
            properties.get("ContentUri", properties.get("Content"))
            if isinstance(properties, dict)
            else None
        )
        if isinstance(method, str) and isinstance(content, str) and "://" not in content:
            yield str(logical_id), method, (template.parent / content).resolve()
