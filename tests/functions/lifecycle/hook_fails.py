import lambdakit


@lambdakit.on_init
def connect():
    raise ConnectionError("database unreachable")


def handler(event, context):
    return "unreachable"
