"""FunctionSpec from templates, directories, flags and env files (lambdakit.template).

Fixture templates live in templates/; the small cases are written to tmp_path by the helpers
below, so that each table row shows the whole template it is about.
"""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdakit.emulator.process_env import command
from lambdakit.template import (
    FunctionSpec,
    TemplateError,
    TemplateResult,
    UrlConfig,
    apply_env_file,
    function_from_directory,
    load_functions,
    load_template,
    parse_env_file,
    parse_env_vars_json,
)

TEMPLATES = Path(__file__).parent / "templates"
PYTHON_RUNTIME = "python%d.%d" % sys.version_info[:2]


@pytest.fixture(autouse=True)
def _default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


# -- helpers: templates as text --------------------------------------------------------------


def resource(name: str, kind: str, *properties: str, condition: str | None = None) -> str:
    """One resource block for the Resources section; PROPERTIES are YAML lines."""
    lines = [f"  {name}:", f"    Type: {kind}"]
    lines += [f"    Condition: {condition}"] if condition else []
    lines += ["    Properties:", *(f"      {line}" for line in properties)] if properties else []
    return "\n".join(lines)


def fn(
    *properties: str,
    name: str = "Fn",
    code: str | None = "code",
    runtime: str | None = "provided.al2023",
    handler: str | None = None,
    condition: str | None = None,
) -> str:
    """An AWS::Serverless::Function whose code is ./code (see ``write``)."""
    settings = {"CodeUri": code, "Runtime": runtime, "Handler": handler}
    lines = [f"{key}: {value}" for key, value in settings.items() if value is not None]
    return resource(name, "AWS::Serverless::Function", *lines, *properties, condition=condition)


def template(*resources: str, head: str = "") -> str:
    return f"{head}\nResources:\n" + "\n".join(resources) + "\n"


def write(tmp_path: Path, text: str, name: str = "template.yaml") -> Path:
    """TEXT as a template in TMP_PATH, next to a code directory with app.py and a bootstrap."""
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "app.py").write_text("def handler(event, context):\n    return event\n")
    executable(code / "bootstrap")
    path = tmp_path / name
    path.write_text(text)
    return path


def executable(path: Path, mode: int = 0o755) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def only(result: TemplateResult) -> FunctionSpec:
    (spec,) = result.functions
    return spec


HEAD = """
Parameters:
  Stage: {Type: String, Default: dev}
  Zones: {Type: CommaDelimitedList, Default: "a, b"}
Conditions:
  IsDev: !Equals [!Ref Stage, dev]
  IsProd: !Not [!Condition IsDev]
  Both: !And [!Condition IsDev, !Equals [1, "1"]]
  Either: !Or [!Condition IsProd, !Condition Both]
Mappings:
  M:
    dev: {Key: dev-value}
"""


# -- the fixture templates -------------------------------------------------------------------


def test_sam_template_functions_in_order_with_globals_and_urls() -> None:
    result = load_template(TEMPLATES / "sam" / "template.yaml")
    hello, stream = result.functions
    assert (hello.name, hello.logical_id) == ("hello", "HelloFunction")
    assert (stream.name, stream.logical_id) == ("StreamFunction", "StreamFunction")
    assert hello.code_dir == TEMPLATES / "sam" / "hello"
    assert (hello.runtime, hello.handler, hello.timeout, hello.memory_size) == (
        "python3.12",
        "app.handler",
        30.0,
        256,
    )
    assert hello.url == UrlConfig(
        auth_type="NONE",
        cors={
            "AllowOrigins": ["https://a.example", "https://b.example"],
            "AllowMethods": ["GET", "POST"],
        },
    )
    assert (stream.runtime, stream.handler, stream.timeout, stream.memory_size) == (
        "provided.al2023",
        "bootstrap",
        10.0,
        1024,
    )
    assert stream.architectures == ("arm64",)
    assert stream.reserved_concurrency == 2
    assert stream.url == UrlConfig(auth_type="AWS_IAM", invoke_mode="RESPONSE_STREAM")
    # Globals' list of layers comes first, then the function's own (SAM's merge rules).
    layers = TEMPLATES / "sam" / "layers"
    assert hello.layers == (layers / "common",)
    assert stream.layers == (layers / "common", layers / "extra")
    assert stream.environment == {"STAGE": "dev", "SHARED": "from-globals"}


