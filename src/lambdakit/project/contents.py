"""What goes into a function's zip and the runtime layer: code, requirements, the lambdakit
runtime, and precompiled bytecode.

Requirements are wheels for the target's CPython, architecture and glibc, prepared (and cached)
by ``lambdakit.dependencies``, the same installer and cache the emulator uses. Bytecode
is precompiled (unchecked-hash .pyc: Lambda's /var/task is read-only, so Python cannot cache
what it compiles) when this interpreter is the target's version.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import lambdakit
from lambdakit import dependencies
from lambdakit._vendoring import runtime_files
from lambdakit.project.errors import BuildError
from lambdakit.project.zips import Files, Source
from lambdakit.template import FunctionSpec

__all__ = [
    "PACKAGE",
    "WRAPPER",
    "WRAPPER_PATH",
    "Target",
    "bytecode",
    "code_files",
    "dependency_files",
    "file_mode",
    "function_files",
    "python_minor",
    "requirement_files",
    "runtime_layer_files",
]

PACKAGE = Path(lambdakit.__file__).parent
WRAPPER = Path(__file__).parent / "wrapper" / "lambdakit-wrapper"
# Where the runtime layer's wrapper lands on Lambda: what AWS_LAMBDA_EXEC_WRAPPER must name.
WRAPPER_PATH = "/opt/lambdakit-wrapper"

# Never part of a function: caches, version control, virtual environments, tests, tools.
SKIP_DIRS = frozenset({
    "__pycache__", ".git", ".hg", ".svn", ".lambdakit", ".aws-sam", ".pytest_cache",
    ".mypy_cache", ".ruff_cache", ".tox", ".nox", ".eggs", ".idea", ".vscode", "node_modules",
    "tests",
})  # fmt: skip
SKIP_FILES = frozenset({".DS_Store", "Thumbs.db", ".coverage"})
SKIP_AT_ROOT = frozenset({
    "template.yaml", "template.yml", "template.json", "samconfig.toml", "samconfig.yaml",
    "samconfig.yml", "Dockerfile", ".dockerignore", ".gitignore",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Target:
    """What a build is for: the Lambda runtime, the CPython version and the architecture."""

    runtime: str
    python: str
    arch: str

    @property
    def managed(self) -> bool:
        return self.runtime.startswith("python")

    @property
    def glibc_minor(self) -> int:
        # provided.al2023 and python3.12+ run on Amazon Linux 2023; the others on AL2.
        if self.runtime.startswith("provided"):
            return dependencies.GLIBC[self.runtime.removeprefix("provided.")]
        return dependencies.GLIBC["al2023" if python_minor(self.python) >= 12 else "al2"]


def python_minor(python: str) -> int:
    return int(python.split(".")[1])


def function_files(
    spec: FunctionSpec, plan: Target, output: Path, work: Path, say: Callable[[str], None]
) -> Files:
    files = requirement_files(spec.code_dir, plan, say)
    say(f"adding the code in {spec.code_dir}")
    files.update(code_files(spec.code_dir, output))
    if plan.managed:
        files.pop("bootstrap", None)  # a managed runtime starts through AWS_LAMBDA_EXEC_WRAPPER
    else:
        files.update(_runtime_files("lambdakit"))
        own = spec.code_dir / "bootstrap"
        files["bootstrap"] = (own if own.is_file() else PACKAGE / "runtime" / "bootstrap", 0o755)
    files.update(bytecode(files, plan, "/var/task/", work / "pyc-function", say))
    return files


def requirement_files(directory: Path, plan: Target, say: Callable[[str], None]) -> Files:
    """The packages DIRECTORY's requirements.txt / pyproject.toml name, installed for PLAN
    (``lambdakit.dependencies.prepare``: the emulator's resolver and cache); {} if none."""
    try:
        deps = dependencies.prepare(
            dependencies.sources_in(directory), python_version=(3, python_minor(plan.python)),
            arch=plan.arch, glibc_minor=plan.glibc_minor, progress=say,
        )  # fmt: skip
    except dependencies.DependencyError as exc:
        raise BuildError(str(exc)) from exc
    return {} if deps is None else dependency_files(deps)


def runtime_layer_files(plan: Target, work: Path, say: Callable[[str], None]) -> Files:
    files: Files = {"lambdakit-wrapper": (WRAPPER, 0o755)}
    files.update(_runtime_files("python/lambdakit"))
    files.update(bytecode(files, plan, "/opt/", work / "pyc-layer", say))
    return files


def _runtime_files(prefix: str) -> Files:
    """The runtime part of this installation's lambdakit package, under PREFIX."""
    return {
        f"{prefix}/{relative.as_posix()}": (PACKAGE / relative, file_mode(PACKAGE / relative))
        for relative in runtime_files(PACKAGE)
    }


def code_files(code_dir: Path, output: Path) -> Files:
    def skip(path: Path, is_dir: bool) -> bool:
        if is_dir:
            if path.name in SKIP_DIRS or (path / "pyvenv.cfg").is_file():
                return True
            return os.path.realpath(path) == os.path.realpath(output)
        if path.parent == code_dir and path.name in SKIP_AT_ROOT:
            return True
        return path.name in SKIP_FILES or path.suffix in (".pyc", ".pyo")

    return {name: (path, file_mode(path)) for name, path in _walk(code_dir, skip)}


def dependency_files(deps: Path) -> Files:
    """The installer's output (read from the cache, never changed), without what would differ
    between two builds or machines."""
    files: Files = {}
    for name, path in _walk(deps, lambda p, is_dir: is_dir and p.name == "__pycache__"):
        if name.endswith(".dist-info/direct_url.json"):  # the local path or URL installed from
            continue
        content: Source = path
        if name.endswith(".dist-info/RECORD"):
            lines = path.read_bytes().splitlines(keepends=True)
            content = b"".join(line for line in lines if b"/direct_url.json," not in line)
        elif name.startswith("bin/"):
            # Console scripts name this machine's interpreter; Lambda's is python3 on PATH.
            content = _SHEBANG.sub(b"#!/usr/bin/env python3\n", path.read_bytes(), count=1)
        files[name] = (content, file_mode(path))
    return files


_SHEBANG = re.compile(rb"\A#![^\n]*python[^\n]*\n|\A#!/bin/sh\n'''exec' [^\n]*\n' '''\n")


def _walk(root: Path, skip: Callable[[Path, bool], bool]) -> Iterator[tuple[str, Path]]:
    """(posix arcname, path) of the files under ROOT, following links, each directory once."""
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        here = Path(dirpath)
        real = os.path.realpath(here)
        if real in seen:  # a link back up the tree
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not skip(here / d, True)]
        for name in filenames:
            path = here / name
            if not skip(path, False):
                yield path.relative_to(root).as_posix(), path


