"""A directory made whole or not at all, for the caches that several processes may fill at once
(code unpacked from zips, the emulator's runtime directory, a bare PYTHONHOME).

The contents are written into a staging directory beside the final one (the same filesystem,
so that the rename is atomic) and renamed into place: a directory that exists is complete. Of
two processes making the same one, the first rename wins and the other uses the winner's copy.
Standard library only.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["make_directory"]


def make_directory(final: Path, fill: Callable[[Path], None], *, prefix: str = ".tmp-") -> Path:
    """FINAL, made by FILL (given the staging directory) unless it exists already. Mode 0755,
    not mkdtemp's 0700, as any directory of code. Raises OSError when it cannot be made and no
    other process made it meanwhile."""
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=final.parent))
    try:
        fill(staging)
        staging.chmod(0o755)
        staging.rename(final)
    except OSError:
        if not final.is_dir():  # not merely another process's copy, renamed first
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
