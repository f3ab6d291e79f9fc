"""``lambdakit image``: build the project's OCI image."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from lambdakit.emulator.containers import ENGINES
from lambdakit.project.errors import ImageError


@click.command(short_help="Build the project's OCI (container) image.")
@click.argument(
    "path", type=click.Path(path_type=Path, file_okay=False), default=".", required=False
)
@click.option("--tag", "-t", metavar="TAG", help="name[:tag] (default: the directory's name).")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    help="Build with this engine (default: the first of docker, podman, buildah that works).",
)
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    metavar="KEY=VALUE",
    help="A Dockerfile ARG, e.g. BASE_IMAGE=... (a bare KEY takes its value from the shell).",
)
def image(path: Path, tag: str | None, engine: str | None, build_args: Sequence[str]) -> None:
    """Build the OCI image of the project at PATH from its Dockerfile.

    The lambdakit runtime is copied into the build context first, to
    .lambdakit/runtime/lambdakit, where the Dockerfile copies it from. The engine's output
    goes to stderr; the image's tag to stdout. Run the image locally with
    `lambdakit serve --image TAG`, or push it and deploy it as a container image function.
    """
    from lambdakit.project.image import build_image, parse_build_args

    try:
        arguments = parse_build_args(build_args)
    except ImageError as error:
        raise click.BadParameter(str(error), param_hint="--build-arg") from error
    try:
        result = build_image(
            path, tag=tag, engine=engine, build_args=arguments,
            progress=lambda line: click.echo(line, err=True),
        )  # fmt: skip
    except ImageError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"lambdakit: built {result.tag} with {result.engine}", err=True)
    click.echo(result.tag)
