"""What an execution environment's process is given: its command, its variables, its output
pipes.

A ``python3.x`` function runs on the interpreter its Runtime names (``interpreters.py``) and
imports only its own packages (``python_paths.py``); the variables are Lambda's for the
runtime, then the function's own (``variables.py``).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.emulator import debugging, sandbox
from lambdakit.emulator.errors import EntrypointError, FunctionConfigError
from lambdakit.emulator.extension_launcher import ExternalExtension, discover
from lambdakit.emulator.interpreters import Interpreter, find_interpreter, runtime_version
from lambdakit.emulator.layout import Layout, host_layout
from lambdakit.emulator.python_paths import python_argv

if TYPE_CHECKING:
    from lambdakit.emulator.sandbox import Sandbox
    from lambdakit.emulator.settings import Settings
    from lambdakit.template import FunctionSpec


def command(
    spec: FunctionSpec, python: str | None = None, layout: Layout | None = None
) -> list[str]:
    """The argv of one execution environment's process, with the paths LAYOUT gives it (by
    default the host's: ``layout.host_layout``).

    ``provided.*``: the ``bootstrap`` of the code, else of the last layer that has one
    (``bootstrap_of``).
    ``python3.x``: lambdakit's runtime, the managed runtime's equivalent, on the interpreter the
    Runtime names (PYTHON if given), seeing only the function's own packages (python_paths.py).
    """
    layout = layout or host_layout(spec)
    if spec.runtime.startswith("provided"):
        return [str(bootstrap_path(spec, layout))]
    if not spec.is_python:
        raise FunctionConfigError(
            f"function {spec.name!r}: lambdakit cannot run the {spec.runtime} runtime; it "
            "runs provided.* (any bootstrap) and python3.x functions"
        )
    if not spec.handler:
        raise FunctionConfigError(
            f"function {spec.name!r}: a {spec.runtime} function needs a handler "
            "(module.function, e.g. app.handler)"
        )
    interpreter = interpreter_for(spec, python)
    first = [str(path) for path in layout.search_path(interpreter.version)]
    sdk = spec.dependencies.get("sdk")
    argv = python_argv(interpreter.path, first, [str(sdk)] if sdk else [], spec.handler)
    # -B: no bytecode written, as Lambda's /var/task is read-only (what build precompiled into
    # the code is used); the prepared packages and the runtime come compiled (compile_tree).
    return [argv[0], "-B", *argv[1:]]


def interpreter_for(spec: FunctionSpec, python: str | None = None) -> Interpreter:
    """The interpreter that runs SPEC's Python: PYTHON if given (``Settings.python``), else
    the one its python3.x Runtime names, else (a ``provided.*`` function whose bootstrap is
    lambdakit's) one of the emulator's own version, outside its virtual environment."""
    if python:
        path = Path(python)
        return Interpreter(path, runtime_version(spec.runtime), "settings", exact=True)
    version = runtime_version(spec.runtime) if spec.is_python else sys.version_info[:2]
    return find_interpreter(version)


def lambdakit_bootstrap(spec: FunctionSpec) -> bool:
    """Whether SPEC is a ``provided.*`` function whose bootstrap is lambdakit's (it reads
    ``LAMBDAKIT_PYTHON``): a Python function too, with dependencies to prepare."""
    if not spec.runtime.startswith("provided") or spec.image is not None:
        return False
    try:
        return b"LAMBDAKIT_PYTHON" in bootstrap_of(spec).read_bytes()[:8192]
    except (FunctionConfigError, OSError):
        return False


def bootstrap_of(spec: FunctionSpec) -> Path:
    """The code's ``bootstrap``, else the last layer's that has one, on this machine."""
    return _find_bootstrap(spec)[0]


def bootstrap_path(spec: FunctionSpec, layout: Layout) -> Path:
    """``bootstrap_of`` as the process sees it in LAYOUT (/var/task/bootstrap or
    /opt/bootstrap in the sandbox)."""
    inside = layout.bootstraps()
    return inside[min(_find_bootstrap(spec)[1], len(inside) - 1)]


def _find_bootstrap(spec: FunctionSpec) -> tuple[Path, int]:
    """The bootstrap Lambda would start, and its place among ``Layout.bootstraps``; else
    EntrypointError with the developer's message and Lambda's (the reasons of
    Runtime.InvalidEntrypoint: https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html)."""
    for index, bootstrap in enumerate(host_layout(spec).bootstraps()):
        if not bootstrap.is_file():
            continue
        seen = LAMBDA_BOOTSTRAPS[min(index, 1)]
        if not os.access(bootstrap, os.X_OK):
            raise EntrypointError(
                f"function {spec.name!r}: {bootstrap} is not executable; "
                f"run `chmod +x {bootstrap}`",
                f"fork/exec {seen}: permission denied",
            )
        if not _runnable(bootstrap):
            raise EntrypointError(
                f"function {spec.name!r}: {bootstrap} is neither a program nor a script with a "
                "`#!` line (e.g. `#!/bin/sh`); Lambda cannot start it",
                f"fork/exec {seen}: exec format error",
            )
        return bootstrap, index
    raise EntrypointError(
        f"function {spec.name!r}: a {spec.runtime} function starts the executable file "
        f"`bootstrap`, and there is none in {spec.code_dir} or its layers; create one "
        "(`lambdakit init` writes one) or use a python3.x runtime",
        f"Couldn't find valid bootstrap(s): [{' '.join(LAMBDA_BOOTSTRAPS)}]",
    )


LAMBDA_BOOTSTRAPS = ("/var/task/bootstrap", "/opt/bootstrap")


def _runnable(path: Path) -> bool:
    """Whether the kernel can start PATH: an ELF program or a ``#!`` script (else execve
    fails with ENOEXEC, "exec format error")."""
    try:
        with path.open("rb") as file:
            head = file.read(4)
    except OSError:
        return True  # let the start say what is wrong
    return head.startswith((b"#!", b"\x7fELF"))


async def spawn(
    argv: list[str],
    *,
    cwd: Path,
    environ: dict[str, str],
    preexec: Callable[[], None] | None = None,
    pass_fds: tuple[int, ...] = (),
) -> tuple[asyncio.subprocess.Process, list[OutputPipe]]:
    """Start ARGV in a process group of its own (a timeout kills the whole tree), its stdout
    and stderr each on a pipe of ours (``output_pipe``), with PASS_FDS open in it too;
    returns the process and the pipes."""
    out, out_w = await output_pipe()
    try:
        err, err_w = await output_pipe()
    except BaseException:
        os.close(out_w)
        raise
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=environ,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            start_new_session=True,
            preexec_fn=preexec,
            pass_fds=(*pass_fds, *debugging.inherited_fds(environ)),
        )
    except BaseException:
        out.transport.close()
        err.transport.close()
        raise
    finally:  # the child has its copies; without them the readers see the end (EOF)
        os.close(out_w)
        os.close(err_w)
    return process, [out, err]


def process_environment(
    spec: FunctionSpec,
    settings: Settings,
    *,
    api_address: str,
    log_stream: str,
    version: str = "$LATEST",
    provisioned: bool = False,
    layout: Layout | None = None,
) -> dict[str, str]:
    """Lambda's variables for SPEC's runtime, then the function's own (``variables.py``).
    VERSION is the one the environment runs; PROVISIONED, whether it is a
    provisioned-concurrency one; LAYOUT, the paths its process sees (the host's by default)."""
    from lambdakit.emulator.variables import Identity, lambda_environment

    ours = lambdakit_bootstrap(spec)  # reads the bootstrap: once per environment's start
    interpreter = None
    if spec.is_python or ours:
        interpreter = interpreter_for(spec, settings.python or None)
    identity = Identity(api_address, log_stream, version, provisioned)
    return lambda_environment(spec, settings, identity, interpreter, ours, layout)


@dataclass(frozen=True, slots=True)
class Launch:
    """How an environment's process of a zip function is started: ARGV with ENVIRON, or, in
    the sandbox, the command SANDBOX makes around it."""

    argv: list[str]
    environ: dict[str, str]
    sandbox: Callable[[int, list[str]], list[str]] | None = None
    """Given bwrap's info descriptor and the command to run in it (ARGV, or the extensions'
    launcher around it), the sandbox's command."""
    extensions: tuple[ExternalExtension, ...] = ()
    """The executables of /opt/extensions, started before ARGV (extension_launcher.py)."""
    init_begins_at: Path | None = None
    """A file that appears once the function's own process starts (a container's id file):
    the Init phase begins then, not at the spawn (containers/run.py, ``created``)."""


def launch(
    spec: FunctionSpec,
    settings: Settings,
    box: Sandbox,
    *,
    api_address: str,
    log_stream: str,
    version: str = "$LATEST",
    provisioned: bool = False,
) -> Launch:
    """SPEC's process, in BOX where it is active (sandbox.py). Raises EntrypointError when a
    ``provided.*`` function has no bootstrap Lambda could start."""
    host = host_layout(spec)
    layout = sandbox.lambda_layout(host) if box.active else host
    environ = process_environment(
        spec, settings, api_address=api_address, log_stream=log_stream, version=version,
        provisioned=provisioned, layout=layout,
    )  # fmt: skip
    environ = debugging.environ(environ, settings.debug, spec)  # debugging.py
    argv = debugging.argv(command(spec, settings.python or None, layout), settings.debug, spec)
    extensions = discover(host, sandboxed=box.active)
    if not box.active:
        return Launch(argv, environ, extensions=extensions)
    sdk = spec.dependencies.get("sdk")
    extra = [*([sdk] if sdk else []), *debugging.host_paths(settings.debug)]
    keep = sandbox.host_paths(argv, environ, extra, python=spec.is_python, own=spec.environment)

    def wrap(info_fd: int, command: list[str]) -> list[str]:
        return sandbox.arguments(
            box, host, command, tmp_mb=spec.ephemeral_storage, keep=keep, info_fd=info_fd
        )

    return Launch(argv, environ, wrap, extensions)


def pipe_pending(fd: int) -> bool:
    """True if the kernel holds bytes of the pipe whose read end is ``fd`` not yet read."""
    try:
        return fcntl.ioctl(fd, termios.FIONREAD, _NO_BYTES) != _NO_BYTES
    except OSError:
        return False


_NO_BYTES = b"\0\0\0\0"  # FIONREAD's answer (an int) when the pipe is empty


@dataclass(frozen=True)
class OutputPipe:
    """The read end of a child's stdout or stderr pipe."""

    fd: int  # its descriptor, for pipe_pending()
    reader: asyncio.StreamReader
    transport: asyncio.BaseTransport  # closing it closes the descriptor: the reader sees EOF


async def output_pipe() -> tuple[OutputPipe, int]:
    """A pipe for a child's stdout or stderr: (its read end, the write end's descriptor).

    Made here rather than by ``asyncio.subprocess.PIPE`` so that the read end's descriptor is
    known on every event loop (uvloop's pipe transports do not expose it): END waits until
    the kernel holds no unread output (``pipe_pending``). The caller closes the write end
    once the child has it."""
    read_fd, write_fd = os.pipe()
    file = os.fdopen(read_fd, "rb", buffering=0)  # closes read_fd with it
    reader = asyncio.StreamReader(limit=OUTPUT_PIECE)
    try:
        loop = asyncio.get_running_loop()
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await loop.connect_read_pipe(lambda: protocol, file)
    except BaseException:
        file.close()
        os.close(write_fd)
        raise
    return OutputPipe(read_fd, reader, transport), write_fd


OUTPUT_PIECE = 2**16  # asyncio's default limit; the pumps read this much at most, and pass a
# longer line on in pieces of this size


def log_stream_name(version: str = "$LATEST") -> str:
    """``2025/01/31/[$LATEST]<32 hex>``: Lambda's log stream names carry the version."""
    import uuid

    return time.strftime(f"%Y/%m/%d/[{version}]", time.gmtime()) + uuid.uuid4().hex
