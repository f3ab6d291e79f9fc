"""What each property of a function means locally: honoured, different, or deploy-only.

Every property of ``AWS::Serverless::Function``
(https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-resource-function.html)
and ``AWS::Lambda::Function``
(https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-function.html)
has a row in ``PROPERTIES``, so that nothing a template says is ignored silently:

- *honoured*: lambdakit applies it as Lambda does (other modules read it);
- *differs*: it changes what the function does on AWS and is not modelled locally; one warning
  per function and property says what happens here instead;
- *deploy-only*: it shapes the deployment (versions, tags, traffic shifting, encryption at
  rest) and nothing the function can observe at run time; no warning.

A property name that neither type has (a typo) is a warning with the closest name, as cfn-lint
reports it: SAM and CloudFormation reject such a template on deploy.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambdakit.template.errors import TemplateError
from lambdakit.template.properties import Properties
from lambdakit.template.specs import Difference
from lambdakit.template.values import NO_VALUE, to_string

__all__ = ["PROPERTIES", "Local", "Rule", "function_differences"]

SAM = "AWS::Serverless::Function"
CFN = "AWS::Lambda::Function"
BOTH = frozenset({SAM, CFN})


class Local(enum.Enum):
    """What lambdakit does with a property."""

    HONOURED = "honoured"
    """Applied as Lambda applies it."""
    DIFFERS = "differs"
    """Changes what the function does on AWS, not modelled locally: a warning says so."""
    DEPLOY_ONLY = "deploy-only"
    """Shapes the deployment only; nothing at run time depends on it, so no warning."""


Explain = Callable[[Any], "str | None"]
"""A property's value -> what happens locally, or None when that value changes nothing."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One property: which types have it, what lambdakit does with it, and why."""

    local: Local
    why: str
    types: frozenset[str] = BOTH
    explain: Explain | None = None


# -- what happens locally, per property ---------------------------------------------------------

_CREDENTIALS = (
    "the function runs with the AWS credentials lambdakit was started with (AWS_PROFILE, "
    "AWS_ACCESS_KEY_ID...), not its execution role: calls to AWS can succeed here and be "
    "denied on AWS, or the reverse"
)


def _always(text: str) -> Explain:
    return lambda value: text


def _vpc(value: Any) -> str | None:
    if isinstance(value, dict) and not value.get("SubnetIds"):
        return None  # no subnets (e.g. !If ... AWS::NoValue): not attached to a VPC
    return (
        "the function runs with this machine's network, not the VPC's: it reaches what this "
        "machine reaches, which may differ from the VPC's private resources and internet access"
    )


def _file_systems(value: Any) -> str | None:
    items = value if isinstance(value, list) else [value]
    paths = [to_string(i.get("LocalMountPath")) for i in items if isinstance(i, dict)]
    if not items:
        return None
    where = ", ".join(p for p in paths if p) or "its LocalMountPath"
    return f"no EFS file system is mounted at {where}; the function sees this machine's files there"


def _tracing(value: Any) -> str | None:
    mode = value.get("Mode") if isinstance(value, dict) else value
    if to_string(mode) != "Active":
        return None  # PassThrough and Disabled: nothing is recorded on AWS either
    return (
        "no X-Ray daemon: neither Lambda's segments nor the function's are recorded; "
        "the trace header (_X_AMZN_TRACE_ID) is still set"
    )


def _events(value: Any) -> str | None:
    if not isinstance(value, dict) or not value:
        return None
    types = sorted({str(e.get("Type")) for e in value.values() if isinstance(e, dict)})
    served = {"Api", "HttpApi"}  # served by `lambdakit serve` (emulator/apis/)
    if types and set(types) <= served:
        return None
    types = [t for t in types if t not in served]
    return (
        f"event sources ({', '.join(types) or 'all'}) are not connected: nothing polls or "
        "triggers the function locally; invoke it yourself (`lambdakit events` prints samples)"
    )


def _snap_start(value: Any) -> str | None:
    apply_on = value.get("ApplyOn") if isinstance(value, dict) else None
    if to_string(apply_on) != "PublishedVersions":
        return None
    return (
        "no snapshots: every environment runs its Init from the start, and snapshot/restore "
        "runtime hooks are not called (AWS_LAMBDA_INITIALIZATION_TYPE is never snap-start)"
    )


