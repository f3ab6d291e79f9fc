"""``lambdakit init``: a new function project, ready for ``invoke``, ``build`` and ``image``.

A project is made of three things:

- the files of a template, package data under ``templates/<template>/``, on top of the files
  every template shares in ``templates/_common/`` (a template's own file wins over a shared
  one at the same path). Every template file ends in ``.tmpl``, so that ruff, mypy and the
  byte-compiler leave the templates alone, and is rendered with ``string.Template``:
  ``$name``, ``$python``, ``$logical_id``, ``$$`` for a dollar sign. A name starting with
  ``dot-`` becomes a dot file (``dot-gitignore.tmpl`` -> ``.gitignore``);
- the runtime's ``bootstrap``, byte for byte, executable;
- the runtime-only part of the lambdakit package, vendored into ``.lambdakit/runtime/`` for
  the Dockerfile to copy into the image (``vendor_runtime``; ``lambdakit image`` refreshes it).

Everything is rendered and checked before the first file is written, so a refused project
leaves nothing behind.
"""

from __future__ import annotations

import re
import shutil
import string
import sys
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from lambdakit.project.errors import ProjectError

if TYPE_CHECKING:
    if sys.version_info >= (3, 11):
        from importlib.resources.abc import Traversable
    else:
        from importlib.abc import Traversable

__all__ = [
    "RUNTIME_DIR",
    "TEMPLATES",
    "check_name",
    "check_python",
    "create_project",
    "render_template",
    "vendor_runtime",
]

TEMPLATES = ("hello", "streaming", "web")
"""The templates ``init`` offers; the first is the default."""

RUNTIME_DIR = PurePosixPath(".lambdakit/runtime")
"""Where in a project the vendored runtime lives (as ``lambdakit/``); the Dockerfile copies it."""

# What runs inside Lambda: the runtime and the stdlib-only modules it imports. The CLI, the
# emulator and the project commands stay out (DESIGN.md, layering rule 1).

# Lambda function names: https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PYTHON = re.compile(r"3\.(\d{1,2})")
_OLDEST_MINOR = 10  # requires-python >= 3.10
_SUFFIX = ".tmpl"
_DOT_PREFIX = "dot-"


def create_project(
    path: Path, *, template: str = "hello", python: str = "3.12", name: str | None = None
) -> list[Path]:
    """Create the project at PATH (a new or empty directory); return the files created.

    ``name`` is the function's name (default: the directory's), ``python`` its Python version
    (``3.N``): the template's ``Runtime: python3.N``, the managed runtime that starts lambdakit's
    runtime through ``AWS_LAMBDA_EXEC_WRAPPER`` and brings the interpreter a ``provided.*`` zip
    lacks, and the container image's. Raises ``ProjectError`` for a bad argument or a PATH that
    is not a new or empty directory, before anything is written.
    """
    if template not in TEMPLATES:
        raise ProjectError(f"unknown template {template!r}; choose one of: {', '.join(TEMPLATES)}")
    check_python(python)
    name = check_name(name if name is not None else _default_name(path))
    _check_destination(path)
    files = render_template(template, _variables(name, python))
    files[PurePosixPath("bootstrap")] = _bootstrap()
    created = _write(path, dict(sorted(files.items())))
    (path / "bootstrap").chmod(0o755)
    return created + vendor_runtime(path / RUNTIME_DIR)


def check_name(name: str) -> str:
    """NAME if it is a valid Lambda function name, else a ``ProjectError`` saying why."""
    if not _NAME.fullmatch(name):
        raise ProjectError(
            f"{name!r} is not a valid function name: use 1 to 64 letters, digits, hyphens "
            "and underscores"
        )
    return name


def check_python(python: str) -> str:
    """PYTHON if it is a ``3.N`` version lambdakit supports, else a ``ProjectError``."""
    match = _PYTHON.fullmatch(python)
    if match is None or int(match[1]) < _OLDEST_MINOR:
        raise ProjectError(
            f"{python!r} is not a Python version lambdakit supports: give 3.{_OLDEST_MINOR} or "
            "newer as MAJOR.MINOR, e.g. 3.12"
        )
    return python


