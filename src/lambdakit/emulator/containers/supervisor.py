"""The supervisor of a container engine, run as a script (standard library only: it runs as
``python -I -S supervisor.py``, without lambdakit on sys.path).

``[--set K=V]... --rm REMOVE... -- RUN...`` runs RUN (``<engine> run ...``) so that it behaves
like any ``bootstrap``: SIGTERM to its process group reaches the container (the engine's
``--sig-proxy``), and SIGKILL, which the engine cannot forward, still ends the container: a
watcher in its own session notices the supervisor is gone (its pipe closes) and runs REMOVE
(``<engine> rm -f NAME``). A container killed by a signal kills the supervisor with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

REAPER = 'read -r line || exec "$@" >/dev/null 2>&1'
"""Reads the supervisor's pipe: a line means the engine ended by itself; EOF means the
supervisor died, maybe by SIGKILL, with the container still running: remove it."""


def supervise(args: Sequence[str]) -> int:
    """``[--set K=V]... --rm REMOVE... -- RUN...``: run RUN, remove the container with REMOVE
    if we are killed first, and return RUN's exit status."""
    sets, remove, run = _parse(args)
    environ = {**os.environ, **sets}
    reader, writer = os.pipe()  # not inherited by the engine: only we hold the writing end
    reaper = subprocess.Popen(
        ["/bin/sh", "-c", REAPER, "lambdakit-reaper", *remove],
        stdin=reader, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environ,
        start_new_session=True,  # the process-group kill that ends us must not reach it
    )  # fmt: skip
    os.close(reader)
    stopping: list[int] = []
    # The engine is in our process group and gets group signals itself (and forwards them):
    # we only outlive it. A signal before it started means: do not start it.
    previous = {s: signal.getsignal(s) for s in _STOP_SIGNALS}
    for signum in _STOP_SIGNALS:
        signal.signal(signum, lambda n, _: stopping.append(n))
    try:
        if stopping:
            return 128 + stopping[0]
        returncode = subprocess.Popen(run, env=environ).wait()
        try:
            os.write(writer, b"done\n")
        except OSError:  # the reaper is gone: nothing to tell
            pass
        return returncode
    finally:
        os.close(writer)
        reaper.wait()  # at once after "done"; else after removing what the engine left
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _parse(args: Sequence[str]) -> tuple[dict[str, str], list[str], list[str]]:
    sets: dict[str, str] = {}
    items = list(args)
    while items and items[0] == "--set":
        key, _, value = items[1].partition("=")
        sets[key] = value
        items = items[2:]
    if not items or items[0] != "--rm" or "--" not in items:
        raise SystemExit("usage: supervisor.py [--set K=V]... --rm REMOVE... -- RUN...")
    split = items.index("--")
    return sets, items[1:split], items[split + 1 :]


def _exit_like(returncode: int) -> None:
    """Engines report a container killed by signal N as 128+N: die of N too, so that the
    emulator reports `signal: killed` as it does for a bootstrap it runs itself."""
    signum = returncode - 128
    if signum in _FATAL_SIGNALS:
        if signum != signal.SIGKILL:
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    sys.exit(returncode)


_FATAL_SIGNALS = frozenset(
    {
        signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGILL, signal.SIGABRT,
        signal.SIGBUS, signal.SIGFPE, signal.SIGKILL, signal.SIGUSR1, signal.SIGSEGV,
        signal.SIGUSR2, signal.SIGPIPE, signal.SIGALRM, signal.SIGTERM,
    }
)  # fmt: skip


if __name__ == "__main__":
    _exit_like(supervise(sys.argv[1:]))
