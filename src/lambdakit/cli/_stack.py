"""The flags of ``lambdakit deploy --stack`` (as ``sam deploy`` has them) and the terminal's
part of it: the confirmation prompt and the spinner. No logic of its own."""

from __future__ import annotations

import re
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
    "image_repository": "--image-repository", "image_repositories": "--image-repositories",
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
        click.option("--image-repository", metavar="URI",
                     help="[--stack] ECR repository for every image function (default: one "
                     "lambdakit creates per function, as --resolve-image-repos does)."),
        click.option("--image-repositories", multiple=True, metavar="FUNCTION=URI",
                     help="[--stack] ECR repository of one image function (repeat)."),
        click.option("--capabilities", cls=_Greedy, taking=_CAPABILITY.fullmatch,
                     multiple=True, metavar="CAPABILITY...",
                     help="[--stack] CAPABILITY_IAM, CAPABILITY_NAMED_IAM, CAPABILITY_AUTO_EXPAND "
                     "(several after one flag; default: samconfig's capabilities)."),
        click.option("--tags", cls=_Greedy, taking=_is_pair, multiple=True,
                     metavar="KEY=VALUE...", help="[--stack] Tags of the stack and its "
                     "resources (default: samconfig's tags)."),
        click.option("--role-arn", metavar="ARN",
                     help="[--stack] The role CloudFormation assumes to change the stack."),
        click.option("--notification-arns", cls=_Greedy, taking=_is_arn, multiple=True,
                     metavar="ARN...", help="[--stack] SNS topics for the stack's events."),
        click.option("--no-execute", is_flag=True,
                     help="[--stack] Create and show the change set; do not execute it."),
        click.option("--confirm/--no-confirm", "--confirm-changeset/--no-confirm-changeset",
                     default=None, help="[--stack] Ask before executing the change set "
                     "(default: samconfig's confirm_changeset, else no)."),
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
            image_repositories=_image_repositories(kwargs),
            capabilities=tuple(c for value in kwargs["capabilities"] for c in value.split()),
            tags=parse_tags(kwargs["tags"]),
            role_arn=kwargs["role_arn"],
            notification_arns=tuple(
                a for value in kwargs["notification_arns"] for a in value.split()
            ),
            execute=not kwargs["no_execute"],
            confirm_changeset=kwargs["confirm"],
            ask=_ask,
        )
        deploy_project_stack(
            path, options, parameter_overrides=kwargs["parameter_overrides"],
            config_env=kwargs["config_env"], config_file=kwargs["config_file"],
            region=kwargs["region"], profile=kwargs["profile"], progress=_Printer(),
            warn=lambda text: click.echo(f"warning: {text}", err=True), tick=_spinner(),
        )  # fmt: skip
    except ProjectError as error:
        raise click.ClickException(str(error)) from error


_CAPABILITY = re.compile(r"CAPABILITY_[A-Z_]+")


def _is_pair(argument: str) -> bool:
    return "=" in argument and not argument.startswith("-")


def _is_arn(argument: str) -> bool:
    return argument.startswith("arn:")


class _Greedy(click.Option):
    """An option that also takes the arguments after its value that look like more values
    (``--capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND``), as SAM CLI's ``OptionNargs``
    does; PATH, which does not look like one (TAKING), ends the list. Each value counts as
    the flag given again."""

    def __init__(self, *args: Any, taking: Callable[[str], object], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.taking = taking

    def add_to_parser(self, parser: Any, ctx: click.Context) -> None:
        super().add_to_parser(parser, ctx)
        # click has no public hook for this; SAM CLI patches the same parser option. Where a
        # click lacks it, values are repeated or quoted instead ("A B").
        registered = getattr(parser, "_long_opt", {}).get(self.opts[0])
        if registered is None or not hasattr(registered, "process"):
            return
        process = registered.process

        def greedy(value: Any, state: Any) -> None:
            process(value, state)
            while state.rargs and self.taking(state.rargs[0]):
                process(state.rargs.pop(0), state)

        registered.process = greedy


def _image_repositories(kwargs: dict[str, Any]) -> Any:
    from lambdakit.project.stack.images import ImageRepositories, parse_image_repositories

    mapping = parse_image_repositories(kwargs["image_repositories"])
    return ImageRepositories(kwargs["image_repository"], mapping)


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
