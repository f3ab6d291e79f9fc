"""Finding the process at the other end of a loopback connection: the kernel's formats as
tables, then real sockets."""

from __future__ import annotations

import errno
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator

import pytest

from lambdakit.emulator import peers

TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2328 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1
   1: 0100007F:D431 0100007F:2328 01 00000000:00000000 00:00000000 00000000     0        0 2222 1
   2: 0100007F:2328 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3333 1
"""


@pytest.mark.parametrize(
    ("address", "text"),
    [
        (("127.0.0.1", 9000), "0100007F:2328"),
        (("10.1.2.3", 80), "0302010A:0050"),
        (("0.0.0.0", 0), "00000000:0000"),
    ],
)
def test_addresses_as_proc_net_tcp_writes_them(address: peers.Address, text: str) -> None:
    assert peers.hex_address(address) == text


@pytest.mark.parametrize(
    ("local", "remote", "inode"),
    [
        (("127.0.0.1", 54321), ("127.0.0.1", 9000), 2222),  # the client's end
        (("127.0.0.1", 9000), ("127.0.0.1", 54321), 3333),  # the server's end
        (("127.0.0.1", 54322), ("127.0.0.1", 9000), None),
    ],
)
def test_the_socket_table_gives_the_inode_of_one_end(
    local: peers.Address, remote: peers.Address, inode: int | None
) -> None:
    assert peers.socket_inode(TABLE, local, remote) == inode


def test_a_sock_diag_request_names_the_socket_by_its_addresses() -> None:
    message = peers.diag_request(("127.0.0.1", 54321), ("127.0.0.1", 9000))
    length, kind, flags, _, _ = struct.unpack_from("=IHHII", message)
    assert (length, kind, flags) == (len(message), 20, 1)  # SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST
    family, protocol = message[16], message[17]
    assert (family, protocol) == (socket.AF_INET, socket.IPPROTO_TCP)
    sport, dport = struct.unpack_from("!HH", message, 24)
    assert (sport, dport) == (54321, 9000)
    assert message[28:32] == socket.inet_aton("127.0.0.1")


def reply(kind: int, payload: bytes) -> bytes:
    return struct.pack("=IHHII", 16 + len(payload), kind, 0, 1, 0) + payload


def test_a_sock_diag_reply_gives_the_inode_or_says_there_is_none() -> None:
    message = bytearray(72)
    struct.pack_into("=I", message, 68, 4242)
    assert peers.diag_inode(reply(20, bytes(message))) == 4242
    assert peers.diag_inode(reply(2, struct.pack("=i", -errno.ENOENT))) is None
    with pytest.raises(OSError):
        peers.diag_inode(reply(2, struct.pack("=i", -errno.EPERM)))


@pytest.fixture
def connection() -> Iterator[tuple[socket.socket, socket.socket]]:
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    yield client, server
    for sock in (client, server, listener):
        sock.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")
def test_the_client_of_a_real_connection_is_found(
    connection: tuple[socket.socket, socket.socket],
) -> None:
    _, server = connection
    peer, local = server.getpeername(), server.getsockname()
    assert peers.client_is_one_of(peer, local, [os.getpid()]) is True
    with subprocess.Popen(["sleep", "5"]) as other:
        assert peers.client_is_one_of(peer, local, [other.pid]) is False
        other.kill()
    assert peers.client_is_one_of(("127.0.0.1", 1), local, [os.getpid()]) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux's /proc")
def test_the_socket_table_is_the_fallback(
    connection: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(local: peers.Address, remote: peers.Address) -> int | None:
        raise PermissionError(errno.EPERM, "no netlink here")

    monkeypatch.setattr(peers, "_netlink_inode", refused)
    _, server = connection
    assert peers.client_is_one_of(server.getpeername(), server.getsockname(), [os.getpid()])
