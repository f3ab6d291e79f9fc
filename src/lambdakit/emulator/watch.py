"""``serve --watch``: replace a function's environments when its code changes.

Idle environments are shut down at once; busy ones finish their invocation first, so no
invocation is cut short by an edit. The next invocation starts a fresh environment (a cold
start, with the new code). A changed ``requirements.txt`` or ``pyproject.toml`` in a
function's code directory prepares its packages again first.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from lambdakit.dependencies import SOURCE_NAMES
from lambdakit.emulator import console
from lambdakit.emulator.errors import EmulatorError

if TYPE_CHECKING:
    from lambdakit.emulator.server import Emulator

IGNORED_PARTS = {".lambdakit", "__pycache__", ".git", ".venv", "node_modules", ".pytest_cache"}


async def watch_functions(emulator: Emulator) -> asyncio.Task[None]:
    """Start watching every function's code and layers; returns the watching task."""
    task = asyncio.get_running_loop().create_task(_watch(emulator))
    emulator.background.append(task)
    return task


def _relevant(path: str) -> bool:
    return not IGNORED_PARTS.intersection(Path(path).parts) and not path.endswith((".pyc", "~"))


async def _watch(emulator: Emulator) -> None:
    from watchfiles import awatch

    roots = {name: [spec.code_dir, *spec.layers] for name, spec in emulator.functions.items()}
    paths = sorted({str(p) for dirs in roots.values() for p in dirs})
    async for changes in awatch(*paths, watch_filter=lambda _, path: _relevant(path)):
        changed = [Path(path) for _, path in changes]
        for name, dirs in roots.items():
            if not any(_inside(path, root) for path in changed for root in dirs):
                continue
            if any(_is_source(path, emulator.functions[name].code_dir) for path in changed):
                console.warn(f"{name}: dependencies changed, preparing them again")
                try:
                    await emulator.prepare([name])
                except EmulatorError as error:  # the old packages stay; say why
                    console.warn(str(error))
            console.warn(f"{name}: code changed, restarting its environments")
            await emulator.pools[name].restart()


def _is_source(path: Path, code_dir: Path) -> bool:
    """Whether PATH is one of the dependency sources of the code in CODE_DIR."""
    return path.name in SOURCE_NAMES and path.parent.resolve() == code_dir.resolve()


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True
