"""Deploying a transformed template as a CloudFormation stack, as ``sam deploy`` does.

    check       the stack's state (a ROLLBACK_COMPLETE stack must be deleted first; one in
                progress must be waited for) and the capabilities the template needs
    change set  CREATE for a new stack (or one still in REVIEW_IN_PROGRESS), UPDATE otherwise;
                "no changes" ends here, executing nothing
    show        the change set as a table; ``execute=False`` stops here, ``confirm`` asks
    execute     and stream the stack's events until CloudFormation is done
    report      the outputs; or the failed resource's reason first, then what was rolled
                back and the stack's final state

https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks-changesets.html
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-cli-command-reference-sam-deploy.html
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from lambdakit.project.errors import DeployError
from lambdakit.project.stack.changesets import (
    TEMPLATE_BODY_LIMIT,
    ChangeSet,
    ChangeSetRequest,
    change_table,
    create_change_set,
)
from lambdakit.project.stack.events import (
    StackEvent,
    Watcher,
    first_failure,
    latest_event_id,
    rolled_back,
)
from lambdakit.project.stack.failures import (
    capabilities_message,
    missing_capabilities,
    not_updatable,
    stack_errors,
)

__all__ = ["Output", "StackOutcome", "deploy_stack", "stack_status"]

Result = Literal["created", "updated", "no changes", "not executed", "declined"]


@dataclass(frozen=True, slots=True)
class Output:
    key: str
    value: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class StackOutcome:
    """What a deploy did: its RESULT, the change set, the final status and the outputs."""

    stack_name: str
    result: Result
    change_set: ChangeSet | None = None
    status: str = ""
    outputs: tuple[Output, ...] = ()


def stack_status(cloudformation: Any, stack_name: str) -> str | None:
    """The stack's status, or None if there is no such stack (DescribeStacks refuses it)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as error:
        if "does not exist" in str(error):
            return None
        raise
    return str(stacks[0]["StackStatus"]) if stacks else None


