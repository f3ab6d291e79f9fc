"""reaping.py: parsing /proc (tables), and searches over a made-up /proc tree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lambdakit.emulator import reaping
from lambdakit.emulator.reaping import Footprint, Stat

# pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
# cutime cstime priority nice threads itrealvalue starttime vsize ...
TAIL = "0 0 0 0 0 0 0 0 0 0 0 20 0 1 0 {start} 1000 100 0"


def stat_line(pid: int, comm: str, state: str, ppid: int, start: int) -> str:
    return f"{pid} ({comm}) {state} {ppid} {pid} {pid} " + TAIL.format(start=start) + "\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (stat_line(42, "python3", "S", 1, 900), Stat(pid=42, state="S", ppid=1, start=900)),
        # comm may hold spaces and parentheses: the fields start after the last ")"
        (stat_line(7, "a) (b c", "R", 3, 5), Stat(pid=7, state="R", ppid=3, start=5)),
        (stat_line(9, "", "Z", 8, 0), Stat(pid=9, state="Z", ppid=8, start=0)),
    ],
)
def test_parse_stat(text: str, expected: Stat) -> None:
    assert reaping.parse_stat(text) == expected


@pytest.mark.parametrize(
    "text", ["", "42 (x) S 1 2 3", "no parenthesis at all", "x (y) S 1" + " 0" * 30]
)
def test_parse_stat_refuses_what_is_not_a_stat_line(text: str) -> None:
    with pytest.raises(ValueError):
        reaping.parse_stat(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", frozenset()),
        (b"A=1\0B=2\0", frozenset({b"A=1", b"B=2"})),
        (b"A=1\0\0B=x=y", frozenset({b"A=1", b"B=x=y"})),  # no final NUL; = in a value
        (b"PATH=/bin\0HOME=/\xff\0", frozenset({b"PATH=/bin", b"HOME=/\xff"})),
    ],
)
def test_environ_entries(raw: bytes, expected: frozenset[bytes]) -> None:
    assert reaping.environ_entries(raw) == expected


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("pipe:[123456]", 123456),
        ("pipe:[]", None),
        ("pipe:[12a]", None),
        ("socket:[123]", None),
        ("/dev/null", None),
        ("anon_inode:[eventpoll]", None),
    ],
)
def test_pipe_inode(link: str, expected: int | None) -> None:
    assert reaping.pipe_inode(link) == expected


@pytest.mark.parametrize(
    ("fdinfo", "expected"),
    [
        ("pos:\t0\nflags:\t01\nmnt_id:\t15\nino:\t99\n", True),  # O_WRONLY
        ("pos:\t0\nflags:\t02000001\nmnt_id:\t15\n", True),  # O_WRONLY|O_CLOEXEC
        ("pos:\t0\nflags:\t02\n", True),  # O_RDWR
        ("pos:\t0\nflags:\t00\n", False),  # O_RDONLY: the reader's end
        ("pos:\t0\nflags:\t04000\n", False),  # O_RDONLY|O_NONBLOCK
        ("pos:\t0\n", False),
        ("flags:\tzz\n", False),
    ],
)
def test_writes(fdinfo: str, expected: bool) -> None:
    assert reaping.writes(fdinfo) is expected


@pytest.mark.parametrize(
    ("parents", "roots", "expected"),
    [
        ({}, [], set()),
        ({2: 1, 3: 2, 4: 3, 5: 1}, [2], {2, 3, 4}),
        ({2: 1, 3: 2, 4: 3, 5: 1}, [3, 5], {3, 4, 5}),
        ({2: 1}, [99], {99}),  # a root not in the table is still itself
        ({2: 3, 3: 2}, [2], {2, 3}),  # a cycle (pids reused between reads) ends
    ],
)
def test_descendants(parents: dict[int, int], roots: list[int], expected: set[int]) -> None:
    assert reaping.descendants(parents, roots) == expected


@pytest.mark.parametrize(
    ("children", "roots", "expected"),
    [
        ({1: [2, 5], 2: [3], 3: [4]}, [1], [1, 5, 2, 3, 4]),  # each parent before its children
        ({2: [3], 3: [2]}, [2], [2, 3]),  # a cycle (pids reused between reads) ends
        ({1: [2], 3: [2]}, [1, 3], [3, 2, 1]),  # a process reached twice is listed once
        ({}, [7], [7]),
    ],
)
def test_walk(children: dict[int, list[int]], roots: list[int], expected: list[int]) -> None:
    assert reaping.walk(lambda pid: children.get(pid, []), roots) == expected


def test_process_tree_is_this_process_and_its_children() -> None:
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as child:
        try:
            tree = reaping.process_tree(os.getpid())
            assert tree[0] == os.getpid() and child.pid in tree
        finally:
            child.kill()


# --- searches over a made-up /proc -------------------------------------------------------------

MARK = b"AWS_LAMBDA_LOG_STREAM_NAME=2025/01/01/[$LATEST]abc"
PIPE = 4242


def process(
    proc: Path,
    pid: int,
    *,
    ppid: int = 1,
    start: int = 100,
    state: str = "S",
    environ: bytes = b"PATH=/bin\0",
    fds: dict[int, tuple[str, str]] | None = None,
) -> None:
    """A /proc/PID directory: stat, environ, and fd links with their fdinfo flags."""
    directory = proc / str(pid)
    (directory / "fd").mkdir(parents=True)
    (directory / "fdinfo").mkdir()
    (directory / "stat").write_text(stat_line(pid, "p", state, ppid, start))
    (directory / "environ").write_bytes(environ)
    for fd, (link, flags) in (fds or {}).items():
        os.symlink(link, directory / "fd" / str(fd))
        (directory / "fdinfo" / str(fd)).write_text(f"pos:\t0\nflags:\t{flags}\n")


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    """Runtime 1000 (started at tick 100) and what surrounds it."""
    proc = tmp_path / "proc"
    process(proc, 1, start=0)  # init
    process(proc, 1000, start=100, environ=MARK + b"\0")  # the runtime
    process(proc, 1001, ppid=1000, start=101, environ=b"")  # its child, environment cleared
    process(proc, 1002, start=102, environ=b"X=1\0" + MARK + b"\0")  # setsid'd, reparented
    process(proc, 1003, start=103, environ=b"", fds={1: (f"pipe:[{PIPE}]", "01")})  # writer
    process(proc, 1004, ppid=1003, start=104, environ=b"")  # the writer's child
    process(proc, 1005, start=105, environ=MARK + b"\0", state="Z")  # a zombie
    process(proc, 1006, start=106, fds={3: (f"pipe:[{PIPE}]", "00")})  # holds the read end
    process(proc, 1007, start=107, fds={1: ("pipe:[999]", "01")})  # another pipe
    process(proc, 900, start=50, environ=MARK + b"\0")  # older than the runtime
    process(proc, 2000, start=200, environ=b"AWS_LAMBDA_LOG_STREAM_NAME=other\0")
    (proc / "self").mkdir()  # not a pid
    return proc


FOOTPRINT = Footprint(root=1000, since=100, variables=frozenset({MARK}), pipes=frozenset({PIPE}))


@pytest.mark.parametrize(
    ("footprint", "expected"),
    [
        (FOOTPRINT, {1000, 1001, 1002, 1003, 1004}),
        (Footprint(root=1000, since=100), {1000, 1001}),  # the tree only
        (Footprint(root=1000, since=100, pipes=frozenset({PIPE})), {1000, 1001, 1003, 1004}),
        (Footprint(root=1000, since=0, variables=frozenset({MARK})), {900, 1000, 1001, 1002}),
        (Footprint(root=5, since=100), set()),  # a runtime long gone, no other mark
    ],
)
def test_find(proc: Path, footprint: Footprint, expected: set[int]) -> None:
    assert set(reaping.find([footprint], proc)) == expected


def test_find_takes_several_environments_in_one_pass(proc: Path) -> None:
    other = Footprint(root=2000, since=200)
    assert set(reaping.find([FOOTPRINT, other], proc)) == {1000, 1001, 1002, 1003, 1004, 2000}
    assert reaping.find([], proc) == {}


def test_kill_all_searches_again_for_processes_forked_meanwhile(proc: Path) -> None:
    killed: list[int] = []

    def kill(pid: int, signum: int) -> None:
        assert signum == signal.SIGKILL
        killed.append(pid)
        if pid == 1002 and not (proc / "1010").exists():  # it forked before the signal came
            process(proc, 1010, ppid=1002, start=110, environ=MARK + b"\0")
        if pid == 1001:
            raise ProcessLookupError  # gone meanwhile

    assert reaping.kill_all([FOOTPRINT], proc=proc, kill=kill) == 6
    assert sorted(killed) == [1000, 1001, 1002, 1003, 1004, 1010]  # each once


def test_footprint_of_a_live_process() -> None:
    read, write = os.pipe()
    try:
        footprint = reaping.footprint(os.getpid(), variables={"A": "b c"}, pipes=[read])
        assert footprint.variables == frozenset({b"A=b c"})
        assert footprint.pipes == frozenset({os.fstat(write).st_ino})
        assert footprint.since > 0
    finally:
        os.close(read)
        os.close(write)


def test_this_process_is_never_found_nor_its_children() -> None:
    """Were this process marked (here it holds the write end), every environment would be
    its descendant."""
    read, write = os.pipe()
    child = subprocess.Popen(["sleep", "30"])
    try:
        pipes = frozenset({os.fstat(read).st_ino})
        for footprint in (Footprint(root=os.getpid(), since=0), Footprint(0, 0, pipes=pipes)):
            found = reaping.find([footprint])
            assert os.getpid() not in found
            assert child.pid not in found
    finally:
        child.kill()
        child.wait()
        os.close(read)
        os.close(write)
