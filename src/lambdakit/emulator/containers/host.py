"""What this machine needs of podman and buildah: ``HostFacts`` read from /proc and /sys, and
the ``Adjustments`` they call for.

Podman and buildah need settings on some machines that users should not have to type, so
they are derived here from facts, and applied only where a fact calls for them (docs/project.md
has the table):

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
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

EngineName = Literal["docker", "podman", "buildah"]
ENGINES: tuple[EngineName, ...] = ("docker", "podman", "buildah")
FLAGS_VARIABLE = "LAMBDAKIT_CONTAINER_FLAGS"
NO_ULIMITS_CONF = "[containers]\ndefault_ulimits = []\n"
CAP_SYS_RESOURCE = 24
CATATONIT = ("/usr/libexec/podman/catatonit", "/usr/lib/podman/catatonit", "/usr/bin/catatonit")


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


__all__ = [
    "ENGINES",
    "NO_ULIMITS_CONF",
    "Adjustments",
    "EngineName",
    "HostFacts",
    "adjustments",
]
