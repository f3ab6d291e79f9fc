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

and, for ``deploy --stack`` (``sam deploy``'s keys, ``deploykeys.py`` for their forms):

    s3_bucket, s3_prefix  where the artifacts go
    capabilities          "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND" or a list
    tags                  "team=web stage=dev", a list of such strings, or a mapping
    role_arn              the role CloudFormation assumes
    notification_arns     SNS topic ARNs, space-separated or a list
    confirm_changeset     true: ask before executing the change set
    resolve_s3            true: lambdakit's own bucket (its default; not with s3_bucket)

Command-line flags win over the file. Other keys belong to SAM CLI commands or options
lambdakit does not have, and are left alone.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped,unused-ignore]

import lambdakit.template.deploykeys as deploykeys
from lambdakit.template.errors import TemplateError
from lambdakit.template.overrides import parse_parameter_overrides

__all__ = [
    "CONFIG_NAMES",
    "DEFAULT_ENV",
    "SECTIONS",
    "Command",
    "ProjectConfig",
    "StackConfig",
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
    stack: StackConfig | None = None
    """``deploy``'s keys for a stack (None for the other commands, or when there are none)."""


@dataclass(frozen=True, slots=True)
class StackConfig:
    """``sam deploy``'s keys for the stack; None (or empty) where the file sets none."""

    s3_bucket: str | None = None
    s3_prefix: str | None = None
    capabilities: tuple[str, ...] | None = None
    tags: dict[str, str] | None = None
    role_arn: str | None = None
    notification_arns: tuple[str, ...] | None = None
    confirm_changeset: bool | None = None
    resolve_s3: bool | None = None


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
        stack=_stack_keys(keys, where, source) if command == "deploy" else None,
    )


def _stack_keys(
    keys: Mapping[str, Any], where: Mapping[str, str], source: Path
) -> StackConfig | None:
    """The ``sam deploy`` keys of a deploy section, in the forms SAM CLI reads them; None
    when it has none."""

    def label(key: str) -> str:
        return f"{source}: {where.get(key, '')} {key}"

    def words(key: str) -> tuple[str, ...] | None:
        return deploykeys.space_separated(keys[key], label(key)) if key in keys else None

    tags = deploykeys.parse_tags(keys["tags"], label("tags")) if "tags" in keys else None
    stack = StackConfig(
        s3_bucket=deploykeys.string(keys.get("s3_bucket"), label("s3_bucket")),
        s3_prefix=deploykeys.string(keys.get("s3_prefix"), label("s3_prefix")),
        capabilities=words("capabilities"),
        tags=tags,
        role_arn=deploykeys.string(keys.get("role_arn"), label("role_arn")),
        notification_arns=words("notification_arns"),
        confirm_changeset=deploykeys.boolean(
            keys.get("confirm_changeset"), label("confirm_changeset")
        ),
        resolve_s3=deploykeys.boolean(keys.get("resolve_s3"), label("resolve_s3")),
    )
    return None if stack == StackConfig() else stack


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
