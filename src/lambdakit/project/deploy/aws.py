"""boto3, imported on first use, and botocore's errors translated once into ``DeployError``
messages that say what to do."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from lambdakit.project.errors import DeployError

__all__ = [
    "Clients",
    "botocore_exceptions",
    "connect",
    "error_code",
    "error_message",
    "import_boto3",
    "translate",
    "translated",
]


def import_boto3() -> Any:
    try:
        return importlib.import_module("boto3")
    except ImportError as error:
        raise DeployError(
            "lambdakit deploy needs boto3, which is not installed: pip install 'lambdakit[deploy]'"
        ) from error


def botocore_exceptions() -> Any:
    import_boto3()
    return importlib.import_module("botocore.exceptions")


@dataclass(frozen=True, slots=True)
class Clients:
    """boto3 clients of one session: Lambda, and ECR to resolve image tags."""

    lambda_: Any
    ecr: Any = None


def connect(
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    ecr: bool = False,
) -> Clients:
    """boto3 clients for REGION and PROFILE (default: the environment's and ~/.aws's)."""
    boto3 = import_boto3()
    # botocore reads AWS_DEFAULT_REGION only; AWS_REGION (which the AWS CLI v2, the other
    # SDKs and Lambda itself set) goes first, as there.
    region = region or os.environ.get("AWS_REGION") or None
    with translated("", None):
        session = boto3.session.Session(profile_name=profile, region_name=region)
        return Clients(
            lambda_=session.client("lambda", endpoint_url=endpoint_url),
            ecr=session.client("ecr", endpoint_url=endpoint_url) if ecr else None,
        )


# ---------------------------------------------------------------------------------------------
# Errors: botocore's, translated once


def error_code(error: BaseException) -> str:
    """The AWS error code of a botocore ClientError ('' for anything else)."""
    return _error_field(error, "Code")


def error_message(error: BaseException) -> str:
    return _error_field(error, "Message")


def _error_field(error: BaseException, key: str) -> str:
    response = getattr(error, "response", None)
    return str(response.get("Error", {}).get(key, "")) if isinstance(response, dict) else ""


@contextlib.contextmanager
def translated(function: str, role: str | None) -> Iterator[None]:
    errors = botocore_exceptions()
    try:
        yield
    except (errors.BotoCoreError, errors.ClientError) as error:
        better = translate(error, function, role)
        if better is None:
            raise
        raise better from error


_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, pass "
    "--profile NAME (or set AWS_PROFILE) for a profile in ~/.aws, or run `aws configure` or "
    "`aws sso login`"
)
_REGION = (
    "no AWS region: pass --region (e.g. --region us-east-1), set AWS_REGION, or give your "
    "profile a region (`aws configure set region us-east-1`)"
)
_BAD_CREDENTIALS = (
    *("UnrecognizedClientException", "InvalidSignatureException"),
    *("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId"),
)
_TOO_LARGE = (
    "the deployment package is too large for Lambda (50 MB zipped when uploaded directly, "
    "250 MB unzipped including layers): move dependencies into a layer, or use the image "
    "route (`lambdakit image`, then `lambdakit deploy --image-uri URI`, up to 10 GB)"
)


def translate(error: Exception, function: str, role: str | None) -> DeployError | None:
    """ERROR as a DeployError that says what to do, or None to let it through."""
    kind = type(error).__name__
    where = f"{function}: " if function else ""
    if kind == "NoCredentialsError":
        return DeployError(_CREDENTIALS)
    if kind == "NoRegionError":
        return DeployError(_REGION)
    if kind == "ProfileNotFound":
        return DeployError(f"{error}: list your profiles with `aws configure list-profiles`")
    if kind == "WaiterError":
        last = getattr(error, "last_response", None) or {}
        reason = (last.get("Configuration") or {}).get("StateReason") or str(error)
        return DeployError(f"{where}the function did not become ready: {reason}")
    if kind in ("EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError"):
        return DeployError(f"cannot reach AWS: {error}; check the network and --endpoint-url")
    code = error_code(error)
    if not code:
        return None
    return DeployError(where + _client_error_message(code, error, role))


def _client_error_message(code: str, error: Exception, role: str | None) -> str:
    message = error_message(error)
    operation = getattr(error, "operation_name", "the call")
    if code in ("AccessDeniedException", "AccessDenied"):
        return (
            f"access denied to {operation}: {message}. The credentials in use need permission "
            "for lambda:GetFunction, CreateFunction, UpdateFunctionCode, "
            "UpdateFunctionConfiguration, PublishVersion, *FunctionUrlConfig, AddPermission, "
            "GetPolicy, PutFunctionConcurrency and iam:PassRole on the execution role"
        )
    if code in _BAD_CREDENTIALS:
        return f"AWS refused the credentials ({code}: {message}); renew them or use another profile"
    if code == "RequestEntityTooLargeException" or "Unzipped size must be" in message:
        return f"{_TOO_LARGE} ({message})"
    if code == "InvalidParameterValueException" and "role" in message.lower():
        return (
            f"the execution role {role or ''} cannot be used: {message}. Check that the role "
            "exists, that its trust policy lets lambda.amazonaws.com call sts:AssumeRole, and "
            "that your credentials may iam:PassRole it (a new role takes a few seconds to be "
            "usable)"
        )
    if code == "ResourceConflictException":
        return f"{message}; another update of the function is in progress: deploy again soon"
    return f"{operation} failed: {code}: {message}"
