"""``lambdakit delete --stack``: a CloudFormation stack, the artifacts lambdakit uploaded for
it and the ECR repositories it created for it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from lambdakit.cli._stack import SAMCONFIG
from lambdakit.project.errors import ProjectError


@click.command(short_help="Delete a stack that deploy --stack made, and its artifacts.")
@click.argument("path", type=click.Path(path_type=Path), default=".", required=False)
@click.option(
    "--stack", metavar="NAME", is_flag=False, flag_value=SAMCONFIG, default=SAMCONFIG,
    help="The stack (default: samconfig's stack_name in PATH's project).",
)  # fmt: skip
@click.option(
    "--s3-bucket", metavar="BUCKET", help="Where its artifacts are (default: lambdakit's)."
)
@click.option("--config-env", metavar="NAME", help="The samconfig environment (default: default).")
@click.option(
    "--config-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The samconfig file (default: samconfig.toml, .yaml or .yml in PATH).",
)
@click.option(
    "--region", metavar="R", help="AWS region (default: samconfig's, AWS_REGION, the profile's)."
)
@click.option(
    "--profile", metavar="P", help="AWS profile in ~/.aws (default: samconfig's, AWS_PROFILE)."
)
@click.option("--no-prompt", "-y", "yes", is_flag=True, help="Do not ask before deleting.")
def delete(
    path: Path,
    stack: str,
    s3_bucket: str | None,
    config_env: str | None,
    config_file: Path | None,
    region: str | None,
    profile: str | None,
    yes: bool,
) -> None:
    """Delete the CloudFormation stack `lambdakit deploy --stack` made, waiting with its
    events, then the ECR repositories lambdakit created for its image functions (with their
    images) and the artifacts it uploaded for it (s3://BUCKET/STACK/...). The artifacts
    bucket stays, and so do repositories you gave and functions deployed without --stack.

    Asks first on a terminal, unless --no-prompt.
    """
    if not yes and sys.stdin.isatty():
        what = stack or "samconfig's stack_name"
        click.confirm(f"Delete stack {what} and its artifacts?", abort=True, err=True)
    try:
        from lambdakit.project.stack.commands import delete_project_stack

        delete_project_stack(
            stack or None, path=path, s3_bucket=s3_bucket, config_env=config_env,
            config_file=config_file, region=region, profile=profile, progress=click.echo,
        )  # fmt: skip
    except ProjectError as error:
        raise click.ClickException(str(error)) from error