def file_mode(path: Path) -> int:
    try:
        executable = path.stat().st_mode & 0o111
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc.strerror}; remove it or fix the link") from exc
    return 0o755 if executable else 0o644


# ---------------------------------------------------------------------------------------------
# Bytecode

_COMPILE = """\
import json, py_compile, sys
failed = []
for source, cfile, dfile in json.load(sys.stdin):
    try:
        py_compile.compile(source, cfile, dfile, doraise=True, optimize=0,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    except (py_compile.PyCompileError, OSError, ValueError):
        failed.append(dfile)
json.dump(failed, sys.stdout)
"""


def bytecode(
    files: Files, plan: Target, root: str, work: Path, say: Callable[[str], None]
) -> Files:
    """Unchecked-hash .pyc files for the .py files among FILES, if this Python is the target's.

    Unchecked: the importer trusts them without looking at the source's mtime or hash, which
    is right for a read-only package and keeps mtimes out of the zip. Compiled in a fresh
    interpreter with a fixed hash seed, so that two builds give the same bytes; ROOT + arcname
    is the file name tracebacks show (/var/task/app.py).
    """
    if sys.version_info[:2] != tuple(map(int, plan.python.split("."))):
        this = "%d.%d" % sys.version_info[:2]
        say(
            f"bytecode not precompiled: this is CPython {this} and .pyc files are "
            f"version-specific; build with CPython {plan.python} to precompile"
        )
        return {}
    jobs, compiled = [], {}
    for name, (source, _) in sorted(files.items()):
        if name.endswith(".py") and isinstance(source, Path):
            cache = importlib.util.cache_from_source(name, optimization="")
            jobs.append((str(source), str(work / cache), root + name))
            compiled[root + name] = cache
    say(f"precompiling {len(jobs)} modules for CPython {plan.python}")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        [sys.executable, "-S", "-c", _COMPILE], input=json.dumps(jobs), capture_output=True,
        text=True, env={**environ, "PYTHONHASHSEED": "0"}, cwd=work.parent, check=True,
    )  # fmt: skip
    for dfile in json.loads(done.stdout):  # not Python of this version: imported as source
        del compiled[dfile]
    return {cache: (work / cache, 0o644) for cache in compiled.values()}