def test_sam_template_environment_is_resolved_to_strings() -> None:
    hello = load_template(TEMPLATES / "sam" / "template.yaml").functions[0]
    assert hello.environment == {
        "STAGE": "dev",
        "SHARED": "from-function",  # the function wins over Globals
        "TABLE": "items",
        "TABLE_ARN": "arn:aws:dynamodb:us-east-1:123456789012:Table",
        "STREAM_ARN": "arn:aws:lambda:us-east-1:123456789012:function:StreamFunction",
        "STREAM_NAME": "StreamFunction",
        "ENDPOINT": "https://lambda.us-east-1.amazonaws.com/dev",
        "STACK": "sam-b-${Literal}",
        "LOG_LEVEL": "DEBUG",
        "DEBUG": "true",
        "DEV_EAST": "1",
        "FIRST_ORIGIN": "https://a.example",
        "JOINED": "a,dev",
        "RETRIES": "3",
        "RATIO": "1.50",
        "ENABLED": "true",
        "RELEASED": "2024-01-31",
    }


def test_sam_template_warnings_name_the_function_and_property() -> None:
    warnings = load_template(TEMPLATES / "sam" / "template.yaml").warnings
    source = str(TEMPLATES / "sam" / "template.yaml")
    assert all(warning.startswith(f"{source}: ") for warning in warnings)
    assert any(
        "HelloFunction.Environment.Variables.TABLE_ARN: !GetAtt Table.Arn: no "
        "AWS::DynamoDB::Table locally" in warning
        for warning in warnings
    )
    assert any("ProdOnlyFunction: skipped: its Condition IsProd is false" in w for w in warnings)
    # Outputs are not resolved, so they produce no noise.
    assert not any("Outputs" in warning for warning in warnings)
    # Policies is named once (what happens locally), with no noise from resolving its value.
    assert [w for w in warnings if "Policies" in w] == [
        f"{source}: HelloFunction.Policies: the function runs with the AWS credentials "
        "lambdakit was started with (AWS_PROFILE, AWS_ACCESS_KEY_ID...), not its execution "
        "role: calls to AWS can succeed here and be denied on AWS, or the reverse"
    ]


def test_sam_template_parameters_change_conditions_and_values() -> None:
    result = load_template(
        TEMPLATES / "sam" / "template.yaml", parameters={"Stage": "prod", "TableName": "prod-items"}
    )
    assert [spec.name for spec in result.functions] == [
        "hello",
        "StreamFunction",
        "ProdOnlyFunction",
    ]
    hello = result.functions[0]
    assert hello.environment["TABLE"] == "prod-items"
    assert hello.environment["ONLY_PROD"] == "yes"
    assert (hello.environment["LOG_LEVEL"], hello.environment["DEBUG"]) == ("INFO", "false")


def test_lambda_functions_and_url_resources() -> None:
    result = load_template(TEMPLATES / "lambda" / "template.yaml")
    worker, other, inline, image = result.functions
    assert (worker.name, worker.runtime, worker.handler, worker.timeout) == (
        "worker",
        "provided.al2",
        "bootstrap",
        60.0,
    )
    assert worker.code_dir == TEMPLATES / "lambda" / "src"
    assert worker.environment == {"MODE": "worker"}
    # !GetAtt Worker.Arn and !Ref Other both find their function.
    assert worker.url == UrlConfig(invoke_mode="RESPONSE_STREAM", cors={"AllowOrigins": ["*"]})
    assert other.url == UrlConfig(auth_type="AWS_IAM")
    assert (other.name, other.handler, other.memory_size) == ("Other", None, 128)
    text = "\n".join(result.warnings)
    assert (inline.handler, (inline.code_dir / "index.py").is_file()) == ("index.handler", True)
    assert "FromS3: skipped: its Code is in S3" in text
    assert image.image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/fn:latest"
    assert "RemoteUrl.TargetFunctionArn: arn:aws:lambda:us-east-1:999999999999:function:" in text
    assert "WorkerRole" not in text  # Role is not needed locally


def test_json_template() -> None:
    spec = only(load_template(TEMPLATES / "json" / "template.json"))
    assert (spec.name, spec.memory_size, spec.code_dir) == (
        "JsonFunction",
        512,
        TEMPLATES / "json" / "code",
    )
    assert spec.environment == {
        "GREETING": "hi, us-east-1",
        "RATIO": "0.50",
        "COUNT": "7",
        "ON": "false",
    }


# -- intrinsic functions ---------------------------------------------------------------------

