"""Benchmark (diagnostic): the emulator's instructions per invocation, counted, not timed.

On this 2-CPU VM the same build's sequential rate moves by ±20 % from one run to the next, and
an A/B of two builds in alternating rounds needs dozens of rounds to see a 5 % change. A count
of the instructions the emulator's process executes does not move: valgrind's cachegrind (no
cache simulation) runs ``lambdakit serve --no-console`` with bench/relay_floor.py's echo
function, a raw keep-alive client (relay_floor's too) makes ``SMALL`` and then, in a second
server, ``LARGE`` sequential invocations, and the difference of the two totals over the
difference of the counts is what one invocation costs, start-up and warm-up cancelled out.

What it counts: user-space instructions of the server's threads (the event loop and the console
writer), all of Python included; not the kernel's work (its sockets and pipes), nor the runtime's
or the client's. Two runs of a build agree within 0.5 % to 7 %: valgrind runs the server some 30
times slower, and timing still picks a few paths (how many lines a log batch holds, whether the
runtime's poll or the client's request comes first). Still far steadier than a rate here; for
smaller differences count Python's bytecodes (docs/benchmarks.md says how).

Usage: ``.venv/bin/python bench/instructions.py [--quick]``; with ``--compare PATH`` it also
counts the ``lambdakit`` package at PATH (a checkout's ``src``: ``git worktree add /tmp/old
REV``) in the same run. Linux only; says so and exits 0 where valgrind is missing.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import relay_floor as rf  # the echo project, the raw keep-alive client

import runtime as rt  # child-process clean-up

STARTUP_LIMIT = 180.0  # seconds for the server to listen under valgrind


def count(root: Path, invocations: int, source: Path | None) -> int:
    """Instructions of one ``serve`` that answered INVOCATIONS (plus relay_floor's tenth as
    warm-up) and was then stopped with SIGINT."""
    log = root / "valgrind.log"
    out = root / "serve.log"
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    argv = [
        "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
        f"--log-file={log}", sys.executable, "-m", "lambdakit", "serve", str(root / "project"),
        "--port", "0", "--no-console",
    ]  # fmt: skip
    with out.open("wb") as output:
        server = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
    rt.LIVE.add(server)
    try:
        port = _port(out, server)
        done = subprocess.run(
            [sys.executable, "-c", rf.CLIENT, str(port), str(invocations), rf.INVOKE_PATH],
            capture_output=True, timeout=600, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise rt.BenchError(f"client: {done.stderr.decode(errors='replace')[-2000:]}")
        server.send_signal(signal.SIGINT)
        server.wait(timeout=120)
    finally:
        rt.stop(server)
    found = re.search(r"I\s+refs:\s+([\d,]+)", log.read_text(errors="replace"))
    if found is None:
        raise rt.BenchError(f"no instruction count in valgrind's log: {log.read_text()[-2000:]}")
    return int(found.group(1).replace(",", ""))


def _port(out: Path, server: subprocess.Popen[bytes]) -> int:
    deadline = time.monotonic() + STARTUP_LIMIT
    while not (found := re.search(rb"Invoke API at http://127.0.0.1:(\d+)", out.read_bytes())):
        if server.poll() is not None or time.monotonic() > deadline:
            raise rt.BenchError(f"serve did not start: {out.read_bytes()[-2000:]!r}")
        time.sleep(0.2)
    return int(found.group(1))


def per_invocation(root: Path, small: int, large: int, source: Path | None) -> float:
    made = (large + large // 10) - (small + small // 10)  # the client's warm-up included
    return (count(root, large, source) - count(root, small, source)) / made


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts (CI)")
    parser.add_argument("--compare", type=Path, help="also count the lambdakit package at PATH")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("instructions: valgrind is not installed; nothing counted")
        return 0
    small, large = (100, 400) if args.quick else (200, 2000)
    builds: list[tuple[str, Path | None]] = [("this build", None)]
    if args.compare is not None:
        builds.append((str(args.compare), args.compare.resolve()))
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="lambdakit-instructions-") as tmp:
            root = Path(tmp)
            rf.project(root)
            for label, source in builds:
                results.append((label, per_invocation(root, small, large, source)))
    except rt.BenchError as error:
        print(f"instructions: {error}", file=sys.stderr)
        return 1
    finally:
        rt.stop_all()
    print(f"Emulator instructions per invocation (user space, {large} - {small} invocations):")
    for label, value in results:
        ratio = f"  {value / results[0][1]:.3f}× this build" if label != results[0][0] else ""
        print(f"  {label:12} {value / 1000:8.1f}k{ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
