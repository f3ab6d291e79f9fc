"""The shapes of Lambda's API: CodeSha256, configuration fields, Function URL settings and the
statements of a public URL's policy. Pure functions of values."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lambdakit.project.deploy.values import Code
from lambdakit.project.errors import DeployError
from lambdakit.template import FunctionSpec

__all__ = [
    "CORS_KEYS",
    "PUBLIC_URL_STATEMENTS",
    "code_arguments",
    "code_sha256",
    "cors_arguments",
    "deployed_value",
    "describe_change",
    "granted",
    "handler_of",
    "layer_name",
    "read_zip",
    "same_url",
    "shown",
    "size_text",
]

# statement ids are those of the Lambda developer guide.
# https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html#urls-auth-none
PUBLIC_URL_STATEMENTS: dict[str, dict[str, Any]] = {
    "FunctionURLAllowPublicAccess": {
        "Principal": "*",
        "Action": "lambda:InvokeFunctionUrl",
        "FunctionUrlAuthType": "NONE",
    },
    "FunctionURLInvokeAllowPublicAccess": {
        "Principal": "*",
        "Action": "lambda:InvokeFunction",
        "InvokedViaFunctionUrl": True,
    },
}
# The condition key that makes each action's statement a Function URL one.
_CONDITION_KEYS = {
    "lambda:InvokeFunctionUrl": "lambda:FunctionUrlAuthType",
    "lambda:InvokeFunction": "lambda:InvokedViaFunctionUrl",
}
CORS_KEYS = (
    *("AllowCredentials", "AllowHeaders", "AllowMethods"),
    *("AllowOrigins", "ExposeHeaders", "MaxAge"),
)


def handler_of(spec: FunctionSpec) -> str:
    if spec.handler:
        return spec.handler
    return "app.handler" if (spec.code_dir / "app.py").is_file() else "bootstrap"


def code_sha256(data: bytes) -> str:
    """Lambda's CodeSha256: the base64 (not hex) SHA-256 of the zip."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def code_arguments(code: Code) -> dict[str, Any]:
    if code.image_uri is not None:
        return {"PackageType": "Image", "Code": {"ImageUri": code.image_uri}}
    return {"PackageType": "Zip", "Code": {"ZipFile": code.zip}}


def read_zip(path: Path) -> bytes:
    if not zipfile.is_zipfile(path):
        what = "does not exist" if not path.exists() else "is not a zip file"
        raise DeployError(f"{path} {what}; deploy needs the zip that `lambdakit build` makes")
    return path.read_bytes()


def shown(path: Path) -> str:
    """PATH as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def size_text(count: int) -> str:
    return f"{count / 1e6:.1f} MB" if count >= 100_000 else f"{count / 1e3:.1f} kB"


def layer_name(function: str, path: Path) -> str:
    """The zip's name (``hello-runtime-layer.zip``), with the function's name before it if it
    lacks one, in the characters a layer name may use."""
    stem = re.sub(r"\.zip$", "", path.name)
    name = stem if stem.startswith(f"{function}-") else f"{function}-{stem}"
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:140]


def deployed_value(configuration: Mapping[str, Any], key: str) -> Any:
    """The value of KEY in GetFunction's Configuration, in UpdateFunctionConfiguration's shape."""
    if key == "Environment":
        return {"Variables": (configuration.get("Environment") or {}).get("Variables") or {}}
    if key == "Layers":
        return [layer["Arn"] for layer in configuration.get("Layers") or []]
    return configuration.get(key)


def describe_change(key: str, configuration: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
    """``MemorySize 128 -> 256``; only the name for values that may be secret or long."""
    if key in ("Environment", "Layers", "Role"):
        return key
    return f"{key} {deployed_value(configuration, key)} -> {desired[key]}"


def cors_arguments(function: str, cors: Mapping[str, object] | None) -> dict[str, Any]:
    """The template's Cors in the API's shape (the same keys, with proper types)."""
    result: dict[str, Any] = {}
    for key, value in (cors or {}).items():
        if key not in CORS_KEYS:
            raise DeployError(
                f"{function}: FunctionUrlConfig.Cors.{key} is not a CORS setting of Function "
                f"URLs; use {', '.join(CORS_KEYS)}"
            )
        if key == "AllowCredentials":
            result[key] = value is True or str(value).lower() == "true"
        elif key == "MaxAge":
            result[key] = int(str(value))
        else:
            result[key] = [str(item) for item in value] if isinstance(value, list) else [str(value)]
    return result


def _normal_cors(cors: Mapping[str, Any] | None) -> dict[str, Any]:
    """CORS settings compared as Lambda treats them: unset equals empty, order is free."""
    normal: dict[str, Any] = {}
    for key, value in (cors or {}).items():
        if key in ("AllowHeaders", "ExposeHeaders"):
            value = sorted(item.lower() for item in value)
        elif key == "AllowMethods":
            value = sorted(item.upper() for item in value)
        elif isinstance(value, list):
            value = sorted(value)
        if value:
            normal[key] = value
    return normal


def same_url(current: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    return (
        current.get("AuthType") == desired["AuthType"]
        and str(current.get("InvokeMode", "BUFFERED")).upper() == desired["InvokeMode"]
        and _normal_cors(current.get("Cors")) == _normal_cors(desired["Cors"])
    )


def granted(statements: Sequence[Mapping[str, Any]], sid: str) -> bool:
    """Whether a statement with SID, or one granting the same public access, is present."""
    action = PUBLIC_URL_STATEMENTS[sid]["Action"]
    for statement in statements:
        if statement.get("Sid") == sid:
            return True
        principal = statement.get("Principal")
        public = principal == "*" or (isinstance(principal, dict) and principal.get("AWS") == "*")
        condition = json.dumps(statement.get("Condition") or {})
        if statement.get("Action") == action and public and _CONDITION_KEYS[action] in condition:
            return True
    return False