RESOLVED = [
    ("!Ref Stage", "dev"),
    ("!Ref Fn", "Fn"),
    ("!Ref AWS::AccountId", "123456789012"),
    ("!Ref AWS::Partition", "aws"),
    ("!Ref AWS::URLSuffix", "amazonaws.com"),
    ("!Sub '${AWS::Region}-${Stage}'", "us-east-1-dev"),
    ("!Sub ['${A}-${B}', {A: x, B: !Ref Stage}]", "x-dev"),
    (
        "!Sub 'arn:${AWS::Partition}:lambda:${Fn.Arn}'",
        "arn:aws:lambda:arn:aws:lambda:us-east-1:123456789012:function:Fn",
    ),
    ("!Sub '${!Literal}'", "${Literal}"),
    ('{"Fn::Sub": "${AWS::StackId}"}', "arn:aws:cloudformation:us-east-1:123456789012:stack/"),
    ("!GetAtt Fn.Arn", "arn:aws:lambda:us-east-1:123456789012:function:Fn"),
    ("!GetAtt [Fn, Arn]", "arn:aws:lambda:us-east-1:123456789012:function:Fn"),
    ("!Join ['-', [a, !Ref Stage, 3]]", "a-dev-3"),
    ("!Select [2, [a, b, c]]", "c"),
    ("!Select ['1', !Split [',', 'x,y']]", "y"),
    ("!Select [1, !Ref Zones]", "b"),
    ("!If [IsDev, yes-dev, no-dev]", "yes-dev"),
    ("!If [IsProd, yes-prod, no-prod]", "no-prod"),
    ("!If [Both, both, neither]", "both"),
    ("!If [Either, either, neither]", "either"),
    ("!FindInMap [M, !Ref Stage, Key]", "dev-value"),
    ("!FindInMap [M, nope, Key, {DefaultValue: fallback}]", "fallback"),
    ("!Base64 hello", "aGVsbG8="),
    ("!Select [0, !GetAZs '']", "us-east-1a"),
    ("!Select [1, !Cidr ['10.0.0.0/16', 2, 8]]", "10.0.1.0/24"),
    ("!ToJsonString {a: 1, b: [true]}", '{"a":1,"b":[true]}'),
    ("!Join ['', [!Length [a, b]]]", "2"),
    ("1.50", "1.50"),
    ("0.10", "0.10"),
    ("42", "42"),
    ("true", "true"),
    ("False", "false"),
    ("2024-01-31", "2024-01-31"),
    ("''", ""),
]


@pytest.mark.parametrize(("expression", "expected"), RESOLVED, ids=[r[0] for r in RESOLVED])
def test_intrinsics_resolve_locally(tmp_path: Path, expression: str, expected: str) -> None:
    text = template(fn(f"Environment: {{Variables: {{VV: {expression}}}}}"), head=HEAD)
    result = load_template(write(tmp_path, text))
    assert result.warnings == []
    assert only(result).environment["VV"].startswith(expected)


def test_no_value_removes_the_key(tmp_path: Path) -> None:
    text = template(
        fn(
            "Environment: {Variables: {AA: !If [IsProd, x, !Ref AWS::NoValue], BB: b}}",
            "Timeout: !If [IsProd, 5, !Ref AWS::NoValue]",
        ),
        head=HEAD,
    )
    spec = only(load_template(write(tmp_path, text)))
    assert (spec.environment, spec.timeout) == ({"BB": "b"}, 3.0)


def test_pseudo_parameters_follow_the_environment_and_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = template(
        fn(
            "Environment: {Variables: {VV: !Sub '${AWS::Region} ${AWS::Partition} "
            "${AWS::URLSuffix} ${AWS::StackName}'}}"
        )
    )
    path = write(tmp_path, text)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    assert (
        only(load_template(path)).environment["VV"]
        == f"eu-west-1 aws amazonaws.com {tmp_path.name}"
    )
    monkeypatch.setenv("AWS_REGION", "us-gov-west-1")
    assert only(load_template(path)).environment["VV"].startswith("us-gov-west-1 aws-us-gov ")
    overrides = {"AWS::Region": "cn-north-1", "AWS::StackName": "mystack"}
    spec = only(load_template(path, parameters=overrides))
    assert spec.environment["VV"] == "cn-north-1 aws-cn amazonaws.com.cn mystack"


def test_numeric_properties_accept_parameters(tmp_path: Path) -> None:
    head = "Parameters:\n  T: {Type: Number, Default: 45}\n  M: {Type: Number, Default: '2048'}\n"
    spec = only(
        load_template(
            write(tmp_path, template(fn("Timeout: !Ref T", "MemorySize: !Ref M"), head=head))
        )
    )
    assert (spec.timeout, spec.memory_size) == (45.0, 2048)


