"""Memory limits with real processes: cgroups where this machine allows them (skipped where it
does not, with the reason), RLIMIT_DATA, none; and the sans-IO cgroup discovery."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdakit.emulator import reaping
from lambdakit.emulator.limits import (
    CgroupGuard,
    CgroupLimiter,
    CgroupLocation,
    MemoryGuard,
    MemoryLimiter,
    choose_limiter,
    describe,
    files,
    hierarchy,
    locate_cgroup,
)
from lambdakit.emulator.limits.meter import TREE_REFRESH, TreeMeter
from lambdakit.emulator.limits.protocols import Unavailable
from lambdakit.emulator.reaping import process_tree

MIB = 1024 * 1024
LINUX = sys.platform.startswith("linux")

# A child that takes commands on stdin and answers "ok" to each, so that tests can measure it
# while it is alive. bytearray(n) zero-fills, so its pages are really touched.
CHILD = r"""
import subprocess, sys
held, kids = [], []
for line in sys.stdin:
    command, _, argument = line.strip().partition(" ")
    if command == "alloc":
        held.append(bytearray(int(argument) * 1024 * 1024))
    elif command == "free":
        held.clear()
    elif command == "spawn":
        code = "import sys; b = bytearray(%d * 1024 * 1024); print(1, flush=True); sys.stdin.read()"
        kid = subprocess.Popen([sys.executable, "-c", code % int(argument)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        kid.stdout.readline()
        kids.append(kid)
    print("ok", flush=True)
"""

# Coverage in the child would add its own imports (and memory) to what is measured.
CHILD_ENV = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}


class Child:
    """``CHILD`` spawned under ``guard`` as the environment code spawns a runtime."""

    def __init__(self, guard: MemoryGuard, *, preexec: bool = True) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=CHILD_ENV,
            text=True,
            preexec_fn=guard.preexec if preexec else None,
        )
        guard.attach(self.process.pid)

    @property
    def pid(self) -> int:
        return self.process.pid

    def do(self, command: str) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline() == "ok\n", self.finish()

    def finish(self) -> tuple[int, str]:
        """Close stdin (the child and its kids exit), wait; returns (returncode, stderr)."""
        _, err = self.process.communicate(timeout=10)
        return self.process.returncode, err

    def __enter__(self) -> Child:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.finish()


def run(guard: MemoryGuard, code: str) -> subprocess.CompletedProcess[str]:
    """``python -c code`` under ``guard``, to completion."""
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=CHILD_ENV,
        text=True,
        preexec_fn=guard.preexec,
    )
    guard.attach(process.pid)
    out, err = process.communicate(timeout=20)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def cgroup_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cgroup").read_text()


# --- choosing ----------------------------------------------------------------------------------


def test_unknown_preference_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown memory limiter 'cgroups'"):
        choose_limiter(prefer="cgroups")


def test_prefer_none_enforces_nothing() -> None:
    limiter = choose_limiter(prefer="none")
    assert limiter.name == "none"
    assert describe(limiter) == "memory limits: none (MemorySize is not enforced)"


@pytest.mark.skipif(not LINUX, reason="RLIMIT_DATA bounds mmap only on Linux")
def test_prefer_rlimit_skips_cgroups() -> None:
    limiter = choose_limiter(prefer="rlimit")
    assert limiter.name == "rlimit"
    assert describe(limiter).startswith("memory limits: rlimit (RLIMIT_DATA per process")


def test_elsewhere_than_linux_nothing_is_enforced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    limiter = choose_limiter()
    assert limiter.name == "none"
    assert limiter.detail == (
        "MemorySize is not enforced; cgroup v2: not Linux; cgroup v1: not Linux; "
        "rlimit: RLIMIT_DATA bounds mmap only on Linux (4.7+)"
    )


def test_best_limiter_explains_what_it_skipped() -> None:
    limiter = choose_limiter()
    assert limiter.name in {"cgroup v2", "cgroup v1", "rlimit", "none"}
    if limiter.name in ("rlimit", "none"):  # the reasons for both cgroup versions are given
        assert "cgroup v2: " in limiter.detail and "cgroup v1: " in limiter.detail
    if limiter.name == "cgroup v1":
        assert "cgroup v2: " in limiter.detail


# --- finding our cgroup ------------------------------------------------------------------------

HYBRID_CGROUP = """\
9:name=systemd:/
4:memory:/process_api/3ea8
1:cpu:/
0::/
"""
HYBRID_MOUNTS = """\
30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 25 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 25 0:34 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V2_MOUNTS = "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"


@pytest.mark.parametrize(
    ("version", "proc_cgroup", "mountinfo", "mount", "path"),
    [
        pytest.param(
            1, HYBRID_CGROUP, HYBRID_MOUNTS,
            "/sys/fs/cgroup/memory", "/sys/fs/cgroup/memory/process_api/3ea8", id="hybrid-v1",
        ),
        pytest.param(
            2, HYBRID_CGROUP, HYBRID_MOUNTS,
            "/sys/fs/cgroup/unified", "/sys/fs/cgroup/unified", id="hybrid-v2",
        ),
        pytest.param(
            2, "0::/user.slice/session-2.scope\n", V2_MOUNTS,
            "/sys/fs/cgroup", "/sys/fs/cgroup/user.slice/session-2.scope", id="unified",
        ),
        pytest.param(  # a bind-mounted subtree: its root is stripped from our path
            2, "0::/docker/abc/inner\n",
            "29 23 0:26 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
            "/sys/fs/cgroup", "/sys/fs/cgroup/inner", id="subtree",
        ),
        pytest.param(  # mountinfo escapes spaces as \040
            2, "0::/\n", "29 23 0:26 / /mnt/my\\040cgroups rw - cgroup2 none rw\n",
            "/mnt/my cgroups", "/mnt/my cgroups", id="escaped",
        ),
    ],
)  # fmt: skip
def test_locate_cgroup(
    version: int, proc_cgroup: str, mountinfo: str, mount: str, path: str
) -> None:
    assert locate_cgroup(version, proc_cgroup, mountinfo) == CgroupLocation(
        version, Path(mount), Path(path)
    )


@pytest.mark.parametrize(
    ("version", "proc_cgroup", "mountinfo", "reason"),
    [
        (1, "0::/\n", V2_MOUNTS, "in no such cgroup"),
        (1, "4:memory:/a\n", V2_MOUNTS, "no such hierarchy"),
        (2, "0::/elsewhere\n", "1 2 0:1 /docker/abc /sys/fs/cgroup rw - cgroup2 x rw\n", "outside"),
    ],
)
def test_locate_cgroup_says_why_not(
    version: int, proc_cgroup: str, mountinfo: str, reason: str
) -> None:
    with pytest.raises(Unavailable, match=reason):
        locate_cgroup(version, proc_cgroup, mountinfo)


# --- cgroups, for real -------------------------------------------------------------------------


@pytest.fixture
def cgroups() -> CgroupLimiter:
    limiter = choose_limiter(prefer="cgroup")
    if not isinstance(limiter, CgroupLimiter):
        pytest.skip(f"no cgroup memory limits on this machine: {limiter.detail}")
    return limiter


@pytest.fixture
def guard(cgroups: CgroupLimiter) -> Iterator[CgroupGuard]:
    guard = cgroups.prepare("test-fn-0001", 128)
    yield guard
    guard.close()


def test_cgroup_preexec_puts_the_child_in_its_cgroup(guard: CgroupGuard) -> None:
    result = run(guard, "print(open('/proc/self/cgroup').read())")
    assert result.returncode == 0
    assert guard.path.name == "env-test-fn-0001"
    assert f"/{guard.path.parent.name}/{guard.path.name}\n" in result.stdout


def test_cgroup_attach_moves_a_process_spawned_without_preexec(guard: CgroupGuard) -> None:
    with Child(guard, preexec=False) as child:
        assert f"/{guard.path.name}\n" in cgroup_of(child.pid)


def test_cgroup_kills_a_child_beyond_the_limit(cgroups: CgroupLimiter) -> None:
    guard = cgroups.prepare("test-oom", 64)
    try:
        result = run(guard, "b = bytearray(300 * 1024 * 1024)")
        assert result.returncode == -signal.SIGKILL
        assert guard.oom_killed()
        assert 50 * MIB <= (guard.peak_bytes() or 0) <= 64 * MIB
    finally:
        guard.close()
    assert guard.oom_killed()  # still known after the cgroup is gone


def test_cgroup_peak_and_reset(cgroups: CgroupLimiter, guard: CgroupGuard) -> None:
    with Child(guard) as child:
        child.do("alloc 50")
        peak = guard.peak_bytes()
        assert peak is not None and 50 * MIB <= peak < 128 * MIB
        child.do("free")
        guard.reset_peak()
        if cgroups.version == 1:  # v2 resets only from Linux 6.12 on
            assert (guard.peak_bytes() or 0) < 50 * MIB
        child.do("alloc 20")
        assert (guard.peak_bytes() or 0) >= 20 * MIB
    assert not guard.oom_killed()


def test_cgroup_close_kills_what_is_left_and_removes_the_cgroup(cgroups: CgroupLimiter) -> None:
    guard = cgroups.prepare("test-close", 128)
    with Child(guard) as child:
        child.do("alloc 10")
        guard.close()
        assert child.process.wait(5) == -signal.SIGKILL
    assert not guard.path.exists()
    assert (guard.peak_bytes() or 0) >= 10 * MIB  # the last measurement
    guard.close()  # idempotent


def test_each_environment_has_a_cgroup_with_a_freezer(cgroups: CgroupLimiter) -> None:
    """cgroup v2: the memory cgroup itself; cgroup v1 on a hybrid host: a second cgroup in the
    unified hierarchy, which the process joins from the start (preexec) and which close
    removes. Its processes are frozen there, and SIGKILL still reaches them."""
    if cgroups.freezer_base is None:
        pytest.skip(f"environments have no cgroup v2 freezer here: {cgroups.freezer_missing}")
    guard = cgroups.prepare("test-freezer", 128)
    assert guard.freeze_path is not None
    assert guard.freeze_path.parent == cgroups.freezer_base
    with Child(guard) as child:
        (unified,) = [line for line in cgroup_of(child.pid).splitlines() if line[:3] == "0::"]
        assert unified.endswith(f"/{cgroups.freezer_base.name}/{guard.freeze_path.name}")
        guard.set_frozen(True)
        deadline = time.monotonic() + 5
        while not guard.frozen():
            assert time.monotonic() < deadline, "the kernel did not freeze the cgroup"
            time.sleep(0.01)
        guard.close()  # kills what is left, frozen or not
        assert child.process.wait(5) == -signal.SIGKILL
    assert not guard.path.exists() and not guard.freeze_path.exists()


def test_cgroup_names_do_not_collide(cgroups: CgroupLimiter) -> None:
    first, second = cgroups.prepare("fn/1", 128), cgroups.prepare("fn/1", 128)
    try:
        assert first.path.name == "env-fn_1" and second.path.name == "env-fn_1-2"
    finally:
        first.close()
        second.close()


# --- cgroup v2 on a stand-in directory (the interface files are plain files here) ---------------


def test_cgroup_v2_files(tmp_path: Path) -> None:
    guard = CgroupLimiter(2, tmp_path).prepare("fn", 256)
    read = lambda name: (guard.path / name).read_text()  # noqa: E731
    assert (read("memory.max"), read("memory.swap.max"), read("memory.oom.group")) == (
        str(256 * MIB), "0", "1",
    )  # fmt: skip
    (guard.path / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 0\n")
    assert not guard.oom_killed()
    (guard.path / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n")
    assert guard.oom_killed()
    (guard.path / "memory.peak").write_text("123456\n")
    assert guard.peak_bytes() == 123456
    guard.reset_peak()  # writes through an fd that peak_bytes then reads
    assert read("memory.peak").startswith("reset\n")
    (guard.path / "memory.peak").write_text("99\n")  # the same file, seen through that fd
    assert guard.peak_bytes() == 99
    guard.close()
    guard.close()


def test_cgroup_v2_without_memory_peak_sums_vmhwm(tmp_path: Path) -> None:
    guard = CgroupLimiter(2, tmp_path).prepare("fn", 128)  # as on Linux < 5.19
    (guard.path / "cgroup.procs").write_text(f"{os.getpid()}\n")
    assert (guard.peak_bytes() or 0) > MIB
    guard.close()


def v2_tree(tmp_path: Path, procs: list[int]) -> CgroupLocation:
    """A stand-in cgroup v2 hierarchy: the mount, and our cgroup in it holding ``procs``."""
    own = tmp_path / "session.scope"
    for cgroup in (tmp_path, own):
        cgroup.mkdir(exist_ok=True)
        (cgroup / "cgroup.controllers").write_text("cpu io memory pids\n")
        (cgroup / "cgroup.subtree_control").write_text("")
    (own / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in procs))
    return CgroupLocation(2, tmp_path, own)


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain files that behave like cgroupfs where it matters: a new cgroup has empty interface
    files, subtree_control refuses while its cgroup holds processes, and a move leaves the old
    cgroup."""
    read, write = files.read, files.write

    def kernel_read(path: Path) -> str:
        return read(path) if path.exists() or not path.parent.is_dir() else ""

    def kernel_write(path: Path, text: str) -> None:
        if path.name == "cgroup.subtree_control" and files.procs(path.parent):
            raise OSError(errno.EBUSY, "Device or resource busy", str(path))
        if path.name == "cgroup.procs":
            for other in path.parents[2].rglob("cgroup.procs"):
                other.write_text("")
        write(path, text)

    monkeypatch.setattr(files, "read", kernel_read)
    monkeypatch.setattr(files, "write", kernel_write)


@pytest.mark.usefixtures("kernel")
def test_v2_empty_cgroup_delegates_memory(tmp_path: Path) -> None:
    where = v2_tree(tmp_path, [])
    base = hierarchy._v2_base(where)
    assert base == where.path / f"lambdakit-{os.getpid()}"
    assert (where.path / "cgroup.subtree_control").read_text() == "+memory"
    assert (base / "cgroup.subtree_control").read_text() == "+memory"


def test_v2_needs_the_memory_controller(tmp_path: Path) -> None:
    where = v2_tree(tmp_path, [])
    (where.path / "cgroup.controllers").write_text("cpu pids\n")
    with pytest.raises(Unavailable, match="memory controller is not enabled"):
        hierarchy._v2_base(where)


@pytest.mark.usefixtures("kernel")
def test_v2_alone_in_its_cgroup_moves_into_a_leaf(tmp_path: Path) -> None:
    where = v2_tree(tmp_path, [os.getpid()])
    base = hierarchy._v2_base(where)
    assert (base / "emulator" / "cgroup.procs").read_text() == str(os.getpid())
    assert (where.path / "cgroup.subtree_control").read_text() == "+memory"


@pytest.mark.usefixtures("kernel")
def test_v2_with_other_processes_is_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    where = v2_tree(tmp_path, [1, os.getpid()])
    with pytest.raises(Unavailable, match="holds other processes"):
        hierarchy._v2_base(where)


@pytest.mark.usefixtures("kernel")
def test_v2_as_root_uses_the_hierarchy_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    where = v2_tree(tmp_path, [1, os.getpid()])
    assert hierarchy._v2_base(where) == tmp_path / f"lambdakit-{os.getpid()}"


def test_stale_directories_of_dead_emulators_are_swept(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"], env=CHILD_ENV)
    dead.wait()
    (tmp_path / f"lambdakit-{dead.pid}" / "env-fn-0001").mkdir(parents=True)
    (tmp_path / "lambdakit-1").mkdir()  # init is alive: not ours to sweep
    hierarchy._make_base(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(["lambdakit-1", f"lambdakit-{os.getpid()}"])


# --- RLIMIT_DATA -------------------------------------------------------------------------------


@pytest.fixture
def rlimit() -> MemoryLimiter:
    limiter = choose_limiter(prefer="rlimit")
    if limiter.name != "rlimit":
        pytest.skip(f"no RLIMIT_DATA here: {limiter.detail}")
    return limiter


def test_rlimit_lets_python_and_the_runtime_start_at_128_mb(rlimit: MemoryLimiter) -> None:
    guard = rlimit.prepare("fn", 128)
    result = run(guard, "import lambdakit.runtime.loop, json, threading")
    assert result.returncode == 0, result.stderr


def test_rlimit_turns_a_big_allocation_into_memory_error(rlimit: MemoryLimiter) -> None:
    guard = rlimit.prepare("fn", 128)
    result = run(guard, "b = bytearray(500 * 1024 * 1024)")
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("MemoryError")
    assert not guard.oom_killed()  # not the kernel's OOM killer: the caller infers it


def test_rlimit_peak_is_the_process_tree(rlimit: MemoryLimiter) -> None:
    guard = rlimit.prepare("fn", 128)
    assert guard.peak_bytes() is None  # nothing attached yet
    with Child(guard) as child:
        child.do("alloc 20")
        child.do("spawn 30")
        assert len(process_tree(child.pid)) == 2
        assert (guard.peak_bytes() or 0) >= 50 * MIB
        child.do("free")
        guard.reset_peak()  # clear_refs: the child's peak drops, the grandchild's 30 MB stay
        peak = guard.peak_bytes() or 0
        assert 30 * MIB <= peak < 50 * MIB
        assert child.finish()[0] == 0
    assert guard.peak_bytes() == peak  # the processes are gone; the peak measured stays


def test_the_tree_meter_walks_the_tree_again_only_after_its_refresh_time() -> None:
    """A REPORT at a developer's pace walks the tree each time; back to back, at most every
    TREE_REFRESH (a process found then still counts with its high-water mark)."""
    now = [100.0]
    walks: list[list[int]] = []
    tree = [os.getpid()]

    def walk() -> list[int]:
        walks.append(list(tree))
        return list(tree)

    meter = TreeMeter(clock=lambda: now[0])
    assert (meter.sample_tree(walk) or 0) > 0 and walks == [[os.getpid()]]
    now[0] += TREE_REFRESH / 2
    tree.append(os.getppid())  # a process the function started
    meter.sample_tree(walk)
    assert len(walks) == 1  # the walk of a moment ago
    now[0] += TREE_REFRESH
    meter.sample_tree(walk)
    assert walks[1:] == [tree]  # walked again


def test_process_tree_by_scanning_proc(
    rlimit: MemoryLimiter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reaping, "_has_children_files", lambda: False)
    guard = rlimit.prepare("fn", 128)
    with Child(guard) as child:
        child.do("spawn 1")
        tree = process_tree(child.pid)
        assert tree[0] == child.pid and len(tree) == 2


# --- none --------------------------------------------------------------------------------------


@pytest.mark.skipif(not LINUX, reason="the peak comes from /proc")
def test_none_limits_nothing_but_measures() -> None:
    guard = choose_limiter(prefer="none").prepare("fn", 128)
    with Child(guard) as child:
        child.do("alloc 200")
        assert (guard.peak_bytes() or 0) >= 200 * MIB
    assert not guard.oom_killed()
    guard.close()
