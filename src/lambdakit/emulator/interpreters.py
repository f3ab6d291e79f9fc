"""The CPython a ``python3.X`` function runs on: the one its Runtime names, found on this machine.

Lambda runs ``python3.12`` functions on CPython 3.12 (https://docs.aws.amazon.com/lambda/latest/
dg/lambda-python.html); locally the same minor version is looked for, in this order:

1. ``python3.12`` on PATH (a version manager's shims are skipped: they answer for the version
   selected in the current directory, not for the name they are called by);
2. pyenv: ``$(pyenv root)/versions/3.12.*/bin/python3.12`` (``$PYENV_ROOT``, else ``~/.pyenv``);
3. uv: ``uv python find 3.12`` where uv exists, else uv's install directory
   (``$UV_PYTHON_INSTALL_DIR``, else ``~/.local/share/uv/python``).

A virtual environment's interpreter stands for its base interpreter (the function must not
see the environment's packages). Where no such version exists, the nearest one found is taken
(``exact=False``), and the emulator says so in one line. Results are cached per process.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lambdakit._atomic import make_directory

__all__ = ["Interpreter", "bare_home", "describe", "find_interpreter", "runtime_version"]

# The python3.x runtimes this version of lambdakit knows of; a Runtime outside takes the nearest.
KNOWN = tuple((3, minor) for minor in range(9, 15))
# ``uv python find`` may answer with another version than asked: check it.
_PROBE = "import sys; sys.exit(sys.version_info[:2] != (%d, %d))"


@dataclass(frozen=True, slots=True)
class Interpreter:
    """A CPython found on this machine."""

    path: Path
    version: tuple[int, int]
    source: str
    """Where it was found: ``PATH``, ``pyenv``, ``uv``, or ``lambdakit`` (the emulator's own)."""
    exact: bool = True
    """False when it is the nearest version, not the one asked for."""


def runtime_version(runtime: str) -> tuple[int, int]:
    """``python3.12`` -> (3, 12); a version outside 3.9..3.14 -> the nearest of those."""
    try:
        major, minor = (int(part) for part in runtime.removeprefix("python").split(".", 1))
    except ValueError:
        return sys.version_info[:2]
    return min(KNOWN, key=lambda known: abs(known[1] - minor) + 100 * abs(known[0] - major))


@functools.cache
def find_interpreter(version: tuple[int, int]) -> Interpreter:
    """The interpreter for VERSION, else the nearest version found (``exact=False``).

    Looked up for VERSION alone, and without starting a process where the name says the
    version (PATH, pyenv, uv's directory): the emulator and ``lambdakit invoke`` pay this at
    every start. Only ``uv python find`` runs a process, and only when the rest found none."""
    found = _first(version)
    if found is not None:
        return found
    for other in sorted(KNOWN, key=lambda known: (abs(known[1] - version[1]), -known[1])):
        nearest = _first(other) if other != version else None
        if nearest is not None:
            return Interpreter(nearest.path, nearest.version, nearest.source, exact=False)
    own = sys.version_info[:2]
    base = Path(getattr(sys, "_base_executable", "") or sys.executable)
    return Interpreter(base, own, "lambdakit", exact=own == version)


def describe(name: str, runtime: str, interpreter: Interpreter) -> str:
    """The start-up line (or, not exact, the warning) saying what runs function NAME."""
    version = "%d.%d" % interpreter.version
    where = f"Python {version} ({interpreter.path}, from {interpreter.source})"
    if interpreter.exact:
        return f"{name}: {runtime} runs on {where}"
    return (
        f"{name}: no Python {runtime.removeprefix('python')} found (PATH, pyenv, uv); "
        f"running {runtime} on {where} instead"
    )


@functools.cache
def _first(version: tuple[int, int]) -> Interpreter | None:
    for source, path in _candidates(version):
        base = _base(path)
        if base is not None:
            return Interpreter(base, version, source)
    return None


def _candidates(version: tuple[int, int]) -> Iterator[tuple[str, Path]]:
    name = "python%d.%d" % version
    on_path = shutil.which(name, path=_path_without_shims())
    if on_path:
        yield "PATH", Path(on_path)
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    for directory in sorted(pyenv.glob("%d.%d.*" % version), reverse=True):
        yield "pyenv", directory / "bin" / name
    base = os.environ.get("UV_PYTHON_INSTALL_DIR")
    root = Path(base) if base else Path.home() / ".local" / "share" / "uv" / "python"
    yield from (
        ("uv", path)
        for path in sorted(root.glob(f"cpython-%d.%d.*/bin/{name}" % version), reverse=True)
    )
    uv = shutil.which("uv")
    found = _run([uv, "python", "find", "--no-project", "%d.%d" % version]) if uv else None
    if found and _run([found.strip(), "-S", "-c", _PROBE % version]) is not None:
        yield "uv", Path(found.strip())


def _path_without_shims() -> str:
    entries = os.environ.get("PATH", "").split(os.pathsep)
    return os.pathsep.join(e for e in entries if e and Path(e).name != "shims")


def _base(path: Path) -> Path | None:
    """PATH if it is an executable interpreter; a virtual environment's interpreter stands for
    its base (``home`` in its ``pyvenv.cfg``: the function must not see the environment's
    packages); None if neither runs."""
    if not os.access(path, os.X_OK):
        return None
    config = path.parent.parent / "pyvenv.cfg"
    if not config.is_file():
        return path
    for line in config.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            base = Path(value.strip()) / path.name
            return base if os.access(base, os.X_OK) else None
    return None


def _run(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def bare_home(interpreter: Interpreter, cache: Path) -> Path | None:
    """A PYTHONHOME for INTERPRETER whose standard library is its own (linked entry by entry)
    and whose site-packages does not exist; made once under CACHE. lambdakit's bootstrap
    starts Python with -S, and the runtime then adds ``<prefix>/lib/pythonX.Y/site-packages``
    to sys.path: a machine's interpreter may have anything there, where Lambda's provided.*
    runtimes have no Python packages at all. None if the layout is not CPython's on Unix."""
    version = "python%d.%d" % interpreter.version
    key = hashlib.sha256(str(interpreter.path).encode()).hexdigest()[:12]
    home = cache / "python" / f"{version}-{key}"
    if (home / "lib" / version / "os.py").exists():
        return home  # made before: no need to ask the interpreter where its home is
    probed = _run([str(interpreter.path), "-S", "-c", "import sys; print(sys.base_prefix)"])
    if not probed:
        return None
    stdlib = Path(probed.strip()) / "lib" / version
    if not (stdlib / "os.py").is_file():
        return None

    def fill(staging: Path) -> None:
        (staging / "lib" / version).mkdir(parents=True)
        for entry in stdlib.iterdir():
            if entry.name != "site-packages":
                (staging / "lib" / version / entry.name).symlink_to(entry)
        for archive in stdlib.parent.glob("python*.zip"):
            (staging / "lib" / archive.name).symlink_to(archive)

    return make_directory(home, fill)
