"""A badly behaved runtime: garbage HTTP, a wrong request id, and two answers per event."""

import http.client
import os
import socket

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
base = "/2018-06-01/runtime/invocation"

with socket.create_connection((host, int(port))) as s:
    s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    garbage_answer = s.recv(4096).split(b"\r\n", 1)[0].decode()

while True:
    c = http.client.HTTPConnection(host, int(port))
    c.request("GET", base + "/next")
    r = c.getresponse()
    r.read()
    request_id = r.getheader("Lambda-Runtime-Aws-Request-Id")
    c.request("POST", f"{base}/not-{request_id}/response", body=b"{}")
    wrong = c.getresponse()
    wrong.read()
    c.request(
        "POST",
        f"{base}/{request_id}/response",
        body=('{"garbage": "%s", "wrong_id": %d}' % (garbage_answer, wrong.status)).encode(),
    )
    first = c.getresponse()
    first.read()
    c.request("POST", f"{base}/{request_id}/response", body=b'{"second": true}')
    second = c.getresponse()
    print(f"second answer got {second.status} {second.read().decode()}", flush=True)
