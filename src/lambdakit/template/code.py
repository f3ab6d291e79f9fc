"""Where a function's code comes from, as a template says it, and where lambdakit runs it from.

=================================================  ============================================
the template says                                  lambdakit runs
=================================================  ============================================
``CodeUri`` / ``Code``: a directory (default: the  that directory
template's, as SAM CLI)
... a ``.zip`` (or any zip: ``sam deploy``         its entries, unpacked once to a cache
uploads a zip file as it is)                       (``code_cache``), modes kept
... another single file (``app.py``, a binary)     a cached directory holding only that file:
                                                   the zip ``sam deploy`` would make of it
CDK's ``aws:asset:path`` Metadata                  that path, as above
``InlineCode`` (SAM) / ``Code.ZipFile``            ``index.py`` and ``cfnresponse.py`` in a
                                                   cached directory (Python runtimes only)
``PackageType: Image`` with ``Metadata``           the image ``<logical id>:<DockerTag|latest>``,
``Dockerfile``/``DockerContext``                   built by the CLI (``ImageBuild``)
``PackageType: Image`` with ``ImageUri``           that image, if the engine has it
code in S3                                         nothing: the function is skipped
=================================================  ============================================

Inline code: "AWS CloudFormation places it in a file named index and zips it", and offers the
``cfn-response`` module with it, for Node.js and Python only
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-function-code.html,
.../cfn-lambda-function-code-cfnresponsemodule.html). SAM's ``InlineCode`` becomes that
``ZipFile``. Image functions: SAM CLI's naming and Metadata (``sam build``; its
``app_builder._build_lambda_image``).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdakit.template.code_cache import (
    inline_directory,
    single_file_directory,
    unpacked_zip,
)
from lambdakit.template.errors import TemplateError
from lambdakit.template.properties import Properties
from lambdakit.template.specs import ImageBuild
from lambdakit.template.values import to_string

__all__ = ["IMAGE_RUNTIME", "FunctionCode", "SkipFunction", "function_code"]

IMAGE_RUNTIME = "image"
"""The ``runtime`` of an image function's spec: Lambda gives image functions none (the image
is the runtime), and this value keeps zip-only commands from taking one for a custom runtime."""
_CFN_RESPONSE = Path(__file__).with_name("cfnresponse.py")
# CloudFormation adds the module only for "this exact import statement" (see cfnresponse.py).
_IMPORTS_CFN_RESPONSE = re.compile(r"\bimport cfnresponse\b")
_TAG = re.compile(r"\w[\w.-]{0,127}")  # docker's grammar of a tag


class SkipFunction(Exception):
    """A function that cannot run locally; the message becomes a warning."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionCode:
    """A function's code as lambdakit runs it."""

    code_dir: Path
    runtime: str
    image: str | None = None
    image_build: ImageBuild | None = None


def function_code(
    properties: Properties,
    *,
    serverless: bool,
    metadata: object,
    base: Path,
    runtime: Callable[[Properties], str],
) -> FunctionCode:
    """The code of the function whose PROPERTIES these are; BASE is the template's directory,
    RUNTIME reads and checks the Runtime (not asked of image functions, which have none)."""
    meta: Mapping[str, Any] = metadata if isinstance(metadata, dict) else {}
    if properties.get("PackageType") == "Image":
        return _image(properties, serverless, meta, base)
    name = runtime(properties)
    key = "CodeUri" if serverless else "Code"
    inline = _inline_source(properties, key)
    if inline is not None:
        inline_key, source = inline
        return FunctionCode(code_dir=_inline(properties, inline_key, source, name), runtime=name)
    return FunctionCode(code_dir=_local(properties, key, meta, base), runtime=name)


# --- zip functions ----------------------------------------------------------------------------


def _local(properties: Properties, key: str, metadata: Mapping[str, Any], base: Path) -> Path:
    # CDK's synthesized templates name the local asset in Metadata; SAM CLI reads it too.
    if metadata.get("aws:asset:property") == key:
        asset = to_string(metadata.get("aws:asset:path"))
        if asset:
            return _code_path(properties, key, asset, base)
    # Without CodeUri (or Code), SAM CLI runs the function from the template's directory.
    value = properties.get(key, ".")
    text = to_string(value)
    if text is None or text.startswith("s3://"):
        raise SkipFunction(
            f"its {key} is in S3; lambdakit runs code from a local directory, zip or file "
            f"(point {key} at the function's source)"
        )
    return _code_path(properties, key, text, base)


def _code_path(properties: Properties, key: str, value: str, base: Path) -> Path:
    path = (base / value).resolve()
    if not path.exists():
        raise properties.error(key, f"{value} does not exist (looked for {path})")
    if path.is_dir():
        return path
    try:
        if zipfile.is_zipfile(path):
            return unpacked_zip(path)
        if path.suffix.lower() in (".zip", ".jar"):
            raise TemplateError(
                f"{path} is not a valid zip; rebuild it, or point {key} at its directory"
            )
        return single_file_directory(path)
    except TemplateError as error:
        raise properties.error(key, str(error)) from error


