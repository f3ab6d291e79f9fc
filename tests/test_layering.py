"""The layering rules of docs/DESIGN.md, read from the source with ``ast``.

- ``lambdakit.template`` imports neither ``emulator``, ``project`` nor ``cli``;
- ``lambdakit.emulator`` imports neither ``project`` nor ``cli``;
- ``lambdakit.dependencies`` (the layer below both the emulator and the project commands)
  imports neither ``emulator``, ``project``, ``cli`` nor ``template``;
- no module imports a private module (a name segment starting with ``_``) of another of the
  subpackages runtime, emulator, template, project and cli. The shared top-level modules
  (``_wire``, ``_eventstream``, ``_version``, ``_hooks``) are for everyone, a package's private
  modules for the package itself, and dunder segments (``__main__``) are not private.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: an arrow
drawn lazily is still an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).parent.parent / "src"
PACKAGE = SRC / "lambdakit"
SUBPACKAGES = ("runtime", "emulator", "template", "project", "cli", "dependencies")
SHARED = {"_wire", "_eventstream", "_version", "_hooks"}
FORBIDDEN = {
    "template": ("emulator", "project", "cli"),
    "emulator": ("project", "cli"),
    "dependencies": ("emulator", "project", "cli", "template"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import; ``from X import y`` yields ``X.y`` as well,
    since Y may be a module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def subpackage(name: str) -> str | None:
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == "lambdakit" and parts[1] in SUBPACKAGES:
        return parts[1]
    return None


def is_private(segment: str) -> bool:
    return segment.startswith("_") and not segment.startswith("__") and segment not in SHARED


def violations() -> Iterator[str]:
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        own = subpackage(module + ".x")  # a subpackage's __init__ belongs to it
        reported: set[tuple[int, str]] = set()  # one message per import statement and rule
        for line, name in imported(tree, module, path.name == "__init__.py"):
            where = f"{path.relative_to(SRC)}:{line}: {module} imports {name}"
            target = subpackage(name)
            if target is None or target == own:
                continue
            if own in FORBIDDEN and target in FORBIDDEN[own] and (line, "up") not in reported:
                reported.add((line, "up"))
                yield f"{where} (lambdakit.{own} must not import lambdakit.{target})"
            private = any(is_private(segment) for segment in name.split(".")[2:])
            if private and (line, "private") not in reported:
                reported.add((line, "private"))
                yield f"{where} (a private module of another package)"


def test_subpackages_are_found() -> None:
    found = {subpackage(module_name(p) + ".x") for p in PACKAGE.rglob("*.py")}
    assert set(SUBPACKAGES) <= found


def test_layering_rules_hold() -> None:
    problems = sorted(set(violations()))
    assert not problems, "layering rules broken:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    ("name", "private"),
    [
        ("_intrinsics", True),
        ("_wire", False),
        ("__main__", False),
        ("functions", False),
    ],
)
def test_what_counts_as_private(name: str, private: bool) -> None:
    assert is_private(name) is private
