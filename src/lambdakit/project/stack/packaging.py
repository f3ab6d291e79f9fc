"""``package_stack``: a template made deployable as one CloudFormation stack, as ``sam build``
then ``sam package`` make it, plus the SAM transform ``sam deploy`` leaves to CloudFormation.

    1. build   every zip function and local layer with lambdakit's build (``artifacts``)
    2. upload  each zip and local file to S3 under its content hash (``buckets``); build
               and push each image function with Dockerfile Metadata to ECR (``images``)
    3. locate  the template's local paths replaced by those S3 locations (``locations``):
               the SAM template ``sam package`` writes
    4. transform  that template to plain CloudFormation (``transform``), and the capabilities
               the result needs

https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-package.html
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdakit.project import bundle
from lambdakit.project.deploy import startable, template_settings
from lambdakit.project.deploy.aws import botocore_exceptions, error_code, error_message
from lambdakit.project.errors import DeployError
from lambdakit.project.stack import artifacts, buckets, images, locations, transform
from lambdakit.project.stack.buckets import Upload
from lambdakit.project.stack.images import ImageRepositories, PushedImage
from lambdakit.template import FUNCTION_TYPES, TemplateError, read_template, select

__all__ = ["Packaged", "Upload", "package_stack"]

LOCAL_ONLY = ("cannot be fetched locally", "does not exist locally")


@dataclass(frozen=True)
class Packaged:
    """A template ready for CreateChangeSet."""

    template: dict[str, Any]
    """The CloudFormation template after the SAM transform, artifacts at their S3 locations."""
    sam_template: dict[str, Any]
    """The SAM template with artifacts replaced (what ``sam package`` writes)."""
    bucket: str
    uploads: tuple[Upload, ...]
    capabilities: tuple[str, ...]
    """What the template needs: CAPABILITY_IAM when it makes roles, CAPABILITY_AUTO_EXPAND
    for nested applications and macros."""
    images: tuple[PushedImage, ...] = ()
    """The image functions' images, in ECR."""


def package_stack(
    template_path: Path,
    *,
    session: Any,
    stack_name: str,
    parameters: Mapping[str, str],
    bucket: str | None = None,
    progress: Callable[[str], None],
    warn: Callable[[str], None],
    build_output: Path | None = None,
    image_repositories: ImageRepositories | None = None,
) -> Packaged:
    """Build, upload and transform TEMPLATE_PATH for stack STACK_NAME (module docstring).

    SESSION is a ``boto3.Session`` (its region and credentials; every client comes from it).
    PARAMETERS are the template's parameter values (``--parameter-overrides`` and samconfig's);
    BUCKET is ``--s3-bucket`` (default: lambdakit's bucket for the account and region, created
    on first use); BUILD_OUTPUT where the zips are built (default ``.lambdakit/build``);
    IMAGE_REPOSITORIES where images go (default: a repository per function, made once).
    Raises ProjectError (BuildError, DeployError) with what to do.
    """
    specs, data = _read(template_path, parameters, warn)
    base = template_path.parent
    resources = data.get("Resources") or {}
    output = build_output or bundle.default_output(template_path)
    # A package that could not start on AWS is refused before anything is built or sent, as
    # the direct deploy refuses it (project/deploy/startable.py).
    if specs:
        arns = {key: found.layer_arns for key, found in template_settings(template_path).items()}
        startable.check_build(specs, target=None, python_layer=False, layer_arns=arns)
    built = artifacts.build_functions(specs, resources, output=output, base=base, progress=progress)
    built += artifacts.build_layers(resources, output=output, base=base, progress=progress)
    account, region = _identity(session)
    s3 = session.client("s3")
    name = bucket or buckets.default_bucket_name(account, region)
    buckets.ensure_bucket(s3, name, region, create=bucket is None, say=progress)
    sam_template = copy.deepcopy(data)
    uploads = _upload_and_locate(s3, name, stack_name, built, sam_template, base, warn, progress)
    pushed = images.publish_images(
        specs, session=session, stack=stack_name, progress=progress,
        repositories=image_repositories or ImageRepositories(),
    )  # fmt: skip
    for image in pushed:
        images.set_image_uri(sam_template["Resources"][image.logical_id], image.uri)
    values = {**transform.pseudo_parameters(account=account, region=region, stack=stack_name)}
    values.update(parameters)
    result = transform.sam_transform(
        sam_template, parameters=values, session=session, source=template_path, progress=progress
    )
    return Packaged(
        template=result,
        sam_template=sam_template,
        bucket=name,
        uploads=tuple(uploads),
        capabilities=transform.capabilities(result, sam_template),
        images=tuple(pushed),
    )


