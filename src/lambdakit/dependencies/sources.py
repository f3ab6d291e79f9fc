"""What a function's dependency sources ask for: ``requirements.txt`` and ``pyproject.toml``.

Read once into a ``Requirements`` value: the requirement lines (to name a package in an error),
the files to hand the installer, and a fingerprint of everything that decides what gets
installed. The fingerprint is what pip would act on, not the bytes of the file: comments
(``#`` at the start of a line or after whitespace), blank lines, surrounding whitespace and
``\\`` line continuations are dropped, as pip's requirements-file parser drops them, so
reformatting a file reuses its cached install; any other change (a pin, an option, the order
of lines) makes a new one. Files the lines point to are part of the fingerprint by content:
``-r``/``-c`` includes, local wheels, archives and directories (``./wheels/x.whl``,
``pkg @ file:///...``), ``-e`` paths and ``--find-links`` directories.

``pyproject.toml`` contributes its PEP 621 ``[project] dependencies``; a file without them
contributes nothing. Poetry's ``[tool.poetry.dependencies]`` and ``dynamic = ["dependencies"]``
are not read (they need Poetry or a build backend to resolve): a warning says so and how to
export them to ``requirements.txt``, which is what ``sam build`` reads too.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lambdakit.dependencies.errors import DependencyError

__all__ = ["Requirement", "Requirements", "read"]

# pip's requirements-file syntax (pip/_internal/req/req_file.py): COMMENT_RE, line joining.
_COMMENT = re.compile(r"(^|\s)+#.*$")
_CONTINUATION = re.compile(r"\\\r?\n")
_INCLUDE = re.compile(r"(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+|(?<=-[rc]))(\S.*)")
_PATH_OPTION = re.compile(r"(-e|--editable|-f|--find-links)(?:\s*=\s*|\s+|(?<=-[ef]))(\S.*)")
_ARCHIVES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2")
_NOT_HASHED = frozenset({"__pycache__", ".git", ".hg", ".venv", ".tox", ".nox", ".mypy_cache"})


@dataclass(frozen=True, slots=True)
class Requirement:
    """One line that names something to install, and the file it is in."""

    source: Path
    text: str


@dataclass(frozen=True, slots=True)
class Requirements:
    """What SOURCES ask for, read once."""

    sources: tuple[Path, ...]
    requirements: tuple[Requirement, ...]
    requirement_files: tuple[Path, ...]  # requirements.txt files, passed as ``-r``
    generated: tuple[str, ...]  # PEP 621 dependencies, written to a file for the installer
    fingerprint: str
    warnings: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.requirements

    @property
    def names(self) -> str:
        """The sources, as a message names them: ``requirements.txt and pyproject.toml``."""
        return " and ".join(str(path) for path in self.sources)


def read(sources: tuple[Path, ...]) -> Requirements:
    reader = _Reader()
    for source in sources:
        reader.source(source)
    return Requirements(
        sources=sources,
        requirements=tuple(reader.requirements),
        requirement_files=tuple(reader.requirement_files),
        generated=tuple(reader.generated),
        fingerprint=reader.digest.hexdigest(),
        warnings=tuple(reader.warnings),
    )


class _Reader:
    """Walks the sources once, feeding what matters into one digest."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.requirements: list[Requirement] = []
        self.requirement_files: list[Path] = []
        self.generated: list[str] = []
        self.warnings: list[str] = []
        self._seen: set[Path] = set()

    def feed(self, *parts: str | bytes) -> None:
        for part in parts:
            data = part.encode() if isinstance(part, str) else part
            self.digest.update(b"%d:" % len(data) + data)

    def source(self, path: Path) -> None:
        if path.name == "pyproject.toml":
            self.pyproject(path)
        else:
            self.requirement_files.append(path)
            self.requirements_file(path, cwd=path.parent)

    def requirements_file(self, path: Path, cwd: Path) -> None:
        """One requirements file: relative includes are relative to it, relative package
        paths to CWD (the top-level file's directory, where the installer runs), as in pip."""
        resolved = path.resolve()
        if resolved in self._seen:  # an include cycle: pip would loop; say it once
            return
        self._seen.add(resolved)
        self.feed("file", path.name)
        for line in _logical_lines(_read_text(path)):
            self.feed(line)
            self.line(line, path, cwd)

    def line(self, line: str, path: Path, cwd: Path) -> None:
        include = _INCLUDE.fullmatch(line)
        if include is not None:
            self.requirements_file(path.parent / include[2].strip(), cwd)
            return
        option = _PATH_OPTION.fullmatch(line)
        if option is not None:
            self.local(option[2].strip(), cwd, is_path=True)
            if option[1] in ("-e", "--editable"):
                self.requirements.append(Requirement(path, line))
            return
        if line.startswith("-"):  # --index-url, --pre, ...: part of the fingerprint only
            return
        self.requirements.append(Requirement(path, line))
        self.local(line, cwd)

    def local(self, text: str, cwd: Path, *, is_path: bool = False) -> None:
        """Feed the content of the local file or directory TEXT names, if it names one (an
        option's value IS_PATH unless it is a URL)."""
        target = _local_path(text, is_path)
        if target is not None:
            _hash_path(self, cwd / target)

    def pyproject(self, path: Path) -> None:
        toml = _toml()
        try:
            data = toml.loads(_read_text(path))
        except toml.TOMLDecodeError as exc:
            raise DependencyError(f"{path} is not valid TOML ({exc}); fix it") from exc
        project = data.get("project")
        dependencies = project.get("dependencies") if isinstance(project, dict) else None
        if dependencies is None:
            self._unread(path, data, project)
            return
        if not isinstance(dependencies, list) or not all(
            isinstance(item, str) for item in dependencies
        ):
            raise DependencyError(
                f"{path}: [project] dependencies must be a list of strings such as "
                '"requests>=2.31" (PEP 621)'
            )
        self.feed("pyproject")
        for item in (item.strip() for item in dependencies):
            self.feed(item)
            self.generated.append(item)
            self.requirements.append(Requirement(path, item))
            self.local(item, path.parent)

    def _unread(self, path: Path, data: dict[str, object], project: object) -> None:
        tool = data.get("tool")
        poetry = tool.get("poetry") if isinstance(tool, dict) else None
        dynamic = project.get("dynamic", []) if isinstance(project, dict) else []
        if isinstance(poetry, dict) and set(poetry.get("dependencies") or {}) - {"python"}:
            self.warnings.append(
                f"warning: {path}: [tool.poetry.dependencies] is not read (lambdakit reads "
                "PEP 621 [project] dependencies and requirements.txt); export them with "
                "`poetry export -f requirements.txt -o requirements.txt`"
            )
        elif isinstance(dynamic, list) and "dependencies" in dynamic:
            self.warnings.append(
                f"warning: {path}: dynamic dependencies are not read (they need the build "
                "backend); list them in requirements.txt"
            )


