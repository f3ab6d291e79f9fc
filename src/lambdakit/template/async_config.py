"""How Lambda handles a function's asynchronous invocations, read from the template.

SAM's ``EventInvokeConfig`` and ``DeadLetterQueue``, ``AWS::Lambda::Function``'s
``DeadLetterConfig``, and ``AWS::Lambda::EventInvokeConfig`` resources become the function's
``AsyncConfig``: retries (0..2), the maximum event age (60..21600 s), the ARNs of the
OnSuccess and OnFailure destinations and of the dead-letter queue.
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-configuring.html,
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-property-function-eventinvokeconfiguration.html)

A destination is kept as an ARN: ``!GetAtt Queue.Arn`` already resolves to one; ``!Ref`` of a
function of the template (its name) becomes that function's ARN; ``!Ref`` or a bare logical id
of another resource becomes the stand-in ARN the resolver gives ``!GetAtt X.Arn``. A SAM SQS or
SNS destination without ``Destination`` is the queue or topic SAM creates for it
(``<Function>EventInvokeConfig<OnSuccess|OnFailure>Queue``/``Topic``), named the same way.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from lambdakit.template.properties import Properties
from lambdakit.template.specs import AsyncConfig, FunctionSpec
from lambdakit.template.values import FUNCTION_TYPES, to_string

if TYPE_CHECKING:
    from pathlib import Path

    from lambdakit.template.intrinsics import Resolver

__all__ = ["read_async_config", "with_event_invoke_configs"]

MAX_RETRIES = 2
EVENT_AGE = (60, 21600)  # seconds (API_PutFunctionEventInvokeConfig.html)
DESTINATION_TYPES = ("SQS", "SNS", "S3", "Lambda", "EventBridge")
DLQ_TYPES = ("SQS", "SNS")
CONDITIONS = ("OnSuccess", "OnFailure")
_SERVICE_OF = {"SQS": "sqs", "SNS": "sns", "S3": "s3", "Lambda": "lambda", "EventBridge": "events"}
_AUTO_CREATED = {"SQS": "Queue", "SNS": "Topic"}  # what SAM creates for a blank Destination


def read_async_config(properties: Properties, *, serverless: bool) -> AsyncConfig:
    """A function resource's own settings: SAM's EventInvokeConfig and DeadLetterQueue, or
    AWS::Lambda::Function's DeadLetterConfig (its EventInvokeConfig is a resource of its own,
    read by ``with_event_invoke_configs``)."""
    config = AsyncConfig()
    if serverless:
        values = properties.get("EventInvokeConfig")
        if values is not None:
            config = _event_invoke_config(values, properties, "EventInvokeConfig.", sam=True)
        return dataclasses.replace(config, dead_letter=_sam_dead_letter_queue(properties))
    values = properties.get("DeadLetterConfig")
    if values is None:
        return config
    if not isinstance(values, dict):
        raise properties.error("DeadLetterConfig", "must be a mapping with TargetArn")
    target = values.get("TargetArn")
    dead_letter = _arn(target, properties, "DeadLetterConfig.TargetArn") if target else None
    return dataclasses.replace(config, dead_letter=dead_letter)


def with_event_invoke_configs(
    specs: list[FunctionSpec], resolver: Resolver, source: Path
) -> list[FunctionSpec]:
    """Attach ``AWS::Lambda::EventInvokeConfig`` resources to the functions they name (by
    name, ARN or ``!Ref``), for the qualifier lambdakit runs: ``$LATEST``, or the function's
    ``AutoPublishAlias``."""
    targets = {resolver.function_arn(s.name): i for i, s in enumerate(specs)}
    targets |= {s.name: i for i, s in enumerate(specs)}
    for logical_id, resource in resolver.resources.items():
        if (
            not isinstance(resource, dict)
            or resource.get("Type") != "AWS::Lambda::EventInvokeConfig"
        ):
            continue
        condition = resource.get("Condition")
        if isinstance(condition, str) and not resolver.condition(condition, logical_id):
            continue
        properties = Properties(logical_id, resource.get("Properties") or {}, resolver, source)
        index = _target(properties, targets)
        if index is None:
            continue
        spec = specs[index]
        qualifier = to_string(properties.get("Qualifier")) or ""
        if qualifier not in ("$LATEST", spec.alias or "$LATEST"):
            resolver.warn(
                f"{logical_id}.Qualifier",
                f"{spec.name}:{qualifier} is a version lambdakit does not run (it runs $LATEST"
                f"{' and ' + spec.alias if spec.alias else ''}); ignored",
            )
            continue
        if _has_event_invoke_config(spec.async_config):
            resolver.warn(logical_id, f"{spec.name} already has an EventInvokeConfig; ignored")
            continue
        config = _event_invoke_config(properties.raw, properties, "", sam=False, resolve=True)
        config = dataclasses.replace(config, dead_letter=spec.async_config.dead_letter)
        specs[index] = dataclasses.replace(spec, async_config=config)
    return specs


def _target(properties: Any, targets: Mapping[str, int]) -> int | None:
    name = to_string(properties.get("FunctionName")) or ""
    # A partial ARN (123456789012:function:name) names the function too.
    match = re.fullmatch(r"(?:arn:[^:]+:lambda:[^:]*:)?(?:\d{12}:)?function:([^:]+)", name)
    index = targets.get(name, targets.get(match.group(1)) if match else None)
    if index is None:
        properties.resolver.warn(
            f"{properties.logical_id}.FunctionName",
            f"{name or 'nothing'} is not a function lambdakit runs; ignored",
        )
    return index


def _has_event_invoke_config(config: AsyncConfig) -> bool:
    return dataclasses.replace(config, dead_letter=None) != AsyncConfig()


def _event_invoke_config(
    values: Any, properties: Properties, prefix: str, *, sam: bool, resolve: bool = False
) -> AsyncConfig:
    """MaximumRetryAttempts, MaximumEventAgeInSeconds and DestinationConfig, from SAM's
    EventInvokeConfig (whose destinations carry a Type) or the resource's Properties."""
    if not isinstance(values, dict):
        raise properties.error(prefix.rstrip("."), "must be a mapping (MaximumRetryAttempts...)")
    if resolve:  # the resource's Properties, not yet resolved
        values = {key: properties.get(key) for key in values}
    retries = _whole(
        values, "MaximumRetryAttempts", (0, MAX_RETRIES), "retries", properties, prefix
    )
    age = _whole(values, "MaximumEventAgeInSeconds", EVENT_AGE, "seconds", properties, prefix)
    destinations = values.get("DestinationConfig") or {}
    if not isinstance(destinations, dict):
        raise properties.error(f"{prefix}DestinationConfig", "must be a mapping (OnSuccess...)")
    found = {}
    for condition in CONDITIONS:
        value = destinations.get(condition)
        if value is not None:
            key = f"{prefix}DestinationConfig.{condition}"
            found[condition] = _destination(value, properties, key, condition, sam=sam)
    return AsyncConfig(
        maximum_retry_attempts=MAX_RETRIES if retries is None else retries,
        maximum_event_age=EVENT_AGE[1] if age is None else age,
        on_success=found.get("OnSuccess"),
        on_failure=found.get("OnFailure"),
    )