def render_template(template: str, variables: dict[str, str]) -> dict[PurePosixPath, bytes]:
    """The files of TEMPLATE (shared ones included), rendered: project path -> content."""
    root = resources.files("lambdakit.project") / "templates"
    files: dict[PurePosixPath, bytes] = {}
    for layer in ("_common", template):
        for relative, source in _walk(root / layer):
            text = string.Template(source.read_text(encoding="utf-8")).substitute(variables)
            files[_output_path(relative)] = text.encode("utf-8")
    return dict(sorted(files.items()))


def vendor_runtime(destination: Path) -> list[Path]:
    """Copy the runtime-only part of the installed lambdakit into DESTINATION/lambdakit.

    A copy already there is replaced, so that no file of an older version stays behind.
    Returns the files written. The selection is ``lambdakit image``'s (``runtime_files``).
    """
    from lambdakit._vendoring import runtime_files

    package = Path(__file__).resolve().parent.parent
    target = destination / "lambdakit"
    if target.exists():
        shutil.rmtree(target)
    written = []
    for relative in runtime_files(package):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(package / relative, target / relative)
        written.append(target / relative)
    return sorted(written)


def _variables(name: str, python: str) -> dict[str, str]:
    return {"name": name, "python": python, "logical_id": _logical_id(name)}


def _logical_id(name: str) -> str:
    """The template's resource name: ``my-func_2`` -> ``MyFunc2Function`` (alphanumeric)."""
    words = [word for word in re.split(r"[-_]+", name) if word]
    stem = "".join(word[:1].upper() + word[1:] for word in words)
    if stem[:1].isdigit():
        stem = "Fn" + stem
    return stem + "Function"


def _default_name(path: Path) -> str:
    name = path.resolve().name
    if not _NAME.fullmatch(name):
        raise ProjectError(
            f"the directory name {name!r} is not a valid function name (1 to 64 letters, "
            "digits, hyphens and underscores); choose one with --name"
        )
    return name


def _check_destination(path: Path) -> None:
    if path.is_dir():
        if any(path.iterdir()):
            raise ProjectError(
                f"{path} already exists and is not empty; lambdakit init does not overwrite "
                "files. Give a new directory (it is created), or empty this one first."
            )
    elif path.exists() or path.is_symlink():
        raise ProjectError(f"{path} exists and is not a directory; give a new directory")


def _walk(directory: Traversable) -> list[tuple[PurePosixPath, Traversable]]:
    """Every file under DIRECTORY, as (path relative to it, file); caches are skipped."""
    found: list[tuple[PurePosixPath, Traversable]] = []
    for entry in directory.iterdir():
        if entry.name == "__pycache__":
            continue
        if entry.is_dir():
            found += [(PurePosixPath(entry.name) / rel, leaf) for rel, leaf in _walk(entry)]
        else:
            found.append((PurePosixPath(entry.name), entry))
    return sorted(found, key=lambda item: item[0])


def _output_path(relative: PurePosixPath) -> PurePosixPath:
    """``tests/conftest.py.tmpl`` -> ``tests/conftest.py``; ``dot-gitignore`` -> ``.gitignore``."""
    name = relative.name
    if name.endswith(_SUFFIX):
        name = name[: -len(_SUFFIX)]
    if name.startswith(_DOT_PREFIX):
        name = "." + name[len(_DOT_PREFIX) :]
    return relative.with_name(name)


def _bootstrap() -> bytes:
    return (resources.files("lambdakit.runtime") / "bootstrap").read_bytes()


def _write(root: Path, files: dict[PurePosixPath, bytes]) -> list[Path]:
    written = []
    for relative, content in files.items():
        target = root.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(target)
    return written
