"""``lambdakit deploy``: create or update a project's functions on AWS Lambda."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from lambdakit.cli._common import ProjectCommand, config_options
from lambdakit.cli._stack import check_flags, run_stack_deploy, stack_options
from lambdakit.project.deploy import Step
from lambdakit.project.deploy import deploy as deploy_project
from lambdakit.project.errors import ProjectError


@click.command(cls=ProjectCommand, short_help="Create or update the functions on AWS Lambda.")
@click.argument("path", type=click.Path(path_type=Path), default=".", required=False)
@click.option("--function", "function_name", metavar="NAME", help="Only this function.")
@config_options
@click.option(
    "--region", metavar="R", help="AWS region (default: samconfig's, AWS_REGION, the profile's)."
)
@click.option(
    "--profile", metavar="P", help="AWS profile in ~/.aws (default: samconfig's, AWS_PROFILE)."
)
@click.option(
    "--role", metavar="ARN", help="Execution role of new functions (default: the template's)."
)
@click.option("--endpoint-url", metavar="URL", help="Another Lambda API endpoint (LocalStack).")
@click.option(
    "--zip",
    "zip_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Deploy this zip instead of running `lambdakit build`.",
)
@click.option("--image-uri", metavar="URI", help="Deploy this container image (ECR) instead.")
@click.option(
    "--target",
    metavar="RUNTIME",
    help="Build for provided.al2023 or python3.X (default: the function's Runtime).",
)
@click.option(
    "--python-layer",
    type=click.Path(exists=True, path_type=Path),
    metavar="DIR_OR_TARBALL",
    help="A relocatable CPython to ship as a layer (provided.* targets), as for build.",
)
@click.option("--publish", is_flag=True, help="Publish a version when the function changed.")
@click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
@stack_options
def deploy(
    path: Path,
    function_name: str | None,
    parameter_overrides: tuple[str, ...],
    config_env: str | None,
    config_file: Path | None,
    region: str | None,
    profile: str | None,
    role: str | None,
    endpoint_url: str | None,
    zip_file: Path | None,
    image_uri: str | None,
    target: str | None,
    python_layer: Path | None,
    publish: bool,
    dry_run: bool,
    **stack_flags: Any,
) -> None:
    """Create or update the functions of PATH on AWS Lambda.

    PATH is a project directory with a template.yaml (all its functions), a template file, or
    a function directory. The code is built with `lambdakit build` (--target, --python-layer)
    unless --zip or --image-uri gives it. Each step prints what it did to stdout; a second
    deploy without changes changes nothing. Build progress and warnings go to stderr.

    \b
    Two ways to deploy:
      direct     (no --stack) API calls create each function, its URL and layers: fast, no
                 CloudFormation; for a project that is its functions (and a role that exists).
      --stack    the whole template (tables, queues, roles, event sources, APIs...) as one
                 CloudFormation stack, as `sam deploy` does: a change set shown as a table,
                 then executed with the stack's events (--no-execute, --confirm). Remove it
                 with `lambdakit delete --stack NAME`.
    """
    flags = dict(
        stack_flags, function_name=function_name, zip_file=zip_file, image_uri=image_uri,
        publish=publish, dry_run=dry_run, role=role, endpoint_url=endpoint_url, target=target,
        python_layer=python_layer,
    )  # fmt: skip
    check_flags(flags)
    if stack_flags["stack"] is not None:
        run_stack_deploy(path, dict(
            flags, parameter_overrides=parameter_overrides, config_env=config_env,
            config_file=config_file, region=region, profile=profile,
        ))  # fmt: skip
        return

    def report(step: Step) -> None:
        click.echo(step.describe(dry_run))

    try:
        deploy_project(
            path, function_name=function_name, parameter_overrides=parameter_overrides,
            config_env=config_env, config_file=config_file, region=region, profile=profile,
            endpoint_url=endpoint_url, role=role, zip_file=zip_file, image_uri=image_uri,
            target=target, python_layer=python_layer, publish=publish, dry_run=dry_run,
            report=report, warn=lambda text: click.echo(f"warning: {text}", err=True),
            progress=lambda text: click.echo(text, err=True),
        )  # fmt: skip
    except ProjectError as error:
        raise click.ClickException(str(error)) from error
    if dry_run:
        click.echo("dry run: nothing was changed")
