"""Debugging a function: debugpy on a port (``--debug-port``), pdb on the terminal.

SAM CLI's ``sam local invoke/start-api -d PORT`` starts the function's runtime under a debugger
that an IDE attaches to, and suspends the function's timeout while it does
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/
serverless-sam-cli-using-debugging-python.html). Here the function is a local process, so:

- ``--debug-port PORT``: the debugged function's process starts debugpy listening on
  127.0.0.1:PORT before its init (``--debug-wait``: and waits for the client first). debugpy is
  not one of the function's packages: a directory holding only it (``debugpy_directory``) goes
  at the end of the function's ``sys.path``. The function runs one environment at a time (a
  second could not listen on the port), is never frozen between invocations (the IDE talks to
  it then), and has no timeout, init or invocation.
- ``lambdakit invoke`` on a terminal: ``breakpoint()`` opens pdb on that terminal. The runtime's
  own stdin and stdout are pipes, and in the sandbox it has no controlling terminal
  (``--new-session``), so the terminal is passed to it as a descriptor of its own; the hook
  also writes a byte to a pipe whose pending byte tells the emulator that pdb is open: from
  then on the timeout is not enforced.

Both are put in place by a prelude the interpreter runs before the runtime:
``python -S -B -c LAUNCHER -c RUNTIME_SNIPPET ARGS``. LAUNCHER executes the prelude, which it
takes (and removes) from the process's variables, and the prelude then runs RUNTIME_SNIPPET with
ARGS as the interpreter would have. lambdakit's ``bootstrap`` (a ``provided.*`` function) runs
``$LAMBDAKIT_PYTHON $LAMBDAKIT_PYTHON_FLAGS -c SNIPPET ...``: the same launcher goes in its flags.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.emulator.errors import FunctionConfigError
from lambdakit.emulator.python_paths import CACHE

if TYPE_CHECKING:
    from lambdakit.emulator.settings import Settings
    from lambdakit.template import FunctionSpec

__all__ = [
    "DebugRequest",
    "DebugSettings",
    "apply",
    "argv",
    "debugged_specs",
    "describe",
    "environ",
    "host_paths",
    "inherited_fds",
    "prepare",
    "suspends_timeout",
]

PRELUDE_VARIABLE = "LAMBDAKIT_DEBUG"
FDS_VARIABLE = "LAMBDAKIT_DEBUG_FDS"
# No blanks and no glob characters: the bootstrap expands its flags unquoted.
LAUNCHER = f"exec(__import__('os').environ.pop('{PRELUDE_VARIABLE}'))"
# Frozen standard modules make debuggers miss breakpoints in them (debugpy says so, 3.11+);
# older interpreters ignore an -X option they do not know.
NO_FROZEN = "-Xfrozen_modules=off"


@dataclass(frozen=True, slots=True)
class DebugRequest:
    """What the command line asked for."""

    port: int | None = None
    """``--debug-port``: debugpy listens on 127.0.0.1:PORT."""
    wait: bool = False
    """``--debug-wait``: the init waits for the debugger."""
    terminal: bool = False
    """``invoke`` on a terminal: ``breakpoint()`` opens pdb there."""


@dataclass(frozen=True, slots=True)
class DebugSettings:
    """The debugging in force for one emulator (``Settings.debug``)."""

    function: str
    """The function debugged; the others run as usual."""
    port: int | None = None
    wait: bool = False
    debugpy: Path | None = None
    """A directory holding only the ``debugpy`` package (``debugpy_directory``)."""
    terminal: int | None = None
    """A descriptor of the terminal pdb uses."""
    opened: tuple[int, int] | None = None
    """A pipe (read, write): the hook writes a byte to it when pdb opens."""


def prepare(
    request: DebugRequest | None, functions: Sequence[FunctionSpec]
) -> DebugSettings | None:
    """The settings for REQUEST, or None when nothing is debugged. Raises FunctionConfigError
    when the function cannot be debugged (several functions, not Python, no debugpy)."""
    if request is None or (request.port is None and not request.terminal):
        return None
    if request.port is None:
        return _terminal(functions[0].name) if len(functions) == 1 else None
    if len(functions) != 1:
        names = ", ".join(spec.name for spec in functions)
        raise FunctionConfigError(
            f"--debug-port debugs one function and there are several ({names}); "
            "choose it with --function NAME"
        )
    spec = functions[0]
    if not _python(spec):
        raise FunctionConfigError(
            f"function {spec.name!r}: --debug-port needs a Python function (a python3.x "
            f"runtime, or provided.* with lambdakit's bootstrap); {spec.runtime} "
            + ("from an image" if spec.image else "with this bootstrap")
            + " runs no debugpy"
        )
    return DebugSettings(spec.name, request.port, request.wait, debugpy_directory())


def apply(
    request: DebugRequest | None, functions: Sequence[FunctionSpec], settings: Settings
) -> tuple[list[FunctionSpec], Settings]:
    """FUNCTIONS and SETTINGS as REQUEST debugs them (``prepare``, ``debugged_specs``), said on
    stderr (``describe``)."""
    debug = prepare(request, functions)
    if debug is None:
        return list(functions), settings
    from lambdakit.emulator import console, sandbox

    specs = debugged_specs(functions, debug)
    line = describe(debug, specs[0], sandboxed=sandbox.choose().active)
    if line is not None:
        console.warn(line)
    return specs, dataclasses.replace(settings, debug=debug)


def _python(spec: FunctionSpec) -> bool:
    from lambdakit.emulator.process_env import lambdakit_bootstrap  # it imports this module

    return spec.image is None and (spec.is_python or lambdakit_bootstrap(spec))


def _terminal(function: str) -> DebugSettings | None:
    """pdb on this process's terminal, when it has one (``/dev/tty``)."""
    try:
        terminal = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    read, write = os.pipe()
    return DebugSettings(function, terminal=terminal, opened=(read, write))


