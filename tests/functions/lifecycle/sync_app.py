import sys


def handler(event, context):
    heavy = ["asyncio", "logging", "json", "http.client", "ssl", "email", "traceback", "typing"]
    heavy += ["re", "enum", "encodings.idna", "unicodedata", "dataclasses", "inspect"]
    return {name: name in sys.modules for name in heavy}


def env(event, context):
    import os

    return {"telemetry_fd_in_env": "_LAMBDA_TELEMETRY_LOG_FD" in os.environ}
