"""CloudFormation's ``cfn-response`` module for Python, as lambdakit offers it to inline code.

CloudFormation adds this module (``import cfnresponse``) to a Python function whose code is
inline (``Code.ZipFile``, or SAM's ``InlineCode``) and contains that exact import statement
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-lambda-function-code-cfnresponsemodule.html).
lambdakit copies this file next to the inline code's ``index.py`` under the same condition.

Same interface, output and request as AWS's: ``send`` prints the URL and the response object,
then PUTs the object, with an empty Content-Type (what the pre-signed URL was signed for), to
the event's ``ResponseURL``, and prints the status or the failure. AWS's uses urllib3, which
the managed runtime has through botocore; this one only the standard library, which any local
interpreter has. This file is standalone: it imports nothing from lambdakit.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

SUCCESS = "SUCCESS"
FAILED = "FAILED"


def send(
    event: Any,
    context: Any,
    responseStatus: str,  # AWS's keyword names, which callers use
    responseData: Any,
    physicalResourceId: str | None = None,
    noEcho: bool = False,
    reason: str | None = None,
) -> None:
    """Send the custom resource's response object to CloudFormation (the ``ResponseURL``)."""
    response_url = event["ResponseURL"]
    print(response_url)
    stream = context.log_stream_name
    body = json.dumps(
        {
            "Status": responseStatus,
            "Reason": reason or f"See the details in CloudWatch Log Stream: {stream}",
            "PhysicalResourceId": physicalResourceId or stream,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": noEcho,
            "Data": responseData,
        }
    )
    print("Response body:")
    print(body)
    data = body.encode()
    headers = {"content-type": "", "content-length": str(len(data))}
    request = urllib.request.Request(response_url, data=data, headers=headers, method="PUT")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            print("Status code:", response.status)
    except urllib.error.HTTPError as error:  # urllib3 returns these; urllib raises them
        print("Status code:", error.code)
    except Exception as error:  # as AWS's: printed, not raised
        print("send(..) failed executing http.request(..):", error)