WARNINGS = [
    (
        "image-config",
        fn("PackageType: Image", "ImageUri: r:1", "ImageConfig: {Command: [a.b]}", code=None),
        "Fn.ImageConfig: Command not applied locally",
    ),
    ("s3-uri", fn(name="S3", code="s3://bucket/fn.zip"), "S3: skipped: its CodeUri is in S3"),
    ("s3-dict", fn(name="S3", code="{Bucket: b, Key: k}"), "S3: skipped: its CodeUri is in S3"),
    (
        "inline-handler",
        fn("InlineCode: 'x = 1'", name="In", code=None, runtime="python3.12", handler="app.h"),
        "In.Handler: app.h: inline code is the module index (index.py)",
    ),
    (
        "node",
        fn(name="Node", runtime="nodejs20.x"),
        "Node: skipped: lambdakit cannot run nodejs20.x",
    ),
    ("condition", fn(name="C", condition="IsProd"), "C: skipped: its Condition IsProd is false"),
    (
        "arn-layer",
        fn("Layers: [arn:aws:lambda:us-east-1:123456789012:layer:x:1]"),
        "Fn.Layers: layer arn:aws:lambda:us-east-1:123456789012:layer:x:1 cannot be fetched",
    ),
    (
        "import-value",
        fn("Environment: {Variables: {XX: !ImportValue shared-table}}"),
        "Fn.Environment.Variables.XX: !ImportValue shared-table: exported by another stack",
    ),
    (
        "unknown-ref",
        fn("Environment: {Variables: {XX: !Sub '${Nope}-1'}}"),
        "Fn.Environment.Variables.XX: !Ref Nope: no parameter or resource of that name",
    ),
    (
        "ref-resource",
        fn("Environment: {Variables: {XX: !Ref Bucket}}"),
        "!Ref Bucket: AWS::S3::Bucket does not exist locally; using its logical id",
    ),
    (
        "getatt-attribute",
        fn("Environment: {Variables: {XX: !GetAtt Bucket.DomainName}}"),
        "Fn.Environment.Variables.XX: !GetAtt Bucket.DomainName is known only after deployment",
    ),
    (
        "no-default",
        fn("Environment: {Variables: {XX: !Ref Secret}}"),
        "parameter Secret has no Default and no value was given; pass a parameter override",
    ),
    (
        "ssm",
        fn("Environment: {Variables: {XX: !Ref Ami}}"),
        "parameter Ami is read from SSM Parameter Store at deploy time",
    ),
    (
        "find-in-map",
        fn("Environment: {Variables: {XX: !FindInMap [M, prod, Key]}}"),
        "Fn::FindInMap: Mappings has no M.prod.Key",
    ),
    (
        "select-range",
        fn("Environment: {Variables: {XX: !Select [5, [a]]}}"),
        "Fn::Select: no item 5",
    ),
    (
        "transform",
        fn("Environment: {Variables: {XX: {'Fn::Transform': {Name: M}}}}"),
        "Fn::Transform runs a macro at deploy time",
    ),
    (
        "list-in-string",
        fn("Environment: {Variables: {XX: !Join ['', [!Ref Zones]]}}"),
        "expected a string, found a list",
    ),
    (
        "url-target",
        resource("U", "AWS::Lambda::Url", "TargetFunctionArn: !Ref Nothing", "AuthType: NONE"),
        "U.TargetFunctionArn: ${Nothing} is not a function lambdakit runs; ignored",
    ),
]
WARNING_HEAD = HEAD.replace(
    "Conditions:",
    """  Secret: {Type: String}
  Ami: {Type: "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", Default: /aws/ami}
Conditions:""",
)


@pytest.mark.parametrize(("case", "extra", "expected"), WARNINGS, ids=[w[0] for w in WARNINGS])
def test_what_cannot_run_or_be_known_locally_warns(
    tmp_path: Path, case: str, extra: str, expected: str
) -> None:
    text = template(
        fn(name="Base"), extra, resource("Bucket", "AWS::S3::Bucket"), head=WARNING_HEAD
    )
    result = load_template(write(tmp_path, text))
    assert "Base" in [spec.name for spec in result.functions]
    assert any(expected in warning for warning in result.warnings), result.warnings


def test_unknown_parameter_override_warns(tmp_path: Path) -> None:
    result = load_template(write(tmp_path, template(fn())), parameters={"Nope": "1"})
    assert result.warnings == [
        f"{tmp_path / 'template.yaml'}: Parameters: parameter override 'Nope' matches no parameter"
    ]


def test_url_resource_for_a_function_with_a_url_warns(tmp_path: Path) -> None:
    url = resource(
        "U", "AWS::Lambda::Url", "TargetFunctionArn: !GetAtt Fn.Arn", "AuthType: AWS_IAM"
    )
    result = load_template(
        write(tmp_path, template(fn("FunctionUrlConfig: {AuthType: NONE}"), url))
    )
    assert only(result).url == UrlConfig(auth_type="NONE")
    assert (
        "U.TargetFunctionArn: arn:aws:lambda:us-east-1:123456789012:function:Fn already has a URL"
        in result.warnings[0]
    )


