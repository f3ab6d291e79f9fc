"""``lambdakit events``: every sample parses and has the fields its service sends."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import types
from typing import Any

import pytest
from click.testing import CliRunner

from lambdakit.cli.events import events
from lambdakit.project.errors import ProjectError
from lambdakit.project.events import SOURCES, sample_event

ACCOUNT, REGION = "123456789012", "us-east-1"


TG_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/hello-tg/0123456789abcdef"

# (source, dotted path into the event, expected value): the fields handlers branch on.
KEY_FIELDS = [
    ("apigw-v1", "httpMethod", "POST"),
    ("apigw-v1", "resource", "/items/{id}"),
    ("apigw-v1", "pathParameters.id", "42"),
    ("apigw-v1", "requestContext.accountId", ACCOUNT),
    ("apigw-v1", "multiValueQueryStringParameters.verbose", ["true"]),
    ("apigw-v2", "version", "2.0"),
    ("apigw-v2", "routeKey", "POST /items/{id}"),
    ("apigw-v2", "requestContext.http.method", "POST"),
    ("apigw-v2", "requestContext.accountId", ACCOUNT),
    ("function-url", "version", "2.0"),
    ("function-url", "routeKey", "$default"),
    ("function-url", "requestContext.http.path", "/items/42"),
    ("alb", "requestContext.elb.targetGroupArn", TG_ARN),
    ("alb", "httpMethod", "GET"),
    ("sqs", "Records.0.eventSource", "aws:sqs"),
    ("sqs", "Records.1.eventSourceARN", f"arn:aws:sqs:{REGION}:{ACCOUNT}:orders"),
    ("sqs", "Records.0.awsRegion", REGION),
    ("sns", "Records.0.EventSource", "aws:sns"),
    ("sns", "Records.0.Sns.TopicArn", f"arn:aws:sns:{REGION}:{ACCOUNT}:orders"),
    ("s3", "Records.0.eventSource", "aws:s3"),
    ("s3", "Records.0.eventName", "ObjectCreated:Put"),
    ("s3", "Records.0.s3.bucket.name", "example-uploads"),
    ("eventbridge", "source", "com.example.orders"),
    ("eventbridge", "detail-type", "OrderShipped"),
    ("eventbridge", "account", ACCOUNT),
    ("dynamodb", "Records.0.eventSource", "aws:dynamodb"),
    ("dynamodb", "Records.1.eventName", "MODIFY"),
    ("dynamodb", "Records.1.dynamodb.OldImage.status.S", "created"),
    ("kinesis", "Records.0.eventSource", "aws:kinesis"),
    ("kinesis", "Records.0.eventName", "aws:kinesis:record"),
    ("schedule", "detail-type", "Scheduled Event"),
    ("schedule", "source", "aws.events"),
    ("schedule", "region", REGION),
    ("cloudwatch-logs", "awslogs.data", str),
]


def _get(event: Any, path: str) -> Any:
    for key in path.split("."):
        event = event[int(key)] if isinstance(event, list) else event[key]
    return event


def test_every_source_has_key_fields() -> None:
    assert {source for source, _, _ in KEY_FIELDS} == set(SOURCES)


@pytest.mark.parametrize("name", list(SOURCES))
def test_each_source_prints_valid_json_with_consistent_ids(name: str) -> None:
    result = CliRunner().invoke(events, [name])
    assert result.exit_code == 0, result.output
    event = json.loads(result.output)
    assert event == sample_event(name)
    for arn in re.findall(r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:(\d*):", result.output):
        assert arn in ("", ACCOUNT)
    assert set(re.findall(r"\b[a-z]{2}-[a-z]+-\d\b", result.output)) <= {REGION}


@pytest.mark.parametrize(("name", "path", "expected"), KEY_FIELDS)
def test_key_fields(name: str, path: str, expected: Any) -> None:
    value = _get(sample_event(name), path)
    if isinstance(expected, type):
        assert isinstance(value, expected)
    else:
        assert value == expected


@pytest.mark.parametrize("name", ["apigw-v2", "function-url"])
def test_http_v2_events_agree_with_themselves(name: str) -> None:
    event = sample_event(name)
    assert event["rawPath"] == event["requestContext"]["http"]["path"]
    assert int(event["headers"]["content-length"]) == len(event["body"].encode())
    assert event["rawQueryString"] == "verbose=true"


def test_sqs_bodies_match_their_md5() -> None:
    for record in sample_event("sqs")["Records"]:
        assert hashlib.md5(record["body"].encode()).hexdigest() == record["md5OfBody"]


def test_kinesis_data_decodes_to_json() -> None:
    records = sample_event("kinesis")["Records"]
    payloads = [json.loads(base64.b64decode(r["kinesis"]["data"])) for r in records]
    assert payloads == [{"page": "/home", "user": "u-1"}, {"page": "/cart", "user": "u-2"}]
    assert [r["kinesis"]["partitionKey"] for r in records] == ["u-1", "u-2"]


def test_cloudwatch_logs_data_is_a_gzipped_subscription_message() -> None:
    data = sample_event("cloudwatch-logs")["awslogs"]["data"]
    message = json.loads(gzip.decompress(base64.b64decode(data)))
    assert message["messageType"] == "DATA_MESSAGE"
    assert message["owner"] == ACCOUNT
    assert message["logGroup"] == "/aws/lambda/hello"
    assert [event["timestamp"] for event in message["logEvents"]] == [
        1736942400000,
        1736942400001,
    ]
    assert "payment declined" in message["logEvents"][0]["message"]


def test_samples_are_fresh_copies() -> None:
    sample_event("sqs")["Records"].clear()
    assert len(sample_event("sqs")["Records"]) == 2


@pytest.mark.parametrize("args", [[], ["--list"], ["sqs", "--list"]])
def test_list_names_every_source_with_its_description(args: list[str]) -> None:
    result = CliRunner().invoke(events, args)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert [line.split()[0] for line in lines] == list(SOURCES)
    assert all(SOURCES[line.split()[0]] in line for line in lines)


def test_unknown_source_is_a_usage_error_listing_the_valid_ones() -> None:
    result = CliRunner().invoke(events, ["kafka"])
    assert result.exit_code == 2
    assert "'kafka' is not an event source" in result.output
    assert "apigw-v1" in result.output and "cloudwatch-logs" in result.output


def test_sample_event_rejects_an_unknown_name() -> None:
    with pytest.raises(ProjectError, match="no sample event 'kafka'; choose one of: apigw-v1"):
        sample_event("kafka")


@pytest.mark.parametrize("name", ["apigw-v1", "apigw-v2", "alb", "function-url"])
def test_http_samples_drive_the_web_adapters(name: str) -> None:
    from lambdakit.runtime.web import wsgi

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        body = environ["wsgi.input"].read()
        return [f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {body!r}".encode()]

    event = sample_event(name)
    response = wsgi(app)(event, types.SimpleNamespace(aws_request_id="r"))
    assert response["statusCode"] == 200
    method = "GET" if name == "alb" else "POST"
    assert str(response["body"]).startswith(f"{method} /items/42 ")
