"""Container engines: find one, adapt it to this machine, run an image as an environment.

- ``detect_engine(prefer)``: docker (when its daemon answers), then podman, then buildah, which
  builds images but cannot run them. A machine with none raises ``ContainerEngineError``.
- ``HostFacts`` and ``adjustments``: podman and buildah need settings on some machines that
  users should not have to type, so they are derived here from facts read from /proc and
  /sys, and applied only where a fact calls for them (docs/project.md has the table):

  ==============================================  =========================================
  fact                                            adjustment
  ==============================================  =========================================
  root without CAP_SYS_RESOURCE (a container      ``CONTAINERS_CONF`` with ``default_ulimits
  or VM sandbox)                                  = []``: podman raises RLIMIT_NOFILE/NPROC
                                                  in containers, which needs that capability
  hybrid cgroups (v1 + a v2 ``unified`` mount)    ``--runtime runc`` (crun refuses hybrid
  and crun installed                              mode); builds use ``--isolation chroot``
  no systemd                                      ``--cgroup-manager cgroupfs``
  a sandboxed root (as above) or container        ``--storage-driver vfs`` (overlay mounts
  storage on overlayfs                            fail there); but a store podman already
                                                  uses keeps its driver, and buildah is
                                                  given the same one
  ==============================================  =========================================

  ``LAMBDAKIT_CONTAINER_FLAGS`` (podman's and buildah's global flags, shell syntax) replaces
  the detected flags; a ``CONTAINERS_CONF`` of the user's own is left alone.
- ``run_command(image, environ, engine=, name=)``: the argv of one execution environment that
  runs an image. The engine runs under a small supervisor (this file, run as a script with
  the standard library only) so that the process behaves like any ``bootstrap``: SIGTERM to its
  process group reaches the container (the engine's ``--sig-proxy``), and SIGKILL, which the
  engine cannot forward, still ends the container: a watcher in its own session notices the
  supervisor is gone (its pipe closes) and runs ``<engine> rm -f NAME``.

Errors: ``ContainerEngineError`` (lambdakit.emulator.errors) for a missing or unusable engine.
It is imported where it is raised, so that this file runs as a script without lambdakit on
sys.path; ``lambdakit image`` translates it into the project commands' ``ImageError``.
"""

from __future__ import annotations

import functools
import itertools
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from lambdakit.emulator.errors import ContainerEngineError

__all__ = [
    "ENGINES",
    "Adjustments",
    "Engine",
    "HostFacts",
    "adjustments",
    "container_name",
    "detect_engine",
    "forwarded_names",
    "run_command",
]

EngineName = Literal["docker", "podman", "buildah"]
ENGINES: tuple[EngineName, ...] = ("docker", "podman", "buildah")
FLAGS_VARIABLE = "LAMBDAKIT_CONTAINER_FLAGS"
NO_ULIMITS_CONF = "[containers]\ndefault_ulimits = []\n"
CAP_SYS_RESOURCE = 24
# Variables that point into this machine (the image has its own) or only matter to it.
HOST_ONLY = frozenset(
    {
        "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "PATH", "HOME", "TMPDIR", "SYSTEMROOT",
        "LD_LIBRARY_PATH", "PYTHONPATH", "LAMBDAKIT_LAYERS", "LAMBDAKIT_PYTHON",
        "CONTAINERS_CONF",
    }
)  # fmt: skip
CATATONIT = ("/usr/libexec/podman/catatonit", "/usr/lib/podman/catatonit", "/usr/bin/catatonit")


def _error(message: str) -> ContainerEngineError:
    from lambdakit.emulator.errors import ContainerEngineError

    return ContainerEngineError(message)