def _whole(
    values: Mapping[str, Any],
    key: str,
    bounds: tuple[int, int],
    unit: str,
    properties: Properties,
    prefix: str,
) -> int | None:
    value = values.get(key)
    if value is None:
        return None
    text = to_string(value)
    if text is None or not re.fullmatch(r"\s*\d+\s*", text):
        raise properties.error(f"{prefix}{key}", f"{value!r} is not a whole number of {unit}")
    low, high = bounds
    if not low <= int(text) <= high:
        raise properties.error(
            f"{prefix}{key}", f"{int(text)} is out of range; Lambda allows {low} to {high} {unit}"
        )
    return int(text)


def _destination(
    value: Any, properties: Properties, key: str, condition: str, *, sam: bool
) -> str | None:
    """One OnSuccess/OnFailure: its ARN. SAM's form has a Type (SQS, SNS, S3, Lambda or
    EventBridge) and may leave Destination blank for SQS and SNS (SAM then creates one)."""
    if not isinstance(value, dict):
        raise properties.error(
            key, "must be a mapping with Destination" + (" and Type" if sam else "")
        )
    kind = to_string(value.get("Type")) if sam else None
    if sam and kind not in DESTINATION_TYPES:
        raise properties.error(
            f"{key}.Type", f"{kind or 'missing'}: use one of {', '.join(DESTINATION_TYPES)}"
        )
    target = value.get("Destination")
    if target in (None, ""):
        if kind in _AUTO_CREATED:
            created = f"{properties.logical_id}EventInvokeConfig{condition}{_AUTO_CREATED[kind]}"
            return properties.resolver.arn(_SERVICE_OF[kind], created)
        if sam:
            raise properties.error(
                f"{key}.Destination", f"missing; a {kind} destination needs its ARN"
            )
        return None  # the API's empty destination: none
    arn = _arn(target, properties, f"{key}.Destination", kind)
    if condition == "OnSuccess" and arn.startswith("arn:") and arn.split(":")[2] == "s3":
        raise properties.error(
            f"{key}.Destination", "an S3 bucket takes failed invocations only; use OnFailure"
        )
    return arn


def _sam_dead_letter_queue(properties: Properties) -> str | None:
    values = properties.get("DeadLetterQueue")
    if values is None:
        return None
    if not isinstance(values, dict) or not values.get("TargetArn"):
        raise properties.error("DeadLetterQueue", "needs Type (SQS or SNS) and TargetArn")
    kind = to_string(values.get("Type"))
    if kind not in DLQ_TYPES:
        raise properties.error("DeadLetterQueue.Type", f"{kind or 'missing'}: use SQS or SNS")
    return _arn(values["TargetArn"], properties, "DeadLetterQueue.TargetArn", kind)


def _arn(value: Any, properties: Properties, key: str, kind: str | None = None) -> str:
    """VALUE (resolved) as an ARN; see the module docstring for the names it maps to ARNs."""
    text = to_string(value)
    if not text:
        raise properties.error(key, f"{value!r} is not an ARN")
    if text.startswith("arn:") or "${" in text:
        return text  # an ARN, or a placeholder the resolver has already warned about
    resolver = properties.resolver
    resources = resolver.resources
    functions = {
        resolver.function_name(lid)
        for lid, r in resources.items()
        if isinstance(r, dict) and r.get("Type") in FUNCTION_TYPES
    }
    if text in functions:
        return resolver.function_arn(text)
    resource = resources.get(text)
    if isinstance(resource, dict) and resource.get("Type") in FUNCTION_TYPES:
        return resolver.function_arn(resolver.function_name(text))
    if isinstance(resource, dict):
        service = str(resource.get("Type", "")).split("::")
        name = service[1].lower() if len(service) == 3 else _SERVICE_OF.get(kind or "", "aws")
        return resolver.arn(name, text)
    if kind == "Lambda":
        raise properties.error(key, f"{text}: no function of this template; give a function ARN")
    raise properties.error(key, f"{text!r} is not an ARN; give the destination's ARN")
