"""What an execution environment's process is given: its command, its variables, its output
pipes.

The variables are the ones Lambda documents for a runtime (runtimes-custom.html, "Defined
runtime environment variables"), then the function's own; layers, which Lambda extracts to
``/opt``, are pointed to where they are.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sys
import termios
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.emulator.errors import FunctionConfigError
from lambdakit.emulator.platform_log import log_variables

if TYPE_CHECKING:
    from lambdakit.emulator.settings import Settings
    from lambdakit.template import FunctionSpec


def command(spec: FunctionSpec, python: str = sys.executable) -> list[str]:
    """The argv of one execution environment's process.

    ``provided.*``: the ``bootstrap`` of the code, else of the last layer that has one
    (Lambda runs /var/task/bootstrap, else /opt/bootstrap:
    https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html).
    ``python3.x``: lambdakit's runtime in PYTHON, the managed runtime's equivalent.
    """
    if spec.runtime.startswith("provided"):
        return [str(_bootstrap(spec))]
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
    return [python, "-m", "lambdakit.runtime", spec.handler]


def _bootstrap(spec: FunctionSpec) -> Path:
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
    """The variables Lambda documents for a runtime, then the function's own. VERSION is the
    one the environment runs; PROVISIONED, whether it is a provisioned-concurrency one."""
    environ = {k: os.environ[k] for k in settings.passthrough if k in os.environ}
    environ.update({k: v for k, v in os.environ.items() if k.startswith("COVERAGE_")})
    environ.update(
        AWS_LAMBDA_RUNTIME_API=api_address,
        _HANDLER=spec.handler or "",
        LAMBDA_TASK_ROOT=str(spec.code_dir),
        LAMBDA_RUNTIME_DIR=runtime_dir(),
        AWS_LAMBDA_FUNCTION_NAME=spec.name,
        AWS_LAMBDA_FUNCTION_VERSION=version,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(spec.memory_size),
        AWS_LAMBDA_LOG_STREAM_NAME=log_stream,
        AWS_LAMBDA_INITIALIZATION_TYPE="provisioned-concurrency" if provisioned else "on-demand",
        AWS_REGION=settings.region,
        AWS_DEFAULT_REGION=settings.region,
        TZ=":UTC",
    )
    environ.update(log_variables(spec.name, spec.logging))
    if spec.is_python:
        environ["AWS_EXECUTION_ENV"] = f"AWS_Lambda_{spec.runtime}"
    # The shipped bootstrap runs $LAMBDAKIT_PYTHON, else python3 from PATH (which on a developer
    # machine may be a version manager's shim, slow to start, or another Python): default to the
    # interpreter the emulator runs on, unless a layer brings its own python3 (as it would on
    # Lambda, first on PATH). A function's own LAMBDAKIT_PYTHON still wins.
    if not any((layer / "bin" / "python3").exists() for layer in spec.layers):
        environ["LAMBDAKIT_PYTHON"] = settings.python or sys.executable
    environ.update(layer_paths(spec, environ))
    environ.update(spec.environment)
    return environ


def layer_paths(spec: FunctionSpec, environ: Mapping[str, str]) -> dict[str, str]:
    """Layers are extracted to /opt on Lambda; here each layer directory stands in for /opt, and
    the variables that point into /opt point into each of them."""
    if not spec.layers:
        return {}
    version = "python%d.%d" % sys.version_info[:2]
    python = [
        p
        for layer in spec.layers
        for p in (layer / "python", layer / "python" / "lib" / version / "site-packages")
    ]
    result = {
        "PATH": os.pathsep.join(
            [*(str(layer / "bin") for layer in spec.layers), environ.get("PATH", "")]
        ),
        "LD_LIBRARY_PATH": os.pathsep.join(str(layer / "lib") for layer in spec.layers),
        "PYTHONPATH": os.pathsep.join(str(p) for p in python),
        "LAMBDAKIT_LAYERS": os.pathsep.join(str(layer) for layer in spec.layers),
    }
    return result


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


def runtime_dir() -> str:
    """The directory that holds the ``lambdakit`` package: a bootstrap that looks for the runtime
    in LAMBDA_RUNTIME_DIR (as the shipped one does) finds this installation's."""
    import lambdakit

    return os.path.dirname(os.path.dirname(os.path.abspath(lambdakit.__file__)))
