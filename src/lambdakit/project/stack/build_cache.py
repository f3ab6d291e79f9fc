"""Zips a stack deploy built before, reused while their inputs are unchanged.

A build writes a stamp beside its zips (``<output>/.lambdakit-stamps/<name>.json``): the key
of its inputs and each zip's SHA-256. The next deploy computes the key again and, when it
and every zip agree, uses the zips as they are. The key covers everything a zip is made from
(``bundle.build_function``, ``artifacts._build_layer``):

    the files      every file the build would add (``contents.code_files``: the same walk and
                   the same exclusions), by name, mode and SHA-256 of its bytes; contents,
                   not modification times, so an edit always counts, whatever the clock did
    requirements   the dependency cache's directory for them (``dependencies.prepare``): it
                   is keyed by the requirements and never changed after
    the target     runtime, CPython version and architecture; the build's own interpreter
                   (bytecode is compiled by it) and SOURCE_DATE_EPOCH (the zips' timestamp)
    lambdakit      its version, the runtime files it adds (the runtime layer, a provided.*
                   bootstrap) and the build's own modules

A zip changed or removed since (``lambdakit build`` writes the same paths) is a miss: the
build runs again. Whatever cannot be read makes a miss too, never an error.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import lambdakit
from lambdakit import dependencies
from lambdakit._vendoring import runtime_files
from lambdakit._version import __version__
from lambdakit.project.contents import WRAPPER, Target, code_files

__all__ = ["inputs_key", "record", "reuse"]

FORMAT = "1"
STAMPS = ".lambdakit-stamps"


def inputs_key(
    directory: Path,
    output: Path,
    plan: Target | None,
    *,
    extra: Sequence[str] = (),
    say: Callable[[str], None] = lambda text: None,
) -> str:
    """The key of building DIRECTORY's files (and requirements, for PLAN) into OUTPUT;
    EXTRA names what else the build depends on (the zip names, a layer's BuildMethod)."""
    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0{_lambdakit_digest()}\0".encode())
    context = [sys.version, sys.executable, os.environ.get("SOURCE_DATE_EPOCH", ""), *extra]
    if plan is not None:
        context += [plan.runtime, plan.python, plan.arch, _requirements(directory, plan, say)]
    digest.update(json.dumps(context).encode())
    for name, (source, mode) in sorted(code_files(directory, output).items()):
        content = source if isinstance(source, bytes) else Path(source).read_bytes()
        digest.update(f"\0{name}\0{mode}\0".encode() + hashlib.sha256(content).digest())
    return digest.hexdigest()


def reuse(output: Path, name: str, key: str) -> list[tuple[str, Path]] | None:
    """The (kind, zip) pairs the build stamped NAME made for KEY, if all are unchanged."""
    try:
        stamp = json.loads(_stamp(output, name).read_bytes())
        if stamp.get("key") != key:
            return None
        zips = [(str(z["kind"]), Path(z["path"]), str(z["sha256"])) for z in stamp["zips"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    for _, path, sha256 in zips:
        if _sha256(path) != sha256:
            return None
    return [(kind, path) for kind, path, _ in zips]


def record(output: Path, name: str, key: str, zips: Iterable[tuple[str, Path]]) -> None:
    """Stamp the zips (kind, path) built for KEY as NAME's (nothing if it cannot be written)."""
    stamp = _stamp(output, name)
    try:
        entries = [
            {"kind": kind, "path": str(path), "sha256": _sha256(path)} for kind, path in zips
        ]
        if any(entry["sha256"] is None for entry in entries):
            return
        stamp.parent.mkdir(parents=True, exist_ok=True)
        partial = stamp.with_name(f".{stamp.name}.{os.getpid()}.tmp")
        partial.write_text(json.dumps({"key": key, "zips": entries}, indent=1))
        partial.replace(stamp)  # whole or not at all
    except OSError:
        return


def _stamp(output: Path, name: str) -> Path:
    return output / STAMPS / f"{name}.json"


def _sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def _requirements(directory: Path, plan: Target, say: Callable[[str], None]) -> str:
    """The dependency cache's directory for DIRECTORY's requirements ("" if it names none);
    the build installs them there first anyway, so a miss costs nothing more."""
    sources = dependencies.sources_in(directory)
    if not sources:
        return ""
    try:
        found = dependencies.prepare(
            sources, python_version=(3, int(plan.python.split(".")[1])), arch=plan.arch,
            glibc_minor=plan.glibc_minor, progress=say,
        )  # fmt: skip
    except (dependencies.DependencyError, ValueError, IndexError):
        return "unresolved"  # the build reports it; a stamp is never written for a failure
    return str(found or "")


@functools.cache
def _lambdakit_digest() -> str:
    """The runtime files a build adds and the modules that build, by content."""
    package = Path(lambdakit.__file__).parent
    paths = [package / relative for relative in runtime_files(package)]
    paths += [WRAPPER, package / "runtime" / "bootstrap"]
    paths += [package / "project" / name for name in ("bundle.py", "contents.py", "zips.py")]
    paths.append(Path(__file__).with_name("artifacts.py"))
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"\0{path.relative_to(package)}\0".encode())
        digest.update(path.read_bytes() if path.is_file() else b"-")
    return digest.hexdigest()
