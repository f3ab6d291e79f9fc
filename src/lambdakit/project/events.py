"""Sample events of the services that invoke Lambda functions, for ``invoke --event-file``.

Each event is a JSON file in ``event_samples/``, shaped as the service sends it (after the
sample events in the Lambda developer guide:
https://docs.aws.amazon.com/lambda/latest/dg/lambda-services.html), with one set of fake
identifiers throughout: account 123456789012, region us-east-1, time 2025-01-15T12:00:00Z.
Encoded payloads are real: Kinesis ``data`` is base64 of JSON, and CloudWatch Logs'
``awslogs.data`` is base64 of a gzipped subscription message, as the services send them.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from lambdakit.project.errors import ProjectError

__all__ = ["SOURCES", "sample_event"]

SOURCES: dict[str, str] = {
    "apigw-v1": "API Gateway REST API, Lambda proxy integration (payload format 1.0)",
    "apigw-v2": "API Gateway HTTP API (payload format 2.0)",
    "alb": "Application Load Balancer target group request",
    "function-url": "Lambda Function URL request (payload format 2.0)",
    "sqs": "SQS queue: a batch of two messages",
    "sns": "SNS topic notification",
    "s3": "S3 ObjectCreated:Put notification",
    "eventbridge": "EventBridge custom event from a custom source",
    "dynamodb": "DynamoDB Streams: INSERT, MODIFY and REMOVE records",
    "kinesis": "Kinesis Data Streams: two records with base64 JSON data",
    "schedule": "EventBridge Scheduled Event (a schedule rule)",
    "cloudwatch-logs": "CloudWatch Logs subscription: base64 gzipped log events",
}
"""Source name -> one-line description, in the order ``lambdakit events --list`` shows them."""


def sample_event(name: str) -> dict[str, Any]:
    """A fresh copy of the sample event of source NAME (a key of ``SOURCES``)."""
    if name not in SOURCES:
        raise ProjectError(f"no sample event {name!r}; choose one of: {', '.join(SOURCES)}")
    # Two joins, not joinpath(a, b): Python 3.10's Traversable takes one name at a time.
    sample = resources.files("lambdakit.project") / "event_samples" / f"{name}.json"
    event: dict[str, Any] = json.loads(sample.read_text(encoding="utf-8"))
    return event
