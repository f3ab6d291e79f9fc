"""``lambdakit build``: deployment zips for provided.al2023 or a managed python3.x runtime."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click

from lambdakit.cli._common import ProjectCommand, config_options
from lambdakit.project import bundle
from lambdakit.project.errors import ProjectError


@click.command(cls=ProjectCommand, short_help="Build a deployment zip (and layers) per function.")
@click.argument("path", type=click.Path(path_type=Path), default=".", required=False)
@click.option("--function", "function_name", metavar="NAME", help="Only this function.")
@config_options
@click.option(
    "--arch",
    type=click.Choice(["x86_64", "arm64"]),
    help="Architecture of the wheels (default: the function's Architectures).",
)
@click.option(
    "--python", "python", metavar="X.Y", help="CPython version (default: the runtime's, or 3.12)."
)
@click.option(
    "--target",
    metavar="RUNTIME",
    help="provided.al2023 (custom runtime) or python3.X (managed runtime with the lambdakit "
    "runtime layer); default: the function's Runtime.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the zips (default: PATH/.lambdakit/build).",
)
@click.option(
    "--python-layer",
    type=click.Path(exists=True, path_type=Path),
    metavar="DIR_OR_TARBALL",
    help="A relocatable CPython (python-build-standalone install_only) to ship as a layer.",
)
def build(
    path: Path,
    function_name: str | None,
    parameter_overrides: tuple[str, ...],
    config_env: str | None,
    config_file: Path | None,
    arch: str | None,
    python: str | None,
    target: str | None,
    output: Path | None,
    python_layer: Path | None,
) -> None:
    """Build one deployable zip per function (and the layers it needs).

    Each zip's path, size and sha256 go to stdout; progress and next steps to stderr.
    """
    try:
        specs, warnings = bundle.select_functions(
            path, function_name, parameter_overrides=parameter_overrides,
            config_env=config_env, config_file=config_file,
        )  # fmt: skip
        for warning in warnings:
            click.echo(f"warning: {warning}", err=True)
        for spec in specs:
            settings = bundle.resolve_settings(spec, arch=arch, python=python, target=target)
            results = bundle.build_function(
                spec,
                output=output or bundle.default_output(path),
                arch=settings[0],
                python=settings[1],
                target=settings[2],
                python_layer=python_layer,
                progress=_progress(spec.name),
            )
            for result in results:
                click.echo(
                    f"{result.path}  {result.size:,} bytes ({result.unzipped_size:,} unzipped)"
                    f"  sha256:{result.sha256}"
                )
            for step in bundle.next_steps(spec, results, settings[2], settings[0]):
                click.echo(step, err=True)
    except ProjectError as error:
        raise click.ClickException(str(error)) from error


def _progress(name: str) -> Callable[[str], None]:
    return lambda text: click.echo(f"{name}: {text}", err=True)
