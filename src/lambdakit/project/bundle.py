"""Deployment packages (``lambdakit build``): deterministic zips, one set per function.

    provided.al2023 / provided.al2      <function>.zip: bootstrap (the function's own, else
                                        lambdakit's), the code, the lambdakit runtime, the
                                        requirements; <function>-python-layer.zip with
                                        --python-layer: an interpreter for /opt/bin/python3
    python3.X                           <function>.zip: the code and the requirements;
                                        <function>-runtime-layer.zip: the lambdakit runtime
                                        in /opt/python and /opt/lambdakit-wrapper, which
                                        AWS_LAMBDA_EXEC_WRAPPER runs instead of awslambdaric

Requirements are wheels for the target's CPython, architecture and glibc (``_pip``). Bytecode
is precompiled (unchecked-hash .pyc: Lambda's /var/task is read-only, so Python cannot cache
what it compiles) when this interpreter is the target's version. The same inputs give the same
bytes: sorted entries, one timestamp, normalised modes, no extra fields.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import lambdakit
from lambdakit.project import _pip
from lambdakit.project.errors import BuildError
from lambdakit.project.vendoring import runtime_files
from lambdakit.template import FunctionSpec, TemplateError, load_functions

__all__ = [
    "MAX_UNZIPPED",
    "MAX_ZIPPED",
    "SYMLINK",
    "BuildResult",
    "Kind",
    "build_function",
    "default_output",
    "next_steps",
    "resolve_settings",
    "select_functions",
    "write_zip",
]

# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html: a zip uploaded
# directly, and the function with all its layers once extracted (the API's own numbers).
MAX_ZIPPED = 52_428_800  # 50 MB
MAX_UNZIPPED = 262_144_000  # 250 MB
DEFAULT_PYTHON = "3.12"
SYMLINK = stat.S_IFLNK | 0o777
"""A ``write_zip`` mode: the entry is a symbolic link; its content is the link's target."""

Kind = Literal["function", "runtime-layer", "python-layer"]
Source = Path | bytes
Files = dict[str, tuple[Source, int]]
"""arcname -> (content, mode); a later entry for the same name replaces an earlier one."""

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
    "Dockerfile", ".dockerignore", ".gitignore",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class BuildResult:
    """One zip written by a build."""

    path: Path
    sha256: str
    size: int
    """Bytes of the zip."""
    unzipped_size: int
    """Bytes of its files once extracted (what Lambda's 250 MB limit counts)."""
    kind: Kind


@dataclass(frozen=True, slots=True)
class _Target:
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
            return _pip.GLIBC[self.runtime.removeprefix("provided.")]
        return _pip.GLIBC["al2023" if _minor(self.python) >= 12 else "al2"]


def _minor(python: str) -> int:
    return int(python.split(".")[1])


# ---------------------------------------------------------------------------------------------
# Choosing what to build


def select_functions(
    path: Path, function: str | None = None
) -> tuple[list[FunctionSpec], list[str]]:
    """The functions at PATH (a project with template.yaml, or a function directory), and the
    template's warnings; only the one named FUNCTION (FunctionName or logical id) if given."""
    try:
        result = load_functions(path)
    except TemplateError as exc:
        raise BuildError(str(exc)) from exc
    specs = result.functions
    if function is not None:
        specs = [spec for spec in specs if function in (spec.name, spec.logical_id)]
        if not specs:
            names = ", ".join(spec.name for spec in result.functions)
            raise BuildError(f"no function {function!r} in {path}; its functions are: {names}")
    return specs, list(result.warnings)


def default_output(path: Path) -> Path:
    """Where zips go unless told: ``.lambdakit/build`` in the project directory."""
    return (path if path.is_dir() else path.parent) / ".lambdakit" / "build"


def resolve_settings(
    spec: FunctionSpec,
    *,
    arch: str | None = None,
    python: str | None = None,
    target: str | None = None,
) -> tuple[str, str, str]:
    """(arch, python, target) for SPEC: the flags given, else what its template says."""
    if target is None:
        if not spec.runtime.startswith(("provided", "python")):
            raise BuildError(
                f"function {spec.name!r} has Runtime {spec.runtime}; lambdakit builds provided.* "
                "(custom runtime) and python3.x functions"
            )
        target = spec.runtime
    if python is None:
        python = target.removeprefix("python") if target.startswith("python") else DEFAULT_PYTHON
    return arch or (spec.architectures or ("x86_64",))[0], python, target


