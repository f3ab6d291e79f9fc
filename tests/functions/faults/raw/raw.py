"""A runtime on raw sockets that does what careful runtimes do not.

Before every poll it makes a second ``GET /next`` while the first one waits, and records the
answer. The event's ``mode`` chooses what it does with the invocation:

- ``big_error``: posts a 7 MB error body (over the Runtime API's limit), records the status;
- ``hangup``: answers, then makes its next poll on a connection it closes at once, and polls
  again on a new one (the invocation must not be lost);
- anything else: answers with what it recorded so far.
"""

import json
import os
import socket
import time

HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
BASE = "/2018-06-01/runtime/invocation"


def connect():
    return socket.create_connection((HOST, int(PORT)))


def send(sock, method, path, body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: runtime\r\nContent-Length: {len(body)}\r\n\r\n"
    sock.sendall(head.encode() + body)


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the Runtime API closed the connection")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the Runtime API closed the connection mid-body")
        body += chunk
    return status, headers, body


notes = {"hangups": 0, "api": f"{HOST}:{PORT}"}
hangup_next = False
poll = connect()
while True:
    if hangup_next:
        dropped = connect()
        # Corked, the request leaves with the FIN, at close: the environment is frozen once
        # it polls, and frozen between send and close it would get an invocation on this poll
        # before closing it (taken, then dropped, as by a runtime that crashed).
        dropped.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        send(dropped, "GET", BASE + "/next")
        dropped.close()
        time.sleep(0.3)  # the emulator sees this connection end before the next poll
        notes["hangups"] += 1
        hangup_next = False
        poll.close()
        poll = connect()
    send(poll, "GET", BASE + "/next")
    second = connect()
    send(second, "GET", BASE + "/next")
    status, _, body = read_response(second)
    notes["second_poll"] = [status, json.loads(body).get("errorType")]
    second.close()
    status, headers, body = read_response(poll)
    if status != 200:
        raise SystemExit(f"GET /next answered {status}: {body!r}")
    request_id = headers["lambda-runtime-aws-request-id"]
    event = json.loads(body)
    mode = event.get("mode") if isinstance(event, dict) else None
    if mode == "big_error":
        document = {"errorType": "Big", "errorMessage": "e" * (7 * 1024 * 1024)}
        send(poll, "POST", f"{BASE}/{request_id}/error", json.dumps(document).encode())
        notes["big_error"] = read_response(poll)[0]
        continue
    hangup_next = mode == "hangup"
    send(poll, "POST", f"{BASE}/{request_id}/response", json.dumps(notes).encode())
    read_response(poll)
