"""Which process is at the other end of a loopback TCP connection (Linux, from /proc).

An execution environment's Runtime API must serve only that environment's runtime. On Lambda
nothing else can reach it; here every listener is on 127.0.0.1, where any process of the
machine could find another function's port and long-poll it for that function's events. So the
first request of each Runtime API connection is checked: the kernel gives the inode of the
client's socket, and a process holds that socket when one of its ``/proc/PID/fd`` links reads
``socket:[INODE]``. The inode comes from one sock_diag netlink query for exactly that socket
(sock_diag(7), about 50 µs), or where netlink is refused from the socket table
``/proc/net/tcp`` (proc(5)), which the kernel builds by walking every TCP socket (4 ms here).

Where this cannot be told (no /proc, an IPv6 connection, a client in another network
namespace such as a container's) the answer is "unknown", and the caller lets the connection
through: the check keeps out the processes it can see, it is not a sandbox.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
from collections.abc import Iterable

Address = tuple[str, int]

_TCP_TABLE = "/proc/net/tcp"


def hex_address(address: Address) -> str:
    """``127.0.0.1:9000`` as /proc/net/tcp writes it: ``0100007F:2328`` (the IPv4 address as
    a host-order 32-bit number, the port big-endian; both in upper-case hex)."""
    host, port = address
    packed = socket.inet_aton(host)
    return "%08X:%04X" % (int.from_bytes(packed, "little"), port)


def socket_inode(table: str, local: Address, remote: Address) -> int | None:
    """The inode of the socket whose local and remote ends are ``local`` and ``remote``, from
    the text of /proc/net/tcp; None when no line matches."""
    want_local, want_remote = hex_address(local), hex_address(remote)
    for line in table.splitlines()[1:]:
        # sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        fields = line.split()
        if len(fields) > 9 and fields[1] == want_local and fields[2] == want_remote:
            return int(fields[9])
    return None


# sock_diag(7): a SOCK_DIAG_BY_FAMILY request (not a dump) for one socket, named by its four
# addresses; the answer is an inet_diag_msg whose idiag_inode follows its socket id.
_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST = 1
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF  # INET_DIAG_NOCOOKIE: match by address, not by cookie
_ALL_STATES = 0xFFFFFFFF
_HEADER = struct.Struct("=IHHII")  # nlmsghdr
_INODE_OFFSET = _HEADER.size + 68  # family..retrans (4), sockid (48), expires..uid (16)


def diag_request(local: Address, remote: Address) -> bytes:
    """The netlink message asking for the TCP socket ``local`` -> ``remote`` (IPv4)."""
    sockid = struct.pack(
        "!HH16s16s",
        local[1],
        remote[1],
        socket.inet_aton(local[0]).ljust(16, b"\0"),
        socket.inet_aton(remote[0]).ljust(16, b"\0"),
    ) + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    body = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, _ALL_STATES) + sockid
    return _HEADER.pack(_HEADER.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0) + body


def diag_inode(reply: bytes) -> int | None:
    """The inode in a sock_diag reply; None for "no such socket" (ENOENT); OSError for any
    other refusal."""
    _, kind, _, _, _ = _HEADER.unpack_from(reply)
    if kind == _NLMSG_ERROR:
        (code,) = struct.unpack_from("=i", reply, _HEADER.size)
        if -code == errno.ENOENT:
            return None
        raise OSError(-code, os.strerror(-code))
    (inode,) = struct.unpack_from("=I", reply, _INODE_OFFSET)
    return int(inode)


def _netlink_inode(local: Address, remote: Address) -> int | None:
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as link:
        link.settimeout(1.0)
        link.send(diag_request(local, remote))
        return diag_inode(link.recv(8192))


def _table_inode(local: Address, remote: Address) -> int | None:
    with open(_TCP_TABLE, encoding="ascii") as file:
        return socket_inode(file.read(), local, remote)


def held_by(inode: int, pids: Iterable[int]) -> bool:
    """Whether one of ``pids`` has the socket ``inode`` open."""
    link = f"socket:[{inode}]"
    for pid in pids:
        directory = f"/proc/{pid}/fd"
        try:
            names = os.listdir(directory)
        except OSError:
            continue  # gone, or not ours to look at
        for name in names:
            try:
                if os.readlink(f"{directory}/{name}") == link:
                    return True
            except OSError:
                continue
    return False


def client_is_one_of(client: Address, server: Address, pids: Iterable[int]) -> bool | None:
    """Whether the client end of the connection ``client`` -> ``server`` belongs to one of
    ``pids``; None when that cannot be told here."""
    try:
        try:
            inode = _netlink_inode(client, server)
        except (OSError, AttributeError, struct.error):  # no AF_NETLINK, or no sock_diag
            inode = _table_inode(client, server)
    except (OSError, ValueError):
        return None  # not Linux, or not an IPv4 address
    if not inode:  # not in our network namespace (or already closed)
        return None
    return held_by(inode, pids)
