"""Options and translations shared by the subcommands that run functions (serve, invoke)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from lambdakit.emulator.errors import EmulatorError
from lambdakit.emulator.functions import FunctionSpec, apply_env_file, load_functions

F = TypeVar("F", bound=Callable[..., Any])


def function_options(command: F) -> F:
    """PATH and the flags that override what the template or directory says."""
    decorators = [
        click.argument("path", type=click.Path(path_type=Path), default=".", required=False),
        click.option("--function", "function_name", metavar="NAME", help="Only this function."),
        click.option("--handler", metavar="H", help="Handler (module.function) to use."),
        click.option("--timeout", type=click.FloatRange(min=0.001, max=900), help="Seconds."),
        click.option("--memory", type=click.IntRange(128, 10240), help="Memory size in MB."),
        click.option("--env", "env", multiple=True, metavar="KEY=VALUE", help="Set a variable."),
        click.option(
            "--env-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            help="Variables from a KEY=VALUE file, or SAM's --env-vars JSON.",
        ),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return command


def parse_env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        variables[key] = value
    return variables


def select_functions(
    path: Path,
    *,
    function_name: str | None,
    handler: str | None,
    timeout: float | None,
    memory: int | None,
    env: Sequence[str],
    env_file: Path | None,
    warn: Callable[[str], None],
) -> list[FunctionSpec]:
    """Load PATH, keep the named function, apply the overrides."""
    try:
        result = load_functions(path, handler=handler if _is_directory_of_code(path) else None)
        if env_file is not None:
            result = apply_env_file(result, env_file)
    except EmulatorError as error:
        raise click.ClickException(str(error)) from error
    for warning in result.warnings:
        warn(warning)
    functions = result.functions
    if function_name is not None:
        functions = [
            f for f in functions if f.name == function_name or f.logical_id == function_name
        ]
        if not functions:
            names = ", ".join(f.name for f in result.functions)
            raise click.BadParameter(
                f"no function {function_name!r} in {path} (there are: {names})",
                param_hint="--function",
            )
    variables = parse_env_pairs(env)
    return [
        spec.with_overrides(
            handler=handler, timeout=timeout, memory_size=memory,
            environment=variables or None,
        )
        for spec in functions
    ]  # fmt: skip


def _is_directory_of_code(path: Path) -> bool:
    """A function directory (not a project with a template): --handler configures it."""
    return path.is_dir() and not any(
        (path / name).exists() for name in ("template.yaml", "template.yml", "template.json")
    )
