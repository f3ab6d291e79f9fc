"""What a failed install means, in the user's terms: the installer's output, translated once.

Three answers, most specific first:

- a name the package index does not know at all (a typo, or a private package whose index
  is not configured): uv says so ("was not found in the package registry"); pip's answer,
  "(from versions: none)", is the same for a project with no wheel for the target, so the
  index is asked once more, without the wheel constraint (``pip index versions``);
- a project that exists but has no wheel for Lambda's platform: how to get one;
- anything else: the installer's last lines.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from lambdakit.dependencies.errors import DependencyError
from lambdakit.dependencies.sources import Requirements

__all__ = ["failure"]

# What names the package that has no wheel (or no version at all), most telling first: uv's
# hint, pip's one message, then the culprits of uv's resolution reports.
_NO_WHEEL = (
    re.compile(r"Wheels are required for `([^`]+)`"),
    re.compile(r"No matching distribution found for ([^\s;]+)"),
    re.compile(r"([^\s,]+) was not found in the package registry"),
    re.compile(r"there (?:are|is) no versions? of ([^\s,]+)"),
    re.compile(r"Because only ([^\s<>=!~,]+)"),
)
_UNKNOWN_TO_UV = re.compile(r"([^\s,]+) was not found in the package registry")
_NONE_FOR_PIP = re.compile(r"requirement ([^\s;]+) \(from versions: none\)")
_INDEX_LINE = re.compile(r"^\s*(?:-i|--index-url)[\s=]+(\S+)", re.MULTILINE)
_SEPARATORS = r"[\s\[<>=!~;@]"


def failure(
    installer: str,
    lines: list[str],
    requirements: Requirements,
    python: str,
    arch: str,
    glibc_minor: int,
) -> DependencyError:
    """The error for an install by INSTALLER (``uv`` or ``pip``) that printed LINES."""
    output = "\n".join(lines)
    if "No module named pip" in output:
        return DependencyError(
            f"pip is not installed in {sys.executable}, which lambdakit uses to install "
            f"{requirements.sources[0].name}; install it with `{sys.executable} -m ensurepip` "
            "(or `pip install uv`)"
        )
    unknown = _unknown_name(installer, output)
    if unknown is not None:
        return _no_such_package(requirements, unknown, installer)
    culprit = next((m[1] for p in _NO_WHEEL if (m := p.search(output)) is not None), None)
    if culprit is None:
        tail = "\n  ".join(lines[-15:])
        return DependencyError(f"{installer} could not install {requirements.names}:\n  {tail}")
    return _no_wheel(requirements, culprit, python, arch, glibc_minor)


def _unknown_name(installer: str, output: str) -> str | None:
    """The requirement the index has never heard of, if that is why the install failed."""
    if installer == "uv":
        found = _UNKNOWN_TO_UV.search(output)
        return found[1] if found else None
    found = _NONE_FOR_PIP.search(output)
    if found is None or _on_index(_bare(found[1])):
        return None
    return found[1]


def _on_index(name: str) -> bool:
    """Whether pip's configured index has any release of NAME, wheel or not (pre-releases
    included). An index that cannot be asked counts as having it: the wheel message then."""
    command = [
        sys.executable, "-m", "pip", "index", "versions", "--pre", name,
        "--disable-pip-version-check", "--no-input",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return True
    return done.returncode == 0 or "No matching distribution found" not in done.stderr


def _no_such_package(requirements: Requirements, culprit: str, installer: str) -> DependencyError:
    source, line = _named(requirements, culprit)
    bare = _bare(line)
    index = _index(requirements, installer)
    return DependencyError(
        f"{source}: no package `{bare}` on the package index ({index}): check the name "
        f"(https://pypi.org/search/?q={bare}). A private package needs its own index: add "
        f"`--extra-index-url URL` to {_listing(source)}, or its wheel with "
        "`--find-links DIR`."
    )


def _no_wheel(
    requirements: Requirements, culprit: str, python: str, arch: str, glibc_minor: int
) -> DependencyError:
    source, name = _named(requirements, culprit)
    bare = _bare(name)
    return DependencyError(
        f"{source}: no wheel of {name!r} for CPython {python} on Linux {arch} "
        f"(manylinux, glibc 2.{glibc_minor} or older). lambdakit installs wheels only, because "
        "nothing compiled on this machine runs on Lambda. Check the name and version; if "
        f"{bare} is pure Python but published only as a source archive, build its wheel once "
        f"(`pip wheel --no-deps {bare} -w wheels`) and add `--find-links wheels` to "
        f"{_listing(source)}; if it has compiled parts and no wheel for this platform, pick a "
        "version that has one, or build the function as a container image (`lambdakit image`)."
    )


def _index(requirements: Requirements, installer: str) -> str:
    """The index the installer asked: an ``--index-url`` line, the installer's variable, or
    PyPI (both installers' default)."""
    for file in requirements.requirement_files:
        try:
            found = _INDEX_LINE.search(file.read_text("utf-8", "replace"))
        except OSError:
            continue
        if found:
            return found[1]
    names = ("UV_DEFAULT_INDEX", "UV_INDEX_URL") if installer == "uv" else ("PIP_INDEX_URL",)
    return next((os.environ[n] for n in names if os.environ.get(n)), "PyPI")


def _listing(source: Path) -> str:
    return source.name if source.name != "pyproject.toml" else "requirements.txt"


def _named(requirements: Requirements, culprit: str) -> tuple[Path, str]:
    """The source and requirement line that name CULPRIT (a name, maybe with a version)."""
    wanted = _canonical(_bare(culprit))
    for requirement in requirements.requirements:
        if _canonical(_bare(requirement.text)) == wanted:
            return requirement.source, requirement.text
    return requirements.sources[0], culprit


def _bare(requirement: str) -> str:
    """The project name of a requirement line: ``PyYAML`` of ``PyYAML[c]>=6; python<4``."""
    return re.split(_SEPARATORS, requirement.strip(), maxsplit=1)[0]


def _canonical(name: str) -> str:
    """PEP 503 normalization: ``PyYAML``, ``pyyaml`` and ``py_yaml`` are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()
