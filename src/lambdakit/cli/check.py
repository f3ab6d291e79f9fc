"""``lambdakit check``: how running a template's functions locally will differ from AWS."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path

import click

from lambdakit.cli._common import ProjectCommand, config_options

_HEADER = ("FUNCTION", "PROPERTY", "WHAT HAPPENS LOCALLY")


@click.command(cls=ProjectCommand, short_help="Show how running locally will differ from AWS.")
@click.argument("path", type=click.Path(path_type=Path), default=".", required=False)
@config_options
def check(
    path: Path,
    parameter_overrides: tuple[str, ...],
    config_env: str | None,
    config_file: Path | None,
) -> None:
    """Show how the functions in PATH will run locally unlike on AWS.

    PATH is what `serve` takes (a template, or a directory with a template.yaml). Loads it
    as `serve` would, then prints one table: each function's properties that lambdakit does
    not honour locally (VpcConfig, Events, Policies, Tracing...) and what happens instead,
    then the template's other warnings. Exits 1 only if the template cannot be loaded.
    """
    from lambdakit.template import TemplateError, select

    try:
        selected = select(
            path, command="serve", parameter_overrides=parameter_overrides,
            config_env=config_env, config_file=config_file,
        )  # fmt: skip
    except TemplateError as error:
        raise click.ClickException(str(error)) from error
    if selected.template is None:
        click.echo(f"{path}: a function directory, without a template: nothing to compare")
        return
    rows = [(d.function, d.property, d.local_behaviour) for d in selected.differences]
    order = {spec.logical_id or spec.name: i for i, spec in enumerate(selected.functions)}
    differing = {row[0] for row in rows}
    rows += [(f, "-", "every property is honoured") for f in order if f not in differing]
    rows.sort(key=lambda row: order.get(row[0], len(order)))  # stable: properties keep order
    click.echo(f"{selected.template}: {len(selected.functions)} function(s)\n")
    click.echo(_table(rows))
    others = selected.other_warnings()
    if others:
        click.echo("\nWarnings:")
        for warning in others:
            click.echo(f"  {warning}")


def _table(rows: Sequence[tuple[str, str, str]]) -> str:
    """Three columns; the last wraps to the terminal's width, indented under itself."""
    first = max(len(row[0]) for row in [_HEADER, *rows])
    second = max(len(row[1]) for row in [_HEADER, *rows])
    indent = first + second + 4
    width = max(shutil.get_terminal_size((100, 24)).columns - indent, 40)
    lines = []
    for function, prop, text in [_HEADER, *rows]:
        wrapped = textwrap.wrap(text, width) or [""]
        lines.append(f"{function:<{first}}  {prop:<{second}}  {wrapped[0]}".rstrip())
        lines += [" " * indent + more for more in wrapped[1:]]
    return "\n".join(lines)