def _runtime_management(value: Any) -> str | None:
    update = value.get("UpdateRuntimeOn") if isinstance(value, dict) else None
    if to_string(update) != "Manual":
        return None  # Auto / FunctionUpdate: which version Lambda picks, nothing to pin
    arn = to_string(value.get("RuntimeVersionArn")) or "the pinned version"
    return f"runtime version {arn} is not modelled: the function runs on this machine's runtime"


def _image_config(value: Any) -> str | None:
    if not isinstance(value, Mapping) or not value:
        return None
    keys = ", ".join(sorted(str(key) for key in value))
    return f"{keys} not applied locally: the image's own ENTRYPOINT, CMD and WORKDIR run"


def _recursive_loop(value: Any) -> str | None:
    if to_string(value) == "Allow":
        return None  # loops are not stopped locally either
    return "recursive loops are not detected locally; Lambda stops them after about 16 rounds"


_ROLE = Rule(Local.DIFFERS, "permissions at run time", explain=_always(_CREDENTIALS))
_ROLE_SHAPE = Rule(
    Local.DIFFERS,
    "limits the role's permissions at run time",
    frozenset({SAM}),
    _always(_CREDENTIALS),
)
_MANAGED_INSTANCES = (
    "Lambda Managed Instances are not modelled: the function runs in lambdakit's own "
    "environments, one invocation at a time each"
)


def _honoured(why: str, types: frozenset[str] = BOTH) -> Rule:
    return Rule(Local.HONOURED, why, types)


def _deploy_only(why: str, types: frozenset[str] = BOTH) -> Rule:
    return Rule(Local.DEPLOY_ONLY, why, types)


PROPERTIES: Mapping[str, Rule] = {
    # Honoured: read by resources.py and the modules it calls.
    "Handler": _honoured("the handler the runtime loads"),
    "Runtime": _honoured("provided.* and python3.x run; Python on this interpreter (warned)"),
    "CodeUri": _honoured("the code directory, .zip or file", frozenset({SAM})),
    "InlineCode": _honoured("written to a file and run", frozenset({SAM})),
    "Code": _honoured("ZipFile, or a local path CDK names in Metadata", frozenset({CFN})),
    "Timeout": _honoured("the invocation's deadline"),
    "MemorySize": _honoured("a memory limit per environment"),
    "Environment": _honoured("the function's variables"),
    "Architectures": _honoured("x86_64 or arm64, validated"),
    "Layers": _honoured("extracted to /opt in order"),
    "FunctionName": _honoured("the name it is invoked by"),
    "FunctionUrlConfig": _honoured("a Function URL", frozenset({SAM})),
    "ReservedConcurrentExecutions": _honoured("the function's concurrency limit"),
    "PackageType": _honoured("Image functions run from their image"),
    "ImageUri": _honoured("the image to run", frozenset({SAM})),
    "LoggingConfig": _honoured("log format and levels, platform records"),
    "EventInvokeConfig": _honoured("retries, event age, destinations", frozenset({SAM})),
    "DeadLetterQueue": _honoured("failed asynchronous events", frozenset({SAM})),
    "DeadLetterConfig": _honoured("failed asynchronous events", frozenset({CFN})),
    "AutoPublishAlias": _honoured("the alias and version it is invoked by", frozenset({SAM})),
    "ProvisionedConcurrencyConfig": _honoured("environments started early", frozenset({SAM})),
    "TenancyConfig": _honoured("per-tenant environments"),
    "Description": _honoured("text only; changes nothing at run time"),
    # Differs: one warning each.
    "ImageConfig": Rule(
        Local.DIFFERS, "the image's entry point and command", explain=_image_config
    ),
    "VpcConfig": Rule(Local.DIFFERS, "network reachability", explain=_vpc),
    "FileSystemConfigs": Rule(Local.DIFFERS, "files at /mnt", explain=_file_systems),
    "Tracing": Rule(Local.DIFFERS, "X-Ray traces", frozenset({SAM}), _tracing),
    "TracingConfig": Rule(Local.DIFFERS, "X-Ray traces", frozenset({CFN}), _tracing),
    "Events": Rule(Local.DIFFERS, "what invokes the function", frozenset({SAM}), _events),
    "Role": _ROLE,
    "Policies": Rule(
        Local.DIFFERS, "permissions at run time", frozenset({SAM}), _always(_CREDENTIALS)
    ),
    "PermissionsBoundary": _ROLE_SHAPE,
    "KmsKeyArn": Rule(
        Local.DIFFERS,
        "invocations fail on AWS when the role cannot use the key",
        explain=_always(
            "environment variables are not encrypted with this key locally, so invocations "
            "cannot fail with KMS errors (KMSAccessDeniedException...) as they can on AWS"
        ),
    ),
    "CodeSigningConfigArn": Rule(
        Local.DIFFERS,
        "unsigned code runs locally and may be rejected on deploy",
        explain=_always(
            "code signatures are not checked locally; Lambda checks them when the code is "
            "deployed and can reject unsigned code"
        ),
    ),
    "EphemeralStorage": _honoured("a private /tmp of that size per environment (sandboxed)"),
    "SnapStart": Rule(Local.DIFFERS, "how environments start", explain=_snap_start),
    "RuntimeManagementConfig": Rule(
        Local.DIFFERS, "the runtime version", explain=_runtime_management
    ),
    "RecursiveLoop": Rule(Local.DIFFERS, "loop detection", explain=_recursive_loop),
    "CapacityProviderConfig": Rule(
        Local.DIFFERS, "where and how many at once", explain=_always(_MANAGED_INSTANCES)
    ),
    "FunctionScalingConfig": Rule(
        Local.DIFFERS,
        "environments of Managed Instances",
        explain=_always(_MANAGED_INSTANCES + "; its scaling limits do not apply"),
    ),
    "DurableConfig": Rule(
        Local.DIFFERS,
        "durable executions",
        explain=_always(
            "durable executions are not modelled (no checkpoints, waits or replays): each "
            "invocation runs once, within Timeout"
        ),
    ),
    # Deploy-only: nothing the function can observe at run time.
    "AssumeRolePolicyDocument": _deploy_only("who may assume the role", frozenset({SAM})),
    "RolePath": _deploy_only("the role's IAM path", frozenset({SAM})),
    "AutoPublishAliasAllProperties": _deploy_only("when versions are published", frozenset({SAM})),
    "AutoPublishCodeSha256": _deploy_only("when versions are published", frozenset({SAM})),
    "DeploymentPreference": _deploy_only("CodeDeploy traffic shifting", frozenset({SAM})),
    "VersionDescription": _deploy_only("text of the published version", frozenset({SAM})),
    "VersionDeletionPolicy": _deploy_only("old versions kept or deleted", frozenset({SAM})),
    "PublishToLatestPublished": _deploy_only("which version receives changes"),
    "Tags": _deploy_only("labels in AWS; the function cannot read them"),
    "PropagateTags": _deploy_only("tags on generated resources", frozenset({SAM})),
    "SourceKMSKeyArn": _deploy_only("encryption of the uploaded package", frozenset({SAM})),
}


