"""Echoes what a Function URL passed in; prints one line per invocation, so that a test can
count invocations in the emulator's output."""

import json


def echo(event, context):
    http = event["requestContext"]["http"]
    print(f"invoked {http['method']} {context.function_name}")
    headers = {"X-Result": "ok", "Content-Type": "application/json"}
    if event.get("queryStringParameters", {}).get("own") == "1":
        headers["Access-Control-Allow-Origin"] = "http://own.localhost:1"
    body = {
        "method": http["method"],
        "authorizer": event["requestContext"].get("authorizer"),
        "accountId": event["requestContext"]["accountId"],
        "body": event.get("body"),
    }
    return {"statusCode": 200, "headers": headers, "body": json.dumps(body)}
