"""What the emulator runs: ``FunctionSpec`` values from a SAM template, a directory or flags.

Three sources, one value:

- ``load_template``: a SAM/CloudFormation template (YAML with ``!Ref``-style tags, or JSON).
  Resources of Type ``AWS::Serverless::Function`` and ``AWS::Lambda::Function`` become
  functions, ``AWS::Lambda::Url`` resources their URLs; ``Globals.Function``, Parameters,
  Conditions and Mappings apply as they would on deploy. What cannot run or be known locally
  (image functions, code in S3, ``!ImportValue``...) is a warning, not an error.
- ``function_from_directory``: a directory with a ``bootstrap`` (a custom runtime) or Python
  code (run by lambdakit's runtime).
- ``load_functions``: either of the above, chosen by what PATH is, plus flag overrides.

``apply_env_file`` then lays an environment file over the result: SAM CLI's ``--env-vars``
JSON shape or a dotenv file. Mistakes the user can make raise ``FunctionConfigError`` with
the file, the resource and property, and what to do.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lambdakit.emulator._intrinsics import (
    FUNCTION_TYPES,
    LAYER_TYPES,
    NO_VALUE,
    Resolver,
    is_intrinsic,
    read_template,
    to_string,
)
from lambdakit.emulator.errors import FunctionConfigError

__all__ = [
    "FunctionSpec",
    "TemplateResult",
    "UrlConfig",
    "apply_env_file",
    "function_from_directory",
    "load_functions",
    "load_template",
    "parse_env_file",
    "parse_env_vars_json",
]

# Lambda's limits (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_TIMEOUT = 900
MIN_MEMORY, MAX_MEMORY = 128, 10240
ARCHITECTURES = ("x86_64", "arm64")
TEMPLATE_NAMES = ("template.yaml", "template.yml", "template.json")


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlConfig:
    """A function URL: SAM's ``FunctionUrlConfig`` or an ``AWS::Lambda::Url`` resource."""

    auth_type: Literal["NONE", "AWS_IAM"] = "NONE"
    invoke_mode: Literal["BUFFERED", "RESPONSE_STREAM"] = "BUFFERED"
    cors: Mapping[str, object] | None = field(default=None, hash=False)
    """CloudFormation's shape: AllowOrigins, AllowMethods, AllowHeaders, MaxAge..."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionSpec:
    """One function the emulator can run. Hashable (the environment takes no part)."""

    name: str
    """FunctionName if the template gives it as a plain string, else the logical id."""
    code_dir: Path
    """Absolute; what Lambda extracts to /var/task."""
    runtime: str
    """``provided.al2023``, ``provided.al2``, ``python3.12``..."""
    handler: str | None = None
    """The Handler setting; optional for ``provided.*`` runtimes."""
    timeout: float = 3.0
    """Seconds. Lambda takes whole seconds 1..900; fractions are allowed here for tests."""
    memory_size: int = 128
    environment: Mapping[str, str] = field(default_factory=dict, hash=False)
    architectures: tuple[str, ...] = ("x86_64",)
    layers: tuple[Path, ...] = ()
    """Local layer directories, absolute, in the order Lambda extracts them to /opt."""
    url: UrlConfig | None = None
    reserved_concurrency: int | None = None
    logical_id: str | None = None
    image: str | None = None
    """An OCI image to run instead of the code (``lambdakit image`` builds one): its ENTRYPOINT
    and CMD are the bootstrap and the handler. CODE_DIR and the runtime then only name it."""

    def __post_init__(self) -> None:
        if not 0 < self.timeout <= MAX_TIMEOUT:
            raise FunctionConfigError(
                f"function {self.name!r}: timeout {self.timeout:g} s is out of range; "
                f"Lambda allows 1 to {MAX_TIMEOUT} seconds"
            )
        if not MIN_MEMORY <= self.memory_size <= MAX_MEMORY:
            raise FunctionConfigError(
                f"function {self.name!r}: memory size {self.memory_size} MB is out of range; "
                f"Lambda allows {MIN_MEMORY} to {MAX_MEMORY} MB"
            )
        # Normalise, so that a spec never shares a mutable dict with its caller.
        object.__setattr__(self, "timeout", float(self.timeout))
        object.__setattr__(self, "code_dir", Path(self.code_dir).absolute())
        object.__setattr__(self, "environment", dict(self.environment))
        object.__setattr__(self, "architectures", tuple(self.architectures))
        object.__setattr__(self, "layers", tuple(Path(p).absolute() for p in self.layers))

    @property
    def is_python(self) -> bool:
        return self.runtime.startswith("python")

    def command(self, python: str = sys.executable) -> list[str]:
        """The argv of one execution environment's process.

        ``provided.*``: the ``bootstrap`` of the code, else of the last layer that has one
        (Lambda runs /var/task/bootstrap, else /opt/bootstrap:
        https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html).
        ``python3.x``: lambdakit's runtime in PYTHON, the managed runtime's equivalent.
        """
        if self.runtime.startswith("provided"):
            return [str(self._bootstrap())]
        if not self.is_python:
            raise FunctionConfigError(
                f"function {self.name!r}: lambdakit cannot run the {self.runtime} runtime; it "
                "runs provided.* (any bootstrap) and python3.x functions"
            )
        if not self.handler:
            raise FunctionConfigError(
                f"function {self.name!r}: a {self.runtime} function needs a handler "
                "(module.function, e.g. app.handler)"
            )
        return [python, "-m", "lambdakit.runtime", self.handler]

    def _bootstrap(self) -> Path:
        candidates = [self.code_dir / "bootstrap"]
        candidates += [layer / "bootstrap" for layer in reversed(self.layers)]
        for bootstrap in candidates:
            if not bootstrap.is_file():
                continue
            if not os.access(bootstrap, os.X_OK):
                raise FunctionConfigError(
                    f"function {self.name!r}: {bootstrap} is not executable; "
                    f"run `chmod +x {bootstrap}`"
                )
            return bootstrap
        raise FunctionConfigError(
            f"function {self.name!r}: a {self.runtime} function starts the executable file "
            f"`bootstrap`, and there is none in {self.code_dir} or its layers; create one "
            "(`lambdakit init` writes one) or use a python3.x runtime"
        )

    def with_overrides(
        self,
        *,
        handler: str | None = None,
        timeout: float | None = None,
        memory_size: int | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> FunctionSpec:
        """A copy with the given settings replaced; ENVIRONMENT is merged over the current."""
        return dataclasses.replace(
            self,
            handler=self.handler if handler is None else handler,
            timeout=self.timeout if timeout is None else timeout,
            memory_size=self.memory_size if memory_size is None else memory_size,
            environment={**self.environment, **(environment or {})},
        )


@dataclass(frozen=True, slots=True)
class TemplateResult:
    """The functions found, in template order, and what the user should know about them."""

    functions: list[FunctionSpec]
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# A directory, or whatever PATH is


def _python_runtime() -> str:
    return "python%d.%d" % sys.version_info[:2]


def function_from_directory(
    path: Path,
    *,
    name: str | None = None,
    handler: str | None = None,
    runtime: str | None = None,
    timeout: float = 3.0,
    memory_size: int = 128,
    environment: Mapping[str, str] | None = None,
) -> FunctionSpec:
    """One function from a code directory.

    With a file named ``bootstrap`` the runtime is ``provided.al2023`` (``command()`` insists
    that it is executable); otherwise the code is Python, run by lambdakit's runtime on this
    interpreter (runtime ``python3.X``), handler ``app.handler`` unless given. The name
    defaults to the directory's.
    """
    directory = path.resolve()
    if not directory.is_dir():
        what = "does not exist" if not directory.exists() else "is not a directory"
        raise FunctionConfigError(f"{path} {what}; give the directory with the function's code")
    if runtime is None:
        runtime = "provided.al2023" if (directory / "bootstrap").is_file() else _python_runtime()
    if handler is None and runtime.startswith("python"):
        handler = "app.handler"
        if not (directory / "app.py").is_file():
            raise FunctionConfigError(
                f"{path} has neither a `bootstrap` (a custom runtime's entry point) nor app.py "
                "(Python's default handler app.handler); add one, give a handler "
                "(module.function), or point at a template.yaml"
            )
    return FunctionSpec(
        name=name or directory.name,
        code_dir=directory,
        runtime=runtime,
        handler=handler,
        timeout=timeout,
        memory_size=memory_size,
        environment=environment or {},
    )


def load_functions(
    path: Path,
    *,
    parameters: Mapping[str, str] | None = None,
    name: str | None = None,
    handler: str | None = None,
    runtime: str | None = None,
    timeout: float | None = None,
    memory_size: int | None = None,
    environment: Mapping[str, str] | None = None,
) -> TemplateResult:
    """The functions at PATH: a template file, a directory holding ``template.yaml`` (or
    ``.yml``/``.json``), or a function directory.

    TIMEOUT, MEMORY_SIZE and ENVIRONMENT (merged) apply to every function; NAME, HANDLER and
    RUNTIME only to a function directory (a template sets them per function); PARAMETERS only
    to a template.
    """
    if not path.exists():
        raise FunctionConfigError(
            f"{path} does not exist; give a template file, a directory with a template.yaml, or "
            "a directory with a function's code"
        )
    template = path if path.is_file() else _find_template(path)
    if template is None:
        if parameters:
            raise FunctionConfigError(f"{path} has no template.yaml, so parameters do not apply")
        spec = function_from_directory(
            path,
            name=name,
            handler=handler,
            runtime=runtime,
            timeout=3.0 if timeout is None else timeout,
            memory_size=128 if memory_size is None else memory_size,
            environment=environment,
        )
        return TemplateResult([spec])
    for flag, value in (("name", name), ("handler", handler), ("runtime", runtime)):
        if value is not None:
            raise FunctionConfigError(
                f"a {flag} applies to a function directory; {template} sets it for each "
                "function (edit the template instead)"
            )
    result = load_template(template, parameters=parameters)
    functions = [
        spec.with_overrides(timeout=timeout, memory_size=memory_size, environment=environment)
        for spec in result.functions
    ]
    return TemplateResult(functions, result.warnings)


def _find_template(directory: Path) -> Path | None:
    return next((directory / n for n in TEMPLATE_NAMES if (directory / n).is_file()), None)


# ---------------------------------------------------------------------------------------------
# Templates


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
    functions = _TemplateReader(path, template, resolver).functions()
    return TemplateResult(functions, resolver.warnings)


class _Skip(Exception):
    """A function that cannot run locally; the message becomes a warning."""


@dataclass(frozen=True, slots=True)
class _Properties:
    """One resource's Properties, resolved one at a time, so that properties lambdakit does not
    use (Events, Policies) cannot produce warnings."""

    logical_id: str
    raw: Mapping[str, Any]
    resolver: Resolver
    source: Path

    def get(self, key: str, default: Any = None) -> Any:
        value = self.resolver.resolve(self.raw.get(key, default), f"{self.logical_id}.{key}")
        return default if value is NO_VALUE else value

    def error(self, key: str, message: str) -> FunctionConfigError:
        return FunctionConfigError(f"{self.source}: {self.logical_id}.{key}: {message}")

    def integer(self, key: str, low: int, high: int, unit: str) -> int | None:
        """The whole number at KEY within LOW..HIGH, or None if the property is absent."""
        value = self.get(key)
        if value is None:
            return None
        text = to_string(value)
        if text is None or not re.fullmatch(r"\s*\d+\s*", text):
            raise self.error(key, f"{value!r} is not a whole number of {unit}")
        if not low <= int(text) <= high:
            raise self.error(
                key, f"{int(text)} is out of range; Lambda allows {low} to {high} {unit}"
            )
        return int(text)


class _TemplateReader:
    def __init__(self, path: Path, template: Mapping[str, Any], resolver: Resolver) -> None:
        self.path = path
        self.base = path.absolute().parent
        self.resolver = resolver
        globals_ = template.get("Globals") or {}
        function_globals = globals_.get("Function") if isinstance(globals_, dict) else None
        self.globals: Mapping[str, Any] = function_globals or {}
        self._python_warned: set[str] = set()

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
        self._check_unique(specs)
        return specs

    def _function(self, logical_id: str, resource: Mapping[str, Any]) -> FunctionSpec:
        condition = resource.get("Condition")
        if isinstance(condition, str) and not self.resolver.condition(condition, logical_id):
            raise _Skip(f"its Condition {condition} is false")
        raw = resource.get("Properties") or {}
        if not isinstance(raw, dict):
            raise FunctionConfigError(f"{self.path}: {logical_id}.Properties must be a mapping")
        serverless = resource["Type"] == "AWS::Serverless::Function"
        properties = _Properties(
            logical_id, _merge(self.globals, raw) if serverless else raw, self.resolver, self.path
        )
        if properties.get("PackageType") == "Image":
            raise _Skip("an image function (PackageType: Image); image functions need --image")
        code_key = "CodeUri" if serverless else "Code"
        code_dir = self._code_dir(properties, code_key, resource.get("Metadata"))
        runtime = self._runtime(properties)
        return FunctionSpec(
            name=self.resolver.function_name(logical_id),
            code_dir=code_dir,
            runtime=runtime,
            handler=self._handler(properties, runtime),
            # Lambda's defaults: 3 seconds, 128 MB.
            timeout=properties.integer("Timeout", 1, MAX_TIMEOUT, "seconds") or 3,
            memory_size=properties.integer("MemorySize", MIN_MEMORY, MAX_MEMORY, "MB") or 128,
            environment=self._environment(properties),
            architectures=self._architectures(properties),
            layers=self._layers(properties),
            url=self._function_url(properties) if serverless else None,
            reserved_concurrency=properties.integer(
                "ReservedConcurrentExecutions", 0, sys.maxsize, "executions"
            ),
            logical_id=logical_id,
        )

    def _code_dir(self, properties: _Properties, key: str, metadata: object) -> Path:
        code = properties.raw.get(key)
        if "InlineCode" in properties.raw or (isinstance(code, dict) and "ZipFile" in code):
            raise _Skip(f"inline code; lambdakit runs code from a directory (set {key} to one)")
        # CDK's synthesized templates name the local asset in Metadata; SAM CLI reads it too.
        if isinstance(metadata, dict) and metadata.get("aws:asset:property") == key:
            asset = to_string(metadata.get("aws:asset:path"))
            if asset:
                return self._directory(properties, key, asset)
        # Without CodeUri (or Code), SAM CLI runs the function from the template's directory.
        value = properties.get(key, ".")
        if isinstance(value, dict) or str(value).startswith("s3://"):
            raise _Skip(
                f"its {key} is in S3; lambdakit runs code from a local directory (point {key} "
                "at the function's source directory)"
            )
        return self._directory(properties, key, str(value))

    def _directory(self, properties: _Properties, key: str, value: str) -> Path:
        directory = (self.base / value).resolve()
        if not directory.exists():
            raise properties.error(key, f"{value} does not exist (looked for {directory})")
        if not directory.is_dir():
            raise properties.error(
                key, f"{value} is a file; lambdakit runs code from a directory (unpack it)"
            )
        return directory

    def _runtime(self, properties: _Properties) -> str:
        runtime = to_string(properties.get("Runtime"))
        if not runtime:
            raise properties.error(
                "Runtime",
                "missing; a zip function needs one, e.g. provided.al2023 or python3.12 (or set "
                "PackageType: Image for an image function)",
            )
        if not runtime.startswith(("provided", "python3")):
            raise _Skip(f"lambdakit cannot run {runtime}; it runs provided.* and python3.x")
        local = _python_runtime()
        if runtime.startswith("python") and runtime != local and runtime not in self._python_warned:
            self._python_warned.add(runtime)
            self.resolver.warn(
                properties.logical_id,
                f"Runtime {runtime}: lambdakit runs Python functions on this interpreter, "
                f"Python {local[6:]}",
            )
        return runtime

    def _handler(self, properties: _Properties, runtime: str) -> str | None:
        handler = to_string(properties.get("Handler"))
        if not handler and runtime.startswith("python"):
            raise properties.error("Handler", "missing; a Python function needs module.function")
        return handler or None

    def _environment(self, properties: _Properties) -> dict[str, str]:
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
        return result

    def _architectures(self, properties: _Properties) -> tuple[str, ...]:
        value = properties.get("Architectures", ["x86_64"])
        if not isinstance(value, list) or len(value) != 1 or value[0] not in ARCHITECTURES:
            raise properties.error(
                "Architectures", f"{value!r}: give a list of one: [x86_64] or [arm64]"
            )
        return (value[0],)

    def _layers(self, properties: _Properties) -> tuple[Path, ...]:
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
        properties = _Properties(
            logical_id, resource.get("Properties") or {}, self.resolver, self.path
        )
        content = properties.get(key)
        if isinstance(content, str) and not content.startswith("s3://"):
            return [self._directory(properties, key, content)]
        self.resolver.warn(f"{logical_id}.{key}", "layer content is not a local directory; skipped")
        return []

    def _function_url(self, properties: _Properties) -> UrlConfig | None:
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
            properties = _Properties(logical_id, raw, self.resolver, self.path)
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

    def _no_functions(self) -> FunctionConfigError:
        if self._resources_of(FUNCTION_TYPES):
            reasons = "\n  ".join(self.resolver.warnings)
            return FunctionConfigError(
                f"{self.path}: none of its functions can run locally:\n  {reasons}"
            )
        types = Counter(
            str(r.get("Type")) for r in self.resolver.resources.values() if isinstance(r, dict)
        )
        found = ", ".join(f"{t} ({n})" for t, n in types.items()) or "no resources at all"
        return FunctionConfigError(
            f"{self.path}: no functions found: lambdakit runs resources of Type "
            f"AWS::Serverless::Function or AWS::Lambda::Function, and found {found}"
        )

    def _check_unique(self, specs: list[FunctionSpec]) -> None:
        seen: dict[str, str | None] = {}
        for spec in specs:
            if spec.name in seen:
                raise FunctionConfigError(
                    f"{self.path}: {seen[spec.name]} and {spec.logical_id} are both named "
                    f"{spec.name!r}; give them different FunctionNames"
                )
            seen[spec.name] = spec.logical_id


def _url_config(values: Mapping[str, Any], properties: _Properties, prefix: str = "") -> UrlConfig:
    """A URL from the properties of AWS::Lambda::Url (SAM's FunctionUrlConfig has the same)."""
    auth_type = values.get("AuthType")
    if auth_type not in ("NONE", "AWS_IAM"):
        raise properties.error(f"{prefix}AuthType", f"{auth_type!r}: use NONE or AWS_IAM")
    invoke_mode = values.get("InvokeMode", "BUFFERED")
    if invoke_mode not in ("BUFFERED", "RESPONSE_STREAM"):
        raise properties.error(
            f"{prefix}InvokeMode", f"{invoke_mode!r}: use BUFFERED or RESPONSE_STREAM"
        )
    cors = values.get("Cors")
    if cors is not None and not isinstance(cors, dict):
        raise properties.error(f"{prefix}Cors", "must be a mapping (AllowOrigins...)")
    return UrlConfig(auth_type=auth_type, invoke_mode=invoke_mode, cors=cors)


def _merge(global_value: Any, local_value: Any) -> Any:
    """SAM's Globals rules: maps merge (the function wins), lists add up, else the function's.

    https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-specification-template-anatomy-globals.html
    """
    if isinstance(global_value, dict) and isinstance(local_value, dict):
        if is_intrinsic(global_value) or is_intrinsic(local_value):
            return local_value
        merged = dict(global_value)
        for key, value in local_value.items():
            merged[key] = _merge(global_value[key], value) if key in global_value else value
        return merged
    if isinstance(global_value, list) and isinstance(local_value, list):
        return global_value + local_value
    return local_value


# ---------------------------------------------------------------------------------------------
# Environment files


def apply_env_file(result: TemplateResult, path: Path) -> TemplateResult:
    """RESULT with the variables of an environment file merged over each function's.

    A file ending in ``.json`` or starting with ``{`` is SAM CLI's ``--env-vars`` shape (see
    ``parse_env_vars_json``); anything else is a dotenv file applied to every function (see
    ``parse_env_file``). Unlike SAM CLI, which only overrides variables the template declares,
    every variable in the file is set: SAM's rule surprises its users again and again
    (aws-sam-cli #1553, #6145, #8046).
    """
    text = _read_text(path)
    if path.suffix != ".json" and not text.lstrip().startswith("{"):
        variables = parse_env_file(path)
        return TemplateResult(
            [spec.with_overrides(environment=variables) for spec in result.functions],
            result.warnings,
        )
    by_target = parse_env_vars_json(path)
    common = by_target.pop("Parameters", {})
    functions = [
        spec.with_overrides(
            environment={
                **common,
                **by_target.get(spec.logical_id or spec.name, {}),
                **by_target.get(spec.name, {}),
            }
        )
        for spec in result.functions
    ]
    known = {spec.name for spec in functions} | {spec.logical_id for spec in functions}
    unused = [
        f"{path}: {target!r} matches no function (by logical id or FunctionName); its "
        "variables are not used"
        for target in by_target
        if target not in known
    ]
    return TemplateResult(functions, [*result.warnings, *unused])


def parse_env_vars_json(path: Path) -> dict[str, dict[str, str]]:
    """SAM CLI's ``--env-vars`` file: ``{"Parameters": {...}, "HelloFunction": {...}}``.

    Returns the mapping as it is: the ``Parameters`` key holds variables for every function,
    other keys a function's logical id or FunctionName. Numbers keep the text they were
    written with, booleans become ``true``/``false``.
    https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-using-invoke.html#serverless-sam-cli-using-invoke-environment-file
    """
    try:
        data = json.loads(_read_text(path), parse_int=str, parse_float=str)
    except json.JSONDecodeError as exc:
        raise FunctionConfigError(
            f"{path}:{exc.lineno}:{exc.colno}: JSON error: {exc.msg}"
        ) from exc
    if not isinstance(data, dict):
        raise FunctionConfigError(f"{path}: expected a JSON object of functions")
    return {str(target): _env_vars_of(path, str(target), values) for target, values in data.items()}


def _env_vars_of(path: Path, target: str, values: object) -> dict[str, str]:
    if not isinstance(values, dict):
        raise FunctionConfigError(
            f"{path}: {target!r} must map to an object of variables, as in SAM CLI's env.json: "
            f'{{"{target}": {{"NAME": "value"}}}}; for a flat NAME=value list use a .env file'
        )
    variables = {}
    for name, value in values.items():
        text = to_string(value)
        if text is None:
            raise FunctionConfigError(
                f"{path}: {target}.{name}: must be a string, not a list or object"
            )
        variables[str(name)] = text
    return variables


_DOTENV_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)")
_DOTENV_ESCAPES = {"n": "\n", "r": "\r", "t": "\t"}


