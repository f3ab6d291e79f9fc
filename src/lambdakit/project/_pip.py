"""Dependencies for Lambda's platform: ``pip install --target`` with the target's wheel tags.

pip runs in the building interpreter but installs for the target: CPython X.Y on Linux
x86_64/aarch64 with Lambda's glibc, wheels only (``--only-binary=:all:``), because nothing
compiled on this machine would run there. ``--no-compile``: bytecode is compiled later, once,
reproducibly, and only when this interpreter is the target's version (``bundle``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from lambdakit.project.errors import BuildError

__all__ = ["has_requirements", "install", "platform_tags"]

# manylinux wheels name the oldest glibc they need (PEP 600); Lambda's Amazon Linux has:
# https://docs.aws.amazon.com/linux/al2023/ug/compare-with-al2.html
GLIBC = {"al2023": 34, "al2": 26}
MACHINE = {"x86_64": "x86_64", "arm64": "aarch64"}


def platform_tags(arch: str, glibc_minor: int) -> list[str]:
    """The ``--platform`` values for ARCH on a glibc 2.GLIBC_MINOR system, newest first.

    pip takes each ``--platform`` as one exact tag (only the legacy ``manylinux2014`` alias is
    widened to ``manylinux2010``/``manylinux1`` by pip itself), so every glibc from 2.17
    (manylinux2014, the oldest an aarch64 wheel names) up to the target's is listed.
    """
    machine = MACHINE[arch]
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(glibc_minor, 16, -1)]
    return [*tags, f"manylinux2014_{machine}"]


def has_requirements(path: Path) -> bool:
    """Whether the requirements file at PATH names anything (comments and blanks do not)."""
    if not path.is_file():
        return False
    lines = (line.split("#", 1)[0].strip() for line in path.read_text("utf-8").splitlines())
    return any(lines)


def install(
    requirements: Path,
    target: Path,
    *,
    python: str,
    arch: str,
    glibc_minor: int,
    progress: Callable[[str], None],
) -> None:
    """Install REQUIREMENTS into the directory TARGET for CPython PYTHON on Linux ARCH."""
    command = [sys.executable, "-m", "pip", "install", "--target", str(target)]
    for tag in platform_tags(arch, glibc_minor):
        command += ["--platform", tag]
    command += [
        "--implementation", "cp", "--python-version", python, "--only-binary=:all:",
        "--no-compile", "--no-input", "--disable-pip-version-check", "--progress-bar", "off",
        "--no-warn-script-location", "-r", str(requirements),
    ]  # fmt: skip
    # Relative paths in requirements.txt (./wheels/x.whl) are relative to its directory.
    environ = {**os.environ, "PIP_ROOT_USER_ACTION": "ignore", "PYTHONDONTWRITEBYTECODE": "1"}
    environ.pop("PIP_USER", None)  # --user and --target exclude each other
    lines = _run(command, cwd=requirements.parent, env=environ, progress=progress)
    if lines is not None:
        raise _failure(lines, requirements, python=python, arch=arch, glibc_minor=glibc_minor)


_SHOWN = ("Collecting ", "Downloading ", "Processing ", "Installing collected", "Successfully")


def _run(
    command: list[str], *, cwd: Path, env: dict[str, str], progress: Callable[[str], None]
) -> list[str] | None:
    """Run pip, passing its steps to PROGRESS; its output lines if it failed, else None."""
    try:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except OSError as exc:  # pragma: no cover - sys.executable vanished
        raise BuildError(f"cannot run pip ({sys.executable}): {exc}") from exc
    lines = []
    assert process.stdout is not None
    with process.stdout:
        for line in process.stdout:
            lines.append(line.rstrip())
            if line.lstrip().startswith(_SHOWN):
                progress(line.strip())
    return None if process.wait() == 0 else lines


_NO_WHEEL = re.compile(r"No matching distribution found for ([^\s;]+)")


def _failure(
    lines: list[str], requirements: Path, *, python: str, arch: str, glibc_minor: int
) -> BuildError:
    output = "\n".join(lines)
    if "No module named pip" in output:
        return BuildError(
            f"pip is not installed in {sys.executable}, which lambdakit uses to install "
            f"{requirements.name}; install it with `{sys.executable} -m ensurepip`"
        )
    match = _NO_WHEEL.search(output)
    if match is None:
        tail = "\n  ".join(lines[-15:])
        return BuildError(f"pip could not install {requirements}:\n  {tail}")
    name = match[1]
    return BuildError(
        f"{requirements}: no wheel of {name!r} for CPython {python} on Linux {arch} "
        f"(manylinux, glibc 2.{glibc_minor} or older). lambdakit installs wheels only, because "
        "nothing compiled on this machine runs on Lambda. Check the name and version; if "
        f"{name} is pure Python but published only as a source archive, build its wheel once "
        f"(`pip wheel --no-deps {name} -w wheels`) and add `--find-links wheels` to "
        f"{requirements.name}; if it has compiled parts and no wheel for this platform, pick a "
        "version that has one, or build the function as a container image (`lambdakit image`)."
    )
