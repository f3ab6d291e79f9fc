"""Lifecycle hooks users register from their handler module: ``on_init`` and ``on_shutdown``.

This module is imported by the runtime on every cold start: standard library only, no imports.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    Hook = TypeVar("Hook", bound=Callable[[], object])

_init_hooks: list[Callable[[], object]] = []
_shutdown_hooks: list[Callable[[], object]] = []


def on_init(hook: Hook) -> Hook:
    """Run ``hook()`` once, after the handler module is imported and before the first event.

    Use it as a decorator. An exception in a hook is an init error, reported to Lambda under
    the exception's class name like an exception raised at import time. ``async def`` hooks
    run on the runtime's event loop, the one async handlers use.
    """
    _init_hooks.append(hook)
    return hook


def on_shutdown(hook: Hook) -> Hook:
    """Run ``hook()`` when Lambda shuts the execution environment down (SIGTERM).

    Hooks run in registration order, each one even if an earlier one failed, and the runtime
    then exits with status 0. Lambda allows the runtime about 500 ms for this (2 s in all
    when extensions are registered): close connections and flush buffers, nothing more.
    """
    _shutdown_hooks.append(hook)
    return hook
