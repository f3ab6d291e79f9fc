"""Error reports: the body posted to /error or /init/error, and the X-Ray error cause.

Shapes follow awslambdaric (bootstrap.py ``make_error``, ``make_xray_fault``): the body is
``{"errorMessage", "errorType", "requestId", "stackTrace"}`` with ``stackTrace`` in
``traceback.format_list`` form, and the runtime's own frames are cut from the front of the
trace so that users see their code first. ``traceback`` is imported here, on the error path
only.
"""

from __future__ import annotations

import os

from lambdakit import _wire
from lambdakit.runtime.errors import FaultError
from lambdakit.runtime.marshal import dumps

# Frames from these files are the runtime's, not the user's (the importlib ones appear when a
# module raises while it is imported).
_HIDDEN_PREFIXES = (os.path.dirname(__file__) + os.sep, "<frozen importlib")


class ErrorReport:
    """What the runtime tells Lambda about one failure."""

    __slots__ = ("document", "error_type", "xray")

    def __init__(self, document: dict[str, object], xray: dict[str, object]) -> None:
        self.document = document
        self.error_type = str(document["errorType"])
        self.xray = xray

    @classmethod
    def from_exception(cls, exc: BaseException, request_id: str = "") -> ErrorReport:
        """A report for ``exc``: a ``FaultError`` keeps its type and trace, anything else is
        reported under its class name with the user's frames."""
        if isinstance(exc, FaultError):
            document = _wire.error_document(
                exc.message, exc.error_type, exc.stack_trace, request_id
            )
            return cls(document, xray_document("LambdaValidationError", exc.message, []))
        import traceback

        frames = [
            (f.filename, f.lineno, f.name, f.line)
            for f in traceback.extract_tb(exc.__traceback__)
            if not _hidden(f.filename)
        ]
        name = type(exc).__name__
        # Plain tuples, not FrameSummary objects: format_list then leaves out the ^^^ lines
        # of Python 3.11+, as awslambdaric's traces do.
        trace = traceback.format_list(frames)  # type: ignore[arg-type]
        document = _wire.error_document(str(exc), name, trace, request_id)
        stack = [(path, line, label) for path, line, label, _ in frames]
        return cls(document, xray_document(name, str(exc), stack))

    def body(self) -> bytes:
        return dumps(self.document, compact=False).encode("utf-8")

    def xray_cause(self) -> str | None:
        """The X-Ray cause header, or None when it would exceed what Lambda keeps (64 KiB)."""
        cause = dumps(self.xray, compact=False, ascii=True)  # a header value: ASCII only
        return cause if len(cause) <= _wire.XRAY_CAUSE_LIMIT else None


def _hidden(filename: str) -> bool:
    return filename.startswith(_HIDDEN_PREFIXES)


def xray_document(
    error_type: str, message: str, stack: list[tuple[str, int | None, str]]
) -> dict[str, object]:
    """The ``Lambda-Runtime-Function-XRay-Error-Cause`` JSON (awslambdaric make_xray_fault)."""
    paths = list(dict.fromkeys(path for path, _, _ in stack))
    return {
        "working_directory": os.getcwd(),
        "exceptions": [
            {
                "message": message,
                "type": error_type,
                "stack": [
                    {"label": label, "path": path, "line": line} for path, line, label in stack
                ],
            }
        ],
        "paths": paths,
    }