def parse_env_file(path: Path) -> dict[str, str]:
    """Variables of a dotenv-style file, as Docker Compose and python-dotenv read them.

    ``NAME=value`` lines; blank lines and ``#`` comments are skipped; ``export `` before the
    name is allowed; ``'single'`` quotes keep the text as it is, ``"double"`` quotes read
    ``\\n``, ``\\t``, ``\\"`` and ``\\\\``; an unquoted value ends at `` #``. A value spans one
    line, and ``${OTHER}`` is not expanded. A later line wins over an earlier one.
    """
    variables = {}
    for number, line in enumerate(_read_text(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _DOTENV_LINE.fullmatch(line)
        if match is None:
            raise FunctionConfigError(
                f"{path}:{number}: expected NAME=value (or a # comment), found {line.strip()!r}"
            )
        variables[match[1]] = _dotenv_value(match[2].strip(), f"{path}:{number}")
    return variables


def _dotenv_value(raw: str, where: str) -> str:
    if not raw.startswith(("'", '"')):
        return re.split(r"\s#", raw, maxsplit=1)[0].rstrip()
    quote = raw[0]
    end = _closing_quote(raw, quote)
    if end < 0:
        raise FunctionConfigError(f"{where}: the {quote} quote is not closed on this line")
    if raw[end + 1 :].strip() and not raw[end + 1 :].strip().startswith("#"):
        raise FunctionConfigError(f"{where}: unexpected text after the closing {quote} quote")
    body = raw[1:end]
    if quote == "'":
        return body
    return re.sub(r"\\(.)", lambda m: _DOTENV_ESCAPES.get(m[1], m[1]), body)


def _closing_quote(raw: str, quote: str) -> int:
    index = 1
    while index < len(raw):
        if raw[index] == "\\" and quote == '"':
            index += 2
        elif raw[index] == quote:
            return index
        else:
            index += 1
    return -1


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FunctionConfigError(f"cannot read {path}: {exc}") from exc