def test_layer_resources_with_content_in_s3_warn(tmp_path: Path) -> None:
    layer = resource("L", "AWS::Lambda::LayerVersion", "Content: {S3Bucket: b, S3Key: k}")
    result = load_template(write(tmp_path, template(fn("Layers: [!Ref L]"), layer)))
    assert only(result).layers == ()
    assert "L.Content: layer content is not a local directory; skipped" in result.warnings[0]


def test_code_defaults_to_the_template_directory(tmp_path: Path) -> None:
    # What SAM CLI does for a function without CodeUri (or Code).
    lambda_function = resource("L", "AWS::Lambda::Function", "Runtime: provided.al2023")
    result = load_template(write(tmp_path, template(fn(code=None), lambda_function)))
    assert [spec.code_dir for spec in result.functions] == [tmp_path, tmp_path]


def test_cdk_asset_metadata_points_at_the_code(tmp_path: Path) -> None:
    # A `cdk synth` template: the code is in S3, its local copy is named in Metadata.
    cdk = resource(
        "Fn", "AWS::Lambda::Function", "Runtime: provided.al2023", "Code: {S3Bucket: b, S3Key: k}"
    )
    cdk += "\n    Metadata: {aws:asset:path: code, aws:asset:property: Code}"
    assert only(load_template(write(tmp_path, template(cdk)))).code_dir == tmp_path / "code"


# -- errors ----------------------------------------------------------------------------------

ERRORS = [
    (
        "timeout-high",
        template(fn("Timeout: 901")),
        "Fn.Timeout: 901 is out of range; Lambda allows 1 to 900 seconds",
    ),
    ("timeout-zero", template(fn("Timeout: 0")), "Fn.Timeout: 0 is out of range"),
    (
        "timeout-fraction",
        template(fn("Timeout: 2.5")),
        "Fn.Timeout: 2.5 is not a whole number of seconds",
    ),
    (
        "memory-low",
        template(fn("MemorySize: 64")),
        "Fn.MemorySize: 64 is out of range; Lambda allows 128 to 10240 MB",
    ),
    ("memory-high", template(fn("MemorySize: 10241")), "Fn.MemorySize: 10241 is out of range"),
    (
        "concurrency",
        template(fn("ReservedConcurrentExecutions: -1")),
        "Fn.ReservedConcurrentExecutions: -1 is not a whole number",
    ),
    (
        "code-missing",
        template(fn(code="nowhere")),
        "Fn.CodeUri: nowhere does not exist (looked for ",
    ),
    (
        "runtime-missing",
        template(fn(runtime=None)),
        "Fn.Runtime: missing; a zip function needs one",
    ),
    (
        "handler-missing",
        template(fn(runtime="python3.12")),
        "Fn.Handler: missing; a Python function needs module.function",
    ),
    (
        "architectures",
        template(fn("Architectures: [x86_64, arm64]")),
        "Fn.Architectures: ['x86_64', 'arm64']: give a list of one",
    ),
    ("architecture-name", template(fn("Architectures: [amd64]")), "Fn.Architectures: ['amd64']"),
    (
        "auth-type",
        template(fn("FunctionUrlConfig: {AuthType: PUBLIC}")),
        "Fn.FunctionUrlConfig.AuthType: 'PUBLIC': use NONE or AWS_IAM",
    ),
    (
        "invoke-mode",
        template(fn("FunctionUrlConfig: {AuthType: NONE, InvokeMode: STREAM}")),
        "Fn.FunctionUrlConfig.InvokeMode: 'STREAM': use BUFFERED or RESPONSE_STREAM",
    ),
    (
        "cors",
        template(fn("FunctionUrlConfig: {AuthType: NONE, Cors: '*'}")),
        "Fn.FunctionUrlConfig.Cors: must be a mapping",
    ),
    (
        "url-resource-auth",
        template(fn(), resource("U", "AWS::Lambda::Url", "TargetFunctionArn: !Ref Fn")),
        "U.AuthType: None: use NONE or AWS_IAM",
    ),
    (
        "env-list",
        template(fn("Environment: {Variables: {AA: [1, 2]}}")),
        "Fn.Environment.Variables.AA: is a list; environment variables are strings",
    ),
    (
        "env-shape",
        template(fn("Environment: [A]")),
        "Fn.Environment: must be a mapping with a Variables mapping",
    ),
    (
        "layer-missing",
        template(fn("Layers: [layers/none]")),
        "Fn.Layers: layers/none does not exist",
    ),
    ("layers-shape", template(fn("Layers: layers/none")), "Fn.Layers: must be a list"),
    (
        "duplicate-names",
        template(fn("FunctionName: same"), fn("FunctionName: same", name="Fn2")),
        "Fn and Fn2 are both named 'same'; give them different FunctionNames",
    ),
    (
        "duplicate-name-and-id",
        template(fn(), fn("FunctionName: Fn", name="Fn2")),
        "Fn and Fn2 are both named 'Fn'",
    ),
    (
        "no-functions",
        template(
            resource("B", "AWS::S3::Bucket"),
            resource("Q", "AWS::SQS::Queue"),
            resource("Q2", "AWS::SQS::Queue"),
        ),
        "no functions found: lambdakit runs resources of Type AWS::Serverless::Function or "
        "AWS::Lambda::Function, and found AWS::S3::Bucket (1), AWS::SQS::Queue (2)",
    ),
    ("no-resources", "Description: nothing\n", "found no resources at all"),
    (
        "all-skipped",
        template(fn(name="S3", code="s3://bucket/fn.zip")),
        "none of its functions can run locally:\n  ",
    ),
    (
        "allowed-values",
        template(
            fn(),
            head="Parameters:\n  Stage: {Type: String, Default: qa, AllowedValues: [dev, prod]}",
        ),
        "Parameters.Stage: 'qa' is not one of its AllowedValues ['dev', 'prod']",
    ),
    (
        "undefined-condition",
        template(fn(condition="Nope")),
        "Fn: condition 'Nope' is not defined in the Conditions section",
    ),
    (
        "condition-cycle",
        template(fn(condition="A"), head="Conditions:\n  A: !Not [!Condition A]"),
        "Conditions.A: refers to itself",
    ),
    (
        "properties-shape",
        template(resource("Fn", "AWS::Serverless::Function") + "\n    Properties: [x]"),
        "Fn.Properties must be a mapping",
    ),
    ("resources-shape", "Resources: [a]\n", "the template's Resources section must be a mapping"),
    (
        "not-a-mapping",
        "- a\n- b\n",
        "not a CloudFormation template (expected a mapping with a Resources section, found list)",
    ),
    (
        "unknown-tag",
        template(fn("Timeout: !Bogus 3")),
        "template.yaml:8:16: YAML error: unknown tag !Bogus (CloudFormation's are !Ref,",
    ),
    (
        "yaml-syntax",
        template(fn("Handler: app.handler: x", handler=None)),
        "template.yaml:8:27: YAML error: mapping values are not allowed here; check the",
    ),
    ("yaml-unclosed", "Resources: {Fn: [\n", "template.yaml:2:1: YAML error: "),
]


