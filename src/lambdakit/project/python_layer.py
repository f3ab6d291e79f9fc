"""An interpreter layer for provided.* functions: a relocatable CPython (python-build-standalone's
install_only build) that Lambda extracts to /opt, so that /opt/bin/python3 runs the code.
"""

from __future__ import annotations

import os
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

from lambdakit.project.contents import Target, file_mode
from lambdakit.project.errors import BuildError
from lambdakit.project.zips import SYMLINK, Files, Source

__all__ = ["python_layer_files"]

# What a function never imports: the test suite, IDLE, Tk, headers and static libraries.
_INTERPRETER_SKIP = re.compile(
    r"(include|share|lib/(tcl|tk|itcl|thread|pkgconfig)[^/]*"
    r"|lib/python3\.\d+/(test|idlelib|tkinter|turtledemo|config-[^/]*))(/.*)?|.*\.a"
)
_ELF_MACHINES = {62: "x86_64", 183: "arm64"}


def python_layer_files(source: Path, plan: Target, work: Path, say: Callable[[str], None]) -> Files:
    say(f"adding the interpreter in {source}")
    base = source
    if source.is_file():
        base = work / "python-layer"
        _extract(source, base)
    root = next((d for d in (base, base / "python") if os.path.lexists(d / "bin/python3")), None)
    if root is None:
        raise BuildError(
            f"{source} has no bin/python3 (nor python/bin/python3): give a relocatable CPython, "
            "such as python-build-standalone's install_only .tar.gz, or its extracted directory"
        )
    _check_interpreter(source, root, plan)
    files: Files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for name in [*dirnames, *filenames]:
            path = here / name
            arcname = path.relative_to(root).as_posix()
            if _INTERPRETER_SKIP.fullmatch(arcname):
                if name in dirnames:
                    dirnames.remove(name)
            elif path.is_symlink():
                files[arcname] = _link(path, root)
            elif name in filenames:
                files[arcname] = (path, file_mode(path))
    return files


def _extract(archive: Path, dest: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):  # 3.12, and 3.10.12/3.11.4 onwards
                tar.extractall(dest, filter="data")
            else:  # pragma: no cover - older patch releases: trusted input only
                tar.extractall(dest)
    except (tarfile.TarError, OSError) as exc:
        raise BuildError(
            f"cannot extract {archive}: {exc}; give a .tar.gz (python-build-standalone's "
            "install_only archive) or a directory"
        ) from exc


def _link(path: Path, root: Path) -> tuple[Source, int]:
    """A link within the tree stays a link (python3 -> python3.12); others are copied."""
    real = Path(os.path.realpath(path))
    if real.is_relative_to(root.resolve()):
        return os.path.relpath(real, os.path.realpath(path.parent)).encode(), SYMLINK
    if real.is_file():
        return real, file_mode(real)
    raise BuildError(f"{path} links to {real}, outside the interpreter's directory")


def _check_interpreter(source: Path, root: Path, plan: Target) -> None:
    versions = sorted(p.name[6:] for p in (root / "lib").glob("python3.*") if p.is_dir())
    if versions and plan.python not in versions:
        raise BuildError(
            f"{source} is CPython {', '.join(versions)}, and the function is built for "
            f"{plan.python}: use the {plan.python} build, or build with --python {versions[0]}"
        )
    try:
        with open(root / "bin/python3", "rb") as binary:
            head = binary.read(20)
    except OSError as exc:
        raise BuildError(f"cannot read {root / 'bin/python3'}: {exc.strerror}") from exc
    if head[:4] == b"\x7fELF":
        machine = _ELF_MACHINES.get(int.from_bytes(head[18:20], "little"), "another machine")
        if machine != plan.arch:
            raise BuildError(
                f"{source} is built for {machine} and the function for {plan.arch}: use the "
                f"{plan.arch} build (aarch64 is arm64), or build with --arch {machine}"
            )
