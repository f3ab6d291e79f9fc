"""Handlers for the versions, provisioned concurrency and tenancy tests."""

import json
import os
import time

INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
# Which environment answered: its log stream is its own (a pid is not, in the sandbox: every
# runtime there is PID 2 of its own namespace).
ENVIRONMENT = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
print(f"init environment={ENVIRONMENT} version={VERSION} type={INIT_TYPE}", flush=True)
COUNT = 0  # invocations this environment has served


def handler(event, context):
    global COUNT
    COUNT += 1
    if isinstance(event, dict) and event.get("seconds"):
        time.sleep(event["seconds"])
    if isinstance(event, dict) and event.get("fail"):
        print(
            f"attempt version={VERSION} tenant={context.tenant_id} "
            f"request={context.aws_request_id}",
            flush=True,
        )
        raise RuntimeError("failing on purpose, so that Lambda retries the event")
    custom = context.client_context.custom if context.client_context else None
    print(f"client_context={json.dumps(custom)} request={context.aws_request_id}", flush=True)
    return {
        "environment": ENVIRONMENT,
        "count": COUNT,
        "env_version": VERSION,
        "init_type": INIT_TYPE,
        "arn": context.invoked_function_arn,
        "function_version": context.function_version,
        "tenant": context.tenant_id,
        "client_context": custom,
        "log_stream": context.log_stream_name,
        "region": os.environ.get("AWS_REGION"),
    }
