"""The SAM/CloudFormation template model, shared by the emulator and the project commands.

Loading (errors with file, line and column), intrinsic functions, parameters, and the
``FunctionSpec`` values they make: functions, their layers and URLs, with warnings for what is
not honoured locally. Standard library and PyYAML only; knows nothing of processes.

    errors.py      TemplateError
    values.py      resource types, ``AWS::NoValue``, ``to_string``
    reading.py     YAML/JSON with CloudFormation's tags -> dicts and lists
    parameters.py  parameter values and overrides, pseudo parameters
    intrinsics.py  ``Resolver``: !Ref, !Sub, !GetAtt, conditions, mappings...
    specs.py       FunctionSpec, UrlConfig, TemplateResult
    resources.py   ``load_template``: a template's functions, layers, URLs, Globals
    sources.py     ``load_functions``: a template, or a directory of code, plus flags
    envfiles.py    ``apply_env_file``: SAM's --env-vars JSON or a dotenv file
    overrides.py   ``parse_parameter_overrides``: SAM CLI's --parameter-overrides forms
    samconfig.py   ``load_config``: samconfig.toml / .yaml, per command and --config-env
    selection.py   ``select``: the user's whole selection (path, function, parameters...)
    apis.py        ``apis_of``: the template's REST and HTTP APIs (ApiSpec, RouteSpec...)
"""

from __future__ import annotations

from lambdakit.template.apis import (
    ApiSpec,
    ApisResult,
    AuthorizerSpec,
    CorsSpec,
    RouteSpec,
    apis_of,
)
from lambdakit.template.envfiles import apply_env_file, parse_env_file, parse_env_vars_json
from lambdakit.template.errors import TemplateError
from lambdakit.template.overrides import parse_parameter_overrides
from lambdakit.template.reading import read_template
from lambdakit.template.resources import load_template
from lambdakit.template.samconfig import CONFIG_NAMES, ProjectConfig, load_config
from lambdakit.template.selection import Selected, UnknownFunctionError, select
from lambdakit.template.sources import TEMPLATE_NAMES, function_from_directory, load_functions
from lambdakit.template.specs import FunctionSpec, TemplateResult, UrlConfig
from lambdakit.template.values import FUNCTION_TYPES, LAYER_TYPES

__all__ = [
    "CONFIG_NAMES",
    "FUNCTION_TYPES",
    "LAYER_TYPES",
    "TEMPLATE_NAMES",
    "ApiSpec",
    "ApisResult",
    "AuthorizerSpec",
    "CorsSpec",
    "FunctionSpec",
    "ProjectConfig",
    "RouteSpec",
    "Selected",
    "TemplateError",
    "TemplateResult",
    "UnknownFunctionError",
    "UrlConfig",
    "apis_of",
    "apply_env_file",
    "function_from_directory",
    "load_config",
    "load_functions",
    "load_template",
    "parse_env_file",
    "parse_env_vars_json",
    "parse_parameter_overrides",
    "read_template",
    "select",
]