def debugpy_directory(cache: Path | None = None) -> Path:
    """A directory whose only entry is a link to the installed ``debugpy`` package: on the
    function's path, it adds nothing else of lambdakit's environment."""
    found = importlib.util.find_spec("debugpy")
    if found is None or found.origin is None:
        raise FunctionConfigError(
            "--debug-port runs the function under debugpy, which is not installed; "
            "install it with `pip install 'lambdakit[debug]'` (or `pip install debugpy`)"
        )
    package = Path(found.origin).resolve().parent
    directory = (cache or CACHE) / "debugpy" / _digest(str(package))
    link = directory / "debugpy"
    if not link.is_symlink() or link.resolve() != package:
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / f".debugpy-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(package, target_is_directory=True)
        temporary.replace(link)
    return directory


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:16]


def debugged_specs(
    functions: Sequence[FunctionSpec], debug: DebugSettings | None
) -> list[FunctionSpec]:
    """FUNCTIONS, the one debugged on a port limited to one environment (its reserved
    concurrency 1: concurrent invocations are throttled), as only one can listen there."""
    if debug is None or debug.port is None:
        return list(functions)
    return [
        dataclasses.replace(spec, reserved_concurrency=1) if spec.name == debug.function else spec
        for spec in functions
    ]


def debugs(debug: DebugSettings | None, spec: FunctionSpec) -> bool:
    """Whether SPEC's environments run under DEBUG."""
    return debug is not None and spec.name == debug.function and spec.image is None


def attached(debug: DebugSettings | None, spec: FunctionSpec) -> bool:
    """Whether SPEC runs under debugpy: never frozen (freezing.py), the IDE talks to it."""
    return debugs(debug, spec) and debug is not None and debug.port is not None


def suspends_timeout(debug: DebugSettings | None, spec: FunctionSpec) -> bool:
    """Whether SPEC's timeout (init or invocation) is not enforced now: it runs under debugpy,
    or pdb has been opened on the terminal (SAM CLI, too, has no timeout while debugging)."""
    from lambdakit.emulator.process_env import pipe_pending

    if not debugs(debug, spec) or debug is None:
        return False
    return debug.port is not None or (debug.opened is not None and pipe_pending(debug.opened[0]))


