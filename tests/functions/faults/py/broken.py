"""A module whose import fails: its function's init fails every time."""

print("broken module starting", flush=True)
import a_module_that_does_not_exist


def handler(event, context):
    return {}
