"""Raises while it is imported: an init error reported under the exception's own class name."""


def _connect():
    raise RuntimeError("database unreachable at import")


_connect()


def handler(event, context):
    return None