def argv(argv: list[str], debug: DebugSettings | None, spec: FunctionSpec) -> list[str]:
    """A python3.x function's ARGV (``interpreter -B -S -c SNIPPET ...``) with the launcher
    (module docstring) in front of its ``-c``."""
    if not debugs(debug, spec) or not spec.is_python:
        return argv
    at = argv.index("-c")
    return [*argv[:at], NO_FROZEN, "-c", LAUNCHER, *argv[at:]]


def environ(
    environ: Mapping[str, str], debug: DebugSettings | None, spec: FunctionSpec
) -> dict[str, str]:
    """ENVIRON with the prelude and the descriptors it is given (``inherited_fds``); for
    lambdakit's bootstrap, the launcher in its interpreter flags."""
    result = dict(environ)
    if debug is None or not debugs(debug, spec):
        return result
    result[PRELUDE_VARIABLE] = prelude(debug)
    fds = [fd for fd in (debug.terminal, debug.opened and debug.opened[1]) if fd is not None]
    if fds:
        result[FDS_VARIABLE] = ",".join(map(str, fds))
    if not spec.is_python:
        flags = result.get("LAMBDAKIT_PYTHON_FLAGS", "-S")
        result["LAMBDAKIT_PYTHON_FLAGS"] = f"{flags} {NO_FROZEN} -c {LAUNCHER}"
    return result


def inherited_fds(environ: Mapping[str, str]) -> tuple[int, ...]:
    """The descriptors a process started with ENVIRON must inherit (the terminal, the pipe)."""
    text = environ.get(FDS_VARIABLE, "")
    return tuple(int(part) for part in text.split(",") if part.isdigit())


def host_paths(debug: DebugSettings | None) -> list[Path]:
    """The host paths the debugged process must see in the sandbox: debugpy's."""
    if debug is None or debug.debugpy is None:
        return []
    return [debug.debugpy, (debug.debugpy / "debugpy").resolve()]


def describe(debug: DebugSettings | None, spec: FunctionSpec, *, sandboxed: bool) -> str | None:
    """The start-up line about DEBUG, or None (pdb on the terminal says so when it opens)."""
    if debug is None or debug.port is None:
        return None
    waits = "; its init waits for the debugger" if debug.wait else ""
    where = f"; code paths are /var/task (map /var/task to {spec.code_dir})" if sandboxed else ""
    return (
        f"debugging {spec.name}: debugpy listens on 127.0.0.1:{debug.port} (attach VS Code or "
        f"PyCharm){waits}{where}; its timeout is suspended and it runs one environment at a "
        "time, never frozen"
    )


def prelude(debug: DebugSettings) -> str:
    """The code run before the runtime (module docstring), for DEBUG."""
    config = (debug.port, debug.wait, str(debug.debugpy or ""), debug.terminal, debug.opened)
    return _PRELUDE.replace("CONFIG", repr(config))


_PRELUDE = """import os, sys
def _lambdakit_debug(port, wait, directory, terminal, opened):
    os.environ.pop("LAMBDAKIT_DEBUG_FDS", None)
    if terminal is not None:
        def hook(*args, **kwargs):
            import pdb
            os.write(opened[1], b"b")
            reader = open(terminal, "r", closefd=False)
            writer = open(terminal, "w", buffering=1, closefd=False)
            writer.write("lambdakit: pdb (c continues); the function's timeout is suspended\\n")
            pdb.Pdb(stdin=reader, stdout=writer).set_trace(sys._getframe(1))
        sys.breakpointhook = hook
    if port is not None:
        sys.path.append(directory)
        import debugpy
        debugpy.listen(("127.0.0.1", port))
        if wait:
            debugpy.wait_for_client()
_lambdakit_debug(*CONFIG)
del _lambdakit_debug
_code = sys.argv.pop(2)
del sys.argv[1]
exec(compile(_code, "<string>", "exec"))
"""
