"""``prepare``: a function's dependencies, installed once per content and reused.

The cache key is everything that decides what gets installed: the sources' fingerprint
(``sources``: requirement lines without comments and layout, and the content of local files
they name), the target CPython, architecture and glibc, and the installer and its version.
Not in the key: the package index's state. Unpinned requirements (``requests``) keep the
versions first resolved until the sources change; that is what makes ``serve``, ``invoke``
and ``build`` agree on versions, and why pinning is worth it. ``rm -r ~/.cache/lambdakit/deps``
forgets every entry.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lambdakit.dependencies import cache as store
from lambdakit.dependencies import installers
from lambdakit.dependencies.errors import DependencyError
from lambdakit.dependencies.platforms import MACHINE
from lambdakit.dependencies.sources import Requirements, read

__all__ = ["prepare", "sources_in"]

SOURCE_NAMES = ("requirements.txt", "pyproject.toml")


def sources_in(directory: Path) -> list[Path]:
    """The dependency sources of a function whose code is DIRECTORY, as ``build`` reads them:
    its ``requirements.txt`` and its ``pyproject.toml``, those that exist."""
    return [directory / name for name in SOURCE_NAMES if (directory / name).is_file()]


def prepare(
    sources: Sequence[Path],
    *,
    python_version: tuple[int, int],
    arch: str,
    glibc_minor: int = 34,
    progress: Callable[[str], None] = lambda line: None,
    cache: Path | None = None,
) -> Path | None:
    """The directory holding exactly the packages SOURCES name (and their dependencies),
    installed for CPython PYTHON_VERSION on Linux ARCH with Lambda's wheel tags; None if the
    sources name nothing. Raises DependencyError (message: what failed, what to do).

    SOURCES are ``requirements.txt`` files and ``pyproject.toml`` files (PEP 621
    ``[project] dependencies``); one that does not exist names nothing. Relative paths in them
    are relative to the first source's directory. ARCH is Lambda's name (``x86_64``,
    ``arm64``); GLIBC_MINOR is 34 on Amazon Linux 2023, 26 on Amazon Linux 2 (``GLIBC``).
    CACHE defaults to ``$XDG_CACHE_HOME/lambdakit/deps``.

    The directory is the top of an installer's ``--target``: packages, ``*.dist-info`` and a
    ``bin/`` of console scripts, no bytecode. It belongs to the cache and is shared by every
    caller with the same key: read it, copy it, mount it read-only, never write into it
    (run Python over it with ``PYTHONDONTWRITEBYTECODE=1`` or a read-only mount). What Lambda
    does with it: a function's dependencies sit beside its code in ``/var/task``; a layer built
    with ``Metadata: BuildMethod: python3.x`` has them under ``python/`` (``/opt/python``, on
    ``sys.path`` in the managed runtimes), which is this directory, as ``sam build`` makes it.
    """
    if arch not in MACHINE:
        raise DependencyError(f"architecture {arch!r}: Lambda runs x86_64 and arm64")
    existing = tuple(Path(source) for source in sources if Path(source).is_file())
    wanted = read(existing)
    for warning in wanted.warnings:
        progress(warning)
    if wanted.empty:
        return None
    installer = installers.find()
    python = "%d.%d" % python_version
    root = cache if cache is not None else store.default_root()
    key = store.key(wanted.fingerprint, python, arch, str(glibc_minor), installer.identity)
    hit = _cached(root, key, wanted, progress)
    if hit is not None:
        return hit
    with store.locked(root, key):
        hit = _cached(root, key, wanted, progress)  # made while this waited for the lock
        if hit is not None:
            return hit
        return _install(installer, wanted, root, key, python, arch, glibc_minor, progress)


def _cached(
    root: Path, key: str, wanted: Requirements, progress: Callable[[str], None]
) -> Path | None:
    found = store.lookup(root, key)
    if found is None:
        return None
    directory, metadata = found
    packages = metadata.get("packages")
    count = len(packages) if isinstance(packages, list) else 0
    progress(f"{wanted.names}: {_packages(count)}, cached in {directory}")
    return directory


def _install(
    installer: installers.Installer,
    wanted: Requirements,
    root: Path,
    key: str,
    python: str,
    arch: str,
    glibc_minor: int,
    progress: Callable[[str], None],
) -> Path:
    staged = store.stage(root)
    try:
        files = list(wanted.requirement_files)
        if wanted.generated:  # pyproject.toml's dependencies, as a requirements file
            files.append(staged / "pyproject-requirements.txt")
            files[-1].write_text("\n".join(wanted.generated) + "\n", "utf-8")
        version = installer.describe()
        progress(
            f"installing {wanted.names} for CPython {python} on manylinux {arch} "
            f"(glibc 2.{glibc_minor}) with {version}"
        )
        started = time.monotonic()
        target = staged / store.PACKAGES
        installers.install(
            installer, wanted, files, target, python=python, arch=arch,
            glibc_minor=glibc_minor, progress=progress,
        )  # fmt: skip
        seconds = time.monotonic() - started
        (staged / "pyproject-requirements.txt").unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    packages = _installed(target)
    metadata: dict[str, object] = {
        "sources": [str(path.resolve()) for path in wanted.sources], "python": python, "arch": arch,
        "glibc": f"2.{glibc_minor}", "installer": version, "packages": packages,
        "seconds": round(seconds, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    directory = store.publish(staged, root, key, metadata)
    progress(f"installed {_packages(len(packages))} in {seconds:.1f} s")
    return directory


def _packages(count: int) -> str:
    return f"{count} package" if count == 1 else f"{count} packages"


def _installed(target: Path) -> list[str]:
    """``name==version`` of each distribution in TARGET, from its ``.dist-info`` name."""
    if not target.is_dir():  # every requirement was an option line the installer ignored
        target.mkdir(parents=True)
    names = (path.name.removesuffix(".dist-info") for path in target.glob("*.dist-info"))
    return sorted("==".join(name.split("-", 1)) for name in names)
