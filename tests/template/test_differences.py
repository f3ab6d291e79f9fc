"""Every function property is honoured, named as a difference, or deploy-only
(lambdakit.template.differences): one warning per function and property, never silence."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from lambdakit.template import TemplateResult, load_template
from lambdakit.template.differences import PROPERTIES, Local
from lambdakit.template.specs import Difference

# The documented property lists, as of 2026: SAM's from its schema (samtranslator
# internal/schema_source/aws_serverless_function.py, Properties) and
# https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-resource-function.html;
# CloudFormation's from
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-lambda-function.html
_SAM_DOCUMENTED = """
    Architectures AssumeRolePolicyDocument AutoPublishAlias AutoPublishAliasAllProperties
    AutoPublishCodeSha256 CapacityProviderConfig CodeSigningConfigArn CodeUri DeadLetterQueue
    DeploymentPreference Description DurableConfig Environment EphemeralStorage
    EventInvokeConfig Events FileSystemConfigs FunctionName FunctionScalingConfig
    FunctionUrlConfig Handler ImageConfig ImageUri InlineCode KmsKeyArn Layers LoggingConfig
    MemorySize PackageType PermissionsBoundary Policies PropagateTags
    ProvisionedConcurrencyConfig PublishToLatestPublished RecursiveLoop
    ReservedConcurrentExecutions Role RolePath Runtime RuntimeManagementConfig SnapStart
    SourceKMSKeyArn Tags TenancyConfig Timeout Tracing VersionDeletionPolicy
    VersionDescription VpcConfig
"""
_CFN_DOCUMENTED = """
    Architectures CapacityProviderConfig Code CodeSigningConfigArn DeadLetterConfig Description
    DurableConfig Environment EphemeralStorage FileSystemConfigs FunctionName
    FunctionScalingConfig Handler ImageConfig KmsKeyArn Layers LoggingConfig MemorySize
    PackageType PublishToLatestPublished RecursiveLoop ReservedConcurrentExecutions Role
    Runtime RuntimeManagementConfig SnapStart Tags TenancyConfig Timeout TracingConfig VpcConfig
