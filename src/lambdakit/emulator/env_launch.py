"""How an execution environment's process is launched, and who may speak for it.

Two questions ``ExecutionEnvironment`` (environments.py) asks of the machine rather than of
Lambda's lifecycle: what command runs its runtime (the spec's ``bootstrap`` in the sandbox
where there is one, or a container engine running its image), and whether a client of its
Runtime API listener is one of its processes (the listener is on 127.0.0.1, where any process
of the machine could reach it).

In the sandbox, /etc/hosts also names the environment itself ``sandbox.localdomain`` and
``sandbox``, as on Lambda, where a Telemetry or Logs API subscriber's listener binds that name
and subscribes with it (telemetry-api.html, "Specifying a destination protocol"; AWS's own
sample extensions do): 127.0.0.1 here, the network being this machine's.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit._atomic import make_directory
from lambdakit.emulator import sandbox
from lambdakit.emulator.errors import ContainerEngineError, FunctionConfigError
from lambdakit.emulator.output_log import OutputLog
from lambdakit.emulator.process_env import Launch, launch, process_environment
from lambdakit.emulator.python_paths import CACHE
from lambdakit.emulator.runtime_process import RuntimeProcess
from lambdakit.emulator.settings import Settings

if TYPE_CHECKING:
    from lambdakit.template import FunctionSpec

__all__ = ["launch_environment", "owns_client"]


def launch_environment(
    spec: FunctionSpec,
    settings: Settings,
    *,
    address: str,
    log_stream: str,
    version: str,
    provisioned: bool,
    env_id: str,
) -> Launch:
    """The spec's bootstrap (in the sandbox where there is one), or its image run by a
    container engine: the engine's process takes the variables from ENVIRON by name, and
    ends its container when killed. Raises EntrypointError when there is nothing to run."""
    if spec.image is None:
        return _with_sandbox_hosts(launch(
            spec, settings, sandbox.choose(), api_address=address, log_stream=log_stream,
            version=version, provisioned=provisioned,
        ))  # fmt: skip
    from lambdakit.emulator import containers

    environ = process_environment(
        spec, settings, api_address=address, log_stream=log_stream, version=version,
        provisioned=provisioned,
    )  # fmt: skip
    name = containers.container_name(spec.name, env_id)
    id_file = containers.new_id_file()
    try:
        argv = containers.run_command(spec.image, environ, name=name, id_file=id_file)
    except ContainerEngineError as error:
        containers.remove_id_file(id_file)
        raise FunctionConfigError(f"function {spec.name!r}: {error}") from error
    return Launch(argv, environ, init_begins_at=id_file)


SANDBOX_HOSTS = "127.0.0.1\tsandbox.localdomain sandbox\n"


def _with_sandbox_hosts(started: Launch) -> Launch:
    """STARTED with /etc/hosts naming ``sandbox.localdomain`` in its sandbox, if it has one
    (module docstring); the file is this machine's /etc/hosts and that line."""
    wrap = started.sandbox
    if wrap is None:
        return started
    try:
        hosts = _hosts_file()
    except OSError:  # no cache to write to: the names do not resolve, as outside the sandbox
        return started

    def with_hosts(info_fd: int, command: list[str]) -> list[str]:
        argv = wrap(info_fd, command)
        at = argv.index("--")  # bwrap's options end there; a later mount wins over "/"
        return [*argv[:at], "--ro-bind", str(hosts), "/etc/hosts", *argv[at:]]

    return dataclasses.replace(started, sandbox=with_hosts)


def _hosts_file() -> Path:
    """This machine's /etc/hosts with SANDBOX_HOSTS, in the cache (one file per content)."""
    try:
        machine = Path("/etc/hosts").read_text(encoding="utf-8", errors="replace")
    except OSError:
        machine = "127.0.0.1\tlocalhost\n"
    text = machine.rstrip("\n") + "\n" + SANDBOX_HOSTS
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]

    def fill(staging: Path) -> None:
        (staging / "hosts").write_text(text, encoding="utf-8")

    return make_directory(CACHE / "hosts" / digest, fill) / "hosts"


def owns_client(
    spec: FunctionSpec,
    runtime: RuntimeProcess,
    output: OutputLog,
    client: tuple[str, int],
    server: tuple[str, int],
) -> bool:
    """Whether the Runtime API client at ``client`` is a process of the environment (or that
    cannot be told: a container's processes are the engine's, not our children). A refusal
    is said in the environment's log."""
    if spec.image is not None or runtime.process is None:
        return True
    from lambdakit.emulator import peers
    from lambdakit.emulator.reaping import process_tree

    ours = peers.client_is_one_of(client, server, process_tree(runtime.process.pid))
    if ours is False:
        output.platform(
            None,
            f"lambdakit: refused a Runtime API request from {client[0]}:"
            f"{client[1]}, a process outside this execution environment",
        )
    return ours is not False
