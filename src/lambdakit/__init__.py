"""lambdakit: Python on AWS Lambda custom runtimes.

The names here are the ones function code uses; importing this package costs nothing on a
cold start (it imports nothing but the hook registry).

- ``on_init``: run a function once before the first event.
- ``on_shutdown``: run a function when Lambda shuts the environment down.
- ``current_request_id()`` / ``current_trace_id()``: ids of the invocation in progress.
- ``Stream`` / ``StreamingResponse``: return these (or a generator) to stream the answer.
"""

from __future__ import annotations

from lambdakit._hooks import on_init, on_shutdown
from lambdakit._version import __version__
from lambdakit.runtime.streaming import Stream, StreamingResponse

__all__ = [
    "Stream",
    "StreamingResponse",
    "__version__",
    "current_request_id",
    "current_trace_id",
    "on_init",
    "on_shutdown",
]


def current_request_id() -> str:
    """The request id of the invocation in progress, or ``""`` between invocations."""
    from lambdakit.runtime.context import REQUEST_ID

    return REQUEST_ID.get()


def current_trace_id() -> str | None:
    """The X-Ray trace header of the invocation in progress (``Root=...;Parent=...``), if any.

    Unlike ``os.environ["_X_AMZN_TRACE_ID"]`` this is right in every worker and asyncio task.
    """
    from lambdakit.runtime.context import TRACE_ID

    return TRACE_ID.get()
