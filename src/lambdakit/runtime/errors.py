"""Errors of the lambdakit runtime, and the ``Runtime.*`` error types it reports to Lambda.

::

    Exception
    ├── RuntimeAPIError        talking to the Runtime API failed: connection lost, bad framing,
    │                          or a status that says the environment cannot go on
    └── FaultError             a failure reported to Lambda as ``{errorType, errorMessage, ...}``
                               with a fixed ``Runtime.*`` type: handler loading (init errors) and
                               marshalling (per-invocation errors)

Exceptions raised by user code are not wrapped: the loop reports them under their own class
name, as AWS's runtimes do. Errors are translated once, where they enter: socket errors in
``client``, import errors in ``handler``, JSON errors in ``marshal``.
"""

from __future__ import annotations

# Error types, with awslambdaric's spelling (lambda_runtime_exception.py).
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
MARSHAL_ERROR = "Runtime.MarshalError"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"


class RuntimeAPIError(Exception):
    """The Runtime API could not be reached or answered in a way the runtime cannot go on from."""


class FaultError(Exception):
    """A failure with a fixed Lambda error type, reported with the runtime's own message.

    ``stack_trace`` is the list of formatted frames that goes into the error body (often empty:
    the fault is in the input, not in code).
    """

    def __init__(self, error_type: str, message: str, stack_trace: list[str] | None = None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.stack_trace = stack_trace or []
