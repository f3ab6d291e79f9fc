"""``lambdakit events``: print a sample event of an AWS service."""

from __future__ import annotations

import json

import click

from lambdakit.project.events import SOURCES, sample_event


@click.command(short_help="Print a sample event of an AWS service.")
@click.argument("source", required=False)
@click.option("--list", "list_", is_flag=True, help="List the event sources and exit.")
def events(source: str | None, list_: bool) -> None:
    """Print the sample event of SOURCE as JSON, ready for `invoke --event-file`.

    Without SOURCE (or with --list), list the sources. For example:
    `lambdakit events sqs > sqs.json && lambdakit invoke --event-file sqs.json`.
    """
    if list_ or source is None:
        width = max(map(len, SOURCES))
        for name, description in SOURCES.items():
            click.echo(f"{name:<{width}}  {description}")
        return
    if source not in SOURCES:
        raise click.BadParameter(
            f"{source!r} is not an event source; choose one of: {', '.join(SOURCES)}",
            param_hint="SOURCE",
        )
    click.echo(json.dumps(sample_event(source), indent=2))