def _target(spec: FunctionSpec, runtime: str, python: str, arch: str) -> _Target:
    if not re.fullmatch(r"3\.\d+", python) or _minor(python) < 10:
        raise BuildError(
            f"Python {python}: the lambdakit runtime needs 3.10 or newer; give --python 3.12 "
            "(or --target python3.12)"
        )
    if arch not in _pip.MACHINE:
        raise BuildError(f"--arch {arch}: Lambda runs x86_64 and arm64")
    if runtime not in ("provided.al2023", "provided.al2") and not re.fullmatch(
        r"python3\.\d+", runtime
    ):
        raise BuildError(
            f"function {spec.name!r}: cannot build for {runtime}; give --target provided.al2023 "
            "(a custom runtime) or python3.X (a managed Python runtime)"
        )
    if runtime.startswith("python") and runtime != f"python{python}":
        raise BuildError(
            f"--python {python} does not match the {runtime} runtime; leave --python out, or "
            f"build for python{python}"
        )
    return _Target(runtime, python, arch)


# ---------------------------------------------------------------------------------------------
# Building


def build_function(
    spec: FunctionSpec,
    *,
    output: Path,
    arch: str,
    python: str,
    target: str,
    python_layer: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BuildResult]:
    """Build SPEC's zips into the directory OUTPUT: the function, then its layers."""
    say = progress or (lambda _: None)
    plan = _target(spec, target, python, arch)
    if python_layer is not None and plan.managed:
        raise BuildError(
            f"--python-layer is for provided.* functions; {plan.runtime} has its own interpreter"
        )
    say(f"building for {plan.runtime}, CPython {plan.python}, {plan.arch}")
    output = output.absolute()
    with tempfile.TemporaryDirectory(prefix="lambdakit-build-") as tmp:
        work = Path(tmp)
        zips: list[tuple[Kind, Files]] = [
            ("function", _function_files(spec, plan, output, work, say))
        ]
        if plan.managed:
            zips.append(("runtime-layer", _runtime_layer_files(plan, work, say)))
        if python_layer is not None:
            zips.append(("python-layer", _python_layer_files(python_layer, plan, work, say)))
        _check_unzipped(spec.name, zips)
        output.mkdir(parents=True, exist_ok=True)
        results = []
        for kind, files in zips:
            suffix = "" if kind == "function" else f"-{kind}"
            dest = output / f"{spec.name}{suffix}.zip"
            say(f"writing {dest.name} ({len(files)} files)")
            results.append(write_zip([(n, *entry) for n, entry in files.items()], dest, kind=kind))
            _check_zipped(results[-1])
    return results


def _function_files(
    spec: FunctionSpec, plan: _Target, output: Path, work: Path, say: Callable[[str], None]
) -> Files:
    files: Files = {}
    requirements = spec.code_dir / "requirements.txt"
    if _pip.has_requirements(requirements):
        say(
            f"installing {requirements.name} for CPython {plan.python} on manylinux "
            f"{plan.arch} (glibc 2.{plan.glibc_minor})"
        )
        deps = work / "deps"
        _pip.install(
            requirements, deps, python=plan.python, arch=plan.arch,
            glibc_minor=plan.glibc_minor, progress=say,
        )  # fmt: skip
        files.update(_dependency_files(deps))
    say(f"adding the code in {spec.code_dir}")
    files.update(_code_files(spec.code_dir, output))
    if plan.managed:
        files.pop("bootstrap", None)  # a managed runtime starts through AWS_LAMBDA_EXEC_WRAPPER
    else:
        files.update(_runtime_files("lambdakit"))
        own = spec.code_dir / "bootstrap"
        files["bootstrap"] = (own if own.is_file() else PACKAGE / "runtime" / "bootstrap", 0o755)
    files.update(_bytecode(files, plan, "/var/task/", work / "pyc-function", say))
    return files


