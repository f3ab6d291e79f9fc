"""A SAM/CloudFormation template's functions as ``FunctionSpec`` values.

Resources of Type ``AWS::Serverless::Function`` and ``AWS::Lambda::Function`` become
functions, with their layers (local directories, or layer resources of the template), and
``AWS::Lambda::Url`` resources their URLs; ``Globals.Function``, Parameters, Conditions and
Mappings apply as they would on deploy. What cannot run or be known locally (image functions,
code in S3, ``!ImportValue``...) is a warning, not an error. Mistakes the user can make raise
``TemplateError`` with the file, the resource and property, and what to do.
"""

from __future__ import annotations

import dataclasses
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lambdakit.template.async_config import read_async_config, with_event_invoke_configs
from lambdakit.template.code import SkipFunction, function_code
from lambdakit.template.differences import function_differences
from lambdakit.template.errors import TemplateError
from lambdakit.template.intrinsics import Resolver, is_intrinsic
from lambdakit.template.logging_config import logging_config
from lambdakit.template.properties import Properties
from lambdakit.template.reading import read_template
from lambdakit.template.specs import (
    ARCHITECTURES,
    MAX_MEMORY,
    MAX_TIMEOUT,
    MIN_MEMORY,
    Difference,
    FunctionSpec,
    TemplateResult,
    UrlConfig,
)
from lambdakit.template.urls import url_cors
from lambdakit.template.values import FUNCTION_TYPES, LAYER_TYPES, to_string
from lambdakit.template.variables import check_variables
from lambdakit.template.versions import version_settings

__all__ = ["load_template"]


def load_template(path: Path, *, parameters: Mapping[str, str] | None = None) -> TemplateResult:
    """The functions of a SAM/CloudFormation template, in template order.

    PARAMETERS override the Parameters' Defaults, and pseudo parameters too
    (``AWS::Region``, as SAM CLI's ``--parameter-overrides`` allows). ``AWS::StackName`` is
    the template directory's name; the region comes from AWS_REGION or AWS_DEFAULT_REGION,
    else ``us-east-1``.
    """
    template = read_template(path)
    resolver = Resolver(
        template,
        source=str(path),
        stack_name=path.absolute().parent.name,
        overrides=dict(parameters or {}),
    )
    resolver.warnings[:0] = template.warnings  # duplicate keys, found while reading
    reader = _TemplateReader(path, template, resolver)
    functions = reader.functions()
    return TemplateResult(functions, resolver.warnings, reader.differences)


_Skip = SkipFunction  # a function that cannot run locally; the message becomes a warning


