"""What ``lambdakit deploy --stack`` and ``lambdakit delete --stack`` do, from the project and
the flags: choose the template and stack name (samconfig's ``stack_name`` unless ``--stack``),
connect, package (``packaging.package_stack``), then ``stack.deploy_stack`` or
``delete.delete_stack``. samconfig's ``sam deploy`` keys (``s3_bucket``, ``capabilities``,
``tags``, ``role_arn``, ``notification_arns``, ``confirm_changeset``, ``resolve_s3``) fill in
what the flags leave out (``with_config``); a flag wins over its key.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/serverless-sam-cli-config.html
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lambdakit.project.deploy.aws import import_boto3, translated
from lambdakit.project.errors import DeployError
from lambdakit.project.stack.buckets import default_bucket_name
from lambdakit.project.stack.changesets import ChangeSet
from lambdakit.project.stack.delete import DeleteOutcome, delete_stack
from lambdakit.project.stack.failures import stack_errors
from lambdakit.project.stack.stack import StackOutcome, deploy_stack
from lambdakit.template import TemplateError, select
from lambdakit.template.deploykeys import parse_tags as parse_tag_text
from lambdakit.template.samconfig import CONFIG_NAMES, StackConfig, load_config

if TYPE_CHECKING:
    from lambdakit.project.stack.images import ImageRepositories

_PROJECT_FILES = ("template.yaml", "template.yml", "template.json", *CONFIG_NAMES)

__all__ = [
    "StackOptions", "delete_project_stack", "deploy_project_stack", "parse_tags", "with_config",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class StackOptions:
    """``sam deploy``'s options for the stack itself."""

    stack_name: str | None = None
    s3_bucket: str | None = None
    image_repositories: ImageRepositories | None = None
    """``--image-repository`` / ``--image-repositories`` (default: one made per function)."""
    capabilities: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    role_arn: str | None = None
    notification_arns: Sequence[str] = ()
    execute: bool = True
    confirm: Callable[[ChangeSet], bool] | None = None
    """Ask this before executing (whatever ``confirm_changeset`` says)."""
    confirm_changeset: bool | None = None
    """``--confirm`` (True) or ``--no-confirm`` (False); None: samconfig's ``confirm_changeset``."""
    ask: Callable[[ChangeSet], bool] | None = None
    """The prompt ``confirm_changeset`` uses (the terminal's)."""


def deploy_project_stack(
    path: Path,
    options: StackOptions,
    *,
    parameter_overrides: Any = None,
    config_env: str | None = None,
    config_file: Path | None = None,
    region: str | None = None,
    profile: str | None = None,
    progress: Callable[[str], None] = lambda text: None,
    warn: Callable[[str], None] = lambda text: None,
    tick: Callable[[float], None] | None = None,
) -> StackOutcome:
    """Package the template at PATH and deploy it as the stack OPTIONS name."""
    if path.is_dir() and not any((path / name).is_file() for name in _PROJECT_FILES):
        raise DeployError(f"{path} has no template.yaml: --stack deploys a template")
    try:
        chosen = select(
            path, command="deploy", parameter_overrides=parameter_overrides,
            config_env=config_env, config_file=config_file, region=region,
        )  # fmt: skip
    except TemplateError as error:
        raise DeployError(str(error)) from error
    if chosen.template is None:
        raise DeployError(
            f"{path} has no template.yaml: --stack deploys a template as a CloudFormation "
            "stack; leave --stack out to deploy a function directory directly"
        )
    stack_name = _stack_name(options.stack_name or chosen.config.stack_name)
    options = with_config(options, chosen.config.stack)
    _warn_prefix(chosen.config.stack, stack_name, warn)
    session = _session(region or chosen.config.region, profile or chosen.config.profile)
    from lambdakit.project.stack.packaging import package_stack  # builds: imported when used

    parameters = {k: v for k, v in chosen.parameters.items() if not k.startswith("AWS::")}
    packaged = package_stack(
        chosen.template, session=session, stack_name=stack_name, parameters=parameters,
        bucket=options.s3_bucket, progress=progress, warn=warn,
        image_repositories=options.image_repositories,
    )  # fmt: skip
    cloudformation = session.client("cloudformation")

    def upload_template(body: bytes) -> str:
        key = f"{stack_name}/template-{hashlib.sha256(body).hexdigest()}.json"
        with stack_errors(stack_name):  # an S3 client made only for a template this large
            session.client("s3").put_object(Bucket=packaged.bucket, Key=key, Body=body)
        # The path-style URL SAM CLI gives CloudFormation.
        return f"https://s3.{session.region_name}.amazonaws.com/{packaged.bucket}/{key}"

    return deploy_stack(
        cloudformation, stack_name=stack_name, template=packaged.template,
        parameters=parameters, capabilities=options.capabilities, tags=options.tags,
        role_arn=options.role_arn, notification_arns=options.notification_arns,
        execute=options.execute, confirm=options.confirm, progress=progress,
        upload_template=upload_template, tick=tick,
    )  # fmt: skip


