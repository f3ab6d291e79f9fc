"""The SAM transform, run here with ``aws-sam-translator`` (the library SAM CLI and
CloudFormation's own ``AWS::Serverless-2016-10-31`` transform use), and the capabilities the
result needs.

Transforming locally lets lambdakit show the change set of the real resources, and lets a
CloudFormation without the transform (moto) create them. The translator gets the parameter
values and the pseudo parameters CloudFormation would give it; managed policy names resolve
from the translator's bundled map first, then from IAM ``ListPolicies`` (``ManagedPolicyLoader``,
as SAM CLI does). A template without the SAM transform is plain CloudFormation: passed through.
Other transforms (``AWS::Include``, macros) stay for CloudFormation to run, which needs
CAPABILITY_AUTO_EXPAND.

Capabilities (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html):
CAPABILITY_IAM for IAM resources, CAPABILITY_NAMED_IAM when one has a custom name,
CAPABILITY_AUTO_EXPAND for macros and nested stacks.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from lambdakit.project.errors import DeployError
from lambdakit.project.stack import transform_cache

__all__ = ["SAM_TRANSFORM", "capabilities", "pseudo_parameters", "sam_transform", "transforms_of"]

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
IAM_TYPES = {
    "AWS::IAM::AccessKey": None,
    "AWS::IAM::Group": "GroupName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::Policy": None,
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::UserToGroupAddition": None,
}


def transforms_of(template: Mapping[str, Any]) -> list[Any]:
    found = template.get("Transform")
    if found is None:
        return []
    return list(found) if isinstance(found, list) else [found]


def sam_transform(
    template: Mapping[str, Any],
    *,
    parameters: Mapping[str, Any],
    session: Any,
    source: Path,
    progress: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """TEMPLATE with its SAM resources translated to CloudFormation ones; TEMPLATE itself
    (a copy) if it does not name the SAM transform. An unchanged TEMPLATE with unchanged
    PARAMETERS comes from the cache (``transform_cache``), without importing the translator."""
    if SAM_TRANSFORM not in transforms_of(template):
        return copy.deepcopy(dict(template))
    name = transform_cache.key(template, parameters)
    cached = transform_cache.load(name) if name else None
    if cached is not None:
        progress("the template is unchanged since it was last transformed: using that result")
        return cached
    progress("transforming the template (aws-sam-translator)")
    result, asked_iam = _translate(template, parameters, session, source)
    if name and not asked_iam:
        transform_cache.store(name, result)
    return result


def _translate(
    template: Mapping[str, Any], parameters: Mapping[str, Any], session: Any, source: Path
) -> tuple[dict[str, Any], bool]:
    """The translator's result, and whether it asked IAM for a managed policy's ARN."""
    translator, exceptions, py27 = _samtranslator(session)
    document = copy.deepcopy(dict(template))
    values = dict(parameters)
    py27.to_py27_compatible_template(document, values)
    policies = _PolicyMap(session)
    try:
        result = translator.translate(
            document, parameter_values=values, get_managed_policy_map=policies
        )
    except exceptions.InvalidDocumentException as error:
        causes = [_located(cause, template) + cause.message for cause in error.causes]
        raise DeployError(_rejected(source, causes)) from error
    except exceptions.ExceptionWithMessage as error:
        raise DeployError(_rejected(source, [_located(error, template) + error.message])) from error
    finally:
        translator.metrics.publish()  # to its no-op publisher; unpublished ones log a warning
    result = py27.undo_mark_unicode_str_in_template(result)
    others = [name for name in transforms_of(template) if name != SAM_TRANSFORM]
    if others:  # left for CloudFormation, in their order
        result["Transform"] = others if len(others) > 1 else others[0]
    return dict(result), policies.asked


class _PolicyMap:
    """The translator's ``get_managed_policy_map``: IAM's AWS managed policies by name, asked
    (``ManagedPolicyLoader``, ListPolicies) once, and only for a name missing from the map the
    translator bundles, as SAM CLI does."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._map: dict[str, str] | None = None

    @property
    def asked(self) -> bool:
        return self._map is not None

    def __call__(self) -> dict[str, str]:
        if self._map is None:
            policy = importlib.import_module("samtranslator.translator.managed_policy_translator")
            self._map = policy.ManagedPolicyLoader(self._session.client("iam")).load()
        return self._map