def function_differences(properties: Properties, resource_type: str) -> list[Difference]:
    """How PROPERTIES of one function will differ locally; each is also a resolver warning."""
    differences = []
    for key in properties.raw:
        text = _difference(properties, str(key), resource_type)
        if text is not None:
            differences.append(Difference(properties.logical_id, str(key), text))
            properties.resolver.warn(f"{properties.logical_id}.{key}", text)
    return differences


def _difference(properties: Properties, key: str, resource_type: str) -> str | None:
    rule = PROPERTIES.get(key)
    if rule is None or resource_type not in rule.types:
        return _unknown(key, resource_type)
    if rule.local is not Local.DIFFERS or rule.explain is None:
        return None
    value = _value(properties, key)
    return None if value is None else rule.explain(value)


def _unknown(key: str, resource_type: str) -> str:
    names = [name for name, rule in PROPERTIES.items() if resource_type in rule.types]
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    rejects = "SAM" if resource_type == SAM else "CloudFormation"
    return (
        f"{resource_type} has no property {key}{hint}; {rejects} rejects the template on "
        "deploy, and lambdakit ignores it"
    )


def _value(properties: Properties, key: str) -> Any:
    """KEY's value resolved, None when it resolves to nothing (``!Ref AWS::NoValue``).

    Resolving here must not warn or fail: lambdakit never used these values before, and a
    property it does not honour should not stop a function from loading."""
    resolver = properties.resolver
    count = len(resolver.warnings)
    try:
        value = resolver.resolve(properties.raw[key], f"{properties.logical_id}.{key}")
    except TemplateError:
        value = properties.raw[key]
    finally:
        del resolver.warnings[count:]
    return None if value is NO_VALUE or value is None else value