def delete_project_stack(
    stack_name: str | None,
    *,
    path: Path = Path("."),
    s3_bucket: str | None = None,
    config_env: str | None = None,
    config_file: Path | None = None,
    region: str | None = None,
    profile: str | None = None,
    progress: Callable[[str], None] = lambda text: None,
    tick: Callable[[float], None] | None = None,
) -> DeleteOutcome:
    """Delete the stack (default: samconfig's ``stack_name`` in PATH's project) and the
    artifacts lambdakit uploaded for it (to S3_BUCKET, default lambdakit's bucket)."""
    project = path if path.is_dir() else path.parent
    try:
        config = load_config(project, command="deploy", env=config_env, config_file=config_file)
    except TemplateError as error:
        raise DeployError(str(error)) from error
    name = _stack_name(stack_name or config.stack_name)
    session = _session(region or config.region, profile or config.profile)
    # sam delete, too, finds the artifacts bucket in the deploy section's s3_bucket.
    s3_bucket = s3_bucket or (config.stack.s3_bucket if config.stack else None)
    with stack_errors(name):
        bucket = s3_bucket or default_bucket_name(
            session.client("sts").get_caller_identity()["Account"], session.region_name
        )
    return delete_stack(
        session.client("cloudformation"), session.client("s3"), stack_name=name,
        bucket=bucket, progress=progress, tick=tick, ecr=session.client("ecr"),
    )  # fmt: skip


def parse_tags(values: Sequence[str]) -> dict[str, str]:
    """``--tags`` as SAM CLI takes them: Key=Value pairs, several per argument or repeated;
    quotes keep spaces (``--tags 'stage="dev one"'``)."""
    try:
        return parse_tag_text(list(values))
    except TemplateError as error:
        raise DeployError(str(error)) from error


def with_config(options: StackOptions, config: StackConfig | None) -> StackOptions:
    """OPTIONS with what the flags left out taken from samconfig's deploy keys (CONFIG)."""
    config = config or StackConfig()
    if config.resolve_s3 and config.s3_bucket and not options.s3_bucket:
        raise DeployError(
            "samconfig sets both s3_bucket and resolve_s3 = true, which SAM CLI refuses too: "
            "keep s3_bucket for your bucket, or resolve_s3 for lambdakit's own"
        )
    wanted = options.confirm_changeset
    wanted = config.confirm_changeset if wanted is None else wanted
    confirm = options.confirm
    if confirm is None and wanted:
        if options.ask is None:
            raise DeployError(
                "confirm_changeset = true asks before executing the change set, and there is "
                "no prompt here; pass --no-confirm, or use --no-execute to review it first"
            )
        confirm = options.ask
    return replace(
        options,
        s3_bucket=options.s3_bucket or config.s3_bucket,
        capabilities=options.capabilities or config.capabilities or (),
        tags=options.tags or config.tags or {},
        role_arn=options.role_arn or config.role_arn,
        notification_arns=options.notification_arns or config.notification_arns or (),
        confirm=confirm,
    )


def _warn_prefix(config: StackConfig | None, stack_name: str, warn: Callable[[str], None]) -> None:
    """samconfig's ``s3_prefix`` (``sam deploy --guided`` writes the stack name there): lambdakit
    keeps a stack's artifacts under its name, where ``delete --stack`` finds them."""
    prefix = config.s3_prefix.strip("/") if config and config.s3_prefix else None
    if prefix and prefix != stack_name:
        warn(
            f"samconfig's s3_prefix {prefix!r} is not used: lambdakit uploads stack "
            f"{stack_name}'s artifacts under {stack_name}/ in the bucket"
        )


def _stack_name(name: str | None) -> str:
    if not name:
        raise DeployError(
            "no stack name: give --stack NAME, or stack_name in samconfig.toml's "
            "[default.deploy.parameters]"
        )
    return name


def _session(region: str | None, profile: str | None) -> Any:
    """A boto3 session. Every client of it honours AWS_ENDPOINT_URL (and the per-service
    AWS_ENDPOINT_URL_<SERVICE>), which is how a stack goes to LocalStack or moto."""
    boto3 = import_boto3()
    region = region or os.environ.get("AWS_REGION") or None
    with translated("", None):
        session = boto3.session.Session(profile_name=profile, region_name=region)
    if not session.region_name:
        raise DeployError(
            "no AWS region: pass --region (e.g. --region us-east-1), set AWS_REGION, or give "
            "your profile a region"
        )
    return session
