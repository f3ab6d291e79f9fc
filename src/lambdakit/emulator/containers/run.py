"""An image as an execution environment: the argv that runs it, and what goes into it.

The container joins the host's network, so the runtime in it reaches the environment's
Runtime API at the same ``AWS_LAMBDA_RUNTIME_API`` (127.0.0.1:port) as a ``bootstrap`` would;
the environment's variables go in by name, less those that point into this machine. The
engine runs under a small supervisor (supervisor.py) so that the process behaves like any
``bootstrap``: SIGTERM to its process group reaches the container, and SIGKILL still ends it.

The Init phase begins when the container starts, not when the engine does (``created``): on
Lambda, setting up the image's sandbox is not part of Init and does not count against its
10 s limit or in its Init Duration, while an engine here may take seconds to create the
container (podman with its vfs storage copies the whole image for each one).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from lambdakit.emulator.containers import supervisor
from lambdakit.emulator.containers.engines import Engine, detect_engine
from lambdakit.emulator.errors import ContainerEngineError

# Variables that point into this machine (the image has its own) or only matter to it.
HOST_ONLY = frozenset(
    {
        "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "PATH", "HOME", "TMPDIR", "SYSTEMROOT",
        "LD_LIBRARY_PATH", "PYTHONPATH", "LAMBDAKIT_LAYERS", "LAMBDAKIT_PYTHON",
        "CONTAINERS_CONF",
    }
)  # fmt: skip


def forwarded_names(environ: Mapping[str, str]) -> list[str]:
    """The variables of ENVIRON that go into the container, in order: not the ones that point
    into this machine (the image sets its own LAMBDA_TASK_ROOT, PATH...), not an empty
    ``_HANDLER`` (the image's CMD names the handler), not coverage's."""
    return [
        key
        for key, value in environ.items()
        if key not in HOST_ONLY
        and not key.startswith("COVERAGE_")
        and not (key == "_HANDLER" and not value)
    ]


def container_name(function: str, env_id: str) -> str:
    """A container name unique to this emulator process and environment."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "-" for c in function)
    return f"lambdakit-{safe}-{os.getpid()}-{env_id}"


def run_command(
    image: str,
    environ: Mapping[str, str],
    *,
    engine: Engine | str | None = None,
    name: str,
    memory_mb: int | None = None,
    id_file: Path | None = None,
) -> list[str]:
    """The argv of an execution environment that runs IMAGE (its ENTRYPOINT and CMD are the
    bootstrap and handler). Spawn it with ENVIRON as its environment: the variables go into
    the container by name. MEMORY_MB (default: AWS_LAMBDA_FUNCTION_MEMORY_SIZE) limits the
    container where the engine can. ENGINE: an Engine, a name, or None for docker or podman.
    ID_FILE (``new_id_file``): where the engine writes the container's id once it has created
    it, for ``created``."""
    chosen = engine if isinstance(engine, Engine) else detect_engine(engine, purpose="run")
    if not chosen.can_run:
        raise ContainerEngineError(f"{chosen.name} cannot run images; install podman or docker")
    memory = memory_mb or int(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 0) or None
    run = chosen.run_argv(
        image, names=forwarded_names(environ), name=name, memory_mb=memory,
        id_file=None if id_file is None else str(id_file),
    )  # fmt: skip
    sets = [a for k, v in chosen.extra_environ().items() for a in ("--set", f"{k}={v}")]
    script = [sys.executable, "-I", "-S", os.path.abspath(supervisor.__file__), *sets]
    return [*script, "--rm", *chosen.remove_argv(name), "--", *run]


SETUP_LIMIT = 600.0
"""Seconds an engine may take to create a container (a first run may pull or unpack a large
image) before the environment is given up, with a line that says so."""
_POLL = 0.02  # seconds between two looks for the id file


def new_id_file() -> Path:
    """A path for the engine's ``--cidfile``, in a new directory of its own (an engine refuses
    a file that exists); ``remove_id_file`` removes both."""
    return Path(tempfile.mkdtemp(prefix="lambdakit-container-")) / "id"


def remove_id_file(path: Path) -> None:
    shutil.rmtree(path.parent, ignore_errors=True)


async def created(
    id_file: Path, process: asyncio.subprocess.Process | None, limit: float = SETUP_LIMIT
) -> bool:
    """Wait until the engine has created the container and is starting it (it writes ID_FILE
    then), or has ended (it could not: its error is in the output); False when LIMIT seconds
    went by first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not os.path.exists(id_file):
        if process is None or process.returncode is not None:
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(_POLL)
    return True


__all__ = [
    "SETUP_LIMIT",
    "container_name",
    "created",
    "forwarded_names",
    "new_id_file",
    "remove_id_file",
    "run_command",
]
