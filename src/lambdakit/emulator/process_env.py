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

from lambdakit.emulator.errors import FunctionConfigError
from lambdakit.emulator.interpreters import Interpreter, find_interpreter, runtime_version
from lambdakit.emulator.python_paths import python_argv, search_path

if TYPE_CHECKING:
    from lambdakit.emulator.settings import Settings
    from lambdakit.template import FunctionSpec


def command(spec: FunctionSpec, python: str | None = None) -> list[str]:
    """The argv of one execution environment's process.

    ``provided.*``: the ``bootstrap`` of the code, else of the last layer that has one
    (Lambda runs /var/task/bootstrap, else /opt/bootstrap:
    https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html).
    ``python3.x``: lambdakit's runtime, the managed runtime's equivalent, on the interpreter the
    Runtime names (PYTHON if given), seeing only the function's own packages (python_paths.py).
    """
    if spec.runtime.startswith("provided"):
        return [str(bootstrap_of(spec))]
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
    first = search_path(spec.code_dir, spec.layers, interpreter.version, spec.dependencies)
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
    """The code's ``bootstrap``, else the last layer's that has one."""
    candidates = [spec.code_dir / "bootstrap"]
    candidates += [layer / "bootstrap" for layer in reversed(spec.layers)]
    for bootstrap in candidates:
        if not bootstrap.is_file():
            continue
        if not os.access(bootstrap, os.X_OK):
            raise FunctionConfigError(
                f"function {spec.name!r}: {bootstrap} is not executable; run `chmod +x {bootstrap}`"
            )
        return bootstrap
    raise FunctionConfigError(
        f"function {spec.name!r}: a {spec.runtime} function starts the executable file "
        f"`bootstrap`, and there is none in {spec.code_dir} or its layers; create one "
        "(`lambdakit init` writes one) or use a python3.x runtime"
    )


async def spawn(
    argv: list[str],
    *,
    cwd: Path,
    environ: dict[str, str],
    preexec: Callable[[], None] | None = None,
) -> tuple[asyncio.subprocess.Process, list[OutputPipe]]:
    """Start ARGV in a process group of its own (a timeout kills the whole tree), its stdout
    and stderr each on a pipe of ours (``output_pipe``); returns the process and the pipes."""
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
) -> dict[str, str]:
    """Lambda's variables for SPEC's runtime, then the function's own (``variables.py``).
    VERSION is the one the environment runs; PROVISIONED, whether it is a
    provisioned-concurrency one."""
    from lambdakit.emulator.variables import Identity, lambda_environment

    interpreter = None
    if spec.is_python or lambdakit_bootstrap(spec):
        interpreter = interpreter_for(spec, settings.python or None)
    identity = Identity(api_address, log_stream, version, provisioned)
    return lambda_environment(spec, settings, identity, interpreter, lambdakit_bootstrap(spec))


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