# --- what this machine needs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFacts:
    """What decides the adjustments; ``probe()`` reads them from /proc and /sys."""

    root: bool = False
    sys_resource: bool = True
    hybrid_cgroups: bool = False
    cgroup_v1: bool = False
    systemd: bool = True
    overlay_storage: bool = False
    store_driver: str | None = None
    """The storage driver podman's database already holds, where that matters (below)."""
    crun: bool = False
    runc: bool = True
    catatonit: bool = True

    @property
    def sandboxed(self) -> bool:
        """Root without CAP_SYS_RESOURCE: inside a container or a restricted VM."""
        return self.root and not self.sys_resource

    @classmethod
    def probe(cls, *, which: Callable[[str], str | None] = shutil.which) -> HostFacts:
        mounts = _mounts()
        cgroup_root = mounts.get("/sys/fs/cgroup", "")
        root = os.geteuid() == 0
        storage = "/var/lib/containers/storage" if root else "~/.local/share/containers/storage"
        storage = os.path.expanduser(storage)
        facts = cls(
            root=root,
            sys_resource=_has_capability(CAP_SYS_RESOURCE),
            hybrid_cgroups=cgroup_root == "tmpfs" and "/sys/fs/cgroup/unified" in mounts,
            cgroup_v1=cgroup_root == "tmpfs",
            systemd=os.path.isdir("/run/systemd/system"),
            overlay_storage=_filesystem(storage, mounts) == "overlay",
            crun=which("crun") is not None,
            runc=which("runc") is not None,
            catatonit=any(os.path.exists(p) for p in CATATONIT) or which("catatonit") is not None,
        )
        if facts.sandboxed or facts.overlay_storage:
            facts = replace(facts, store_driver=_store_driver(storage, which("podman")))
        return facts


def _mounts() -> dict[str, str]:
    """Mount point -> filesystem type, from /proc/self/mounts (the last mount wins)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as lines:
            return {parts[1]: parts[2] for parts in (line.split() for line in lines)}
    except OSError:
        return {}


def _filesystem(path: str, mounts: Mapping[str, str]) -> str:
    """The filesystem type of the longest mount point that holds PATH."""
    holders = [m for m in mounts if path == m or path.startswith(m.rstrip("/") + "/")]
    return mounts[max(holders, key=len)] if holders else ""


def _store_driver(storage: str, podman: str | None) -> str | None:
    """Podman records the storage driver in its database when first run and refuses any other
    afterwards ("database configuration mismatch"). Ask it, but only if that database exists:
    asking would create it."""
    databases = ("bolt_state.db", "db.sql")
    if podman is None or not any(os.path.exists(f"{storage}/libpod/{d}") for d in databases):
        return None
    try:
        done = subprocess.run(
            [podman, "info", "--format", "{{.Store.GraphDriverName}}"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    driver = done.stdout.strip()
    return driver if done.returncode == 0 and driver else None


def _has_capability(bit: int) -> bool:
    try:
        with open("/proc/self/status", encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> bit & 1)
    except (OSError, ValueError):
        pass
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Adjustments:
    """Settings one engine needs on this machine, with the reasons for them."""

    global_flags: tuple[str, ...] = ()
    build_flags: tuple[str, ...] = ()
    containers_conf: str | None = None
    """Contents for a file named by CONTAINERS_CONF."""
    layer_cache: bool = True
    """Build step by step with a cache: not with vfs, which copies the whole image each step."""
    reasons: tuple[str, ...] = ()


def adjustments(engine: EngineName, facts: HostFacts, environ: Mapping[str, str]) -> Adjustments:
    """What ENGINE needs here. Docker's daemon holds its own configuration: nothing."""
    if engine == "docker":
        return Adjustments()
    flags: list[str] = []
    build: list[str] = []
    reasons: list[str] = []
    if facts.sandboxed or facts.overlay_storage:
        # Overlay mounts fail on overlayfs and often in sandboxes; vfs works everywhere. But a
        # store podman already uses keeps its driver: podman refuses any --storage-driver
        # other than what its database holds (even the default, named), and buildah must use
        # the same one to see podman's images and to make images podman sees.
        if facts.store_driver is None:
            flags += ["--storage-driver", "vfs"]
            reasons.append("sandboxed root or storage on overlayfs: vfs storage")
        elif engine == "buildah":
            flags += ["--storage-driver", facts.store_driver]
            reasons.append(f"podman's image store uses {facts.store_driver}")
    if facts.hybrid_cgroups and facts.crun:
        build += ["--isolation", "chroot"]
        reasons.append("crun does not support hybrid cgroups: chroot isolation for builds")
        if engine == "podman" and facts.runc:
            flags += ["--runtime", "runc"]
    if engine == "podman" and not facts.systemd:
        flags += ["--cgroup-manager", "cgroupfs"]
    if FLAGS_VARIABLE in environ:
        flags = shlex.split(environ[FLAGS_VARIABLE])
        reasons.append(f"{FLAGS_VARIABLE}={environ[FLAGS_VARIABLE]}")
    conf = None
    if facts.root and not facts.sys_resource and "CONTAINERS_CONF" not in environ:
        conf = NO_ULIMITS_CONF
        reasons.append("root without CAP_SYS_RESOURCE: no default ulimits in containers")
    return Adjustments(
        global_flags=tuple(flags),
        build_flags=tuple(build),
        containers_conf=conf,
        layer_cache=(_driver(flags) or facts.store_driver) != "vfs",
        reasons=tuple(reasons),
    )


