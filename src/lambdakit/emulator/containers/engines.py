"""Container engines: find one (``detect_engine``), and the argv of what it is asked to do.

Docker is used when its daemon answers (``docker`` is often only a client, or a podman shim),
then podman, then buildah, which builds images but cannot run them. A machine with none raises
``ContainerEngineError``, which ``lambdakit image`` translates into the project commands'
``ImageError``. Each ``Engine`` carries the ``Adjustments`` this machine needs (host.py).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lambdakit.emulator.containers.host import (
    ENGINES,
    Adjustments,
    EngineName,
    HostFacts,
    adjustments,
)
from lambdakit.emulator.errors import ContainerEngineError


@dataclass(frozen=True, slots=True, kw_only=True)
class Engine:
    """A container engine found on this machine, with what this machine needs of it."""

    name: EngineName
    executable: str
    adjust: Adjustments = field(default_factory=Adjustments)
    init: bool = True
    """``run --init`` works (docker ships its init; podman needs catatonit)."""
    memory_limits: bool = True
    """``run -m`` works (not for rootless podman on cgroup v1, which ignores it)."""
    passthrough_logs: bool = False
    """``run --log-driver passthrough`` works (podman 4+): the container writes to our pipes
    itself, so its logs arrive before its answer, as a bootstrap's do; attached output comes
    later, through conmon."""

    @property
    def can_run(self) -> bool:
        return self.name != "buildah"

    def argv(self, *args: str) -> list[str]:
        """``<engine> <this machine's global flags> ARGS``."""
        return [self.executable, *self.adjust.global_flags, *args]

    def environ(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """BASE (default: ours) plus the variables the engine needs here."""
        return {**(os.environ if base is None else base), **self.extra_environ()}

    def extra_environ(self) -> dict[str, str]:
        if self.adjust.containers_conf is None:
            return {}
        return {"CONTAINERS_CONF": str(_write_conf(self.adjust.containers_conf))}

    def build_argv(
        self, context: Path, *, dockerfile: Path, tag: str, build_args: Mapping[str, str]
    ) -> list[str]:
        cache = self.adjust.layer_cache
        verb = {
            "docker": ["build"],
            "podman": ["build", *([] if cache else ["--layers=false"])],
            "buildah": ["bud", *(["--layers"] if cache else [])],
        }
        args = [a for key, value in build_args.items() for a in ("--build-arg", f"{key}={value}")]
        return self.argv(
            *verb[self.name], *self.adjust.build_flags, "-t", tag, "-f", str(dockerfile),
            *args, str(context),
        )  # fmt: skip

    def run_argv(
        self,
        image: str,
        *,
        names: Sequence[str],
        name: str,
        memory_mb: int | None,
        id_file: str | None = None,
    ) -> list[str]:
        """``run`` with the host's network (the Runtime API listens on its 127.0.0.1); each
        variable by name only, so values (credentials) stay out of argv: the engine takes
        them from its own environment. ID_FILE: where the engine writes the container's id
        once it has created it (``--cidfile``), just before starting it."""
        args = ["run", "--rm", "--network", "host", "--name", name]
        if id_file is not None:
            args += ["--cidfile", id_file]
        if self.init:
            args.append("--init")  # PID 1 ignores SIGTERM without a handler; init forwards it
        if self.passthrough_logs:
            args += ["--log-driver", "passthrough"]
        if memory_mb and self.memory_limits:
            args += ["-m", f"{memory_mb}m", "--memory-swap", f"{memory_mb}m"]  # no swap
        args += [a for variable in names for a in ("-e", variable)]
        return self.argv(*args, image)

    def remove_argv(self, name: str) -> list[str]:
        """Remove the container now (podman would otherwise wait 10 s before SIGKILL)."""
        return self.argv("rm", "-f", *(["-t", "0"] if self.name == "podman" else []), name)


def _write_conf(contents: str) -> Path:
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lambdakit"
    path = cache / "containers.conf"
    try:
        if not path.is_file() or path.read_text(encoding="utf-8") != contents:
            cache.mkdir(parents=True, exist_ok=True)
            temporary = path.with_suffix(f".{os.getpid()}")
            temporary.write_text(contents, encoding="utf-8")
            temporary.replace(path)
    except OSError as error:
        raise ContainerEngineError(
            f"cannot write {path} (container engine settings): {error}"
        ) from error
    return path


def detect_engine(
    prefer: str | None = None,
    *,
    purpose: Literal["build", "run"] = "build",
    which: Callable[[str], str | None] = shutil.which,
    docker_answers: Callable[[str], bool] | None = None,
    facts: HostFacts | None = None,
    environ: Mapping[str, str] | None = None,
) -> Engine:
    """The engine to use: PREFER, else the first of docker (if its daemon answers), podman and
    buildah (only to build) that is installed. Raises ContainerEngineError if there is none."""
    if prefer is not None and prefer not in ENGINES:
        raise ContainerEngineError(
            f"unknown container engine {prefer!r}; choose docker, podman or buildah"
        )
    if prefer == "buildah" and purpose == "run":
        raise ContainerEngineError(
            "buildah builds images but cannot run them; install podman or docker"
        )
    candidates = [e for e in ENGINES if e == prefer or (prefer is None and _fits(e, purpose))]
    problems: list[tuple[str, str]] = []  # (what is wrong, what to do)
    for name in candidates:
        executable = which(name)
        if executable is None:
            problems.append((f"{name} is not installed", "install it"))
        elif name == "docker" and not (docker_answers or _docker_answers)(executable):
            problems.append(("docker is installed but its daemon does not answer", "start it"))
        else:
            return _engine(name, executable, facts or _facts(which), environ)
    if prefer is not None:
        problem, fix = problems[0]
        raise ContainerEngineError(
            f"cannot use {prefer}: {problem}; {fix} or choose another engine"
        )
    what = "build images" if purpose == "build" else "run images"
    found = "; ".join(problem for problem, _ in problems)
    raise ContainerEngineError(f"no container engine to {what} ({found}): install docker or podman")


def _facts(which: Callable[[str], str | None]) -> HostFacts:
    return _host_facts() if which is shutil.which else HostFacts.probe(which=which)


@functools.cache
def _host_facts() -> HostFacts:
    """Probed once per process: asking podman for its storage driver takes a while."""
    return HostFacts.probe()


def _fits(engine: EngineName, purpose: str) -> bool:
    return purpose == "build" or engine != "buildah"


def _engine(
    name: EngineName, executable: str, facts: HostFacts, environ: Mapping[str, str] | None
) -> Engine:
    rootless_v1 = name == "podman" and not facts.root and facts.cgroup_v1
    return Engine(
        name=name,
        executable=executable,
        adjust=adjustments(name, facts, os.environ if environ is None else environ),
        init=name != "podman" or facts.catatonit,
        memory_limits=not rootless_v1,
        passthrough_logs=name == "podman" and _major_version(executable) >= 4,
    )


@functools.cache
def _major_version(executable: str) -> int:
    """The major version of a podman executable (``podman version 4.3.1``), or 0."""
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    words = done.stdout.split()
    major = words[-1].split(".")[0] if words else ""
    return int(major) if major.isdigit() else 0


@functools.cache
def _docker_answers(executable: str) -> bool:
    """`docker` is often only a client (or a podman shim); use it if a daemon answers."""
    try:
        done = subprocess.run(
            [executable, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and bool(done.stdout.strip())


__all__ = ["Engine", "detect_engine"]
