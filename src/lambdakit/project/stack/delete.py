"""``lambdakit delete --stack``: the stack, then the artifacts lambdakit uploaded for it.

DeleteStack works asynchronously: the stack goes DELETE_IN_PROGRESS, then DELETE_COMPLETE
(after which DescribeStacks by name no longer finds it, but by stack id it still does) or
DELETE_FAILED. Its events are followed by stack id for that reason.
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStack.html

The artifacts are the objects under ``<stack>/`` in the artifacts bucket (``buckets.upload``
writes them there); the bucket is versioned, so every version of them goes, and delete markers
too, as if they had never been uploaded. The bucket itself stays: other stacks use it.

So do the ECR repositories that lambdakit created for the stack's image functions (images.py:
``<stack>-<function>-<hash>``, tagged ManagedBy=lambdakit and ``lambdakit:stack``), with their
images, as ``sam delete`` removes the repositories that ``--resolve-image-repos`` created.
Repositories given with ``--image-repository``/``--image-repositories`` are the user's: they
stay.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdakit.project.deploy.aws import botocore_exceptions, error_code
from lambdakit.project.errors import DeployError
from lambdakit.project.stack.events import Watcher, first_failure, latest_event_id
from lambdakit.project.stack.failures import stack_errors
from lambdakit.project.stack.images import MANAGED_TAG, STACK_TAG, repository_prefix

__all__ = ["DeleteOutcome", "delete_artifacts", "delete_repositories", "delete_stack"]


@dataclass(frozen=True, slots=True)
class DeleteOutcome:
    stack_name: str
    deleted: bool
    """False: there was no such stack."""
    artifacts: int = 0
    """Object versions removed from the artifacts bucket."""
    repositories: tuple[str, ...] = ()
    """The ECR repositories lambdakit had created for the stack, removed."""


def delete_stack(
    cloudformation: Any,
    s3: Any,
    *,
    stack_name: str,
    bucket: str | None,
    progress: Callable[[str], None] = lambda text: None,
    tick: Callable[[float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    ecr: Any = None,
) -> DeleteOutcome:
    """Delete STACK_NAME and wait with its events; then its artifacts in BUCKET (None: the
    bucket is unknown, say so) and, given ECR, the repositories lambdakit created for it. A
    stack that does not exist is not an error: the artifacts may remain from it."""
    with stack_errors(stack_name):
        stack_id = _stack_id(cloudformation, stack_name)
        if stack_id is None:
            progress(f"There is no stack {stack_name} (in this account and region)")
        else:
            _delete(cloudformation, stack_name, stack_id, progress, tick, sleep)
    repositories = () if ecr is None else delete_repositories(ecr, stack_name)
    for name in repositories:
        progress(f"Deleted the ECR repository {name}, which lambdakit had created, its images too")
    if bucket is None:
        progress("No artifacts bucket known: the stack's uploads, if any, stay")
        return DeleteOutcome(stack_name, stack_id is not None, repositories=repositories)
    removed = delete_artifacts(s3, bucket, stack_name)
    progress(f"Deleted {removed} artifact object(s) under s3://{bucket}/{stack_name}/")
    return DeleteOutcome(stack_name, stack_id is not None, removed, repositories)


def delete_repositories(ecr: Any, stack_name: str) -> tuple[str, ...]:
    """Remove the ECR repositories lambdakit created for STACK_NAME, images and all (module
    docstring); return their names. Only those that carry both of its tags: a name alone
    could be another stack's (``app-`` begins ``app-two``'s too) or the user's."""
    prefix = repository_prefix(stack_name)
    mine = [MANAGED_TAG, {"Key": STACK_TAG, "Value": stack_name}]
    errors = botocore_exceptions()
    removed: list[str] = []
    try:
        for page in ecr.get_paginator("describe_repositories").paginate():
            for repository in page.get("repositories", []):
                name = repository["repositoryName"]
                if name.startswith(prefix) and _delete_if_tagged(ecr, repository, mine):
                    removed.append(name)
    except errors.ClientError as error:
        raise DeployError(
            f"the stack is gone, but the ECR repositories lambdakit created for it could not "
            f"all be deleted: {error}; delete them with `aws ecr delete-repository --force "
            f"--repository-name NAME` (they are tagged {STACK_TAG}={stack_name})"
        ) from error
    return tuple(removed)


def _delete_if_tagged(ecr: Any, repository: dict[str, Any], tags: list[dict[str, str]]) -> bool:
    """Delete REPOSITORY if it has all of TAGS; False if not, or if it is gone meanwhile."""
    try:
        found = ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])
        if not all(tag in found.get("tags", []) for tag in tags):
            return False
        ecr.delete_repository(repositoryName=repository["repositoryName"], force=True)
    except botocore_exceptions().ClientError as error:
        if error_code(error) == "RepositoryNotFoundException":
            return False
        raise
    return True


def _stack_id(cloudformation: Any, stack_name: str) -> str | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except botocore_exceptions().ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return str(stacks[0]["StackId"]) if stacks else None


def _delete(
    cloudformation: Any,
    stack_name: str,
    stack_id: str,
    progress: Callable[[str], None],
    tick: Callable[[float], None] | None,
    sleep: Callable[[float], None],
) -> None:
    after = latest_event_id(cloudformation, stack_id)
    progress(f"Deleting stack {stack_name}; its events:")
    cloudformation.delete_stack(StackName=stack_id)
    watcher = Watcher(cloudformation, stack_id, progress, tick=tick, sleep=sleep)
    final, events = watcher.follow(after, lambda: _status_by_id(cloudformation, stack_id))
    if final not in ("DELETE_COMPLETE", ""):
        failed = first_failure(events)
        why = f"{failed.logical_id} ({failed.resource_type}): {failed.reason}" if failed else ""
        raise DeployError(
            f"stack {stack_name} was not deleted, it is {final}: {why or 'see its events'}. "
            f"Remove what keeps the resource from being deleted, then delete again"
        )
    progress(f"Stack {stack_name} deleted")


def _status_by_id(cloudformation: Any, stack_id: str) -> str | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_id)["Stacks"]
    except botocore_exceptions().ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def delete_artifacts(s3: Any, bucket: str, stack_name: str) -> int:
    """Remove every version (and delete marker) of the objects under ``STACK_NAME/`` in
    BUCKET; return how many. A bucket that does not exist holds nothing."""
    errors = botocore_exceptions()
    removed = 0
    try:
        pages = s3.get_paginator("list_object_versions").paginate(
            Bucket=bucket, Prefix=f"{stack_name}/"
        )
        for page in pages:
            versions = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            objects = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]
            if objects:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
                removed += len(objects)
    except errors.ClientError as error:
        if error_code(error) in ("NoSuchBucket", "404"):
            return removed
        raise DeployError(
            f"the stack is gone, but its artifacts in s3://{bucket}/{stack_name}/ could not be "
            f"deleted: {error}; delete them with `aws s3 rm --recursive s3://{bucket}/{stack_name}/`"
        ) from error
    return removed
