"""A TOKEN authorizer as the AWS blueprints write one, and a function that shows what it got."""

import json


def authorize(event, context):
    token = event["authorizationToken"]
    if token == "unauthorized":
        raise Exception("Unauthorized")  # the blueprints' way to answer 401
    effect = "Allow" if token == "allow" else "Deny"
    return {
        "principalId": "alice",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}
            ],
        },
        "context": {"role": "admin", "level": 3},
    }


def hello(event, context):
    return {"statusCode": 200, "body": json.dumps(event["requestContext"]["authorizer"])}
