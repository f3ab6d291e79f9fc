"""The ``context`` argument of a handler, and the per-invocation state the runtime tracks.

``LambdaContext`` has every attribute and method of awslambdaric's (lambda_context.py) with the
same types and ``repr``, so code and libraries written for the managed runtime (Powertools,
Sentry, Datadog) work unchanged. The request id, tenant id and trace id of the invocation in
progress are also kept in context variables: they are never stale between invocations, and
each asyncio task or worker sees its own.
"""

from __future__ import annotations

import os
import time
from _contextvars import ContextVar

from lambdakit.runtime.errors import CONTEXT_UNMARSHAL_ERROR, FaultError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from lambdakit._wire import Invocation

REQUEST_ID: ContextVar[str] = ContextVar("lambdakit.request_id", default="")
TENANT_ID: ContextVar[str | None] = ContextVar("lambdakit.tenant_id", default=None)
TRACE_ID: ContextVar[str | None] = ContextVar("lambdakit.trace_id", default=None)

# Fields of clientContext.w3c that context.w3c() exposes (awslambdaric 4.2.0).
W3C_FIELDS = ("traceparent", "tracestate", "baggage")


class FunctionConfig:
    """The function's static configuration, read once from the environment Lambda sets."""

    __slots__ = (
        "function_name",
        "function_version",
        "log_group_name",
        "log_stream_name",
        "memory_size",
    )

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.function_name = environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        # A string, as in awslambdaric: code that does int(context.memory_limit_in_mb) or
        # compares it with "128" must keep working.
        self.memory_size = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = environ.get("AWS_LAMBDA_LOG_STREAM_NAME")

    @classmethod
    def from_env(cls) -> FunctionConfig:
        return cls(os.environ)


class _Record:
    """Base of the small awslambdaric value classes: fields from a dict, missing ones None."""

    __slots__: tuple[str, ...] = ()
    _fields: tuple[str, ...] = ()  # in awslambdaric's order, which its repr() shows

    def __init__(self, values: Mapping[str, object] | None = None) -> None:
        values = values or {}
        for name in self._fields:
            setattr(self, name, values.get(name))

    def __repr__(self) -> str:
        fields = ",".join(f"{name}={getattr(self, name)}" for name in self._fields)
        return f"{type(self).__name__}([{fields}])"


class CognitoIdentity(_Record):
    _fields = __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")


class Client(_Record):
    _fields = __slots__ = (
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    )


class ClientContext(_Record):
    _fields = __slots__ = ("custom", "env", "client")


class LambdaContext:
    """What a handler learns about its invocation and function (``def handler(event, context)``)."""

    def __init__(
        self,
        invocation: Invocation,
        config: FunctionConfig,
        *,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.aws_request_id = invocation.request_id
        self.log_group_name = config.log_group_name
        self.log_stream_name = config.log_stream_name
        self.function_name = config.function_name
        self.memory_limit_in_mb = config.memory_size
        self.function_version = config.function_version
        self.invoked_function_arn = invocation.function_arn
        self.tenant_id = invocation.tenant_id
        client_context = _parse_json_header(invocation.client_context, "Client Context")
        self._w3c_fields = _pop_w3c(client_context)
        self.client_context = _make_client_context(client_context)
        self.identity = _make_identity(invocation.cognito_identity)
        self._epoch_deadline_time_in_ms = invocation.deadline_ms
        self._log = log
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda stops this invocation; never negative."""
        remaining = self._epoch_deadline_time_in_ms - int(self._clock() * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self) -> dict[str, str]:
        """The W3C trace context the caller sent (traceparent, tracestate, baggage)."""
        return dict(self._w3c_fields)

    def log(self, msg: object) -> None:
        """Write ``str(msg)`` to the function's log as is: no level, no newline added."""
        if self._log is not None:
            self._log(str(msg))
        else:
            import sys

            sys.stdout.write(str(msg))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(["
            f"aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},"
            f"log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},"
            f"memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},"
            f"identity={self.identity},"
            f"tenant_id={self.tenant_id}"
            "])"
        )


def _parse_json_header(value: str | None, what: str) -> dict[str, object] | None:
    if not value:
        return None
    from lambdakit.runtime.marshal import loads

    try:
        parsed = loads(value)
    except Exception as exc:
        raise FaultError(CONTEXT_UNMARSHAL_ERROR, f"Unable to parse {what} JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        # awslambdaric fails later with an AttributeError; name the problem instead.
        raise FaultError(
            CONTEXT_UNMARSHAL_ERROR, f"Unable to parse {what} JSON: expected an object"
        )
    return parsed


def _pop_w3c(client_context: dict[str, object] | None) -> dict[str, str]:
    raw = client_context.pop("w3c", None) if client_context is not None else None
    if not isinstance(raw, dict):
        return {}
    return {key: raw[key] for key in W3C_FIELDS if isinstance(raw.get(key), str)}


def _make_client_context(values: dict[str, object] | None) -> ClientContext | None:
    if values is None:
        return None
    context = ClientContext(values)
    client = values.get("client")
    context.client = Client(client) if isinstance(client, dict) else client  # type: ignore[attr-defined]
    return context


def _make_identity(header: str | None) -> CognitoIdentity:
    # Always present, as in awslambdaric: code reads context.identity.cognito_identity_id.
    values = _parse_json_header(header, "Cognito Identity")
    identity = CognitoIdentity()
    if values is not None:
        identity.cognito_identity_id = values.get("cognitoIdentityId")  # type: ignore[attr-defined]
        identity.cognito_identity_pool_id = values.get("cognitoIdentityPoolId")  # type: ignore[attr-defined]
    return identity