"""
SAM_PROPERTIES, CFN_PROPERTIES = _SAM_DOCUMENTED.split(), _CFN_DOCUMENTED.split()
SAM, CFN = "AWS::Serverless::Function", "AWS::Lambda::Function"


def load(tmp_path: Path, properties: str, *, kind: str = SAM, head: str = "") -> TemplateResult:
    """A template with one function Fn (provided.al2023, code in ./code) plus PROPERTIES."""
    (tmp_path / "code").mkdir(exist_ok=True)
    code = "CodeUri: code" if kind == SAM else "Code: code"
    extra = textwrap.indent(textwrap.dedent(properties).strip(), " " * 6)
    text = (
        f"{textwrap.dedent(head)}\nResources:\n  Fn:\n    Type: {kind}\n    Properties:\n"
        f"      {code}\n      Runtime: provided.al2023\n      Handler: bootstrap\n{extra}\n"
    )
    if kind == CFN:
        text = text.replace("Code: code", "Code: code\n      Role: arn:aws:iam::1:role/r", 1)
        text += '    Metadata: {"aws:asset:property": Code, "aws:asset:path": code}\n'
    path = tmp_path / "template.yaml"
    path.write_text(text)
    return load_template(path)


def named(result: TemplateResult, prop: str) -> list[Difference]:
    return [d for d in result.differences if d.property == prop]


def test_the_table_covers_both_documented_property_lists() -> None:
    sam = {name for name, rule in PROPERTIES.items() if SAM in rule.types}
    cfn = {name for name, rule in PROPERTIES.items() if CFN in rule.types}
    assert sam == set(SAM_PROPERTIES)
    assert cfn == set(CFN_PROPERTIES)
    assert all(rule.why for rule in PROPERTIES.values())
    assert all(
        (rule.explain is not None) == (rule.local is Local.DIFFERS) for rule in PROPERTIES.values()
    )


DIFFERENT = [
    ("VpcConfig", "VpcConfig: {SubnetIds: [subnet-1], SecurityGroupIds: [sg-1]}",
     "this machine's network, not the VPC's"),
    ("FileSystemConfigs",
     "FileSystemConfigs: [{Arn: arn:aws:elasticfilesystem:x, LocalMountPath: /mnt/data}]",
     "no EFS file system is mounted at /mnt/data"),
    ("Tracing", "Tracing: Active", "the trace header (_X_AMZN_TRACE_ID) is still set"),
    ("Events", "Events: {Q: {Type: SQS, Properties: {Queue: arn:q}}, T: {Type: Schedule}}",
     "event sources (SQS, Schedule) are not connected"),
    ("Policies", "Policies: [AWSLambdaBasicExecutionRole]", "not its execution role"),
    ("Role", "Role: arn:aws:iam::123456789012:role/r", "credentials lambdakit was started with"),
    ("PermissionsBoundary", "PermissionsBoundary: arn:aws:iam::1:policy/b", "not its execution"),
    ("KmsKeyArn", "KmsKeyArn: arn:aws:kms:us-east-1:1:key/k", "KMSAccessDeniedException"),
    ("CodeSigningConfigArn", "CodeSigningConfigArn: arn:csc", "signatures are not checked"),
    ("SnapStart", "SnapStart: {ApplyOn: PublishedVersions}", "no snapshots"),
    ("RuntimeManagementConfig",
     "RuntimeManagementConfig: {UpdateRuntimeOn: Manual, RuntimeVersionArn: arn:rv}",
     "runtime version arn:rv is not modelled"),
    ("RecursiveLoop", "RecursiveLoop: Terminate", "recursive loops are not detected"),
    ("CapacityProviderConfig",
     "CapacityProviderConfig:\n"
     "  LambdaManagedInstancesCapacityProviderConfig: {CapacityProviderArn: x}",
     "Lambda Managed Instances are not modelled"),
    ("FunctionScalingConfig", "FunctionScalingConfig: {MinExecutionEnvironments: 1}",
     "scaling limits do not apply"),
    ("DurableConfig", "DurableConfig: {ExecutionTimeout: 3600}", "durable executions"),
]  # fmt: skip


@pytest.mark.parametrize(("prop", "yaml", "expected"), DIFFERENT, ids=[d[0] for d in DIFFERENT])
def test_each_difference_is_one_warning_naming_function_and_property(
    tmp_path: Path, prop: str, yaml: str, expected: str
) -> None:
    result = load(tmp_path, yaml)
    (difference,) = result.differences
    assert (difference.function, difference.property) == ("Fn", prop)
    assert expected in difference.local_behaviour
    warning = f"{tmp_path / 'template.yaml'}: Fn.{prop}: {difference.local_behaviour}"
    assert [w for w in result.warnings if "Fn." in w] == [warning]


UNCHANGED = [
    "Tracing: PassThrough",
    "VpcConfig: {SubnetIds: [], SecurityGroupIds: []}",
    "SnapStart: {ApplyOn: None}",
    "RuntimeManagementConfig: {UpdateRuntimeOn: Auto}",
    "RecursiveLoop: Allow",
    "Events: {}",
    "VpcConfig: !If [Never, {SubnetIds: [s]}, !Ref AWS::NoValue]",
    # Honoured, or deploy-only: no warning.
    "Description: text",
    "Timeout: 5",
    "Tags: {team: a}",
    "AutoPublishCodeSha256: abc",
    "DeploymentPreference: {Type: AllAtOnce}",
    "VersionDescription: v",
    "PropagateTags: true",
    "RolePath: /app/",
    "AssumeRolePolicyDocument: {Version: '2012-10-17', Statement: []}",
    "SourceKMSKeyArn: arn:aws:kms:us-east-1:1:key/k",
]


@pytest.mark.parametrize("yaml", UNCHANGED)
def test_values_that_change_nothing_locally_are_not_warned(tmp_path: Path, yaml: str) -> None:
    head = "Conditions:\n  Never: !Equals [a, b]"
    result = load(tmp_path, yaml, head=head)
    assert result.differences == []
    assert result.warnings == []


def test_api_events_are_served_and_the_others_named(tmp_path: Path) -> None:
    result = load(tmp_path, "Events: {Get: {Type: Api, Properties: {Path: /, Method: get}}}")
    assert named(result, "Events") == []  # `lambdakit serve` serves them (docs/api.md)
    both = "Events: {Get: {Type: HttpApi}, Q: {Type: SQS, Properties: {Queue: arn:q}}}"
    (difference,) = named(load(tmp_path, both), "Events")
    assert difference.local_behaviour.startswith("event sources (SQS) are not connected")


def test_lambda_function_properties(tmp_path: Path) -> None:
    result = load(tmp_path, "TracingConfig: {Mode: Active}\nTags: [{Key: a, Value: b}]", kind=CFN)
    # Role is required by AWS::Lambda::Function, and differs like SAM's.
    assert [d.property for d in result.differences] == ["Role", "TracingConfig"]


def test_unknown_properties_are_named_with_the_closest_one(tmp_path: Path) -> None:
    result = load(tmp_path, "Timout: 5\nEvents: {}\nZzz: 1")
    timeout, zzz = result.differences
    assert timeout.property == "Timout"
    assert timeout.local_behaviour == (
        "AWS::Serverless::Function has no property Timout (did you mean Timeout?); SAM "
        "rejects the template on deploy, and lambdakit ignores it"
    )
    assert zzz.local_behaviour.startswith("AWS::Serverless::Function has no property Zzz; SAM")


def test_properties_of_the_other_type_are_unknown(tmp_path: Path) -> None:
    (sam,) = load(tmp_path, "TracingConfig: {Mode: Active}").differences
    assert "has no property TracingConfig (did you mean Tracing?)" in sam.local_behaviour
    (cfn,) = named(load(tmp_path, "Events: {}", kind=CFN), "Events")
    assert cfn.local_behaviour.startswith(
        "AWS::Lambda::Function has no property Events; CloudFormation rejects"
    )


def test_globals_apply_to_every_function(tmp_path: Path) -> None:
    result = load(tmp_path, "", head="Globals:\n  Function:\n    Tracing: Active")
    assert [(d.function, d.property) for d in result.differences] == [("Fn", "Tracing")]


def test_resolving_a_property_for_its_warning_adds_no_other_warning(tmp_path: Path) -> None:
    # The !GetAtt of a resource lambdakit does not model would warn if it were used; a
    # property that only gets a difference line must not add that noise (nor fail).
    result = load(
        tmp_path,
        "Policies: [{SQSPollerPolicy: {QueueName: !GetAtt Queue.QueueName}}]\n"
        "Role: !GetAtt NoSuchRole.Arn",
    )
    assert [d.property for d in result.differences] == ["Policies", "Role"]
    assert len(result.warnings) == 2


def test_skipped_functions_get_no_difference_lines(tmp_path: Path) -> None:
    (tmp_path / "code").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(
        "Resources:\n"
        "  Node:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: code, Runtime: nodejs20.x, Handler: i.h, Tracing: Active}\n"
        "  Fn:\n    Type: AWS::Serverless::Function\n"
        "    Properties: {CodeUri: code, Runtime: provided.al2023, Handler: b}\n"
    )
    result = load_template(path)
    assert result.differences == []
    assert [w for w in result.warnings if "Tracing" in w] == []
