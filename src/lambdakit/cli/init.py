"""``lambdakit init``: create a function project from a template."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path

import click

from lambdakit.project.errors import ProjectError
from lambdakit.project.scaffold import (
    RUNTIME_DIR,
    TEMPLATES,
    check_name,
    check_python,
    create_project,
)

Callback = Callable[[click.Context, click.Parameter, str | None], str | None]


def _checked(check: Callable[[str], str]) -> Callback:
    """A click callback: a ``ProjectError`` from CHECK becomes a usage error (exit 2)."""

    def callback(
        context: click.Context, parameter: click.Parameter, value: str | None
    ) -> str | None:
        if value is None:
            return value
        try:
            return check(value)
        except ProjectError as error:
            raise click.BadParameter(str(error)) from error

    return callback


@click.command(short_help="Create a function project in a new directory.")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--template",
    type=click.Choice(TEMPLATES),
    default=TEMPLATES[0],
    show_default=True,
    help="hello: a JSON function; streaming: a streamed answer and server-sent events; "
    "web: an ASGI app behind a Function URL.",
)
@click.option(
    "--python",
    default="3.12",
    show_default=True,
    metavar="3.N",
    callback=_checked(check_python),
    help="The Python version of the container image.",
)
@click.option(
    "--name",
    metavar="NAME",
    callback=_checked(check_name),
    help="The function's name (default: the directory's name).",
)
def init(path: Path, template: str, python: str, name: str | None) -> None:
    """Create a function project in PATH, a new or empty directory.

    The project has the function's code (app.py), its SAM template.yaml, the lambdakit
    bootstrap, a Dockerfile, a sample event and tests, and runs at once with
    `lambdakit invoke PATH`.
    """
    try:
        created = create_project(path, template=template, python=python, name=name)
    except ProjectError as error:
        raise click.ClickException(str(error)) from error
    _report(path, template, created)


def _report(path: Path, template: str, created: list[Path]) -> None:
    vendored = 0
    click.echo(f"Created a {template} project in {path}:")
    for file in created:
        if file.is_relative_to(path / RUNTIME_DIR):
            vendored += 1
        else:
            click.echo(f"  {file.relative_to(path).as_posix()}")
    click.echo(
        f"  {RUNTIME_DIR}/lambdakit/ (the lambdakit runtime for the image, {vendored} files)"
    )
    event = "events/prompt.json" if template == "streaming" else "events/event.json"
    steps = [
        (f"lambdakit invoke . --event-file {event}", "run it once, here"),
        ("python -m pytest", "its tests"),
        ("lambdakit serve .", "a local Lambda, with the Function URL"),
    ]
    if path.resolve() != Path.cwd().resolve():
        steps.insert(0, (f"cd {shlex.quote(str(path))}", ""))
    width = max(len(command) for command, _ in steps)
    click.echo("\nNext steps:")
    for command, comment in steps:
        click.echo(f"  {command:<{width}}  # {comment}" if comment else f"  {command}")
