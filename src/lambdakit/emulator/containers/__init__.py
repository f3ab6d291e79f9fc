"""Container engines: find one, adapt it to this machine, run an image as an environment.

- ``detect_engine(prefer)`` (engines.py): docker (when its daemon answers), then podman, then
  buildah, which builds images but cannot run them. A machine with none raises
  ``ContainerEngineError`` (lambdakit.emulator.errors).
- ``HostFacts`` and ``adjustments`` (host.py): the settings podman and buildah need on some
  machines, derived from facts read from /proc and /sys rather than typed by users.
- ``run_command(image, environ, engine=, name=, id_file=)`` (run.py): the argv of one
  execution environment that runs an image, under a supervisor (supervisor.py, a
  standard-library script) that makes it behave like any ``bootstrap`` towards signals; and
  ``created(id_file, process)``, which waits for the container to start: its Init begins then.
"""

from __future__ import annotations

from lambdakit.emulator.containers.engines import Engine, detect_engine
from lambdakit.emulator.containers.host import (
    ENGINES,
    NO_ULIMITS_CONF,
    Adjustments,
    EngineName,
    HostFacts,
    adjustments,
)
from lambdakit.emulator.containers.run import (
    SETUP_LIMIT,
    container_name,
    created,
    forwarded_names,
    new_id_file,
    remove_id_file,
    run_command,
)

__all__ = [
    "ENGINES",
    "NO_ULIMITS_CONF",
    "SETUP_LIMIT",
    "Adjustments",
    "Engine",
    "EngineName",
    "HostFacts",
    "adjustments",
    "container_name",
    "created",
    "detect_engine",
    "forwarded_names",
    "new_id_file",
    "remove_id_file",
    "run_command",
]
