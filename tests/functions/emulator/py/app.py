"""Handlers for the emulator's behaviour tests (run by the lambdakit runtime)."""

import os
import signal
import sys
import time

# Which environment answered: its log stream is its own (a pid is not, in the sandbox: every
# runtime there is PID 2 of its own namespace).
ENVIRONMENT = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")


def echo(event, context):
    print(f"echo handler got {event!r}")
    for n in range(event.get("lines", 0) if isinstance(event, dict) else 0):
        print(f"line {n} " + "x" * 90)
    if isinstance(event, dict) and event.get("long"):
        print("L" * event["long"] + " end of the long line")
    return event


def context_info(event, context):
    return {
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "arn": context.invoked_function_arn,
        "remaining": context.get_remaining_time_in_millis(),
        "custom": context.client_context.custom if context.client_context else None,
        "tenant": context.tenant_id,
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "env": {
            k: os.environ.get(k)
            for k in (
                "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                "AWS_REGION",
                "LAMBDA_TASK_ROOT",
                "TZ",
                "AWS_LAMBDA_INITIALIZATION_TYPE",
                "GREETING",
                "_HANDLER",
                "AWS_LAMBDA_LOG_GROUP_NAME",
                "AWS_EXECUTION_ENV",
            )
        },
        "cwd": os.getcwd(),
        "environment": ENVIRONMENT,
    }


def fails(event, context):
    raise ValueError("function failed on purpose")


def sleeps(event, context):
    time.sleep(event.get("seconds", 5))
    return {"slept": event.get("seconds", 5), "environment": ENVIRONMENT}


def crashes(event, context):
    sys.stdout.flush()
    os._exit(event.get("code", 42))


def killed(event, context):
    os.kill(os.getpid(), signal.SIGKILL)


def hog(event, context):
    chunks = []
    for _ in range(event.get("mb", 600)):
        chunks.append(bytearray(1024 * 1024))
    return {"allocated": len(chunks)}


def big(event, context):
    return "x" * event.get("size", 7 * 1024 * 1024)


def pid(event, context):
    time.sleep(event.get("seconds", 0))
    return {"environment": ENVIRONMENT}


def flaky(event, context):
    """Fails until a marker file has been touched twice: exercises Event retries."""
    marker = event["marker"]
    with open(marker, "a") as f:
        f.write("x")
    with open(marker) as f:
        attempts = len(f.read())
    if attempts < event.get("succeed_on", 3):
        raise RuntimeError(f"attempt {attempts} fails")
    return {"attempts": attempts}
