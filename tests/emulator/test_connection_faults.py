"""Connection faults against a real ``lambdakit serve`` process, at the socket level.

Connections opened and closed without a request (browsers' spare connections, health checks,
port scanners) used to stay open on the server's side, in CLOSE-WAIT, for good: under a file
descriptor limit a few thousand of them jammed the server (every descriptor used, every
invocation timed out). Here the server runs with a low ``RLIMIT_NOFILE`` and takes thousands of
such connections, half closed with a FIN and half reset (RST); then it must answer an
invocation on a new connection and be back to the file descriptors it had before.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.emulator.conftest import PROJECT, Server, client_for

# Far below the 1024 a shell's `ulimit -n` gives, so that a leak shows after a few hundred
# connections; far above what the server needs (its listeners, an environment's pipes).
FD_LIMIT = 256
CYCLES = 3000
# A descriptor or two may come and go with the environment (a pipe, the new client).
FD_SLACK = 4


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def lambda_client(url: str) -> Any:
    """A boto3 Lambda client of its own, hence a connection of its own to the server."""
    return client_for(url, read_timeout=10)


def invoke_echo(url: str, n: int) -> Any:
    client = lambda_client(url)
    try:
        answer = client.invoke(FunctionName="echo", Payload=json.dumps({"n": n}))
        assert answer["StatusCode"] == 200
        return json.loads(answer["Payload"].read())
    finally:
        client.close()


@pytest.fixture
def limited_server() -> Iterator[Server]:
    """``lambdakit serve`` with at most ``FD_LIMIT`` file descriptors: lowered with
    prlimit(2) once it is up, which is what `ulimit -n` in its shell would have done for
    every descriptor it opens from then on (its runtimes, started later, inherit it)."""
    server = Server(PROJECT)
    try:
        _soft, hard = resource.prlimit(server.process.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(server.process.pid, resource.RLIMIT_NOFILE, (FD_LIMIT, hard))
        yield server
    finally:
        server.stop()


def connect_and_close(address: tuple[str, int], reset: bool) -> None:
    with socket.create_connection(address, timeout=5) as sock:
        if reset:  # close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.slow
def test_thousands_of_connections_closed_unused_leave_no_descriptor_behind(
    limited_server: Server,
) -> None:
    pid = limited_server.process.pid
    assert invoke_echo(limited_server.url, 1) == {"n": 1}  # the environment is up: its FDs too
    before = open_fds(pid)
    url = urlsplit(limited_server.url)
    address = (url.hostname or "127.0.0.1", url.port or 80)
    for cycle in range(CYCLES):
        try:
            connect_and_close(address, reset=cycle % 2 == 1)
        except OSError as error:  # its backlog full of connections it cannot accept
            pytest.fail(f"connection {cycle} failed ({error}); server FDs: {open_fds(pid)}")

    assert invoke_echo(limited_server.url, 2) == {"n": 2}
    deadline = time.monotonic() + 5
    while (now := open_fds(pid)) > before + FD_SLACK:
        assert time.monotonic() < deadline, f"{now} FDs open in the server, {before} before"
        time.sleep(0.05)
