"""A function that tells where its lambdakit and its interpreter came from."""

import os

import lambdakit


def handler(event, context):
    return {
        "lambdakit": os.path.dirname(lambdakit.__file__),
        "python_layer": os.environ.get("FAKE_PYTHON_LAYER"),
        "name": event.get("name"),
    }
