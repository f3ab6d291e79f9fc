"""What a Lambda authorizer answered, read and judged as API Gateway does. Pure functions.

Sources:

- [doc] https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-
  authorizer-output.html: the output is ``principalId``, a ``policyDocument`` whose
  ``Statement`` list allows or denies ``execute-api:Invoke`` on method ARNs (``*`` wildcards),
  an optional ``context`` of string, number and boolean values ("you cannot set a JSON object or
  array as a valid value of any key in the context map") and ``usageIdentifierKey``.
- [doc] .../api-gateway-control-access-using-iam-policies-to-invoke-api.html and IAM's policy
  evaluation logic: ``*`` matches any run of characters (``/`` included), ``?`` one character;
  an explicit ``Deny`` overrides any ``Allow``; without an ``Allow`` the answer is no.
- [doc] .../http-api-lambda-authorizer.html: with ``EnableSimpleResponses`` (payload 2.0) the
  output is ``{"isAuthorized": bool, "context": {...}}``; otherwise the IAM policy above, judged
  against the ``routeArn``.
- [3rd] SAM CLI (``samcli/local/apigw/authorizers/lambda_authorizer.py``) checks the same
  fields: ``principalId`` a string, ``policyDocument`` an object, each statement's ``Effect``,
  ``Action`` and ``Resource`` present. It ignores ``Deny``; AWS does not, and neither does this.
- [3rd] Users' recordings: a function that fails with the message ``Unauthorized`` makes a REST
  API answer 401; any other failure or malformed output is a 500 with
  ``x-amzn-ErrorType: AuthorizerConfigurationException``.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["Malformed", "Output", "Verdict", "judge", "parse_output", "unauthorized_error"]


class Malformed(Exception):
    """Not an authorizer response API Gateway accepts; the message says what is wrong."""


class Verdict(enum.Enum):
    """What a policy or simple response says about one method or route ARN."""

    ALLOW = "allow"
    """An ``Allow`` statement covers the ARN and no ``Deny`` does (or ``isAuthorized: true``)."""
    NOT_ALLOWED = "not-allowed"
    """No statement covers the ARN (or ``isAuthorized: false``): 403."""
    DENY = "deny"
    """A ``Deny`` statement covers the ARN: 403, REST's "explicit deny" message."""


@dataclass(frozen=True, slots=True)
class _Statement:
    allow: bool
    actions: tuple[str, ...]
    resources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Output:
    """An authorizer's parsed output: a policy (``statements``), or a simple response
    (``authorized`` set). Kept in the cache and judged again for each ARN."""

    principal_id: str | None
    context: Mapping[str, object] = field(hash=False)
    statements: tuple[_Statement, ...] = ()
    authorized: bool | None = None

    def judge(self, arn: str) -> Verdict:
        return judge(self, arn)


def parse_output(
    payload: bytes, *, simple: bool, strict_context: bool, need_principal: bool
) -> Output:
    """The function's answer. SIMPLE: ``isAuthorized`` is expected (HTTP APIs with
    ``EnableSimpleResponses``); STRICT_CONTEXT: context values must be strings, numbers or
    booleans (REST APIs); NEED_PRINCIPAL: ``principalId`` must be a string (REST APIs).
    Raises Malformed."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("the answer is not JSON") from None
    if not isinstance(document, dict):
        raise Malformed("the answer is not a JSON object")
    context = _context(document.get("context"), strict=strict_context)
    if simple:
        authorized = document.get("isAuthorized")
        if not isinstance(authorized, bool):
            raise Malformed("isAuthorized is missing or not a boolean")
        return Output(None, context, authorized=authorized)
    principal = document.get("principalId")
    if principal is not None and not isinstance(principal, str):
        raise Malformed("principalId is not a string")
    if need_principal and principal is None:
        raise Malformed("principalId is missing")
    return Output(principal, context, _statements(document.get("policyDocument")))


def _context(value: object, *, strict: bool) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed("context is not an object")
    if strict:
        for key, item in value.items():
            if item is not None and not isinstance(item, (str, int, float, bool)):
                raise Malformed(f"context[{key!r}] is an object or array; give a string")
    return dict(value)


def _statements(document: object) -> tuple[_Statement, ...]:
    if not isinstance(document, dict):
        raise Malformed("policyDocument is missing or not an object")
    statements = document.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]  # IAM accepts a single statement object
    if not isinstance(statements, list) or not statements:
        raise Malformed("policyDocument.Statement is missing or empty")
    return tuple(_statement(item, index) for index, item in enumerate(statements))


def _statement(item: object, index: int) -> _Statement:
    where = f"policyDocument.Statement[{index}]"
    if not isinstance(item, dict):
        raise Malformed(f"{where} is not an object")
    effect = item.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise Malformed(f"{where}.Effect is {effect!r}; give Allow or Deny")
    return _Statement(
        effect == "Allow", _strings(item, "Action", where), _strings(item, "Resource", where)
    )


def _strings(item: Mapping[str, object], key: str, where: str) -> tuple[str, ...]:
    value = item.get(key)
    values: Sequence[object] = [value] if isinstance(value, str) else value  # type: ignore[assignment]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Malformed(f"{where}.{key} is missing or not a string or list of strings")
    return tuple(str(v) for v in values)


def judge(output: Output, arn: str) -> Verdict:
    """OUTPUT's verdict on ARN: a Deny covering it wins, then an Allow covering it."""
    if output.authorized is not None:
        return Verdict.ALLOW if output.authorized else Verdict.NOT_ALLOWED
    covering = [s for s in output.statements if _covers(s, arn)]
    if any(not s.allow for s in covering):
        return Verdict.DENY
    return Verdict.ALLOW if covering else Verdict.NOT_ALLOWED


def _covers(statement: _Statement, arn: str) -> bool:
    invokes = any(_matches(a.lower(), "execute-api:invoke") for a in statement.actions)
    return invokes and any(_matches(r, arn) for r in statement.resources)


def _matches(pattern: str, value: str) -> bool:
    return _pattern(pattern).fullmatch(value) is not None


@lru_cache(maxsize=256)
def _pattern(pattern: str) -> re.Pattern[str]:
    """IAM's wildcards: ``*`` any run of characters, ``?`` exactly one; the rest literal."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def unauthorized_error(payload: bytes) -> bool:
    """Whether a failed authorizer's error says ``Unauthorized``: the one failure REST APIs
    answer with 401 rather than 500 (the blueprints' ``raise Exception('Unauthorized')``)."""
    try:
        error = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(error, dict) and error.get("errorMessage") == "Unauthorized"
