"""The browser console of ``lambdakit serve``: served by the emulator on its Invoke API port
under ``/_lambdakit/console/``, to this machine only.

The parts:

- ``hub``: what the emulator tells the console (invocations, environments, log lines), kept
  in bounded deques by reference, serialised only when asked;
- ``records``: an invocation's and an environment's record and their JSON;
- ``logparse``: the level and request id of a log line (sans-IO);
- ``stream``: the Server-Sent Events stream, batched every 100 ms, per-client bounded queues;
- ``overview``: the emulator's and the functions' configuration, secrets masked;
- ``saved_events``: test events, in the AWS console's shareable format;
- ``async_view``: pending events, dead letters, destination records, and replay;
- ``routes``: the HTTP routes (``Console``), loopback peers only;
- ``static/``: the page (index.html, app.js, app.css), plain files, no build step.

Errors: one exception, ``ConsoleError`` (a status and a message), answered as
``{"message": ...}`` by ``Console.handle``.

The emulator holds a ``Hub`` when ``EmulatorConfig.console`` is set (``lambdakit serve`` sets
it unless ``--no-console``); without one, none of this is imported or called.
"""

from __future__ import annotations

from lambdakit.emulator.webconsole.errors import ConsoleError
from lambdakit.emulator.webconsole.hub import Hub, Observer
from lambdakit.emulator.webconsole.routes import PREFIX, Console, is_loopback
from lambdakit.emulator.webconsole.saved_events import EventSources

__all__ = ["PREFIX", "Console", "ConsoleError", "EventSources", "Hub", "Observer", "is_loopback"]
