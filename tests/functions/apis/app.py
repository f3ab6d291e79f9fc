"""Handlers behind the local API Gateway in the API server's tests."""

import json
import time

from lambdakit.runtime.streaming import StreamingResponse


def echo(event, context):
    """The event, as JSON, and a header of the function's own."""
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json", "X-Function": "echo"},
        "multiValueHeaders": {"X-Multi": ["a", "b"]},
        "body": json.dumps(event),
    }


def inferred(event, context):
    """An HTTP API 2.0 answer without statusCode: API Gateway infers 200 JSON."""
    return {"route": event.get("routeKey"), "raw": event.get("rawPath")}


def malformed(event, context):
    return {"statusCode": 200, "body": "x", "unexpected": True}  # REST: unknown key


def no_status(event, context):
    return {"body": "no status code"}  # HTTP API payload 1.0: statusCode is required


def fails(event, context):
    raise RuntimeError("the handler failed")


def slow(event, context):
    time.sleep(3)
    return {"statusCode": 200, "body": "late"}


def size(event, context):
    return {"statusCode": 200, "body": str(len(event.get("body") or ""))}


def stream(event, context):
    """Three chunks, 0.3 s apart, after API Gateway's metadata and delimiter."""

    def body():
        for index in range(3):
            if index:
                time.sleep(0.3)
            yield f"chunk {index}\n".encode()

    return StreamingResponse(
        body(), status_code=201, headers={"content-type": "text/plain", "x-streamed": "yes"}
    )


def cors(event, context):
    """A REST proxy integration answers CORS itself (API Gateway adds nothing)."""
    return {
        "statusCode": 200,
        "headers": {"Access-Control-Allow-Origin": "*", "Content-Type": "text/plain"},
        "body": "hello from " + event.get("path", event.get("rawPath", "")),
    }
