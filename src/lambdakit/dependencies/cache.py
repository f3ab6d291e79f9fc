"""The content-addressed cache of prepared dependencies.

One entry per key (``<root>/<key>/``): ``packages/``, what the installer put in its
``--target`` directory, and ``lambdakit-deps.json``, what it was made from. An entry is made in
a staging directory beside it and renamed into place, so an entry that exists is complete: a
process killed mid-install leaves only a ``.tmp-*`` directory (removed a day later), and of two
processes racing to make one entry the first rename wins and the other uses the winner's. A
lock file per key (``flock``) makes a second process (or thread) wait for the first instead
of installing the same packages again; the rename would be right without it.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lambdakit.dependencies.errors import DependencyError

__all__ = ["METADATA", "PACKAGES", "default_root", "key", "locked", "lookup", "publish", "stage"]

FORMAT = "1"  # of an entry; a new layout is a new key
METADATA = "lambdakit-deps.json"
PACKAGES = "packages"
_STALE = 24 * 3600.0  # seconds after which a staging directory is a crash's leftover


def default_root() -> Path:
    """``$XDG_CACHE_HOME/lambdakit/deps``, by default ``~/.cache/lambdakit/deps``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lambdakit" / "deps"


def key(*parts: str) -> str:
    digest = hashlib.sha256(FORMAT.encode())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()[:32]


def lookup(root: Path, entry_key: str) -> tuple[Path, dict[str, object]] | None:
    """The packages directory and metadata of the entry KEY, if it exists."""
    entry = root / entry_key
    try:
        metadata = json.loads((entry / METADATA).read_text("utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return None  # unreadable: made again (publish replaces it)
    return entry / PACKAGES, metadata


@contextmanager
def locked(root: Path, entry_key: str) -> Iterator[None]:
    """Hold the lock of entry KEY: one install at a time per key, across processes."""
    _make(root)
    with open(root / f".{entry_key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def stage(root: Path) -> Path:
    """A new staging directory in ROOT (same filesystem, so that the rename is atomic)."""
    _make(root)
    _remove_stale(root)
    return Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))


def publish(
    staged: Path, root: Path, entry_key: str, metadata: dict[str, object], *, retry: bool = True
) -> Path:
    """Write METADATA into STAGED, rename it to the entry KEY; the entry's packages directory
    (the winner's, if another process published the same key first)."""
    (staged / METADATA).write_text(json.dumps(metadata, indent=2) + "\n", "utf-8")
    staged.chmod(0o755)  # mkdtemp's 0700, opened as any directory of packages is
    entry = root / entry_key
    try:
        os.rename(staged, entry)
    except OSError as exc:
        damaged = lookup(root, entry_key) is None
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or (damaged and not retry):
            shutil.rmtree(staged, ignore_errors=True)
            raise DependencyError(f"cannot write the dependency cache {root}: {exc}") from exc
        if damaged:  # not made by publish (a copy, a hand edit): this one replaces it
            shutil.rmtree(entry, ignore_errors=True)
            return publish(staged, root, entry_key, metadata, retry=False)
        shutil.rmtree(staged, ignore_errors=True)
    return entry / PACKAGES


def _make(root: Path) -> None:
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DependencyError(
            f"cannot create the dependency cache {root}: {exc.strerror}; set XDG_CACHE_HOME to "
            "a writable directory"
        ) from exc


def _remove_stale(root: Path) -> None:
    now = time.time()
    for leftover in root.glob(".tmp-*"):
        try:
            if now - leftover.stat().st_mtime > _STALE:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            continue
