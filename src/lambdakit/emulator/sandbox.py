"""The filesystem Lambda gives a function, for a local process: bubblewrap (``bwrap``).

An environment's process in the sandbox sees (https://docs.aws.amazon.com/lambda/latest/dg/
configuration-envvars.html#configuration-envvars-runtime, /lambda/latest/dg/
packaging-layers.html):

- ``/var/task``: the function's code, with the packages prepared for it next to it (as a
  build installs them into the zip), read-only, so that stack traces read /var/task/app.py;
- ``/opt``: the layers merged in their order, a later layer's files over an earlier one's (a
  ``BuildMethod`` layer's files and packages in /opt/python), read-only;
- ``/var/runtime``: lambdakit's runtime package;
- ``/tmp``: a tmpfs of its own, ``EphemeralStorage`` in size (512 MB by default);
- everything else of this machine read-only (the interpreter, the system's libraries); /dev
  read-only too, so /dev/shm cannot be written (Lambda has none: multiprocessing's Pool and
  Queue fail there, and here);
- its own process namespace (it sees its own processes only, and no other environment's
  variables in /proc) and IPC namespace. The network is the machine's: the Runtime API is on
  127.0.0.1.

Nothing is copied: the merge is made of bind mounts, one per entry that only one source has,
directories made where several have the same one. The process's view of the paths is
``lambda_layout``; the host's, ``layout.host_layout``. A host path the process still needs
(the interpreter, the SDK) that falls under /tmp, /var or /opt is bound again where it is.

``bwrap`` runs unprivileged where the kernel allows user namespaces (it makes one itself), and
as root. Its own processes stay out of the way: the runtime is the child of the namespace's
PID 1 (bwrap's), in a session of its own (``--new-session``), so the SIGTERM of a shutdown is
sent to that group and never kills bwrap first (which would SIGKILL the runtime through
``--die-with-parent``). ``LAMBDAKIT_SANDBOX=0`` turns it off: plain processes, as where no
bwrap exists.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from lambdakit.emulator.layout import Layout, OptPart

__all__ = ["VARIABLE", "Sandbox", "arguments", "choose", "describe", "host_paths", "lambda_layout"]

VARIABLE = "LAMBDAKIT_SANDBOX"
TASK, OPT, RUNTIME = Path("/var/task"), Path("/opt"), Path("/var/runtime")
REPLACED = (Path("/tmp"), Path("/var"), Path("/opt"))  # what the sandbox mounts anew
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Sandbox:
    """The mechanism in force for every environment of this emulator."""

    name: str
    """``bubblewrap``, or ``none``: plain processes."""
    detail: str
    program: str | None = None
    """The ``bwrap`` to run."""

    @property
    def active(self) -> bool:
        return self.program is not None


_chosen: Sandbox | None = None


def choose() -> Sandbox:
    """The mechanism, decided at the first call (the emulator's start) by trying it once."""
    global _chosen
    if _chosen is None:
        _chosen = _decide(os.environ.get(VARIABLE, "").strip().lower())
    return _chosen


def _decide(asked: str) -> Sandbox:
    if asked in ("0", "off", "no", "false"):
        return Sandbox("none", f"{VARIABLE}={asked}")
    if os.uname().sysname != "Linux":
        return Sandbox("none", "mount namespaces are Linux's")
    program = shutil.which("bwrap")
    if program is None:
        return Sandbox("none", "no `bwrap` on PATH; install bubblewrap (Debian, Ubuntu, Fedora: "
                       "package `bubblewrap`) for /var/task, /opt and a private /tmp")  # fmt: skip
    failure = _try(program)
    if failure:
        return Sandbox("none", f"bwrap cannot make a sandbox here ({failure})")
    return Sandbox(
        "bubblewrap",
        "/var/task, /opt and /var/runtime read-only, a private /tmp and process namespace "
        "per environment",
        program,
    )


def _try(program: str) -> str | None:
    """None if PROGRAM makes a sandbox such as ``arguments`` asks for, else why not."""
    argv = [program, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc"]
    argv += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/var"]
    argv += ["--remount-ro", "/var", "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    if done.returncode != 0:
        text = done.stderr.decode(errors="replace").strip().splitlines()
        return text[-1] if text else f"exit status {done.returncode}"
    return None


def describe(sandbox: Sandbox, *, images: bool = False) -> str:
    """The start-up line: ``filesystem: bubblewrap (...)``."""
    if sandbox.active:
        line = f"filesystem: {sandbox.name} ({sandbox.detail})"
        return line + ("; functions from container images have their image's" if images else "")
    return (
        f"filesystem: plain processes ({sandbox.detail}): functions see this machine's files, "
        "its /tmp and its processes, and their code where it is, not at /var/task"
    )


def lambda_layout(spec_layout: Layout) -> Layout:
    """What the process sees in the sandbox: Lambda's paths, one for each part."""
    del spec_layout  # the same for every function: the mounts make it so
    return Layout((TASK,), (OptPart(OPT),), RUNTIME, sandboxed=True)


def arguments(
    sandbox: Sandbox,
    host: Layout,
    argv: list[str],
    *,
    tmp_mb: int,
    keep: Iterable[Path] = (),
    info_fd: int | None = None,
) -> list[str]:
    """The ``bwrap`` command that runs ARGV (written for ``lambda_layout``) with HOST's
    directories at Lambda's paths, a /tmp of TMP_MB, and the host paths KEEP visible where
    they are (``host_paths``). INFO_FD receives bwrap's JSON with the ``child-pid``: the
    namespace's PID 1, whose process group the runtime is in."""
    assert sandbox.program is not None
    ops = [sandbox.program, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc"]
    if info_fd is not None:
        ops += ["--info-fd", str(info_fd)]
    ops += ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    ops += ["--size", str(tmp_mb * MIB), "--tmpfs", "/tmp", "--tmpfs", "/var", "--tmpfs", "/opt"]
    ops += _place(str(TASK), [(path, ()) for path in host.task])
    ops += ["--ro-bind", str(host.runtime), str(RUNTIME)]
    ops += _children(str(OPT), [(part.root, (part.at,) if part.at else ()) for part in host.opt])
    for path in _replaced(keep):
        ops += ["--ro-bind", str(path), str(path)]
    ops += ["--remount-ro", "/var", "--remount-ro", "/opt", "--remount-ro", "/dev"]
    return [*ops, "--chdir", str(TASK), "--", *argv]


def host_paths(
    argv: list[str],
    environ: Mapping[str, str],
    extra: Iterable[Path],
    *,
    python: bool,
    own: Mapping[str, str] | None = None,
) -> list[Path]:
    """The host paths a process started by ARGV with ENVIRON needs to see: its interpreter's
    installation (ARGV[0] when PYTHON, else ``LAMBDAKIT_PYTHON``), ``PYTHONHOME``, EXTRA, and
    the programs the function's OWN variables name (``--env TOOL=/tmp/venv/bin/python``: an
    executable file, with its installation when it sits in a ``bin`` directory). A directory
    a variable names is not kept: it could hide the function's own /tmp (HF_HOME=/tmp/hf)."""
    paths = [Path(p) for p in extra]
    for value in (own or {}).values():
        program = Path(value)
        if program.is_absolute() and program.is_file() and os.access(program, os.X_OK):
            paths.append(program.parent.parent if program.parent.name == "bin" else program)
    interpreters = [argv[0] if python else None, environ.get("LAMBDAKIT_PYTHON")]
    for executable in filter(None, interpreters):
        path = Path(executable)
        if path.is_absolute():
            paths += [path.parent.parent, path.resolve().parent.parent]
    if environ.get("PYTHONHOME"):
        paths.append(Path(environ["PYTHONHOME"]))
    return paths


def _replaced(paths: Iterable[Path]) -> list[Path]:
    """Those of PATHS that the sandbox's own /tmp, /var or /opt would hide (never those
    directories themselves), outermost first, none inside another."""
    hidden = sorted(
        {p for p in paths if p not in REPLACED and any(r in p.parents for r in REPLACED)}
    )
    kept: list[Path] = []
    for path in hidden:
        if path.exists() and not any(k == path or k in path.parents for k in kept):
            kept.append(path)
    return kept


Candidate = tuple[Path, tuple[str, ...]]
"""A host path, and the directories above it that exist only in the merge (a BuildMethod
layer's files land in /opt/python: its candidate at /opt is ``(layer, ("python",))``)."""


def _place(inside: str, candidates: list[Candidate]) -> list[str]:
    """Mount arguments that make INSIDE what CANDIDATES (the winner first) merge to."""
    present = [c for c in candidates if c[1] or os.path.lexists(c[0])]
    if not present:
        return ["--dir", inside]
    path, prefix = present[0]
    if not prefix and not _directory(path):
        return _bind(path, inside)  # a file (or link) wins over whatever is below it
    merged = list(itertools.takewhile(lambda c: bool(c[1]) or _directory(c[0]), present))
    if len(merged) == 1 and not prefix:
        return ["--ro-bind", str(path), inside]
    return ["--dir", inside, *_children(inside, merged)]


def _children(inside: str, merged: list[Candidate]) -> list[str]:
    """Mount arguments for the entries of INSIDE, a directory the MERGED directories make."""
    entries: dict[str, list[Candidate]] = {}
    for path, prefix in merged:
        if prefix:
            entries.setdefault(prefix[0], []).append((path, prefix[1:]))
        elif _directory(path):
            for name in sorted(os.listdir(path)):
                entries.setdefault(name, []).append((path / name, ()))
    ops: list[str] = []
    for name, group in entries.items():
        ops += _place(f"{inside}/{name}", group)
    return ops


def _bind(path: Path, inside: str) -> list[str]:
    """PATH at INSIDE; a link is followed (a relative one could point outside the merge), and
    one that points nowhere is left out, as it would point nowhere there too."""
    return ["--ro-bind-try", str(path), inside]


def _directory(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()