@pytest.mark.parametrize(("case", "text", "expected"), ERRORS, ids=[e[0] for e in ERRORS])
def test_invalid_templates_raise_clear_errors(
    tmp_path: Path, case: str, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TemplateError) as caught:
        load_template(path)
    message = str(caught.value)
    assert message.startswith(str(tmp_path)), message
    assert expected in message


def test_json_errors_have_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n  "Resources": {,}\n}\n', name="template.json")
    with pytest.raises(
        TemplateError, match=r"template\.json:2:17: JSON error: Expecting property name"
    ):
        load_template(path)


def test_unreadable_template(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="cannot read the template"):
        load_template(tmp_path / "missing.yaml")


def test_parameter_override_must_be_allowed(tmp_path: Path) -> None:
    head = "Parameters:\n  Stage: {Type: String, Default: dev, AllowedValues: [dev, prod]}"
    path = write(tmp_path, template(fn(), head=head))
    with pytest.raises(TemplateError, match="'qa' is not one of its AllowedValues"):
        load_template(path, parameters={"Stage": "qa"})


# -- FunctionSpec ----------------------------------------------------------------------------


def spec_in(directory: Path, **settings: Any) -> FunctionSpec:
    settings.setdefault("runtime", "provided.al2023")
    return FunctionSpec(name="f", code_dir=directory, **settings)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"timeout": 0}, "timeout 0 s is out of range; Lambda allows 1 to 900 seconds"),
        ({"timeout": 901}, "timeout 901 s is out of range"),
        ({"memory_size": 127}, "memory size 127 MB is out of range; Lambda allows 128 to 10240 MB"),
        ({"memory_size": 10241}, "memory size 10241 MB is out of range"),
    ],
)
def test_spec_validates_limits(tmp_path: Path, settings: dict[str, int], expected: str) -> None:
    with pytest.raises(TemplateError, match=expected):
        spec_in(tmp_path, **settings)