def _toml() -> Any:
    """tomllib (3.11+), else tomli, its backport (a dependency of lambdakit on 3.10)."""
    try:
        return importlib.import_module("tomllib")
    except ImportError:  # pragma: no cover - 3.10
        return importlib.import_module("tomli")


def _read_text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DependencyError(f"cannot read {path}: {reason}") from exc


def _logical_lines(text: str) -> list[str]:
    joined = _CONTINUATION.sub("", text)
    lines = (_COMMENT.sub("", line).strip() for line in joined.splitlines())
    return [line for line in lines if line]


def _local_path(text: str, is_path: bool) -> Path | None:
    """The local path a requirement or option value names (``./x.whl``, ``pkg @ file:///x``,
    ``file:///x``, ``wheels``), or None for a name, a specifier or a remote URL."""
    text = text.split(";", 1)[0].strip()
    if " @ " in text or "@file:" in text:
        text = text.split("@", 1)[1].strip()
    if text.startswith("file:"):
        return Path(unquote(urlparse(text).path))
    if "://" in text:
        return None
    text = re.sub(r"\[[^\]]*\]$", "", text)  # ./pkg[extra]
    if is_path or text.startswith((".", "/", "~")) or os.sep in text or text.endswith(_ARCHIVES):
        return Path(text).expanduser()
    return None


def _hash_path(reader: _Reader, path: Path) -> None:
    if path.is_file():
        reader.feed("local file", path.read_bytes())
    elif path.is_dir():
        reader.feed("local directory")
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if d not in _NOT_HASHED)
            for name in sorted(filenames):
                file = Path(dirpath) / name
                reader.feed(file.relative_to(path).as_posix(), file.read_bytes())
    else:
        reader.feed("missing", str(path))  # the installer will say what is wrong
