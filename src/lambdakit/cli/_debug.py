"""``--debug-port`` and ``--debug-wait`` (SAM CLI's ``-d/--debug-port``), handed to a command
as one ``debug`` argument (``emulator.debugging.DebugRequest``)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from lambdakit.emulator.debugging import DebugRequest

F = TypeVar("F", bound=Callable[..., Any])


def debug_options(*, terminal: bool = False) -> Callable[[F], F]:
    """The debugging options; with TERMINAL (``invoke``), a terminal on stdin also asks for pdb
    there when the handler calls ``breakpoint()``."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def collect(**kwargs: Any) -> Any:
            port, wait = kwargs.pop("debug_port"), kwargs.pop("debug_wait")
            if wait and port is None:
                raise click.UsageError("--debug-wait needs --debug-port PORT")
            on_terminal = terminal and port is None and sys.stdin.isatty()
            return command(debug=DebugRequest(port, wait, on_terminal), **kwargs)

        wait = click.option(
            "--debug-wait",
            is_flag=True,
            help="With --debug-port: the function's init waits until the debugger attaches.",
        )
        port = click.option(
            "-d",
            "--debug-port",
            type=click.IntRange(1, 65535),
            metavar="PORT",
            help="Run the function under debugpy listening on 127.0.0.1:PORT (attach VS Code "
            "or PyCharm; code is at /var/task); its timeout is suspended.",
        )
        return port(wait(collect))  # type: ignore[return-value]

    return decorate