class _TemplateReader:
    def __init__(self, path: Path, template: Mapping[str, Any], resolver: Resolver) -> None:
        self.path = path
        self.base = path.absolute().parent
        self.resolver = resolver
        globals_ = template.get("Globals") or {}
        function_globals = globals_.get("Function") if isinstance(globals_, dict) else None
        self.globals: Mapping[str, Any] = function_globals or {}
        self.differences: list[Difference] = []
        self._built_layers: set[Path] = set()  # layers sam build builds (_built_by_sam)

    def functions(self) -> list[FunctionSpec]:
        specs = []
        for logical_id, resource in self.resolver.resources.items():
            if isinstance(resource, dict) and resource.get("Type") in FUNCTION_TYPES:
                try:
                    specs.append(self._function(logical_id, resource))
                except _Skip as skip:
                    self.resolver.warn(logical_id, f"skipped: {skip}")
        if not specs:
            raise self._no_functions()
        specs = self._with_urls(specs)
        specs = with_event_invoke_configs(specs, self.resolver, self.path)
        self._check_unique(specs)
        return specs

    def _function(self, logical_id: str, resource: Mapping[str, Any]) -> FunctionSpec:
        condition = resource.get("Condition")
        if isinstance(condition, str) and not self.resolver.condition(condition, logical_id):
            raise _Skip(f"its Condition {condition} is false")
        raw = resource.get("Properties") or {}
        if not isinstance(raw, dict):
            raise TemplateError(f"{self.path}: {logical_id}.Properties must be a mapping")
        serverless = resource["Type"] == "AWS::Serverless::Function"
        properties = Properties(
            logical_id,
            merge_globals(self.globals, raw) if serverless else raw,
            self.resolver,
            self.path,
        )
        code = function_code(
            properties, serverless=serverless, metadata=resource.get("Metadata"),
            base=self.base, runtime=self._runtime,
        )  # fmt: skip
        self.differences += function_differences(properties, resource["Type"])
        return FunctionSpec(
            name=self.resolver.function_name(logical_id),
            code_dir=code.code_dir,
            runtime=code.runtime,
            handler=None if code.image else self._handler(properties, code.runtime),
            image=code.image,
            image_build=code.image_build,
            # Lambda's defaults: 3 seconds, 128 MB.
            timeout=properties.integer("Timeout", 1, MAX_TIMEOUT, "seconds") or 3,
            memory_size=properties.integer("MemorySize", MIN_MEMORY, MAX_MEMORY, "MB") or 128,
            ephemeral_storage=_ephemeral_storage(properties),
            environment=self._environment(properties),
            architectures=self._architectures(properties),
            layers=(layers := self._layers(properties)),
            built_layers=tuple(layer for layer in layers if layer in self._built_layers),
            url=self._function_url(properties) if serverless else None,
            reserved_concurrency=properties.integer(
                "ReservedConcurrentExecutions", 0, sys.maxsize, "executions"
            ),
            logical_id=logical_id,
            async_config=read_async_config(properties, serverless=serverless),
            logging=logging_config(properties),
            **version_settings(properties, serverless=serverless),
        )

    def _directory(self, properties: Properties, key: str, value: str) -> Path:
        directory = (self.base / value).resolve()
        if not directory.exists():
            raise properties.error(key, f"{value} does not exist (looked for {directory})")
        if not directory.is_dir():
            raise properties.error(
                key, f"{value} is a file; lambdakit runs code from a directory (unpack it)"
            )
        return directory

    def _runtime(self, properties: Properties) -> str:
        runtime = to_string(properties.get("Runtime"))
        if not runtime:
            raise properties.error(
                "Runtime",
                "missing; a zip function needs one, e.g. provided.al2023 or python3.12 (or set "
                "PackageType: Image for an image function)",
            )
        if not runtime.startswith(("provided", "python3")):
            raise _Skip(f"lambdakit cannot run {runtime}; it runs provided.* and python3.x")
        # The emulator runs it on the CPython it names, and says which (interpreters.py).
        return runtime

    def _handler(self, properties: Properties, runtime: str) -> str | None:
        handler = to_string(properties.get("Handler"))
        if not handler and runtime.startswith("python"):
            raise properties.error("Handler", "missing; a Python function needs module.function")
        return handler or None

    def _environment(self, properties: Properties) -> dict[str, str]:
        environment = properties.get("Environment") or {}
        # `Variables:` with every entry commented out is null: no variables, not an error.
        variables = (environment.get("Variables") or {}) if isinstance(environment, dict) else None
        if not isinstance(variables, dict):
            raise properties.error("Environment", "must be a mapping with a Variables mapping")
        result = {}
        for key, value in variables.items():
            text = to_string(value)
            if text is None:
                raise properties.error(
                    f"Environment.Variables.{key}",
                    f"is a {type(value).__name__}; environment variables are strings",
                )
            result[str(key)] = text
        return check_variables(result, lambda m: properties.error("Environment.Variables", m))

    def _architectures(self, properties: Properties) -> tuple[str, ...]:
        value = properties.get("Architectures", ["x86_64"])
        if not isinstance(value, list) or len(value) != 1 or value[0] not in ARCHITECTURES:
            raise properties.error(
                "Architectures", f"{value!r}: give a list of one: [x86_64] or [arm64]"
            )
        return (value[0],)

    def _layers(self, properties: Properties) -> tuple[Path, ...]:
        value = properties.get("Layers", [])
        if not isinstance(value, list):
            raise properties.error("Layers", "must be a list of layer ARNs or directories")
        local = {self.resolver.layer_arn(k): k for k in self._resources_of(LAYER_TYPES)}
        layers = []
        for item in value:
            item = to_string(item)
            if item is None:
                raise properties.error("Layers", "must be a list of layer ARNs or directories")
            if item in local:
                layers += self._layer_resource(local[item])
            elif item.startswith("arn:"):
                self.resolver.warn(
                    f"{properties.logical_id}.Layers",
                    f"layer {item} cannot be fetched locally; skipped (list its directory instead)",
                )
            else:
                layers.append(self._directory(properties, "Layers", item))
        return tuple(layers)

    def _layer_resource(self, logical_id: str) -> list[Path]:
        resource = self.resolver.resources[logical_id]
        key = "ContentUri" if resource["Type"] == "AWS::Serverless::LayerVersion" else "Content"
        properties = Properties(
            logical_id, resource.get("Properties") or {}, self.resolver, self.path
        )
        content = properties.get(key)
        if isinstance(content, str) and not content.startswith("s3://"):
            directory = self._directory(properties, key, content)
            if _built_by_sam(resource.get("Metadata")):
                self._built_layers.add(directory)
            return [directory]
        self.resolver.warn(f"{logical_id}.{key}", "layer content is not a local directory; skipped")
        return []

    def _function_url(self, properties: Properties) -> UrlConfig | None:
        values = properties.get("FunctionUrlConfig")
        if values is None:
            return None
        if not isinstance(values, dict):
            raise properties.error("FunctionUrlConfig", "must be a mapping (AuthType...)")
        return _url_config(values, properties, "FunctionUrlConfig.")

    def _with_urls(self, specs: list[FunctionSpec]) -> list[FunctionSpec]:
        """Attach ``AWS::Lambda::Url`` resources to the functions they name."""
        targets = {self.resolver.function_arn(s.name): i for i, s in enumerate(specs)}
        targets |= {s.name: i for i, s in enumerate(specs)}
        for logical_id in self._resources_of(("AWS::Lambda::Url",)):
            resource = self.resolver.resources[logical_id]
            condition = resource.get("Condition")
            if isinstance(condition, str) and not self.resolver.condition(condition, logical_id):
                continue
            raw = resource.get("Properties") or {}
            properties = Properties(logical_id, raw, self.resolver, self.path)
            target = to_string(properties.get("TargetFunctionArn")) or ""
            index = targets.get(target)
            if index is None or specs[index].url is not None:
                why = "is not a function lambdakit runs" if index is None else "already has a URL"
                self.resolver.warn(f"{logical_id}.TargetFunctionArn", f"{target} {why}; ignored")
                continue
            keys = ("AuthType", "InvokeMode", "Cors")
            values = {key: properties.get(key) for key in keys if key in raw}
            specs[index] = dataclasses.replace(specs[index], url=_url_config(values, properties))
        return specs

    def _resources_of(self, types: tuple[str, ...]) -> list[str]:
        resources = self.resolver.resources.items()
        return [k for k, r in resources if isinstance(r, dict) and r.get("Type") in types]

    def _no_functions(self) -> TemplateError:
        if self._resources_of(FUNCTION_TYPES):
            reasons = "\n  ".join(self.resolver.warnings)
            return TemplateError(
                f"{self.path}: none of its functions can run locally:\n  {reasons}"
            )
        types = Counter(
            str(r.get("Type")) for r in self.resolver.resources.values() if isinstance(r, dict)
        )
        found = ", ".join(f"{t} ({n})" for t, n in types.items()) or "no resources at all"
        return TemplateError(
            f"{self.path}: no functions found: lambdakit runs resources of Type "
            f"AWS::Serverless::Function or AWS::Lambda::Function, and found {found}"
        )

    def _check_unique(self, specs: list[FunctionSpec]) -> None:
        seen: dict[str, str | None] = {}
        for spec in specs:
            if spec.name in seen:
                raise TemplateError(
                    f"{self.path}: {seen[spec.name]} and {spec.logical_id} are both named "
                    f"{spec.name!r}; give them different FunctionNames"
                )
            seen[spec.name] = spec.logical_id