def test_spec_is_a_hashable_value_that_copies_its_inputs(tmp_path: Path) -> None:
    environment = {"AA": "1"}
    spec = spec_in(tmp_path, environment=environment, timeout=1, layers=[tmp_path])
    environment["AA"] = "changed"
    assert spec.environment == {"AA": "1"}
    assert (spec.timeout, spec.layers) == (1.0, (tmp_path,))
    assert hash(spec) == hash(
        spec_in(tmp_path, environment={"BB": "2"}, timeout=1, layers=[tmp_path])
    )
    relative = FunctionSpec(name="f", code_dir=Path("code"), runtime="provided.al2023")
    assert relative.code_dir == Path.cwd() / "code"


def test_with_overrides(tmp_path: Path) -> None:
    spec = spec_in(
        tmp_path, runtime="python3.12", handler="app.handler", environment={"AA": "1", "BB": "2"}
    )
    changed = spec.with_overrides(
        handler="other.main", timeout=0.5, memory_size=512, environment={"BB": "3", "CC": "4"}
    )
    assert (changed.handler, changed.timeout, changed.memory_size) == ("other.main", 0.5, 512)
    assert changed.environment == {"AA": "1", "BB": "3", "CC": "4"}
    assert spec.with_overrides() == spec
    with pytest.raises(TemplateError, match="out of range"):
        spec.with_overrides(timeout=1000)


# -- directories and load_functions ----------------------------------------------------------


def test_directory_with_a_bootstrap_is_a_custom_runtime(tmp_path: Path) -> None:
    directory = shutil.copytree(TEMPLATES / "dirs" / "custom_fn", tmp_path / "custom_fn")
    (directory / "bootstrap").chmod(0o755)  # whatever the checkout did with the mode bits
    spec = function_from_directory(directory)
    assert (spec.name, spec.runtime, spec.handler, spec.code_dir) == (
        "custom_fn",
        "provided.al2023",
        None,
        directory,
    )
    assert command(spec) == [str(directory / "bootstrap")]


def test_directory_with_python_code(tmp_path: Path) -> None:
    spec = function_from_directory(TEMPLATES / "dirs" / "python_fn")
    assert (spec.name, spec.runtime, spec.handler) == ("python_fn", PYTHON_RUNTIME, "app.handler")
    assert (spec.timeout, spec.memory_size, spec.environment) == (3.0, 128, {})
    argv = command(spec, "py")
    assert (argv[0], argv[-1]) == ("py", "app.handler")


def test_directory_settings(tmp_path: Path) -> None:
    spec = function_from_directory(
        tmp_path,
        name="api",
        handler="service.main",
        runtime="python3.13",
        timeout=10,
        memory_size=1024,
        environment={"AA": "1"},
    )
    assert (spec.name, spec.handler, spec.runtime, spec.timeout, spec.memory_size) == (
        "api",
        "service.main",
        "python3.13",
        10.0,
        1024,
    )
    assert spec.environment == {"AA": "1"}


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p, "has neither a `bootstrap` (a custom runtime's entry point) nor app.py"),
        (
            lambda p: p / "missing",
            "missing does not exist; give the directory with the function's code",
        ),
        (lambda p: executable(p / "file"), "file is not a directory"),
    ],
    ids=["empty", "missing", "file"],
)
def test_directory_errors(tmp_path: Path, make: Callable[[Path], Path], expected: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(expected)):
        function_from_directory(make(tmp_path))


@pytest.mark.parametrize(
    "path",
    [TEMPLATES / "sam" / "template.yaml", TEMPLATES / "sam"],
    ids=["template-file", "directory-with-template"],
)
def test_load_functions_reads_templates(path: Path) -> None:
    result = load_functions(path, timeout=60, memory_size=512, environment={"EXTRA": "1"})
    assert [spec.name for spec in result.functions] == ["hello", "StreamFunction"]
    assert all(spec.timeout == 60 and spec.memory_size == 512 for spec in result.functions)
    assert all(spec.environment["EXTRA"] == "1" for spec in result.functions)
    assert result.functions[0].environment["TABLE"] == "items"
    assert result.warnings


def test_load_functions_finds_template_yml_and_passes_parameters(tmp_path: Path) -> None:
    write(
        tmp_path,
        template(fn("Environment: {Variables: {SS: !Ref Stage}}"), head=HEAD),
        name="template.yml",
    )
    spec = only(load_functions(tmp_path, parameters={"Stage": "prod"}))
    assert spec.environment == {"SS": "prod"}


def test_load_functions_reads_a_function_directory() -> None:
    result = load_functions(
        TEMPLATES / "dirs" / "python_fn", name="api", handler="app.handler", timeout=5
    )
    assert result.warnings == []
    assert (only(result).name, only(result).timeout) == ("api", 5.0)