def _read(
    path: Path, parameters: Mapping[str, str], warn: Callable[[str], None]
) -> tuple[list[Any], dict[str, Any]]:
    """The template's functions (as every command selects them) and its raw document."""
    if not path.is_file():
        raise DeployError(f"{path} is not a template file; give the project's template.yaml")
    try:
        data = read_template(path)
    except TemplateError as error:
        raise DeployError(str(error)) from error
    resources = data.get("Resources")
    if not isinstance(resources, dict) or not resources:
        raise DeployError(f"{path} has no Resources; a stack needs at least one")
    if not any(isinstance(r, dict) and r.get("Type") in FUNCTION_TYPES for r in resources.values()):
        return [], data  # a stack without functions: nothing to build
    try:
        chosen = select(path, command="deploy", parameter_overrides=dict(parameters) or None)
    except TemplateError as error:
        raise DeployError(str(error)) from error
    for warning in chosen.other_warnings():
        # What the local loader cannot resolve (layer ARNs, other resources) CloudFormation does.
        if not any(text in warning for text in LOCAL_ONLY):
            warn(warning)
    return chosen.functions, data


def _identity(session: Any) -> tuple[str, str]:
    region = session.region_name
    if not region:
        raise DeployError("no AWS region: give --region, or set AWS_REGION or a profile's region")
    errors = botocore_exceptions()
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except errors.NoCredentialsError as error:
        raise DeployError(
            "no AWS credentials: configure a profile (aws configure) or set AWS_ACCESS_KEY_ID "
            "and AWS_SECRET_ACCESS_KEY"
        ) from error
    except errors.ClientError as error:
        message = error_message(error) or error_code(error)
        raise DeployError(
            f"AWS refused the credentials (sts:GetCallerIdentity): {message}"
        ) from error
    return str(account), str(region)


def _upload_and_locate(
    s3: Any,
    bucket: str,
    stack: str,
    built: list[artifacts.Artifact],
    template: dict[str, Any],
    base: Path,
    warn: Callable[[str], None],
    progress: Callable[[str], None],
) -> list[Upload]:
    """Upload every artifact and write its S3 location into TEMPLATE (in place)."""
    done: dict[tuple[str, str], Upload] = {}  # by content: one check for equal zips

    def put(path: Path) -> Upload:
        content = (buckets.file_sha256(path), path.suffix)
        if content not in done:
            done[content] = buckets.upload(s3, bucket, stack, path, sha256=content[0])
            state = "uploaded" if done[content].uploaded else "unchanged, already"
            progress(f"{path.name}: {state} at {done[content].uri}")
        return done[content]

    resources = template["Resources"]
    runtime_layers = {}
    for artifact in built:
        locations.set_location(
            resources[artifact.logical_id], artifact.property, put(artifact.path).uri
        )
        if artifact.runtime_layer is not None:
            runtime_layers[artifact.logical_id] = (
                put(artifact.runtime_layer).uri,
                artifact.runtime,
            )
    for logical_id, prop, path in list(locations.file_properties(resources, base)):
        locations.set_location(resources[logical_id], prop, put(path).uri)
    for parameters, path in list(locations.include_locations(template, base)):
        parameters["Location"] = put(path).uri
    for warning in locations.add_runtime_layers(resources, runtime_layers, stack):
        warn(warning)
    return list(done.values())
