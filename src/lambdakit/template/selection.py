"""The user's whole selection in one call: which functions, from which template, with which
parameters and overrides.

Every command that works on a project's functions (serve, invoke, build, deploy) hands
``select`` what the user said (PATH, ``--function``, ``--parameter-overrides``,
``--config-env``/``--config-file``, the flags that override settings, an env file) and gets
the functions back, with the warnings to show and the samconfig values the command itself
needs (the region and profile of a deploy). The order is SAM CLI's:

    1. the samconfig file beside the template (``samconfig.py``), for the command's sections
    2. the template: PATH if it is a file, else samconfig's ``template_file``, else
       ``template.yaml`` (``.yml``, ``.json``) in PATH; or PATH as a function directory
    3. parameter overrides: the flag's if given, else samconfig's (the flag replaces them
       all, as in SAM CLI); ``stack_name`` and ``region`` feed ``AWS::StackName`` and
       ``AWS::Region`` unless an override names them
    4. the env file, then ``--function`` (FunctionName or logical id)
    5. ``--package`` and ``--layer-package``: the code and layers of what ``lambdakit build``
       made instead of the source (``packages.py``); then the flags
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdakit.template.apis import ApiSpec, apis_of
from lambdakit.template.envfiles import apply_env_file
from lambdakit.template.errors import TemplateError
from lambdakit.template.overrides import parse_parameter_overrides
from lambdakit.template.packages import apply_packages
from lambdakit.template.samconfig import Command, ProjectConfig, load_config
from lambdakit.template.sources import find_template, load_functions
from lambdakit.template.specs import Difference, FunctionSpec, TemplateResult

__all__ = ["Selected", "UnknownFunctionError", "select"]


class UnknownFunctionError(TemplateError):
    """``--function NAME`` names no function of the template (the message lists them)."""

    def __init__(self, name: str, path: Path, names: Sequence[str]) -> None:
        self.name, self.names = name, tuple(names)
        super().__init__(f"no function {name!r} in {path} (there are: {', '.join(names)})")


@dataclass(frozen=True, slots=True)
class Selected:
    """The functions chosen, in template order, and what came with them."""

    functions: list[FunctionSpec]
    warnings: list[str] = field(default_factory=list)
    template: Path | None = None
    """The template read; None for a function directory."""
    config: ProjectConfig = field(default_factory=ProjectConfig)
    """What samconfig said for this command (empty without a samconfig file)."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    """The parameter overrides the template was loaded with."""
    differences: list[Difference] = field(default_factory=list)
    """The properties not honoured locally (each is one of WARNINGS too)."""
    apis: list[ApiSpec] = field(default_factory=list)
    """The template's REST and HTTP APIs, with the routes to FUNCTIONS (``apis_of``)."""

    def other_warnings(self) -> list[str]:
        """WARNINGS but the differences: what matters to commands that do not run the
        functions here (``build``, ``deploy``)."""
        texts = [f": {d.function}.{d.property}: {d.local_behaviour}" for d in self.differences]
        return [w for w in self.warnings if not any(w.endswith(t) for t in texts)]


def select(
    path: Path,
    *,
    command: Command,
    function: str | None = None,
    parameter_overrides: Any = None,
    config_env: str | None = None,
    config_file: Path | None = None,
    region: str | None = None,
    handler: str | None = None,
    timeout: float | None = None,
    memory_size: int | None = None,
    environment: Mapping[str, str] | None = None,
    env_file: Path | None = None,
    package: Path | None = None,
    layer_packages: Sequence[Path] = (),
) -> Selected:
    """The functions at PATH as the user chose them for COMMAND (see the module docstring).

    PARAMETER_OVERRIDES is what ``--parameter-overrides`` gave (strings, each in SAM CLI's
    forms, or a mapping); None or empty when the flag was not used. REGION is a ``--region``
    flag. PACKAGE and LAYER_PACKAGES are ``--package`` (a zip or a build's directory) and
    ``--layer-package`` (zips, in Lambda's order). Raises TemplateError, UnknownFunctionError
    for a FUNCTION that is not there.
    """
    if not path.exists():
        raise TemplateError(
            f"{path} does not exist; give a template file, a directory with a template.yaml, or "
            "a directory with a function's code"
        )
    project = path if path.is_dir() else path.parent
    config = load_config(project, command=command, env=config_env, config_file=config_file)
    template = _template(path, project, config)
    flags = parse_parameter_overrides(parameter_overrides) if parameter_overrides else None
    warnings: list[str] = []
    if template is None:
        if config.parameter_overrides:
            warnings.append(f"{config.source}: parameter_overrides unused: {path} has no template")
        parameters = flags or {}
    else:
        parameters = _parameters(flags, config, region)
    result = load_functions(
        template or path,
        parameters=parameters,
        handler=handler if template is None else None,
    )
    if env_file is not None:
        result = apply_env_file(result, env_file)
    functions = _chosen(result, function, path)
    if package is not None:
        functions = apply_packages(
            functions, package, layer_packages, directory=template is None, warn=warnings.append
        )
    elif layer_packages:
        raise TemplateError("--layer-package goes with --package (the function's zip)")
    functions = [
        spec.with_overrides(
            handler=handler, timeout=timeout, memory_size=memory_size, environment=environment
        )
        for spec in functions
    ]
    # After the choice: a route to a function left out is one of the warnings. Only `serve`
    # serves APIs; the other commands need neither the reading nor its warnings.
    apis = None
    if template is not None and command == "serve":
        apis = apis_of(template, functions, parameters=parameters)
    return Selected(
        functions, [*warnings, *result.warnings, *(apis.warnings if apis else [])], template,
        config, parameters, result.differences, apis.apis if apis else [],
    )  # fmt: skip


def _template(path: Path, project: Path, config: ProjectConfig) -> Path | None:
    """PATH when it is a file; else samconfig's template_file; else the project's template."""
    if path.is_file() or config.template_file is None:
        return path if path.is_file() else find_template(path)
    template = project / config.template_file
    if not template.is_file():
        raise TemplateError(
            f"{config.source}: template_file {config.template_file!r}: {template} does not "
            "exist (a relative path is taken from the project directory)"
        )
    return template


def _parameters(
    flags: dict[str, str] | None, config: ProjectConfig, region: str | None
) -> dict[str, str]:
    """The flag's overrides, else samconfig's; then the stack name and region, unless named."""
    parameters = dict(config.parameter_overrides or {}) if flags is None else dict(flags)
    if config.stack_name:
        parameters.setdefault("AWS::StackName", config.stack_name)
    if region:  # a --region flag wins, as it does over samconfig's region
        parameters["AWS::Region"] = region
    elif config.region:
        parameters.setdefault("AWS::Region", config.region)
    return parameters


def _chosen(result: TemplateResult, function: str | None, path: Path) -> list[FunctionSpec]:
    if function is None:
        return result.functions
    chosen = [spec for spec in result.functions if function in (spec.name, spec.logical_id)]
    if not chosen:
        raise UnknownFunctionError(function, path, [spec.name for spec in result.functions])
    return chosen