# --- inline code ------------------------------------------------------------------------------


def _inline_source(properties: Properties, key: str) -> tuple[str, str] | None:
    """(property, source) of inline code, or None."""
    if "InlineCode" in properties.raw:
        return "InlineCode", _text(properties, "InlineCode", properties.get("InlineCode"))
    code = properties.raw.get(key)
    if isinstance(code, dict) and "ZipFile" in code:
        value = properties.get(key)
        return f"{key}.ZipFile", _text(properties, f"{key}.ZipFile", value.get("ZipFile"))
    return None


def _text(properties: Properties, key: str, value: object) -> str:
    text = to_string(value)
    if text is None:
        raise properties.error(key, "must be the function's source code, as a string")
    return text


def _inline(properties: Properties, key: str, source: str, runtime: str) -> Path:
    """``index.py`` with SOURCE, and the ``cfnresponse`` module if SOURCE imports it."""
    if not runtime.startswith("python"):
        raise properties.error(
            key,
            f"Lambda takes inline code for Node.js and Python runtimes only, not {runtime}; put "
            "the code in a directory and point CodeUri (or Code) at it",
        )
    handler = to_string(properties.get("Handler")) or ""
    if handler and not handler.startswith("index."):
        properties.resolver.warn(
            f"{properties.logical_id}.Handler",
            f"{handler}: inline code is the module index (index.py), so on AWS as here the "
            "handler must be index.<function>",
        )
    files = {"index.py": (source.encode(), 0o644)}
    if _IMPORTS_CFN_RESPONSE.search(source):
        files["cfnresponse.py"] = (_CFN_RESPONSE.read_bytes(), 0o644)
    try:
        return inline_directory(files)
    except TemplateError as error:
        raise properties.error(key, str(error)) from error


# --- image functions --------------------------------------------------------------------------


def _image(
    properties: Properties, serverless: bool, metadata: Mapping[str, Any], base: Path
) -> FunctionCode:
    if "Dockerfile" in metadata or "DockerContext" in metadata:
        build = _image_build(properties, metadata, base)
        tag = f"{properties.logical_id.lower()}:{build.tag or 'latest'}"
        return FunctionCode(
            code_dir=build.context, runtime=IMAGE_RUNTIME, image=tag, image_build=build
        )
    if serverless:
        uri = to_string(properties.get("ImageUri"))
    else:
        code = properties.get("Code")
        uri = to_string(code.get("ImageUri")) if isinstance(code, dict) else None
    if not uri:
        where = "ImageUri" if serverless else "Code.ImageUri"
        raise properties.error(
            where,
            "missing; an image function needs the image's URI, or Metadata with Dockerfile "
            "and DockerContext to build it (as sam build does)",
        )
    return FunctionCode(code_dir=base, runtime=IMAGE_RUNTIME, image=uri)


def _image_build(properties: Properties, metadata: Mapping[str, Any], base: Path) -> ImageBuild:
    dockerfile = to_string(metadata.get("Dockerfile"))
    context = to_string(metadata.get("DockerContext"))
    if not dockerfile or not context:
        missing = "Dockerfile" if not dockerfile else "DockerContext"
        raise _metadata_error(
            properties, missing, "missing; give both Dockerfile and DockerContext"
        )
    directory = (base / context).resolve()
    if not directory.is_dir():
        raise _metadata_error(properties, "DockerContext", f"{context} is not a directory")
    if not (directory / dockerfile).is_file():
        raise _metadata_error(
            properties, "Dockerfile", f"{dockerfile} is not a file in {directory}"
        )
    tag = to_string(metadata.get("DockerTag")) or None
    if tag is not None and not _TAG.fullmatch(tag):
        raise _metadata_error(properties, "DockerTag", f"{tag!r} is not an image tag")
    return ImageBuild(
        dockerfile=dockerfile,
        context=directory,
        tag=tag,
        build_args=_build_args(properties, metadata.get("DockerBuildArgs")),
        target=to_string(metadata.get("DockerBuildTarget")) or None,
    )


def _build_args(properties: Properties, value: object) -> dict[str, str]:
    if value is None:
        return {}
    args = {str(k): to_string(v) for k, v in value.items()} if isinstance(value, dict) else None
    if args is None or any(v is None for v in args.values()):
        raise _metadata_error(properties, "DockerBuildArgs", "must be a mapping of strings")
    return {k: v for k, v in args.items() if v is not None}


def _metadata_error(properties: Properties, key: str, message: str) -> TemplateError:
    return TemplateError(f"{properties.source}: {properties.logical_id}.Metadata.{key}: {message}")
