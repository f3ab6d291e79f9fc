"""Which files of the lambdakit package make up the runtime that ships with a function.

One selection serves every place the runtime is copied to: a deployment zip and the runtime
layer (``bundle``), an image's build context (``image``), a new project (``scaffold``), and the
emulator's runtime directory, its /var/runtime (``emulator/python_paths``). The tooling (cli,
emulator, template, project) stays behind. Standard library only.
"""

from __future__ import annotations

import os
from pathlib import Path

RUNTIME_MODULES = ("__init__.py", "_hooks.py", "_version.py", "_wire.py", "_eventstream.py")
PACKAGE = Path(__file__).resolve().parent


def runtime_files(package: Path | None = None) -> list[Path]:
    """The runtime-only files of the lambdakit PACKAGE (default: this one), relative to it:
    the top-level modules the runtime imports and everything under ``runtime/``."""
    package = package or PACKAGE
    files = [Path(name) for name in RUNTIME_MODULES if (package / name).is_file()]
    for directory, subdirectories, names in os.walk(package / "runtime"):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        base = Path(directory).relative_to(package)
        files += [base / n for n in sorted(names) if not n.endswith((".pyc", ".pyo"))]
    return files