@pytest.mark.parametrize(
    ("path", "settings", "expected"),
    [
        (
            TEMPLATES / "nowhere",
            {},
            "does not exist; give a template file, a directory with a template.yaml",
        ),
        (TEMPLATES / "sam", {"handler": "x.y"}, "a handler applies to a function directory"),
        (
            TEMPLATES / "sam" / "template.yaml",
            {"runtime": "python3.12"},
            "a runtime applies to a function directory",
        ),
        (
            TEMPLATES / "dirs" / "python_fn",
            {"parameters": {"A": "1"}},
            "has no template.yaml, so parameters do not apply",
        ),
    ],
    ids=[
        "missing",
        "handler-with-template",
        "runtime-with-template",
        "parameters-without-template",
    ],
)
def test_load_functions_errors(path: Path, settings: dict[str, Any], expected: str) -> None:
    with pytest.raises(TemplateError, match=expected):
        load_functions(path, **settings)


# -- environment files -----------------------------------------------------------------------


def test_parse_env_file() -> None:
    assert parse_env_file(TEMPLATES / "env" / "dev.env") == {
        "API_URL": "http://localhost:9001",  # a later line wins
        "PLAIN": "value with spaces",
        "SINGLE": "literal: $HOME \\n",
        "DOUBLE": 'line1\nline2 "quoted" # not a comment',
        "EMPTY": "",
        "HASH": "abc#def",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NAME\n", r"dev\.env:1: expected NAME=value \(or a # comment\), found 'NAME'"),
        ("# ok\n1X=2\n", r"dev\.env:2: expected NAME=value"),
        ("A='open\n", r"dev\.env:1: the ' quote is not closed on this line"),
        ('A="a" b\n', r'dev\.env:1: unexpected text after the closing " quote'),
    ],
)
def test_parse_env_file_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "dev.env"
    path.write_text(text)
    with pytest.raises(TemplateError, match=expected):
        parse_env_file(path)


def test_parse_env_vars_json() -> None:
    assert parse_env_vars_json(TEMPLATES / "env" / "env.json") == {
        "Parameters": {"LOG_LEVEL": "INFO", "SHARED": "from-parameters"},
        "HelloFunction": {"TABLE": "local-items", "PORT": "8000", "VERBOSE": "true"},
        "StreamFunction": {"SHARED": "from-stream"},
        "Missing": {"X": "1"},
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"A": "1"}', r"'A' must map to an object of variables, as in SAM CLI's env\.json"),
        ('{"Fn": {"A": [1]}}', r"Fn\.A: must be a string, not a list or object"),
        ("[1]", "expected a JSON object of functions"),
        ('{\n  "Fn": {"A": 1,}\n}', r"env\.json:2:17: JSON error: Expecting property name"),
    ],
)
def test_parse_env_vars_json_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "env.json"
    path.write_text(text)
    with pytest.raises(TemplateError, match=expected):
        parse_env_vars_json(path)


def test_apply_env_file_in_sam_shape() -> None:
    result = load_template(TEMPLATES / "sam" / "template.yaml")
    applied = apply_env_file(result, TEMPLATES / "env" / "env.json")
    hello, stream = applied.functions
    assert hello.environment["TABLE"] == "local-items"  # by logical id
    assert (hello.environment["PORT"], hello.environment["LOG_LEVEL"]) == ("8000", "INFO")
    assert hello.environment["SHARED"] == "from-parameters"  # "Parameters" apply to every function
    assert stream.environment["SHARED"] == "from-stream"  # a function's own entry wins
    assert applied.warnings[: len(result.warnings)] == result.warnings
    assert applied.warnings[-1].endswith(
        "'Missing' matches no function (by logical id or FunctionName); its variables are not used"
    )


def test_apply_env_file_matches_function_names_too(tmp_path: Path) -> None:
    path = tmp_path / "vars"
    path.write_text('  {"hello": {"AA": "by-name"}, "HelloFunction": {"AA": "by-id", "BB": "b"}}')
    hello = apply_env_file(load_template(TEMPLATES / "sam" / "template.yaml"), path).functions[0]
    assert (hello.environment["AA"], hello.environment["BB"]) == ("by-name", "b")


def test_apply_dotenv_file_to_every_function() -> None:
    result = apply_env_file(
        load_template(TEMPLATES / "sam" / "template.yaml"), TEMPLATES / "env" / "dev.env"
    )
    assert all(spec.environment["PLAIN"] == "value with spaces" for spec in result.functions)
    assert result.functions[0].environment["TABLE"] == "items"


def test_apply_env_file_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"cannot read .*nope\.env"):
        apply_env_file(TemplateResult([]), tmp_path / "nope.env")
