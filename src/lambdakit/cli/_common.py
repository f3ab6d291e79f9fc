"""Options and translations shared by the subcommands that run functions (serve, invoke), and
the template options every project command has (--parameter-overrides, --config-env...)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from lambdakit.cli._images import prepare_images
from lambdakit.template import (
    FunctionSpec,
    Selected,
    TemplateError,
    UnknownFunctionError,
    select,
)
from lambdakit.template.samconfig import Command

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
    parameter_overrides: tuple[str, ...] = ()
    config_env: str | None = None
    config_file: Path | None = None
    package: Path | None = None
    """``--package``: a built zip, or the directory ``lambdakit build`` wrote."""
    layer_packages: tuple[Path, ...] = ()
    command: Command = "invoke"
    """The lambdakit command, which chooses the samconfig sections that apply."""


_SELECTION_FIELDS = (
    "path", "function_name", "handler", "timeout", "memory", "env", "env_file", "image",
    "parameter_overrides", "config_env", "config_file", "package", "layer_packages",
)  # fmt: skip

_OVERRIDES_FLAG = "--parameter-overrides"


class ProjectCommand(click.Command):
    """A command with ``--parameter-overrides``, which takes every following argument that
    is KEY=VALUE as SAM CLI's does (``--parameter-overrides A=1 B=2``), so that commands
    copied from SAM's documentation work; PATH, which has no ``=``, ends the list."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _spread_overrides(args))


def _spread_overrides(args: list[str]) -> list[str]:
    """ARGS with each extra KEY=VALUE after ``--parameter-overrides`` given the flag again."""
    spread: list[str] = []
    taking = False
    for index, arg in enumerate(args):
        if arg == "--":
            return spread + args[index:]
        if taking and "=" in arg and not arg.startswith("-"):
            spread += [_OVERRIDES_FLAG, arg]
            continue
        previous = spread[-1] if spread else ""
        taking = previous == _OVERRIDES_FLAG or arg.startswith(f"{_OVERRIDES_FLAG}=")
        spread.append(arg)
    return spread


def config_options(command: F) -> F:
    """``--parameter-overrides``, ``--config-env`` and ``--config-file``, as SAM CLI has them;
    the command receives ``parameter_overrides`` (a tuple), ``config_env`` and
    ``config_file``. Use with ``@click.command(cls=ProjectCommand)``."""
    decorators = [
        click.option(
            _OVERRIDES_FLAG,
            "parameter_overrides",
            multiple=True,
            metavar="KEY=VALUE...",
            help="Template parameter values: Key=Value pairs, or "
            "ParameterKey=Key,ParameterValue=Value (SAM CLI's forms); replaces samconfig's.",
        ),
        click.option(
            "--config-env",
            metavar="NAME",
            help="The samconfig environment to read (default: default).",
        ),
        click.option(
            "--config-file",
            type=click.Path(dir_okay=False, path_type=Path),
            help="The samconfig file (default: samconfig.toml, .yaml or .yml beside the "
            "template; relative to the project directory).",
        ),
    ]
    return _decorated(command, decorators)


def function_options(command: F) -> F:
    """PATH and the flags that override what the template or directory says, handed to the
    command as one ``selection`` argument."""

    @functools.wraps(command)
    def collect(**kwargs: Any) -> Any:
        fields = {name: kwargs.pop(name) for name in _SELECTION_FIELDS}
        name = click.get_current_context().command.name
        return command(selection=Selection(**fields, command=_command(name)), **kwargs)

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
        click.option(
            "--package",
            type=click.Path(exists=True, path_type=Path),
            metavar="ZIP_OR_DIR",
            help="Run the zip `lambdakit build` made (or each function's, from its output "
            "directory) instead of the source.",
        ),
        click.option(
            "--layer-package",
            "layer_packages",
            multiple=True,
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            metavar="ZIP",
            help="A layer zip for --package, in Lambda's order (default: the layers build "
            "made for it).",
        ),
    ]
    return _decorated(config_options(collect), decorators)  # type: ignore[return-value]


def _decorated(command: F, decorators: Sequence[Callable[[Any], Any]]) -> F:
    """COMMAND with DECORATORS applied, the first one outermost (as if written above it)."""
    wrapped: Any = command
    for decorator in reversed(decorators):
        wrapped = decorator(wrapped)
    return wrapped  # type: ignore[no-any-return]


def _command(name: str | None) -> Command:
    commands: dict[str | None, Command] = {"serve": "serve", "build": "build", "deploy": "deploy"}
    return commands.get(name, "invoke")


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
    """The functions the user chose (``lambdakit.template.select``), the warnings shown."""
    return select_project(selection, warn=warn).functions


def select_project(
    selection: Selection, *, warn: Callable[[str], None], region: str | None = None
) -> Selected:
    """The functions the user chose and the parameters they were loaded with (the
    warnings shown; images built). REGION is a ``--region`` flag: it is ``AWS::Region``."""
    variables = parse_env_pairs(selection.env)
    if selection.package is not None and selection.image is not None:
        raise click.UsageError("give either --package (a zip) or --image, not both")
    try:
        chosen = select(
            selection.path, command=selection.command, function=selection.function_name,
            parameter_overrides=selection.parameter_overrides, config_env=selection.config_env,
            config_file=selection.config_file, handler=selection.handler, region=region,
            timeout=selection.timeout, memory_size=selection.memory,
            environment=variables or None, env_file=selection.env_file,
            package=selection.package, layer_packages=selection.layer_packages,
        )  # fmt: skip
    except UnknownFunctionError as error:
        raise click.BadParameter(str(error), param_hint="--function") from error
    except TemplateError as error:
        raise click.ClickException(str(error)) from error
    for warning in chosen.warnings:
        warn(warning)
    functions = chosen.functions
    functions = functions if selection.image else prepare_images(functions, warn=warn)
    functions = _with_image(functions, selection.image) if selection.image else functions
    return dataclasses.replace(chosen, functions=functions)


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
