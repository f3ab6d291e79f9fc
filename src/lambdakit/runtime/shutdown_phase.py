"""An internal extension whose only job is to give ``on_shutdown`` hooks a shutdown phase.

Lambda sends the runtime SIGTERM only when at least one extension is registered; with none,
the Shutdown phase has no time for the runtime and the process is simply killed
("Shutdown phase", runtimes-extensions-api.html#runtimes-lifecycle-shutdown). A runtime gets
that phase by registering an *internal* extension: "Lambda reserves ... 500 ms for a runtime
with an internal extension", then sends SIGTERM (the Rust runtime's
``spawn_graceful_shutdown_handler`` and aws-samples/graceful-shutdown-with-aws-lambda do the
same). So, only when hooks exist, the runtime:

1. ``POST /2020-01-01/extension/register`` with ``Lambda-Extension-Name: lambdakit`` and
   ``{"events": []}``, on a connection of its own, before its first ``GET /next`` (Lambda closes
   registration when the runtime calls ``next``). Internal extensions may subscribe to
   ``INVOKE`` only, and this one subscribes to nothing, so it never has to answer per
   invocation and adds nothing to an invocation's duration;
2. calls ``GET /2020-01-01/extension/event/next`` once from a background thread, since the
   Init phase ends only when every registered extension has called ``next``. With no events
   subscribed that call blocks until the environment is gone.

SIGTERM itself is handled by the runtime's existing handler (``loop.install_sigterm_handler``).
The thread blocks SIGTERM so that the kernel delivers it to the main thread, whose blocked
``recv`` it must interrupt for the hooks to run at once.

A registration that fails (an emulator without the Extensions API answers 404) is logged in
one line and the function runs on: the hooks then run only if something sends SIGTERM anyway.
"""

from __future__ import annotations

import sys

from lambdakit.runtime.client import RuntimeClient
from lambdakit.runtime.errors import RuntimeAPIError

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal as _signal
else:
    import _signal  # signal.py imports enum: several ms for nothing

REGISTER_PATH = "/2020-01-01/extension/register"
EVENT_NEXT_PATH = "/2020-01-01/extension/event/next"
NAME_HEADER = "Lambda-Extension-Name"
IDENTIFIER_HEADER = "Lambda-Extension-Identifier"
EXTENSION_NAME = "lambdakit"
REGISTER_BODY = b'{"events": []}'


def register(address: str, user_agent: str) -> bool:
    """Register the extension and start its ``event/next`` thread; False if Lambda refused."""
    client = RuntimeClient(address, user_agent=user_agent)
    headers = [(NAME_HEADER, EXTENSION_NAME), ("Content-Type", "application/json")]
    try:
        response = client.call("POST", REGISTER_PATH, headers, REGISTER_BODY)
    except RuntimeAPIError as exc:
        return _refused(client, str(exc))
    identifier = response.head.headers.get(IDENTIFIER_HEADER.lower())
    if not response.ok or not identifier:
        body = response.body[:200].decode("utf-8", "replace")
        return _refused(client, f"{response.status} {response.head.reason} {body}".rstrip())
    _start_thread(client, identifier)
    return True


def _refused(client: RuntimeClient, detail: str) -> bool:
    client.close()
    sys.stderr.write(
        f"lambdakit: no shutdown phase for the on_shutdown hooks: registering the internal "
        f"extension failed ({detail}); they run only if the environment gets SIGTERM anyway\n"
    )
    sys.stderr.flush()
    return False


def _start_thread(client: RuntimeClient, identifier: str) -> None:
    """Start :func:`wait_for_shutdown` with SIGTERM blocked in it (threads inherit the mask)."""
    import _thread  # not threading: nothing must wait for this thread at exit

    sigterm = {_signal.SIGTERM}
    _signal.pthread_sigmask(_signal.SIG_BLOCK, sigterm)
    try:
        _thread.start_new_thread(wait_for_shutdown, (client, identifier))
    finally:
        _signal.pthread_sigmask(_signal.SIG_UNBLOCK, sigterm)


def wait_for_shutdown(client: RuntimeClient, identifier: str) -> None:
    """Call ``event/next`` until the environment ends.

    With no events subscribed Lambda never answers; should an event come anyway, it is
    acknowledged by the next ``next``, as the Extensions API asks, until ``SHUTDOWN``.
    """
    headers = [(IDENTIFIER_HEADER, identifier)]
    while True:
        try:
            response = client.call("GET", EVENT_NEXT_PATH, headers)
        except RuntimeAPIError:
            return  # the Runtime API went away: the environment is ending
        if not response.ok:
            detail = response.body[:200].decode("utf-8", "replace")
            sys.stderr.write(
                f"lambdakit: extension event/next answered {response.status} {detail}\n"
            )
            return
        if b'"SHUTDOWN"' in response.body:
            return
