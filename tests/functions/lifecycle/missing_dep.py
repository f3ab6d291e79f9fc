import lambdakit_test_no_such_dependency


def handler(event, context):
    return event
