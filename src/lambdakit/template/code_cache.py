"""Code that Lambda receives as a zip, laid out as a directory to run: a ``.zip`` unpacked, a
single file, inline source. Each copy is made once, under a name derived from its content
(``$XDG_CACHE_HOME/lambdakit/code/<sha256>/``, default ``~/.cache``), and never changed after.

A copy is made in a temporary directory beside its final place and renamed into it, so that two
processes that make the same copy at once (two ``lambdakit serve`` of one project) both end up
with one whole directory: the second rename fails, and the loser uses the winner's copy.

Zip entries keep their Unix modes (``external_attr``), as Lambda keeps them when it extracts a
deployment package to ``/var/task``: an executable ``bootstrap`` stays executable
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-package.html). An entry that would
land outside the directory (an absolute path, ``..``, or through a symbolic link the archive
made) is refused. Errors are ``TemplateError`` naming the file; the caller adds the resource and
property.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import zipfile
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath

from lambdakit._atomic import make_directory
from lambdakit.template.errors import TemplateError

__all__ = ["cache_root", "inline_directory", "single_file_directory", "unpacked_zip"]

_FORMAT = b"lambdakit-code-1\0"
"""Part of every key: a change to how copies are laid out gives them new names."""
_CHUNK = 1 << 20


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/lambdakit/code``, or ``~/.cache/lambdakit/code``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lambdakit" / "code"


def unpacked_zip(archive: Path, *, root: Path | None = None) -> Path:
    """The directory holding ARCHIVE's entries, with their modes."""
    digest = hashlib.sha256(_FORMAT + b"zip\0")
    try:
        with archive.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError as error:
        raise TemplateError(f"cannot read {archive}: {error.strerror}") from error
    return _cached(digest.hexdigest(), lambda into: _unpack(archive, into), root)


def single_file_directory(path: Path, *, root: Path | None = None) -> Path:
    """A directory holding only PATH (same name and mode): the zip that ``sam deploy`` and
    ``aws cloudformation package`` make of a ``CodeUri`` that names one file."""
    try:
        content, mode = path.read_bytes(), stat.S_IMODE(path.stat().st_mode)
    except OSError as error:
        raise TemplateError(f"cannot read {path}: {error.strerror}") from error
    return inline_directory({path.name: (content, mode)}, root=root)


def inline_directory(files: Mapping[str, tuple[bytes, int]], *, root: Path | None = None) -> Path:
    """A directory holding FILES: name -> (content, mode), names without directories."""
    digest = hashlib.sha256(_FORMAT + b"files\0")
    for name, (content, mode) in sorted(files.items()):
        digest.update(b"%s\0%o\0%d\0" % (name.encode(), mode, len(content)) + content)

    def fill(into: Path) -> None:
        for name, (content, mode) in files.items():
            (into / name).write_bytes(content)
            (into / name).chmod(mode)

    return _cached(digest.hexdigest(), fill, root)


def _cached(key: str, fill: Callable[[Path], None], root: Path | None) -> Path:
    final = (root or cache_root()) / key
    try:
        return make_directory(final, fill, prefix=f".{key[:12]}-")
    except OSError as error:
        raise TemplateError(f"cannot write the code cache {final}: {error}") from error


# --- zips -------------------------------------------------------------------------------------

_UNIX = 3  # ZipInfo.create_system of an archive made on Unix: external_attr holds st_mode
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError)


def _unpack(archive: Path, into: Path) -> None:
    directories: list[tuple[Path, int]] = []
    try:
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                target = into / _safe_name(archive, info.filename)
                mode = info.external_attr >> 16 if info.create_system == _UNIX else 0
                if info.is_dir() or stat.S_ISDIR(mode):
                    target.mkdir(parents=True, exist_ok=True)
                    directories.append((target, stat.S_IMODE(mode) or 0o755))
                    continue
                _inside(archive, info.filename, target, into)
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.is_symlink():  # an entry named twice: the last one wins, not its link
                    target.unlink()
                if stat.S_ISLNK(mode):
                    os.symlink(zipped.read(info).decode(), target)
                    continue
                with zipped.open(info) as source, target.open("wb") as sink:
                    shutil.copyfileobj(source, sink, _CHUNK)
                target.chmod(stat.S_IMODE(mode) or 0o644)
    except _ZIP_ERRORS as error:
        raise TemplateError(
            f"{archive} is not a valid zip ({error}); rebuild it, or point at the directory "
            "it was made from"
        ) from error
    for directory, mode in reversed(directories):  # last: a read-only one held no writes
        directory.chmod(mode)


def _safe_name(archive: Path, name: str) -> PurePosixPath:
    """NAME as a relative path, or an error: an absolute path or ``..`` would be written
    outside the function's directory."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or re.match(r"[A-Za-z]:|\\", name):
        raise TemplateError(
            f"{archive} has an entry {name!r} that would be unpacked outside the function's "
            "directory; lambdakit refuses it: rebuild the zip with paths relative to its root"
        )
    return path


def _inside(archive: Path, name: str, target: Path, root: Path) -> None:
    """Refuse an entry whose directory is reached through a symbolic link out of ROOT."""
    parent = target.parent
    while not parent.exists() and parent != root:
        parent = parent.parent
    if not parent.resolve().is_relative_to(root.resolve()):
        raise TemplateError(
            f"{archive} has an entry {name!r} that goes through a symbolic link out of the "
            "function's directory; lambdakit refuses it: rebuild the zip without that link"
        )