def _driver(flags: Sequence[str]) -> str | None:
    for flag, value in itertools.pairwise(flags):
        if flag == "--storage-driver":
            return value
    return next((f.split("=", 1)[1] for f in flags if f.startswith("--storage-driver=")), None)


# --- engines ----------------------------------------------------------------------------------


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
        self, image: str, *, names: Sequence[str], name: str, memory_mb: int | None
    ) -> list[str]:
        """``run`` with the host's network (the Runtime API listens on its 127.0.0.1); each
        variable by name only, so values (credentials) stay out of argv: the engine takes
        them from its own environment."""
        args = ["run", "--rm", "--network", "host", "--name", name]
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
        raise _error(f"cannot write {path} (container engine settings): {error}") from error
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
        raise _error(f"unknown container engine {prefer!r}; choose docker, podman or buildah")
    if prefer == "buildah" and purpose == "run":
        raise _error("buildah builds images but cannot run them; install podman or docker")
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
        raise _error(f"cannot use {prefer}: {problem}; {fix} or choose another engine")
    what = "build images" if purpose == "build" else "run images"
    found = "; ".join(problem for problem, _ in problems)
    raise _error(f"no container engine to {what} ({found}): install docker or podman")


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


# --- an image as an execution environment -----------------------------------------------------


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
) -> list[str]:
    """The argv of an execution environment that runs IMAGE (its ENTRYPOINT and CMD are the
    bootstrap and handler). Spawn it with ENVIRON as its environment: the variables go into
    the container by name. MEMORY_MB (default: AWS_LAMBDA_FUNCTION_MEMORY_SIZE) limits the
    container where the engine can. ENGINE: an Engine, a name, or None for docker or podman."""
    chosen = engine if isinstance(engine, Engine) else detect_engine(engine, purpose="run")
    if not chosen.can_run:
        raise _error(f"{chosen.name} cannot run images; install podman or docker")
    memory = memory_mb or int(environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") or 0) or None
    run = chosen.run_argv(image, names=forwarded_names(environ), name=name, memory_mb=memory)
    sets = [a for k, v in chosen.extra_environ().items() for a in ("--set", f"{k}={v}")]
    supervisor = [sys.executable, "-I", "-S", os.path.abspath(__file__), *sets]
    return [*supervisor, "--rm", *chosen.remove_argv(name), "--", *run]


# --- the supervisor (this file as a script: standard library only) ----------------------------

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
        raise SystemExit("usage: containers.py [--set K=V]... --rm REMOVE... -- RUN...")
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
