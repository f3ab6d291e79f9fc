"""Hand-written ASGI and WSGI apps that show exactly what lambdakit.runtime.web hands them."""

import base64
import json

from lambdakit.runtime.web import asgi, wsgi


async def echo(scope, receive, send):
    """Answers with the scope and body it got; no lifespan support (asserts on the type)."""
    assert scope["type"] == "http"
    message = await receive()
    described = {
        key: scope[key] for key in ("method", "path", "root_path", "scheme", "http_version", "asgi")
    }
    described["raw_path"] = scope["raw_path"].decode()
    described["query_string"] = scope["query_string"].decode()
    described["headers"] = [[name.decode(), value.decode()] for name, value in scope["headers"]]
    described["client"] = list(scope["client"]) if scope["client"] else None
    described["server"] = list(scope["server"])
    described["body"] = base64.b64encode(message["body"]).decode()
    described["more_body"] = message.get("more_body", False)
    described["has_event"] = scope["aws.event"] is not None
    described["request_id"] = scope["aws.context"].aws_request_id
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"content-type", b"application/json"),
                (b"x-multi", b"a"),
                (b"x-multi", b"b"),
                (b"set-cookie", b"a=1; Path=/"),
                (b"set-cookie", b"b=2; HttpOnly"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(described).encode()})


def answer(status, headers, body):
    """An ASGI app that always sends this response, in two chunks."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        middle = len(body) // 2
        await send({"type": "http.response.body", "body": body[:middle], "more_body": True})
        await send({"type": "http.response.body", "body": body[middle:]})

    return app


async def fails_before_start(scope, receive, send):
    if scope["type"] != "http":
        return
    raise ValueError("no response at all")


async def fails_mid_body(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"first ", "more_body": True})
    raise ConnectionResetError("the upstream went away")


async def never_starts(scope, receive, send):
    if scope["type"] != "http":
        return


async def waits_for_disconnect(scope, receive, send):
    """Answers, then waits for the disconnect that must follow a complete response."""
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})
    DISCONNECTS.append(await receive())


DISCONNECTS: list[dict] = []


def wsgi_echo(environ, start_response):
    """Answers with the CGI variables and extras of its environ, and two cookies."""
    described = {key: value for key, value in environ.items() if isinstance(value, str)}
    described["body"] = environ["wsgi.input"].read().decode("latin-1")
    described["has_event"] = environ["lambda.event"] is not None
    described["request_id"] = environ["lambda.context"].aws_request_id
    start_response(
        "202 Accepted",
        [
            ("Content-Type", "application/json"),
            ("Set-Cookie", "a=1; Path=/"),
            ("Set-Cookie", "b=2; HttpOnly"),
        ],
    )
    return [json.dumps(described).encode()]


echo_handler = asgi(echo)
wsgi_echo_handler = wsgi(wsgi_echo)
