"""Options and translations shared by the subcommands that run functions (serve, invoke)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from lambdakit.template import (
    TEMPLATE_NAMES,
    FunctionSpec,
    TemplateError,
    apply_env_file,
    load_functions,
)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Selection:
    """PATH and the flags that choose and override functions, as the user gave them."""

    path: Path
    function_name: str | None
    handler: str | None
    timeout: float | None
    memory: int | None
    env: Sequence[str]
    env_file: Path | None
    image: str | None = None


_SELECTION_FIELDS = (
    "path", "function_name", "handler", "timeout", "memory", "env", "env_file", "image",
)  # fmt: skip


def function_options(command: F) -> F:
    """PATH and the flags that override what the template or directory says, handed to the
    command as one ``selection`` argument."""

    @functools.wraps(command)
    def collect(**kwargs: Any) -> Any:
        fields = {name: kwargs.pop(name) for name in _SELECTION_FIELDS}
        return command(selection=Selection(**fields), **kwargs)

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
        click.option(
            "--image",
            metavar="TAG",
            help="Run this OCI image (`lambdakit image` builds it) with docker or podman.",
        ),
    ]
    wrapped: Any = collect
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return wrapped  # type: ignore[no-any-return]


def warn(text: str) -> None:
    click.echo(f"warning: {text}", err=True)


def parse_env_pairs(pairs: Sequence[str]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--env")
        variables[key] = value
    return variables


def select_functions(selection: Selection, *, warn: Callable[[str], None]) -> list[FunctionSpec]:
    """Load PATH, keep the named function, apply the overrides."""
    path, function_name, handler = selection.path, selection.function_name, selection.handler
    env_file = selection.env_file
    try:
        result = load_functions(path, handler=handler if _is_directory_of_code(path) else None)
        if env_file is not None:
            result = apply_env_file(result, env_file)
    except TemplateError as error:
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
    variables = parse_env_pairs(selection.env)
    functions = [
        spec.with_overrides(
            handler=handler, timeout=selection.timeout, memory_size=selection.memory,
            environment=variables or None,
        )
        for spec in functions
    ]  # fmt: skip
    return _with_image(functions, selection.image) if selection.image else functions


def _with_image(functions: list[FunctionSpec], image: str) -> list[FunctionSpec]:
    """The one selected function, run from IMAGE; fails now if no engine can run images."""
    from lambdakit.emulator.containers import detect_engine
    from lambdakit.emulator.errors import ContainerEngineError

    if len(functions) != 1:
        names = ", ".join(f.name for f in functions)
        raise click.UsageError(f"--image runs one function; choose one of {names} with --function")
    try:
        detect_engine(purpose="run")
    except ContainerEngineError as error:
        raise click.ClickException(str(error)) from error
    return [dataclasses.replace(functions[0], image=image)]


def _is_directory_of_code(path: Path) -> bool:
    """A function directory (not a project with a template): --handler configures it."""
    return path.is_dir() and not any((path / name).exists() for name in TEMPLATE_NAMES)
