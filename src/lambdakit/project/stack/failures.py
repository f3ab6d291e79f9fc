"""CloudFormation's refusals, translated once into ``DeployError`` messages that say what to do.

The errors every AWS call can raise (credentials, region, network, access) are
``project.deploy.aws.translate``'s; this module adds what only CloudFormation says: missing
capabilities, a stack in a state that cannot be updated, a stack that does not exist.
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateChangeSet.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from lambdakit.project.deploy.aws import botocore_exceptions, error_code, error_message, translate
from lambdakit.project.errors import DeployError
from lambdakit.project.stack.transform import IAM_TYPES

__all__ = [
    "capabilities_message",
    "missing_capabilities",
    "not_updatable",
    "stack_errors",
]


_MACRO_TYPES = ("AWS::CloudFormation::Stack", "AWS::Serverless::Application")


def missing_capabilities(template: Mapping[str, Any], given: Iterable[str]) -> list[str]:
    """The capabilities TEMPLATE needs that GIVEN lacks, as CloudFormation would refuse them.

    CAPABILITY_NAMED_IAM also acknowledges unnamed IAM resources; a Transform left in the
    template (a macro), or a nested stack, needs CAPABILITY_AUTO_EXPAND."""
    given = set(given)
    resources = template.get("Resources") or {}
    needed: list[str] = []
    iam = [r for r in resources.values() if isinstance(r, dict) and r.get("Type") in IAM_TYPES]
    named = any(IAM_TYPES[r["Type"]] in (r.get("Properties") or {}) for r in iam)
    if named and "CAPABILITY_NAMED_IAM" not in given:
        needed.append("CAPABILITY_NAMED_IAM")
    elif iam and not given & {"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"}:
        needed.append("CAPABILITY_IAM")
    macro = "Transform" in template or any(
        isinstance(r, dict) and r.get("Type") in _MACRO_TYPES for r in resources.values()
    )
    if macro and "CAPABILITY_AUTO_EXPAND" not in given:
        needed.append("CAPABILITY_AUTO_EXPAND")
    return needed


def capabilities_message(stack_name: str, needed: Iterable[str], given: Iterable[str]) -> str:
    every = " ".join(dict.fromkeys([*given, *needed]))
    return (
        f"stack {stack_name} needs {', '.join(needed)}: the template creates IAM resources "
        "(CAPABILITY_IAM; CAPABILITY_NAMED_IAM when they have custom names) or expands macros "
        f"or nested stacks (CAPABILITY_AUTO_EXPAND). Acknowledge it: --capabilities {every} "
        "(or capabilities in samconfig's [default.deploy.parameters])"
    )


def not_updatable(stack_name: str, status: str) -> DeployError | None:
    """Why a stack in STATUS cannot get a change set now, or None if it can.
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html#troubleshooting-errors-update-rollback-failed"""
    delete = f"`lambdakit delete --stack {stack_name}`"
    if status == "ROLLBACK_COMPLETE" or status == "ROLLBACK_FAILED":
        return DeployError(
            f"stack {stack_name} is {status}: its creation failed and was rolled back, and "
            f"CloudFormation cannot update such a stack. Delete it ({delete}), then deploy again"
        )
    if status == "DELETE_FAILED":
        return DeployError(
            f"stack {stack_name} is DELETE_FAILED: delete it again ({delete}) once what kept a "
            "resource from being deleted is gone (see its events)"
        )
    if status == "UPDATE_ROLLBACK_FAILED":
        return DeployError(
            f"stack {stack_name} is UPDATE_ROLLBACK_FAILED: fix what kept the rollback from "
            f"finishing, then `aws cloudformation continue-update-rollback --stack-name "
            f"{stack_name}`, and deploy again"
        )
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        return DeployError(
            f"stack {stack_name} is {status}: CloudFormation is still working on it; wait "
            f"until it is done (`aws cloudformation wait stack-update-complete --stack-name "
            f"{stack_name}`, or watch its events) and deploy again"
        )
    return None


@contextlib.contextmanager
def stack_errors(stack_name: str) -> Iterator[None]:
    """botocore's errors out of the block, as DeployErrors that say what to do."""
    errors = botocore_exceptions()
    unparsed = importlib.import_module("botocore.parsers").ResponseParserError
    try:
        yield
    except (errors.BotoCoreError, errors.ClientError, unparsed) as error:
        raise _translate(error, stack_name) from error


def _translate(error: Exception, stack_name: str) -> DeployError:
    code, message = error_code(error), error_message(error)
    if code == "InsufficientCapabilitiesException":
        needed = re.findall(r"CAPABILITY_[A-Z_]+", message) or ["CAPABILITY_IAM"]
        return DeployError(capabilities_message(stack_name, needed, []))
    state = re.search(r"is in (\w+) state", message)
    if code == "ValidationError" and state and (better := not_updatable(stack_name, state[1])):
        return better
    if code == "ValidationError" and "does not exist" in message:
        return DeployError(f"stack {stack_name} does not exist (in this account and region)")
    if type(error).__name__ == "ResponseParserError":
        return DeployError(_unparsed(error))
    better = translate(error, "", None)
    return better if better is not None else DeployError(f"{stack_name}: {error}")


def _unparsed(error: Exception) -> str:
    """An error in a body botocore could not parse: emulators (moto, LocalStack) answer some
    CloudFormation calls with a JSON error of the service that failed beneath them."""
    found = re.search(r"(\{\"__type\".*?\})'", str(error), re.S)
    if found:
        with contextlib.suppress(ValueError):
            data = json.loads(found[1].encode().decode("unicode_escape"))
            return f"{data.get('__type', 'error')}: {data.get('message', '')}"
    return f"the endpoint's answer could not be read: {error}"
