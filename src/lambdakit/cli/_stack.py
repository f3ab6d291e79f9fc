"""The flags of ``lambdakit deploy --stack`` (as ``sam deploy`` has them) and the terminal's
part of it: the confirmation prompt and the spinner. No logic of its own."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from lambdakit.project.errors import ProjectError

if TYPE_CHECKING:
    from lambdakit.project.stack.changesets import ChangeSet

F = TypeVar("F", bound=Callable[..., Any])

SAMCONFIG = ""
"""``--stack`` given without a name: samconfig's ``stack_name``."""

DIRECT_ONLY = {
    "function_name": "--function", "zip_file": "--zip", "image_uri": "--image-uri",
    "publish": "--publish", "dry_run": "--dry-run", "role": "--role",
    "endpoint_url": "--endpoint-url", "target": "--target", "python_layer": "--python-layer",
}  # fmt: skip
STACK_ONLY = {
    "s3_bucket": "--s3-bucket", "capabilities": "--capabilities", "tags": "--tags",
    "role_arn": "--role-arn", "notification_arns": "--notification-arns",
    "no_execute": "--no-execute", "confirm": "--confirm",
}  # fmt: skip


def stack_options(command: F) -> F:
    """``--stack`` and the flags that go with it."""
    options = [
        click.option(
            "--stack", "stack", metavar="NAME", is_flag=False, flag_value=SAMCONFIG,
            default=None, help="Deploy the whole template as this CloudFormation stack "
            "(`--stack` alone: samconfig's stack_name).",
        ),
        click.option("--s3-bucket", metavar="BUCKET",
                     help="[--stack] Artifacts bucket (default: lambdakit's, created once)."),
        click.option("--capabilities", multiple=True, metavar="CAPABILITY...",
                     help="[--stack] CAPABILITY_IAM, CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND "
                     "(repeat, or quote several)."),
        click.option("--tags", multiple=True, metavar="KEY=VALUE...",
                     help="[--stack] Tags of the stack and its resources."),
        click.option("--role-arn", metavar="ARN",
                     help="[--stack] The role CloudFormation assumes to change the stack."),
        click.option("--notification-arns", multiple=True, metavar="ARN...",
                     help="[--stack] SNS topics for the stack's events."),
        click.option("--no-execute", is_flag=True,
                     help="[--stack] Create and show the change set; do not execute it."),
        click.option("--confirm", is_flag=True,
                     help="[--stack] Ask before executing the change set."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def check_flags(kwargs: dict[str, Any]) -> None:
    """Refuse the flags of the other deploy path, saying which path they belong to."""
    stack = kwargs["stack"] is not None
    wrong = DIRECT_ONLY if stack else STACK_ONLY
    given = [flag for name, flag in wrong.items() if kwargs.get(name) not in (None, False, ())]
    if given and stack:
        raise click.UsageError(
            f"{', '.join(given)}: not with --stack (a stack deploys every function of the "
            "template; use --no-execute to see the changes, AWS_ENDPOINT_URL for another endpoint)"
        )
    if given:
        raise click.UsageError(f"{', '.join(given)} go(es) with --stack NAME (a stack deploy)")


def run_stack_deploy(path: Path, kwargs: dict[str, Any]) -> None:
    """``lambdakit deploy --stack``: progress to stdout, build output and warnings to stderr."""
    # Imported here: every command's start would pay for it (boto3, the SAM translator).
    from lambdakit.project.stack.commands import StackOptions, deploy_project_stack, parse_tags

    try:
        options = StackOptions(
            stack_name=kwargs["stack"] or None,
            s3_bucket=kwargs["s3_bucket"],
            capabilities=tuple(c for value in kwargs["capabilities"] for c in value.split()),
            tags=parse_tags(kwargs["tags"]),
            role_arn=kwargs["role_arn"],
            notification_arns=tuple(
                a for value in kwargs["notification_arns"] for a in value.split()
            ),
            execute=not kwargs["no_execute"],
            confirm=_ask if kwargs["confirm"] else None,
        )
        deploy_project_stack(
            path, options, parameter_overrides=kwargs["parameter_overrides"],
            config_env=kwargs["config_env"], config_file=kwargs["config_file"],
            region=kwargs["region"], profile=kwargs["profile"], progress=_Printer(),
            warn=lambda text: click.echo(f"warning: {text}", err=True), tick=_spinner(),
        )  # fmt: skip
    except ProjectError as error:
        raise click.ClickException(str(error)) from error


def _ask(change_set: ChangeSet) -> bool:
    return click.confirm(f"Deploy change set {change_set.name}?", default=False, err=True)


class _Printer:
    """Progress lines to stdout; on a terminal, first clearing the spinner's line."""

    def __call__(self, text: str) -> None:
        if sys.stderr.isatty():
            click.echo("\r\033[K", nl=False, err=True)
        click.echo(text)


def _spinner() -> Callable[[float], None] | None:
    """A spinner on stderr while CloudFormation works, on a terminal only (None elsewhere)."""
    if not sys.stderr.isatty():
        return None
    frames = "|/-\\"
    count = [0]

    def tick(seconds: float) -> None:
        count[0] += 1
        frame = frames[count[0] % len(frames)]
        click.echo(f"\r{frame} waiting for CloudFormation ({seconds:.0f}s)", nl=False, err=True)

    return tick
