"""Change sets: what CloudFormation would do to a stack, created, read, shown and executed.

A change set of type CREATE makes a new stack (it exists as REVIEW_IN_PROGRESS until the
change set is executed); UPDATE changes an existing one. CloudFormation computes it
asynchronously: ``CREATE_PENDING``, ``CREATE_IN_PROGRESS``, then ``CREATE_COMPLETE`` or
``FAILED``. A change set without changes FAILS with a reason saying that it "didn't contain
changes": that is "no changes", and the change set is deleted, as SAM CLI does.
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-changesets-create.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lambdakit.project.errors import DeployError

__all__ = [
    "TEMPLATE_BODY_LIMIT",
    "Change",
    "ChangeSet",
    "ChangeSetRequest",
    "change_table",
    "create_change_set",
]

TEMPLATE_BODY_LIMIT = 51_200
"""Bytes of TemplateBody CloudFormation accepts; larger templates go by TemplateURL (S3).
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"""

_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
_WAITING = ("CREATE_PENDING", "CREATE_IN_PROGRESS")


@dataclass(frozen=True, slots=True)
class Change:
    """One resource change: Add, Modify, Remove (or Import, Dynamic); Replacement says
    whether a Modify replaces the resource (True, False, Conditional)."""

    action: str
    logical_id: str
    resource_type: str
    replacement: str = ""

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Change:
        change = data.get("ResourceChange") or {}
        return cls(
            action=str(change.get("Action", "")),
            logical_id=str(change.get("LogicalResourceId", "")),
            resource_type=str(change.get("ResourceType", "")),
            replacement=str(change.get("Replacement") or ""),
        )


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """A computed change set; ``empty`` when CloudFormation found nothing to change."""

    arn: str
    name: str
    kind: Literal["CREATE", "UPDATE"]
    stack_id: str
    """The stack's ARN: what its events and status are read by, as a name may be reused."""
    changes: tuple[Change, ...] = ()
    empty: bool = False


@dataclass(frozen=True, slots=True)
class ChangeSetRequest:
    """What CreateChangeSet is given besides the template."""

    stack_name: str
    kind: Literal["CREATE", "UPDATE"]
    parameters: Sequence[Mapping[str, Any]] = ()
    capabilities: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    role_arn: str | None = None
    notification_arns: Sequence[str] = ()

    def arguments(self, name: str) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "StackName": self.stack_name,
            "ChangeSetName": name,
            "ChangeSetType": self.kind,
            "Parameters": list(self.parameters),
            "Capabilities": list(self.capabilities),
            "Tags": [{"Key": key, "Value": value} for key, value in self.tags.items()],
            "NotificationARNs": list(self.notification_arns),
            "Description": "Created by lambdakit deploy",
        }
        if self.role_arn:
            arguments["RoleARN"] = self.role_arn
        return arguments


def create_change_set(
    cloudformation: Any,
    request: ChangeSetRequest,
    template: Mapping[str, str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    interval: float = 1.0,
) -> ChangeSet:
    """Create a change set (TEMPLATE: ``TemplateBody`` or ``TemplateURL``) and wait until
    CloudFormation has computed it. Raises DeployError if it FAILED for another reason."""
    name = f"lambdakit-{time.strftime('%Y%m%d%H%M%S')}-{time.time_ns() % 1_000_000:06d}"
    created = cloudformation.create_change_set(**request.arguments(name), **template)
    arn, stack_id = str(created["Id"]), str(created.get("StackId") or request.stack_name)
    while True:
        described = cloudformation.describe_change_set(ChangeSetName=arn)
        if described.get("Status") not in _WAITING:
            break
        sleep(interval)
    if described.get("Status") == "FAILED":
        reason = str(described.get("StatusReason") or "")
        if any(text in reason for text in _NO_CHANGES):
            cloudformation.delete_change_set(ChangeSetName=arn)
            return ChangeSet(arn, name, request.kind, stack_id, empty=True)
        raise DeployError(
            f"CloudFormation could not create the change set for stack {request.stack_name}: "
            f"{reason or 'no reason given'}"
        )
    return ChangeSet(arn, name, request.kind, stack_id, _changes(cloudformation, arn, described))


def _changes(cloudformation: Any, arn: str, page: Mapping[str, Any]) -> tuple[Change, ...]:
    """Every change, following NextToken through the pages of DescribeChangeSet."""
    changes = [Change.from_api(item) for item in page.get("Changes") or []]
    while page.get("NextToken"):
        page = cloudformation.describe_change_set(ChangeSetName=arn, NextToken=page["NextToken"])
        changes += [Change.from_api(item) for item in page.get("Changes") or []]
    return tuple(changes)


def change_table(changes: Sequence[Change]) -> list[str]:
    """The changes as a table: Operation, LogicalResourceId, ResourceType, Replacement."""
    rows = [("Operation", "LogicalResourceId", "ResourceType", "Replacement")]
    rows += [
        (
            f"{_SIGN.get(c.action, '*')} {c.action}",
            c.logical_id,
            c.resource_type,
            c.replacement or "N/A",
        )
        for c in changes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}".rstrip()
        for row in rows
    ]


_SIGN = {"Add": "+", "Modify": "~", "Remove": "-"}
