"""The installer: uv when it is there, pip otherwise, both told Lambda's wheel tags.

uv (``uv pip install``) resolves and installs in parallel from its own cache and is several
times faster than pip for the same requirements; it is a dependency of lambdakit, so its
binary is found through the ``uv`` package (``uv.find_uv_bin()``), else on PATH. pip runs in
this interpreter (``python -m pip``). ``LAMBDAKIT_INSTALLER=pip`` (or ``uv``) forces one.

Both install for the target, not for this machine: CPython X.Y on Linux x86_64/aarch64 with
Lambda's glibc, wheels only, into a flat ``--target`` directory, without bytecode (``.pyc``
files are version-specific; ``lambdakit build`` compiles them itself when it can).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lambdakit.dependencies.errors import DependencyError
from lambdakit.dependencies.failures import failure
from lambdakit.dependencies.platforms import platform_tags, uv_platform
from lambdakit.dependencies.sources import Requirements

__all__ = ["INSTALLER_VARIABLE", "Installer", "find", "install"]

INSTALLER_VARIABLE = "LAMBDAKIT_INSTALLER"


@dataclass(frozen=True, slots=True)
class Installer:
    """An installer found on this machine. IDENTITY changes with its version (part of the
    cache key) and is found without running it, so that a cached hit runs nothing."""

    name: str  # "uv" or "pip"
    program: str  # uv's binary, or this interpreter for pip
    identity: str

    def describe(self) -> str:
        """``uv 0.9.2``: runs the installer, so only on the way to installing."""
        if self.name == "pip":
            return f"pip {self.identity.split()[1]}"
        try:
            done = subprocess.run(
                [self.program, "--version"], capture_output=True, text=True, timeout=30
            )
        except (OSError, subprocess.TimeoutExpired):
            return "uv"
        return " ".join(done.stdout.split()[:2]) or "uv"


def find() -> Installer:
    """uv unless LAMBDAKIT_INSTALLER says pip; pip when uv is not there."""
    choice = os.environ.get(INSTALLER_VARIABLE, "").strip().lower()
    if choice not in ("", "uv", "pip"):
        raise DependencyError(f"{INSTALLER_VARIABLE}={choice}: give uv or pip, or leave it unset")
    if choice != "pip":
        uv = _uv_binary()
        if uv is not None:
            stat = os.stat(uv)
            return Installer("uv", uv, f"uv {uv} {stat.st_size} {stat.st_mtime_ns}")
        if choice == "uv":
            raise DependencyError(
                f"{INSTALLER_VARIABLE}=uv, but uv is not installed: `pip install uv`, or unset "
                f"{INSTALLER_VARIABLE} to use pip"
            )
    return Installer("pip", sys.executable, f"pip {_pip_version()} {sys.executable}")


def _uv_binary() -> str | None:
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def _pip_version() -> str:
    """pip's version, read from its source: importing pip costs more than a cached hit may."""
    spec = importlib.util.find_spec("pip")
    if spec is None or spec.origin is None:
        return "missing"
    match = re.search(r'__version__\s*=\s*"([^"]+)"', Path(spec.origin).read_text("utf-8"))
    return match[1] if match else "unknown"


def install(
    installer: Installer,
    requirements: Requirements,
    files: list[Path],
    target: Path,
    *,
    python: str,
    arch: str,
    glibc_minor: int,
    progress: Callable[[str], None],
) -> None:
    """Install the requirement FILES into TARGET, run from the first source's directory:
    relative paths in requirements.txt (./wheels/x.whl) are relative to it, as with pip."""
    if installer.name == "uv":
        command = _uv_command(installer.program, target, python, arch, glibc_minor)
    else:
        command = _pip_command(target, python, arch, glibc_minor)
    for file in files:
        command += ["-r", str(file)]
    environ = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore", "PYTHONDONTWRITEBYTECODE": "1"}
    environ.pop("PIP_USER", None)  # --user and --target exclude each other
    cwd = requirements.sources[0].parent
    lines = _run(installer, command, cwd=cwd, env=environ, progress=progress)
    if lines is not None:
        raise failure(installer.name, lines, requirements, python, arch, glibc_minor)
    (target / ".lock").unlink(missing_ok=True)  # uv's lock of the target directory


def _uv_command(uv: str, target: Path, python: str, arch: str, glibc_minor: int) -> list[str]:
    return [
        uv, "pip", "install", "--target", str(target), "--python", sys.executable,
        "--python-version", python, "--python-platform", uv_platform(arch, glibc_minor),
        "--only-binary", ":all:", "--no-progress",
    ]  # fmt: skip


def _pip_command(target: Path, python: str, arch: str, glibc_minor: int) -> list[str]:
    command = [sys.executable, "-m", "pip", "install", "--target", str(target)]
    for tag in platform_tags(arch, glibc_minor):
        command += ["--platform", tag]
    return [
        *command, "--implementation", "cp", "--python-version", python, "--only-binary=:all:",
        "--no-compile", "--no-input", "--disable-pip-version-check", "--progress-bar", "off",
        "--no-warn-script-location",
    ]  # fmt: skip


# The installers' step lines that are worth a line of progress.
_SHOWN = {
    "pip": ("Collecting ", "Downloading ", "Processing ", "Installing collected", "Successfully"),
    "uv": ("Resolved ", "Prepared ", "Installed ", "Downloading ", "Downloaded "),
}


def _run(
    installer: Installer,
    command: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    progress: Callable[[str], None],
) -> list[str] | None:
    """Run the installer, passing its steps to PROGRESS; its output lines if it failed."""
    try:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError as exc:  # pragma: no cover - the binary vanished since find()
        raise DependencyError(f"cannot run {installer.name} ({command[0]}): {exc}") from exc
    lines = []
    assert process.stdout is not None
    with process.stdout:
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.lstrip().startswith(_SHOWN[installer.name]):
                progress(line.strip())
    return None if process.wait() == 0 else lines