def deploy_stack(
    cloudformation: Any,
    *,
    stack_name: str,
    template: Mapping[str, Any],
    parameters: Mapping[str, str] | None = None,
    capabilities: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    role_arn: str | None = None,
    notification_arns: Sequence[str] = (),
    execute: bool = True,
    confirm: Callable[[ChangeSet], bool] | None = None,
    progress: Callable[[str], None] = lambda text: None,
    upload_template: Callable[[bytes], str] | None = None,
    tick: Callable[[float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> StackOutcome:
    """Create or update STACK_NAME from TEMPLATE (a CloudFormation document, SAM already
    transformed) with a change set; PROGRESS receives the table and each event's line.

    UPLOAD_TEMPLATE puts a template over 51,200 bytes in S3 and returns its URL. CONFIRM,
    when given, sees the change set and says whether to execute it; EXECUTE=False stops at
    the change set. TICK is a spinner's (terminals only). Raises DeployError saying why."""
    needed = missing_capabilities(template, capabilities)
    if needed:
        raise DeployError(capabilities_message(stack_name, needed, capabilities))
    with stack_errors(stack_name):
        status = stack_status(cloudformation, stack_name)
        if status is not None and (refusal := not_updatable(stack_name, status)):
            raise refusal
        kind: Literal["CREATE", "UPDATE"] = (
            "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
        )
        request = ChangeSetRequest(
            stack_name, kind, _parameters(template, parameters or {}, kind), capabilities,
            tags or {}, role_arn, notification_arns,
        )  # fmt: skip
        body = _template_argument(template, upload_template)
        progress(f"Creating a change set ({kind}) for stack {stack_name}")
        change_set = create_change_set(cloudformation, request, body, sleep=sleep)
        if change_set.empty:
            progress(f"No changes to deploy: stack {stack_name} is up to date")
            return StackOutcome(stack_name, "no changes", change_set, status or "")
        for line in change_table(change_set.changes):
            progress(line)
        if not execute:
            progress(_not_executed(stack_name, change_set))
            return StackOutcome(stack_name, "not executed", change_set, status or "")
        if confirm is not None and not confirm(change_set):
            cloudformation.delete_change_set(ChangeSetName=change_set.arn)
            progress("Not deployed: the change set was deleted")
            return StackOutcome(stack_name, "declined", change_set, status or "")
        return _execute(cloudformation, stack_name, change_set, progress, tick, sleep)


def _execute(
    cloudformation: Any,
    stack_name: str,
    change_set: ChangeSet,
    progress: Callable[[str], None],
    tick: Callable[[float], None] | None,
    sleep: Callable[[float], None],
) -> StackOutcome:
    stack_id = change_set.stack_id
    after = latest_event_id(cloudformation, stack_id)
    progress(f"Executing the change set; stack events of {stack_name}:")
    try:
        with stack_errors(stack_name):
            cloudformation.execute_change_set(ChangeSetName=change_set.arn)
    except DeployError as error:  # an emulator that applies change sets while asked to
        now = stack_status(cloudformation, stack_id)
        raise DeployError(
            f"stack {stack_name} was not deployed: {error}\nthe stack is now {now or 'gone'}"
        ) from error
    watcher = Watcher(cloudformation, stack_id, progress, tick=tick, sleep=sleep)
    final, events = watcher.follow(after, lambda: stack_status(cloudformation, stack_id))
    if final not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        raise DeployError(_failure(stack_name, final, events))
    outputs = _outputs(cloudformation, stack_id)
    for output in outputs:
        progress(f"Output {output.key}: {output.value}")
    result: Result = "created" if change_set.kind == "CREATE" else "updated"
    progress(f"Stack {stack_name} {result}: {final}")
    return StackOutcome(stack_name, result, change_set, final, outputs)


def _failure(stack_name: str, final: str, events: Sequence[StackEvent]) -> str:
    """The failed resource and its reason first, then what was rolled back, then the state."""
    failed = first_failure(events)
    cause = (
        f"{failed.logical_id} ({failed.resource_type}) {failed.status}: {failed.reason}"
        if failed is not None
        else "CloudFormation gave no resource's reason (see the stack's events)"
    )
    lines = [f"stack {stack_name} was not deployed: {cause}"]
    undone = rolled_back(events)
    if undone:
        lines.append(f"rolled back: {', '.join(undone)}")
    lines.append(f"the stack is now {final or 'deleted'}")
    if final == "ROLLBACK_COMPLETE":
        lines.append(
            f"a stack whose creation failed cannot be updated: `lambdakit delete --stack "
            f"{stack_name}`, fix the template, and deploy again"
        )
    elif final == "UPDATE_ROLLBACK_COMPLETE":
        lines.append("it runs what it ran before; fix the template and deploy again")
    return "\n".join(lines)


def _not_executed(stack_name: str, change_set: ChangeSet) -> str:
    return (
        f"Change set {change_set.name} created, not executed (--no-execute). Execute it with "
        f"`aws cloudformation execute-change-set --stack-name {stack_name} --change-set-name "
        f"{change_set.name}`, or deploy again without --no-execute"
    )


def _parameters(
    template: Mapping[str, Any], given: Mapping[str, str], kind: str
) -> list[dict[str, Any]]:
    """The values of the parameters TEMPLATE declares: GIVEN ones, else on an update the
    stack's previous value for those without a default (UsePreviousValue), as SAM CLI does."""
    declared = template.get("Parameters") or {}
    values: list[dict[str, Any]] = []
    for key, spec in declared.items():
        if key in given:
            values.append({"ParameterKey": key, "ParameterValue": str(given[key])})
        elif kind == "UPDATE" and "Default" not in (spec or {}):
            values.append({"ParameterKey": key, "UsePreviousValue": True})
    return values


def _template_argument(
    template: Mapping[str, Any], upload: Callable[[bytes], str] | None
) -> dict[str, str]:
    body = json.dumps(template, indent=1, sort_keys=True)
    if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": body}
    compact = json.dumps(template, separators=(",", ":"), sort_keys=True)
    if len(compact.encode()) <= TEMPLATE_BODY_LIMIT:
        return {"TemplateBody": compact}
    if upload is None:
        raise DeployError(
            f"the transformed template is {len(compact.encode())} bytes, over CloudFormation's "
            f"{TEMPLATE_BODY_LIMIT} for a template body, and there is no S3 bucket to put it in"
        )
    return {"TemplateURL": upload(compact.encode())}


def _outputs(cloudformation: Any, stack_name: str) -> tuple[Output, ...]:
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    return tuple(
        Output(str(o["OutputKey"]), str(o.get("OutputValue", "")), str(o.get("Description", "")))
        for o in stack.get("Outputs") or []
    )