def _samtranslator(session: Any) -> tuple[Any, Any, Any]:
    try:
        translator = importlib.import_module("samtranslator.translator.translator")
        parser = importlib.import_module("samtranslator.parser.parser")
        exceptions = importlib.import_module("samtranslator.model.exceptions")
        py27 = importlib.import_module("samtranslator.utils.py27hash_fix")
    except ImportError as error:
        raise DeployError(
            "deploy --stack transforms the template with aws-sam-translator, which is not "
            "installed: pip install 'lambdakit[deploy]'"
        ) from error
    return (
        translator.Translator(None, parser.Parser(), boto_session=session),
        exceptions,
        py27,
    )


def _located(cause: Any, template: Mapping[str, Any]) -> str:
    """ "Function, event Name: " when CAUSE names a resource SAM generates from an event
    source (logical id = function id + event name), which the user's template does not have."""
    generated = getattr(cause, "_logical_id", None)
    resources = template.get("Resources") or {}
    if not isinstance(generated, str) or generated in resources:
        return ""
    for logical_id, resource in resources.items():
        events = (
            (resource.get("Properties") or {}).get("Events") if isinstance(resource, dict) else None
        )
        for event in events if isinstance(events, dict) else {}:
            if generated == f"{logical_id}{event}":
                return f"{logical_id}, event {event}: "
    return ""


def _rejected(source: Path, messages: list[str]) -> str:
    lines = "\n".join(f"  - {message}" for message in messages)
    return (
        f"{source}: the SAM transform (aws-sam-translator) rejects the template:\n{lines}\n"
        "Fix the resources and properties it names (`lambdakit check` and `sam validate` "
        "show the same)."
    )


def pseudo_parameters(*, account: str, region: str, stack: str) -> dict[str, str]:
    """The pseudo parameters CloudFormation gives a transform (the translator adds
    AWS::Region and AWS::Partition from the session itself; these agree)."""
    partition = "aws-cn" if region.startswith("cn-") else "aws"
    if region.startswith("us-gov-"):
        partition = "aws-us-gov"
    return {
        "AWS::AccountId": account,
        "AWS::Region": region,
        "AWS::Partition": partition,
        "AWS::StackName": stack,
        "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
    }


def capabilities(template: Mapping[str, Any], sam_template: Mapping[str, Any]) -> tuple[str, ...]:
    """What CreateChangeSet must be given for TEMPLATE (the transformed SAM_TEMPLATE)."""
    found = []
    resources = template.get("Resources") or {}
    kinds = [(r.get("Type"), r.get("Properties") or {}) for r in resources.values()]
    iam = [(kind, props) for kind, props in kinds if kind in IAM_TYPES]
    if iam:
        found.append("CAPABILITY_IAM")
    named = any(IAM_TYPES[kind] and IAM_TYPES[kind] in props for kind, props in iam)
    if named:
        found.append("CAPABILITY_NAMED_IAM")
    if transforms_of(template) or _has_key(template, "Fn::Transform") or _nested(sam_template):
        found.append("CAPABILITY_AUTO_EXPAND")
    return tuple(found)


def _nested(template: Mapping[str, Any]) -> bool:
    resources = template.get("Resources") or {}
    return any(
        isinstance(r, dict) and r.get("Type") == "AWS::Serverless::Application"
        for r in resources.values()
    )


def _has_key(node: Any, key: str) -> bool:
    if isinstance(node, dict):
        return key in node or any(_has_key(value, key) for value in node.values())
    if isinstance(node, list):
        return any(_has_key(value, key) for value in node)
    return False
