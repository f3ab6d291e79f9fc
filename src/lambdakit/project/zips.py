"""Deterministic zips: the same files give the same bytes, and what a zip holds.

Entries are sorted, with a directory entry for each parent; one timestamp (SOURCE_DATE_EPOCH,
else 1980-01-01), normalised Unix modes, no extra fields, deflate level 9. Lambda reads the
Unix modes (an executable ``bootstrap``) and follows symbolic links inside the zip.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lambdakit.project.errors import BuildError

__all__ = ["SYMLINK", "BuildResult", "Files", "Kind", "Source", "content_size", "write_zip"]

SYMLINK = stat.S_IFLNK | 0o777
"""A ``write_zip`` mode: the entry is a symbolic link; its content is the link's target."""

Kind = Literal["function", "layer", "runtime-layer", "python-layer"]
"""``layer``: one of the template's local layers (``layers``); the others are lambdakit's."""
Source = Path | bytes
Files = dict[str, tuple[Source, int]]
"""arcname -> (content, mode); a later entry for the same name replaces an earlier one."""


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


def content_size(content: Source) -> int:
    return len(content) if isinstance(content, bytes) else content.stat().st_size