def _runtime_layer_files(plan: _Target, work: Path, say: Callable[[str], None]) -> Files:
    files: Files = {"lambdakit-wrapper": (WRAPPER, 0o755)}
    files.update(_runtime_files("python/lambdakit"))
    files.update(_bytecode(files, plan, "/opt/", work / "pyc-layer", say))
    return files


def _runtime_files(prefix: str) -> Files:
    """The runtime part of this installation's lambdakit package, under PREFIX."""
    return {
        f"{prefix}/{relative.as_posix()}": (PACKAGE / relative, _mode(PACKAGE / relative))
        for relative in runtime_files(PACKAGE)
    }


def _code_files(code_dir: Path, output: Path) -> Files:
    def skip(path: Path, is_dir: bool) -> bool:
        if is_dir:
            if path.name in SKIP_DIRS or (path / "pyvenv.cfg").is_file():
                return True
            return os.path.realpath(path) == os.path.realpath(output)
        if path.parent == code_dir and path.name in SKIP_AT_ROOT:
            return True
        return path.name in SKIP_FILES or path.suffix in (".pyc", ".pyo")

    return {name: (path, _mode(path)) for name, path in _walk(code_dir, skip)}


def _dependency_files(deps: Path) -> Files:
    """pip's output, without what would differ between two builds or machines."""
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
        files[name] = (content, _mode(path))
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


def _mode(path: Path) -> int:
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


def _bytecode(
    files: Files, plan: _Target, root: str, work: Path, say: Callable[[str], None]
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


# ---------------------------------------------------------------------------------------------
# An interpreter layer for provided.* (Lambda extracts layers to /opt; /opt/bin is on PATH)

# What a function never imports: the test suite, IDLE, Tk, headers and static libraries.
_INTERPRETER_SKIP = re.compile(
    r"(include|share|lib/(tcl|tk|itcl|thread|pkgconfig)[^/]*"
    r"|lib/python3\.\d+/(test|idlelib|tkinter|turtledemo|config-[^/]*))(/.*)?|.*\.a"
)
_ELF_MACHINES = {62: "x86_64", 183: "arm64"}


def _python_layer_files(
    source: Path, plan: _Target, work: Path, say: Callable[[str], None]
) -> Files:
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
                files[arcname] = (path, _mode(path))
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
        return real, _mode(real)
    raise BuildError(f"{path} links to {real}, outside the interpreter's directory")


def _check_interpreter(source: Path, root: Path, plan: _Target) -> None:
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


# ---------------------------------------------------------------------------------------------
# Zips and limits


def write_zip(
    files: Iterable[tuple[str, Source, int]], dest: Path, *, kind: Kind = "function"
) -> BuildResult:
    """Write FILES (arcname, content, mode) to DEST, the same bytes for the same FILES.

    Entries are sorted, with a directory entry for each parent; every entry has one timestamp
    (SOURCE_DATE_EPOCH, else 1980-01-01), Unix modes 0644/0755 (directories 0755), no extra
    fields and deflate level 9. MODE is 0o755 for executables, else 0o644, or SYMLINK.
    """
    entries = {name: (content, mode) for name, content, mode in files}
    directories = {parent for name in entries for parent in _parents(name)}
    date_time = _timestamp()
    temporary = dest.with_name(f".{dest.name}.tmp")
    unzipped = 0
    with zipfile.ZipFile(temporary, "w") as archive:
        for name in sorted(directories | entries.keys()):
            info = zipfile.ZipInfo(name, date_time)
            info.create_system = 3  # Unix: the modes below are read by unzip and by Lambda
            if name in directories:
                info.external_attr = (stat.S_IFDIR | 0o755) << 16 | 0x10  # 0x10: MS-DOS dir
                archive.writestr(info, b"", zipfile.ZIP_STORED)
                continue
            content, mode = entries[name]
            data = content if isinstance(content, bytes) else content.read_bytes()
            unzipped += len(data)
            info.external_attr = (mode if mode == SYMLINK else stat.S_IFREG | mode) << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED, 9)
    os.replace(temporary, dest)
    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    return BuildResult(dest, digest, dest.stat().st_size, unzipped, kind)


def _parents(name: str) -> Iterator[str]:
    parts = name.split("/")[:-1]
    for index in range(1, len(parts) + 1):
        yield "/".join(parts[:index]) + "/"