def _url_config(values: Mapping[str, Any], properties: Properties, prefix: str = "") -> UrlConfig:
    """A URL from the properties of AWS::Lambda::Url (SAM's FunctionUrlConfig has the same)."""
    auth_type = values.get("AuthType")
    if auth_type not in ("NONE", "AWS_IAM"):
        raise properties.error(f"{prefix}AuthType", f"{auth_type!r}: use NONE or AWS_IAM")
    invoke_mode = values.get("InvokeMode", "BUFFERED")
    if invoke_mode not in ("BUFFERED", "RESPONSE_STREAM"):
        raise properties.error(
            f"{prefix}InvokeMode", f"{invoke_mode!r}: use BUFFERED or RESPONSE_STREAM"
        )
    cors = url_cors(values.get("Cors"), properties, prefix)
    return UrlConfig(auth_type=auth_type, invoke_mode=invoke_mode, cors=cors)


def _built_by_sam(metadata: object) -> bool:
    """Whether a layer's Metadata makes ``sam build`` install its requirements into its
    ``python/`` (``BuildMethod: python3.12`` and the like; building-layers.html of the SAM
    developer guide)."""
    method = metadata.get("BuildMethod") if isinstance(metadata, dict) else None
    return isinstance(method, str) and method.startswith("python")


def merge_globals(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge (the function wins), lists add up, else the function's.

    https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-specification-template-anatomy-globals.html
    """
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if is_intrinsic(global_value) or is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = merge_globals(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


def _ephemeral_storage(properties: Properties) -> int:
    """``EphemeralStorage: {Size: MB}``: 512 to 10,240 MB, 512 when absent (Lambda's
    default; https://docs.aws.amazon.com/lambda/latest/api/API_EphemeralStorage.html)."""
    value = properties.get("EphemeralStorage")
    if value is None:
        return 512
    if not isinstance(value, dict) or "Size" not in value:
        raise properties.error("EphemeralStorage", "must be a mapping with a Size in MB")
    storage = Properties(
        f"{properties.logical_id}.EphemeralStorage", value, properties.resolver, properties.source
    )
    return storage.integer("Size", 512, 10240, "MB") or 512
