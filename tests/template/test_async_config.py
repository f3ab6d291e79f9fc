"""Asynchronous invocation settings from templates: SAM's EventInvokeConfig and
DeadLetterQueue, AWS::Lambda::Function's DeadLetterConfig, AWS::Lambda::EventInvokeConfig."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdakit.template import FunctionSpec, TemplateError, load_template
from lambdakit.template.specs import AsyncConfig

ARN = "arn:aws:{}:us-east-1:123456789012:{}"


@pytest.fixture(autouse=True)
def _default_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)


def load(tmp_path: Path, resources: str, head: str = "") -> dict[str, FunctionSpec]:
    (tmp_path / "code").mkdir(exist_ok=True)
    path = tmp_path / "template.yaml"
    path.write_text(f"Transform: AWS::Serverless-2016-10-31\n{head}\nResources:\n{resources}")
    return {spec.logical_id or spec.name: spec for spec in load_template(path).functions}


def sam(name: str, *lines: str) -> str:
    body = "".join(f"      {line}\n" for line in lines)
    return (
        f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      CodeUri: code\n      Runtime: provided.al2023\n{body}"
    )


def resource(name: str, kind: str, *lines: str) -> str:
    body = "".join(f"      {line}\n" for line in lines)
    return f"  {name}:\n    Type: {kind}\n" + (f"    Properties:\n{body}" if lines else "")


QUEUE = resource("Failures", "AWS::SQS::Queue")
OTHER = "arn:aws:lambda:eu-west-1:210987654321:function:x"


def test_no_settings_are_lambdas_defaults(tmp_path: Path) -> None:
    spec = load(tmp_path, sam("Fn"))["Fn"]
    assert spec.async_config == AsyncConfig()
    assert (spec.async_config.maximum_retry_attempts, spec.async_config.maximum_event_age) == (
        2,
        21600,
    )


def test_sam_event_invoke_config_whole(tmp_path: Path) -> None:
    specs = load(
        tmp_path,
        sam(
            "Fn",
            "EventInvokeConfig:",
            "  MaximumRetryAttempts: 0",
            "  MaximumEventAgeInSeconds: 120",
            "  DestinationConfig:",
            "    OnSuccess: {Type: Lambda, Destination: !GetAtt Audit.Arn}",
            "    OnFailure: {Type: SQS, Destination: !GetAtt Failures.Arn}",
            "DeadLetterQueue: {Type: SNS, TargetArn: !Ref Topic}",
        )
        + sam("Audit", "FunctionName: audit")
        + QUEUE
        + resource("Topic", "AWS::SNS::Topic"),
    )
    assert specs["Fn"].async_config == AsyncConfig(
        maximum_retry_attempts=0,
        maximum_event_age=120,
        on_success=ARN.format("lambda", "function:audit"),
        on_failure=ARN.format("sqs", "Failures"),
        dead_letter=ARN.format("sns", "Topic"),
    )
    assert specs["Audit"].async_config == AsyncConfig()


@pytest.mark.parametrize(
    ("destination", "expected"),
    [
        ("!Ref Audit", ARN.format("lambda", "function:audit")),  # Ref of a function: its name
        ("Audit", ARN.format("lambda", "function:audit")),  # its logical id
        ("audit", ARN.format("lambda", "function:audit")),  # its name
        (OTHER, OTHER),  # an ARN is kept as it is
    ],
)  # fmt: skip
def test_a_lambda_destination_is_a_function_arn(
    tmp_path: Path, destination: str, expected: str
) -> None:
    specs = load(
        tmp_path,
        sam(
            "Fn",
            "EventInvokeConfig:",
            f"  DestinationConfig: {{OnSuccess: {{Type: Lambda, Destination: {destination}}}}}",
        )
        + sam("Audit", "FunctionName: audit"),
    )
    assert specs["Fn"].async_config.on_success == expected


def test_sam_creates_a_queue_or_topic_for_a_blank_destination(tmp_path: Path) -> None:
    spec = load(
        tmp_path,
        sam(
            "Fn",
            "EventInvokeConfig:",
            "  DestinationConfig:",
            "    OnSuccess: {Type: SNS}",
            "    OnFailure: {Type: SQS}",
        ),
    )["Fn"]
    assert spec.async_config.on_success == ARN.format("sns", "FnEventInvokeConfigOnSuccessTopic")
    assert spec.async_config.on_failure == ARN.format("sqs", "FnEventInvokeConfigOnFailureQueue")


def test_globals_apply(tmp_path: Path) -> None:
    head = (
        "Globals:\n  Function:\n    EventInvokeConfig:\n      MaximumRetryAttempts: 1\n"
        "    DeadLetterQueue: {Type: SQS, TargetArn: arn:aws:sqs:us-east-1:123456789012:dlq}\n"
    )
    spec = load(tmp_path, sam("Fn"), head)["Fn"]
    assert spec.async_config.maximum_retry_attempts == 1
    assert spec.async_config.dead_letter == "arn:aws:sqs:us-east-1:123456789012:dlq"


def test_lambda_function_dead_letter_config_and_event_invoke_config_resource(
    tmp_path: Path,
) -> None:
    function = resource(
        "Fn",
        "AWS::Lambda::Function",
        "FunctionName: worker",
        "Code: code",
        "Runtime: provided.al2023",
        "DeadLetterConfig: {TargetArn: !GetAtt Failures.Arn}",
    )
    config = resource(
        "Config",
        "AWS::Lambda::EventInvokeConfig",
        "FunctionName: !Ref Fn",
        "Qualifier: $LATEST",
        "MaximumRetryAttempts: 1",
        "MaximumEventAgeInSeconds: 60",
        "DestinationConfig:",
        "  OnFailure: {Destination: arn:aws:events:us-east-1:123456789012:event-bus/default}",
    )
    spec = load(tmp_path, function + config + QUEUE)["Fn"]
    assert spec.async_config == AsyncConfig(
        maximum_retry_attempts=1,
        maximum_event_age=60,
        on_failure="arn:aws:events:us-east-1:123456789012:event-bus/default",
        dead_letter=ARN.format("sqs", "Failures"),
    )


def test_an_event_invoke_config_for_another_version_is_a_warning(tmp_path: Path) -> None:
    config = resource(
        "Config",
        "AWS::Lambda::EventInvokeConfig",
        "FunctionName: !Ref Fn",
        "Qualifier: '3'",
        "MaximumRetryAttempts: 0",
    )
    (tmp_path / "code").mkdir()
    path = tmp_path / "template.yaml"
    path.write_text(f"Resources:\n{sam('Fn')}{config}")
    result = load_template(path)
    assert result.functions[0].async_config == AsyncConfig()
    assert any("Config.Qualifier" in w and "Fn:3" in w for w in result.warnings)


def config(destinations: str) -> str:
    return f"EventInvokeConfig: {{DestinationConfig: {{{destinations}}}}}"


SQS_Q = "arn:aws:sqs:us-east-1:123456789012:q"
LAMBDA_F = "arn:aws:lambda:us-east-1:123456789012:function:f"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("EventInvokeConfig: {MaximumRetryAttempts: 3}",
         "EventInvokeConfig.MaximumRetryAttempts: 3 is out of range; Lambda allows 0 to 2"),
        ("EventInvokeConfig: {MaximumEventAgeInSeconds: 59}",
         "MaximumEventAgeInSeconds: 59 is out of range; Lambda allows 60 to 21600 seconds"),
        ("EventInvokeConfig: {MaximumRetryAttempts: two}", "is not a whole number of retries"),
        (config("OnFailure: {Type: Queue}"),
         "OnFailure.Type: Queue: use one of SQS, SNS, S3, Lambda, EventBridge"),
        (config(f"OnFailure: {{Destination: {SQS_Q}}}"), "OnFailure.Type: missing"),
        (config("OnSuccess: {Type: Lambda}"),
         "OnSuccess.Destination: missing; a Lambda destination needs its ARN"),
        (config("OnSuccess: {Type: S3, Destination: arn:aws:s3:::bucket}"),
         "an S3 bucket takes failed invocations only; use OnFailure"),
        (config("OnSuccess: {Type: Lambda, Destination: nowhere}"),
         "nowhere: no function of this template; give a function ARN"),
        (f"DeadLetterQueue: {{Type: Lambda, TargetArn: {LAMBDA_F}}}",
         "DeadLetterQueue.Type: Lambda: use SQS or SNS"),
        ("DeadLetterQueue: {Type: SQS}", "DeadLetterQueue: needs Type (SQS or SNS) and TargetArn"),
    ],
)  # fmt: skip
def test_mistakes_name_the_property_and_what_to_do(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(TemplateError) as error:
        load(tmp_path, sam("Fn", line))
    assert message in str(error.value)
    assert "template.yaml: Fn." in str(error.value)