def _timestamp() -> tuple[int, int, int, int, int, int]:
    """SOURCE_DATE_EPOCH (https://reproducible-builds.org/specs/source-date-epoch/), within
    what a zip can hold (1980 to 2107), else 1980-01-01 00:00:00."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not epoch:
        return (1980, 1, 1, 0, 0, 0)
    if not epoch.isdigit():
        raise BuildError(f"SOURCE_DATE_EPOCH={epoch!r}: give a whole number of seconds")
    moment = time.gmtime(min(max(int(epoch), 315532800), 4354819198))
    return moment[:6]


def _size(content: Source) -> int:
    return len(content) if isinstance(content, bytes) else content.stat().st_size


def _check_unzipped(function: str, zips: list[tuple[Kind, Files]]) -> None:
    sizes = {kind: sum(_size(c) for c, _ in files.values()) for kind, files in zips}
    total = sum(sizes.values())
    if total <= MAX_UNZIPPED:
        return
    parts = ", ".join(f"{kind} {_mb(size)}" for kind, size in sizes.items())
    tops: dict[str, int] = {}
    for name, (content, _) in zips[0][1].items():
        tops[name.split("/")[0]] = tops.get(name.split("/")[0], 0) + _size(content)
    largest = ", ".join(f"{n} {_mb(s)}" for n, s in sorted(tops.items(), key=lambda t: -t[1])[:3])
    raise BuildError(
        f"{function}: {_mb(total)} unzipped ({total:,} bytes: {parts}); Lambda allows "
        f"{_mb(MAX_UNZIPPED)} ({MAX_UNZIPPED:,} bytes) for a function and its layers together. "
        f"The largest parts of the function are {largest}. Leave out what it does not need, "
        "or build a container image instead (`lambdakit image`; up to 10 GB)."
    )


def _check_zipped(result: BuildResult) -> None:
    if result.size <= MAX_ZIPPED:
        return
    result.path.unlink()
    raise BuildError(
        f"{result.path.name} is {_mb(result.size)} zipped ({result.size:,} bytes); Lambda takes "
        f"at most {_mb(MAX_ZIPPED)} ({MAX_ZIPPED:,} bytes) in a direct upload. Move large "
        "dependencies into a layer (each layer has the same limit), upload the zip through S3 "
        f"(then only the {_mb(MAX_UNZIPPED)} unzipped limit applies), or build a container "
        "image instead (`lambdakit image`)."
    )


def _mb(size: int) -> str:
    """Sizes as Lambda's limits count them (1 MB = 1,048,576 bytes)."""
    if size < 1048576:
        return f"{size / 1024:.1f} KB".replace(".0 ", " ")
    return f"{size / 1048576:.1f} MB".replace(".0 ", " ")


# ---------------------------------------------------------------------------------------------
# What to do with the zips


def next_steps(spec: FunctionSpec, results: list[BuildResult], target: str, arch: str) -> list[str]:
    """What the user must set on AWS for the zips in RESULTS to run (docs/project.md)."""
    layers = {result.kind: result.path for result in results}
    if "runtime-layer" in layers:
        return [
            f"{spec.name}: to run it on {target} with the lambdakit runtime, publish the layer "
            f"(aws lambda publish-layer-version --layer-name lambdakit-runtime --zip-file "
            f"fileb://{layers['runtime-layer']} --compatible-runtimes {target}), add the "
            "LayerVersionArn it prints to the function's Layers, and set the function's "
            f"environment variable AWS_LAMBDA_EXEC_WRAPPER={WRAPPER_PATH}",
        ]
    if "python-layer" in layers:
        return [
            f"{spec.name}: publish the interpreter layer (aws lambda publish-layer-version "
            f"--layer-name python --zip-file fileb://{layers['python-layer']} "
            f"--compatible-runtimes {target} --compatible-architectures {arch}) and add the "
            "LayerVersionArn it prints to the function's Layers; the bootstrap runs "
            "/opt/bin/python3 from it",
        ]
    if target.startswith("provided"):
        return [
            f"{spec.name}: {target} has no Python of its own: give the function an interpreter "
            "layer (--python-layer, see docs/project.md), or build a container image "
            "(`lambdakit image`)",
        ]
    return []
