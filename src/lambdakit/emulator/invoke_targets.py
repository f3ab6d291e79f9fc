"""What an Invoke names, checked as Lambda checks it: the function (a name, ``name:qualifier``,
a partial or full ARN), the qualifier and the tenant id; and ``ServiceError``, the rest-json
error the Invoke API answers with when one is wrong.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from lambdakit.emulator._http import Response, json_response

if TYPE_CHECKING:
    from lambdakit.emulator.scheduler import FunctionPool

__all__ = [
    "FunctionRef",
    "ServiceError",
    "Target",
    "check_qualifier",
    "check_tenant",
    "parse_function_name",
    "validation_error",
]


class ServiceError(Exception):
    """An Invoke API error: HTTP status, botocore error code and its JSON members."""

    def __init__(self, status: int, code: str, message: str, **members: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.members = members

    def response(self, request_id: str) -> Response:
        # botocore's models spell the message member "Message" for some errors, "message" for
        # most; both parse, the modelled spelling keeps e.response['Error'] identical to AWS.
        key = (
            "Message"
            if self.code in ("ResourceNotFoundException", "ServiceException")
            else "message"
        )
        document = {"Type": "User" if self.status < 500 else "Service", key: self.message}
        document.update(self.members)
        headers = [("x-amzn-ErrorType", self.code), ("x-amzn-RequestId", request_id)]
        if self.code == "TooManyRequestsException":
            headers.append(("Retry-After", "1"))
        return json_response(self.status, document, headers)


@dataclasses.dataclass(frozen=True)
class Target:
    """What an Invoke names: the function, the qualifier as given, the version that runs."""

    pool: FunctionPool
    qualifier: str | None
    version: str


def check_tenant(pool: FunctionPool, tenant_id: str | None) -> None:
    """A function with tenant isolation needs a tenant id; one without refuses it. The
    messages are Lambda's (tenant-isolation-invoke.html; the second as SAM CLI words it)."""
    if tenant_id is not None and (
        len(tenant_id) > _TENANT_ID_LIMIT or _TENANT_ID.fullmatch(tenant_id) is None
    ):
        raise validation_error(tenant_id, "tenantId", _TENANT_ID_PATTERN)
    if pool.spec.per_tenant and not tenant_id:
        raise ServiceError(
            400, "InvalidParameterValueException",
            "The invoked function is enabled with tenancy configuration. Add a valid tenant "
            "ID in your request and try again.",
        )  # fmt: skip
    if tenant_id and not pool.spec.per_tenant:
        raise ServiceError(
            400, "InvalidParameterValueException",
            "The invoked function is not enabled with tenancy configuration. Remove the "
            "tenant ID from your request and try again.",
        )  # fmt: skip


# botocore's Lambda model: the pattern of NamespacedFunctionName (Invoke's FunctionName) and of
# its Qualifier. Lambda validates both and answers 400 ValidationException otherwise.
_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
_FUNCTION_NAME = re.compile(_NAME_PATTERN)
# Its groups: 2 the partition, 3 "region:", 9 "account:", 11 the name, 13 the qualifier.
_PARTITION, _REGION, _ACCOUNT, _NAME, _QUALIFIER_GROUP = 2, 3, 9, 11, 13
_QUALIFIER_PATTERN = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
_QUALIFIER = re.compile(_QUALIFIER_PATTERN)
_NAME_LIMIT = 256  # characters of FunctionName (botocore's model)
_TENANT_ID_PATTERN = r"[a-zA-Z0-9\._:\/=+\-@ ]+"  # TenantId's (botocore's model)
_TENANT_ID = re.compile(_TENANT_ID_PATTERN)
_TENANT_ID_LIMIT = 256


@dataclasses.dataclass(frozen=True)
class FunctionRef:
    """A FunctionName as Invoke accepts it, in its parts."""

    name: str
    qualifier: str | None = None
    region: str | None = None
    account: str | None = None
    partition: str | None = None

    def arn(self) -> str:
        """The ARN this names (what is not given is left empty)."""
        arn = (
            f"arn:{self.partition or 'aws'}:lambda:{self.region or ''}:{self.account or ''}"
            f":function:{self.name}"
        )
        return f"{arn}:{self.qualifier}" if self.qualifier else arn


def parse_function_name(given: str) -> FunctionRef:
    """``name``, ``name:qualifier``, ``123456789012:function:name[:q]`` or a full ARN, in its
    parts; raises the ServiceError Lambda answers for a name that does not fit the pattern."""
    match = _FUNCTION_NAME.fullmatch(given) if len(given) <= _NAME_LIMIT else None
    if match is None:
        raise validation_error(given, "functionName", _NAME_PATTERN)
    region, account = match[_REGION], match[_ACCOUNT]
    return FunctionRef(
        name=match[_NAME],
        qualifier=match[_QUALIFIER_GROUP],
        region=region[:-1] if region else None,  # without the ":" that ends it
        account=account[:-1] if account else None,
        partition=match[_PARTITION],
    )


def check_qualifier(qualifier: str) -> None:
    if not 1 <= len(qualifier) <= 128 or _QUALIFIER.fullmatch(qualifier) is None:
        raise validation_error(qualifier, "qualifier", _QUALIFIER_PATTERN)


def validation_error(value: str, member: str, pattern: str) -> ServiceError:
    # The wording of AWS's request validation (the "1 validation error detected" family).
    constraint = (
        "Member must have length greater than or equal to 1"
        if not value
        else f"Member must satisfy regular expression pattern: {pattern}"
    )
    return ServiceError(
        400,
        "ValidationException",
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}",
    )
