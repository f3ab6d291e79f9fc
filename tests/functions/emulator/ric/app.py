import time


def handler(event, context):
    print("hello from awslambdaric")
    return {"runtime": "awslambdaric", "event": event, "function": context.function_name}


def fails(event, context):
    raise KeyError("ric failure")


def sleeps(event, context):
    time.sleep(event.get("seconds", 5))
    return "late"
