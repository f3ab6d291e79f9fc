"""A function's own dependencies, installed for Lambda's platform and cached by content.

The bottom layer that the emulator (a function runs with exactly its own packages) and the
project commands (``lambdakit build`` zips the same directory) share, so that what runs
locally and what is deployed are the same versions, resolved once. It imports nothing of
lambdakit's emulator, project, cli or template packages.

- ``sources``: what ``requirements.txt`` / ``pyproject.toml`` ask for, and its fingerprint;
- ``installers``: uv, else pip, with Lambda's wheel tags (``platforms``);
- ``failures``: what a failed install means (an unknown name, no wheel for Lambda);
- ``cache``: entries made in a staging directory and renamed into place;
- ``prepare``: the one entry point.

Errors: ``DependencyError`` (``errors``), whose message says what failed and what to do.
"""

from __future__ import annotations

from lambdakit.dependencies.errors import DependencyError
from lambdakit.dependencies.installers import INSTALLER_VARIABLE
from lambdakit.dependencies.platforms import GLIBC, MACHINE, platform_tags, uv_platform
from lambdakit.dependencies.prepare import SOURCE_NAMES, prepare, sources_in

__all__ = [
    "GLIBC",
    "INSTALLER_VARIABLE",
    "MACHINE",
    "SOURCE_NAMES",
    "DependencyError",
    "platform_tags",
    "prepare",
    "sources_in",
    "uv_platform",
]
