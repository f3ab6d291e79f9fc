"""samconfig.toml / samconfig.yaml: SAM CLI's project configuration file, the keys lambdakit reads.

https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-config.html

The file sits beside the template (``--config-file`` names another, relative to that
directory); ``samconfig.toml`` is looked for first, then ``samconfig.yaml`` and
``samconfig.yml``. Its tables are ``[ENV.COMMAND.parameters]``, ENV chosen with ``--config-env``
(default ``default``); a command's keys are ``ENV.global``'s with its own section's laid over
them key by key, as SAM CLI's ``SamConfig.get_all`` merges them. lambdakit's commands read the
sections of the SAM CLI commands they stand for (``SECTIONS``) and these keys:

    parameter_overrides   a string, a list of strings or a mapping (``overrides.py``)
    stack_name            ``AWS::StackName`` when the template is loaded
    template_file         the template, relative to the project directory (or ``template``)
    region                ``AWS::Region`` locally; the region ``deploy`` deploys to
    profile               the AWS profile ``deploy`` uses

Command-line flags win over the file. Other keys (``capabilities``, ``s3_bucket``...) belong
to SAM CLI commands lambdakit does not have, and are left alone.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped,unused-ignore]

from lambdakit.template.errors import TemplateError
from lambdakit.template.overrides import parse_parameter_overrides

__all__ = [
    "CONFIG_NAMES",
    "DEFAULT_ENV",
    "SECTIONS",
    "Command",
    "ProjectConfig",
    "config_from_document",
    "find_config",
    "load_config",
    "read_config",
]

CONFIG_NAMES = ("samconfig.toml", "samconfig.yaml", "samconfig.yml")
DEFAULT_ENV = "default"

Command = Literal["serve", "invoke", "build", "deploy"]
SECTIONS: Mapping[Command, tuple[str, ...]] = {
    # `lambdakit serve` is `sam local start-api` and `sam local start-lambda` in one; the
    # latter (the Invoke API) is laid last, so it wins where both set a key.
    "serve": ("global", "local_start_api", "local_start_lambda"),
    "invoke": ("global", "local_invoke"),
    "build": ("global", "build"),
    "deploy": ("global", "deploy"),
}
"""The samconfig command sections each lambdakit command reads, later ones winning."""

_STRING_KEYS = ("stack_name", "template_file", "template", "region", "profile")


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    """What a samconfig file says for one command and environment (all None without one)."""

    source: Path | None = None
    """The file read."""
    parameter_overrides: dict[str, str] | None = None
    """None: the file sets none (unlike ``{}``, which clears them)."""
    stack_name: str | None = None
    template_file: str | None = None
    region: str | None = None
    profile: str | None = None


def find_config(directory: Path, config_file: Path | None = None) -> Path | None:
    """The samconfig file of the project in DIRECTORY, or CONFIG_FILE (relative to DIRECTORY,
    as SAM CLI resolves ``--config-file``), which must exist."""
    if config_file is not None:
        path = config_file if config_file.is_absolute() else directory / config_file
        if not path.is_file():
            raise TemplateError(
                f"--config-file {config_file}: {path} does not exist or is not a file; a "
                "relative path is taken from the project directory, as SAM CLI does"
            )
        return path
    return next((directory / n for n in CONFIG_NAMES if (directory / n).is_file()), None)


def load_config(
    directory: Path,
    *,
    command: Command,
    env: str | None = None,
    config_file: Path | None = None,
) -> ProjectConfig:
    """The samconfig keys for COMMAND in ENV (``default`` unless given) of the project in
    DIRECTORY; an empty ProjectConfig when there is no file."""
    path = find_config(directory, config_file)
    if path is None:
        if env not in (None, DEFAULT_ENV):
            raise TemplateError(
                f"--config-env {env}: {directory} has no {', '.join(CONFIG_NAMES)}; create one "
                "or give its path with --config-file"
            )
        return ProjectConfig()
    return config_from_document(read_config(path), command=command, env=env, source=path)


def read_config(path: Path) -> dict[str, Any]:
    """The document in PATH: TOML for ``.toml``, YAML for ``.yaml``/``.yml``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateError(f"cannot read {path}: {error}") from error
    if path.suffix == ".toml":
        document = _parse_toml(text, path)
    elif path.suffix in (".yaml", ".yml"):
        document = _parse_yaml(text, path)
    else:
        raise TemplateError(
            f"{path}: a samconfig file is TOML (.toml) or YAML (.yaml, .yml); rename it"
        )
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise TemplateError(f"{path}: a samconfig file is a mapping of environments to commands")
    return document


def config_from_document(
    document: Mapping[str, Any], *, command: Command, env: str | None, source: Path
) -> ProjectConfig:
    """The keys for COMMAND in ENV of a samconfig DOCUMENT (read from SOURCE). Sans-IO."""
    if document and (isinstance(document.get("version"), bool) or not isinstance(
        document.get("version"), (int, float)
    )):  # fmt: skip
        raise TemplateError(
            f"{source}: 'version' is missing or not a number; SAM CLI's configuration files "
            "begin with version = 0.1 (TOML) or version: 0.1 (YAML)"
        )
    name = env or DEFAULT_ENV
    environment = document.get(name)
    if environment is None:
        if env not in (None, DEFAULT_ENV):
            found = sorted(key for key, value in document.items() if isinstance(value, dict))
            raise TemplateError(
                f"--config-env {env}: {source} has no [{env}] environment (it has: "
                f"{', '.join(found) or 'none'})"
            )
        return ProjectConfig(source=source)
    if not isinstance(environment, dict):
        raise TemplateError(f"{source}: {name} must be a table of commands ([{name}.deploy]...)")
    keys, where = _merged(environment, command, name, source)
    for key in _STRING_KEYS:
        if key in keys and not isinstance(keys[key], str):
            raise TemplateError(f"{source}: {where[key]} {key} must be a string")
    overrides = None
    if "parameter_overrides" in keys:
        label = f"{source}: {where['parameter_overrides']} parameter_overrides"
        overrides = parse_parameter_overrides(keys["parameter_overrides"], label)
    return ProjectConfig(
        source=source,
        parameter_overrides=overrides,
        stack_name=keys.get("stack_name"),
        template_file=keys.get("template_file", keys.get("template")),
        region=keys.get("region"),
        profile=keys.get("profile"),
    )


def _merged(
    environment: Mapping[str, Any], command: Command, env: str, source: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """The keys of COMMAND's sections, later sections winning, and the section of each."""
    keys: dict[str, Any] = {}
    where: dict[str, str] = {}
    for section in SECTIONS[command]:
        table = environment.get(section)
        label = f"[{env}.{section}.parameters]"
        if table is not None and not isinstance(table, dict):
            raise TemplateError(f"{source}: [{env}.{section}] must be a table holding {label}")
        parameters = (table or {}).get("parameters")
        if parameters is None:
            continue
        if not isinstance(parameters, dict):
            raise TemplateError(f"{source}: {label} must be a table of keys and values")
        keys |= parameters
        where |= dict.fromkeys(parameters, label)
    return keys, where


def _parse_toml(text: str, path: Path) -> Any:
    toml = _toml_module(path)
    try:
        return toml.loads(text)
    except toml.TOMLDecodeError as error:
        raise TemplateError(f"{path}: not valid TOML: {error}; fix the file") from error


def _toml_module(path: Path) -> Any:
    """tomllib (Python 3.11+), else tomli, its backport (a dependency on 3.10)."""
    for name in ("tomllib", "tomli"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    version = "%d.%d" % sys.version_info[:2]
    raise TemplateError(
        f"{path}: reading TOML on Python {version} needs the tomli package (pip install tomli), "
        "or use Python 3.11+, or write the file as samconfig.yaml"
    )


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or error
        raise TemplateError(f"{path}{where}: not valid YAML: {problem}; fix the file") from error
